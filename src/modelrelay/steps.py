"""Typed inputs and outputs of every step of the promotion state machine (``statemachines/promotion.asl.json``).

The state machine carries one JSON document whose slots (``plan``, ``hub``, ``mme``, ``rollout``, ``failure``,
``outcome``) are filled by the steps; each slot has one model here, and each Lambda task's ``Parameters`` are one
request model here. Handlers parse their request at the edge; ``tests/unit/test_asl_contract.py`` checks the ASL
against these names (slots, request fields, step names, decisions, statuses, error names).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# ---------- names the ASL uses ----------
StepName = Literal[
    "PreparePromotion",
    "RegisterInHub",
    "StageOnMme",
    "MovePointerBack",
    "RolloutToEndpoint",
    "StartShadow",
    "CheckShadow",
    "StartRollout",
    "CheckRollout",
    "FinishRollout",
    "BeginStages",
    "DeployStage",
    "TestStage",
    "StageGate",
    "RollBackStages",
]
# Failures at these steps may come after UpdateEndpoint was accepted: the endpoint may already use the hub package.
ENDPOINT_CHANGING_STEPS: frozenset[str] = frozenset(
    {"StartShadow", "CheckShadow", "StartRollout", "CheckRollout", "FinishRollout"}
)
ROLLOUT_STEPS: frozenset[str] = ENDPOINT_CHANGING_STEPS | {"RolloutToEndpoint"}
# Steps of a staged route (after RegisterInHub): a stage may already serve the hub package, which then stays.
STAGE_STEPS: frozenset[str] = frozenset({"BeginStages", "DeployStage", "TestStage", "StageGate", "RollBackStages"})

Decision = Literal["promote", "skip", "duplicate", "ignore", "restore"]
RouteKind = Literal["mme", "endpoint", "inference_component", "staged", "none"]
RolloutAction = Literal["acquire", "shadow_start", "shadow_check", "start", "check", "finish", "release"]
StageAction = Literal["begin", "test", "bake_check", "gate_wait", "advance", "refuse", "expire", "rollback_next"]
# Where a staged promotion is: deploying the current stage, rolling back the stages it reached, or done.
StagePhase = Literal["deploy", "rollback", "done"]
# What ModelRelay records on the package's ModelLifeCycle.StageStatus (SageMaker EntityName: no spaces).
StageStatus = Literal[
    "InProgress", "Tested", "PendingApproval", "Deployed", "Failed", "RolledBack", "GateExpired", "Refused"
]
RolloutStatus = Literal[
    "Acquired",
    "ShadowFirst",
    "ShadowInProgress",
    "ShadowPassed",
    "Superseded",
    "InProgress",
    "Succeeded",
    "RolledBack",
    "Failed",
]
Outcome = Literal["Succeeded", "Skipped", "RolledBack", "Failed"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------- what PreparePromotion decides (slot "plan") ----------
class ArtifactRef(_Model):
    bucket: str
    key: str
    version_id: str | None = None
    size: int
    sha256: str
    etag: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class PinnedObject(_Model):
    """An object under an uncompressed prefix, pinned (version id, and ETag for unversioned buckets)."""

    relative_key: str
    version_id: str | None = None
    size: int
    etag: str


class SourcePackage(_Model):
    """The approved package as SageMaker describes it: identity, and how to run it (field for field)."""

    arn: str
    group: str
    version: int | None
    account: str
    region: str
    approval_status: str
    inference_specification: dict[str, Any]
    creation_time: str | None = None
    last_modified: str | None = None
    recorded_sha256: str | None = None  # a SHA-256 recorded on the package (ModelRelay's drops record one)


ArtifactLocation = Literal["ModelDataUrl", "ModelDataSource", "AdditionalModelDataSource", "AdditionalS3DataSource"]


class PackageArtifact(_Model):
    """One artifact the package's containers name, pinned to exact bytes and mapped to its hub copy.

    ``object``: a compressed ``ModelDataUrl`` (or an S3Object data source): one object, validated and hashed.
    ``prefix``: an uncompressed ``S3Prefix`` data source: every object under it, pinned by version and ETag;
    ``sha256`` is the digest of that manifest.
    """

    container: int
    location: ArtifactLocation
    index: int = 0  # which AdditionalModelDataSources entry
    kind: Literal["object", "prefix"]
    source_uri: str
    object: ArtifactRef | None = None  # kind "object"
    members: list[PinnedObject] = Field(default_factory=list)  # kind "prefix": key relative to the prefix
    sha256: str
    hub_uri: str


class PromotionPlan(_Model):
    """What PreparePromotion decided; the rest of the state machine acts on it."""

    decision: Decision
    reason: str
    # decision "restore": a rejection of what serves (with nothing earlier to return to, it is withdrawn) or an
    # operator's rollback (with nothing earlier, it fails: nothing_to_roll_back)
    restore_kind: Literal["rejected", "manual"] | None = None
    package_arn: str
    group: str | None = None
    route_kind: RouteKind = "none"
    source: SourcePackage | None = None
    artifacts: list[PackageArtifact] = Field(default_factory=list)
    # The artifact that serves: the MME container's (MME routes) or the first container's (endpoint routes).
    artifact: ArtifactRef | None = None
    hub_key: str | None = None
    mme_key: str | None = None
    model_name: str | None = None
    target_model: str | None = None
    endpoint_name: str | None = None
    mme_bucket: str | None = None
    # A stage of a staged route: its name and account (the deployment role's); its target is the stage's.
    stage: str | None = None
    stage_account: str | None = None

    @property
    def version(self) -> int:
        return self.source.version if self.source and self.source.version is not None else 0


# ---------- results of the steps ----------
class HubResult(_Model):
    """Slot "hub": the hub package and its artifact (RegisterInHub)."""

    hub_package_arn: str
    hub_artifact_uri: str
    created_hub_package: bool
    created_hub_object: bool
    provenance_id: str


class MmeResult(_Model):
    """Slot "mme": where the MME model's TargetModel pointer now points (StageOnMme or MovePointerBack)."""

    endpoint_name: str
    target_model: str | None
    mme_uri: str | None
    pointer_moved: bool
    previous_target_model: str | None = None
    created_mme_object: bool = False
    restored_package_arn: str | None = None
    withdrawn: bool = False  # a rejection left nothing approved to serve: the model has no current target


class ServingRecord(_Model):
    """What won a rollout on a real-time endpoint (kept so a rollback has something to return to)."""

    package_arn: str | None = None
    group: str | None = None
    version: int | None = None
    config_name: str
    model_name: str | None = None
    hub_package_arn: str | None = None
    execution: str | None = None


class RolloutState(_Model):
    """Slot "rollout": an endpoint rollout as it goes (acquire → start → check… → finish)."""

    status: RolloutStatus
    endpoint_name: str
    reason: str | None = None
    lease_expires_at: int | None = None
    old_config: str | None = None
    new_config: str | None = None
    new_model: str | None = None
    alarm_names: list[str] = Field(default_factory=list)
    strategy: str | None = None
    started_at: int | None = None
    wait_seconds: int = 1
    polls: int = 0
    deadline: int | None = None
    observed: str | None = None
    # Why it ended: a stable code (alarm_rollback, deployment_failed, rollback_failed, ...), the guard alarms that
    # went to ALARM since the rollout started, and SageMaker's FailureReason verbatim.
    reason_code: str | None = None
    fired_alarms: list[str] = Field(default_factory=list)
    failure_reason: str | None = None
    restore_to: ServingRecord | None = None
    # Inference-component routes: the component, and the model it served before this rollout (None: created now).
    component_name: str | None = None
    old_model: str | None = None
    # Shadow first (routes with rollout.shadow): the phase (provisioning -> baking -> removing | reverting), the
    # config that served before (restored after the shadow), the shadow's config and variant, its bake window.
    shadow_phase: str | None = None
    shadow_config: str | None = None
    shadow_variant: str | None = None
    shadow_alarm_names: list[str] = Field(default_factory=list)
    shadow_seconds: int | None = None
    shadow_started_at: int | None = None
    shadow_until: int | None = None
    shadow_outcome: str | None = None  # "passed", or the failure's reason code while the endpoint returns
    finished: bool = False
    status_not_recorded_on: list[str] = Field(default_factory=list)


class StageRecord(_Model):
    """One stage of a staged promotion as it went: where, and its status (the registry's StageStatus)."""

    name: str
    account: str
    kind: Literal["mme", "endpoint"]
    endpoint_name: str
    status: StageStatus = "InProgress"
    reason: str | None = None
    target_model: str | None = None  # MME stages: the TargetModel the pointer moved to
    endpoint_config: str | None = None  # endpoint stages: the config the endpoint serves now
    rolled_back_to: str | None = None


class StageState(_Model):
    """Slot "stage": a staged promotion (stages in order, a test and a gate after each; a refusal rolls back)."""

    phase: StagePhase = "deploy"
    index: int = 0
    stages: list[StageRecord] = Field(default_factory=list)
    plan: PromotionPlan | None = None  # the current stage's plan (deploying it, or restoring it)
    mme: MmeResult | None = None
    rollout: RolloutState | None = None
    gate: Literal["automatic", "manual", "none"] = "none"
    bake_seconds: int = 0
    gate_timeout_seconds: int = 1
    deployed_at: int | None = None
    rollback: list[int] = Field(default_factory=list)  # stages still to roll back (indices; the last first)
    approval: dict[str, Any] | None = None  # what the approver sent (SendTaskSuccess output)
    outcome: Literal["Succeeded", "Failed", "RolledBack"] | None = None
    reason: str | None = None  # stage_failed, gate_alarm, gate_denied, gate_expired, ...
    message: str | None = None

    @property
    def current(self) -> StageRecord:
        return self.stages[self.index]


class TaskError(BaseModel):
    """What a Catch puts in ``ResultPath``: Step Functions' ``{"Error", "Cause"}``."""

    model_config = ConfigDict(extra="allow")

    Error: str | None = None
    Cause: str | None = None


class StepFailure(_Model):
    """Slot "failure": the failed step (a Pass state's ``Result``) and its error (the Catch output)."""

    step: StepName | None = None
    error: TaskError | None = None
    release_error: TaskError | None = None  # ReleaseLease failed too: the lease then expires by itself


class OutcomeResult(_Model):
    """Slot "outcome": what happened, as published on the bus and in the notification."""

    outcome: Outcome
    detail_type: str
    detail: dict[str, Any]
    subject: str
    message: str


# ---------- each Lambda task's Parameters ----------
class StepRequest(_Model):
    execution: str = Field(min_length=1)


class PrepareRequest(StepRequest):
    event: dict[str, Any]


class RegisterRequest(StepRequest):
    plan: PromotionPlan


class StageRequest(StepRequest):
    plan: PromotionPlan
    hub: HubResult | None = None


class RolloutRequest(StepRequest):
    action: RolloutAction
    plan: PromotionPlan
    hub: HubResult | None = None
    rollout: RolloutState | None = None


class StagesRequest(StepRequest):
    """The StageStep function's request: one action on the staged promotion (``gate_wait`` carries the task
    token of the waiting manual gate)."""

    action: StageAction
    plan: PromotionPlan
    hub: HubResult | None = None
    stage: StageState | None = None
    stage_mme: MmeResult | None = None
    stage_rollout: RolloutState | None = None
    failure: StepFailure | None = None
    token: str | None = None


class OutcomeRequest(StepRequest):
    event: dict[str, Any]
    plan: PromotionPlan | None = None
    hub: HubResult | None = None
    mme: MmeResult | None = None
    rollout: RolloutState | None = None
    stage: StageState | None = None
    failure: StepFailure = Field(default_factory=StepFailure)


# The state machine's data slots and their models (the Start state declares them, each step fills one).
SLOTS: dict[str, type[BaseModel] | None] = {
    "event": None,
    "execution": None,
    "plan": PromotionPlan,
    "hub": HubResult,
    "mme": MmeResult,
    "rollout": RolloutState,
    "stage": StageState,
    # The current stage's plan and what its deployment (or restore) step returned.
    "stage_plan": PromotionPlan,
    "stage_mme": MmeResult,
    "stage_rollout": RolloutState,
    "failure": StepFailure,
    "outcome": OutcomeResult,
    "outcome_error": TaskError,
}
# DefinitionSubstitutions variable of each Lambda task → (its request, its result).
FUNCTION_STEPS: dict[str, tuple[type[StepRequest], type[BaseModel]]] = {
    "PreparePromotionFunctionArn": (PrepareRequest, PromotionPlan),
    "RegisterInHubFunctionArn": (RegisterRequest, HubResult),
    "StageOnMmeFunctionArn": (StageRequest, MmeResult),
    "RolloutStepFunctionArn": (RolloutRequest, RolloutState),
    "StageStepFunctionArn": (StagesRequest, StageState),
    "RecordOutcomeFunctionArn": (OutcomeRequest, OutcomeResult),
}
