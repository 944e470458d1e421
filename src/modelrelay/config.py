"""Typed settings (from the environment) and the routing configuration (data, validated against a schema).

Both are parsed once per process and fail fast with a message naming the bad field.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from functools import cache, lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from modelrelay.artifact import ArtifactLimits
from modelrelay.errors import ConfigError, NoRouteForGroup

# SageMaker's own pattern for model package group names.
GROUP_NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
# MME TargetModel first path element: keep it safe for IAM `sagemaker:TargetModel` conditions and S3 keys.
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
BUCKET_PATTERN = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
ENDPOINT_NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
# A route's group pattern: a glob over group names (``*`` matches any run of characters) that starts with a
# literal prefix, because the approval rule matches routes by prefix (EventBridge prefix matching).
GROUP_GLOB_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9*-]{0,62}$"
# A model name template: MODEL_NAME_PATTERN characters and the placeholders {group} and {match} ({match1}…).
_PLACEHOLDER = re.compile(r"\{(group|match\d*)\}")
# A SageMaker tag key (the group tag a route may read the model name from).
TAG_KEY_PATTERN = r"^[A-Za-z0-9_.:/=+@ -]{1,128}$"

ROUTES_FILE_ENV = "MODELRELAY_ROUTES_FILE"
BUNDLED_ROUTES_FILE = Path(__file__).with_name("routes.json")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_DEFAULT_LIMITS = ArtifactLimits()


class LimitsConfig(_Strict):
    """A route's artifact limits; the defaults are the validator's own (``ArtifactLimits``)."""

    max_object_bytes: int = Field(default=_DEFAULT_LIMITS.max_object_bytes, gt=0)
    max_uncompressed_bytes: int = Field(default=_DEFAULT_LIMITS.max_uncompressed_bytes, gt=0)
    max_compression_ratio: float = Field(default=_DEFAULT_LIMITS.max_compression_ratio, gt=1)
    max_members: int = Field(default=_DEFAULT_LIMITS.max_members, gt=0)

    def to_limits(self) -> ArtifactLimits:
        return ArtifactLimits(
            max_object_bytes=self.max_object_bytes,
            max_uncompressed_bytes=self.max_uncompressed_bytes,
            max_compression_ratio=self.max_compression_ratio,
            max_members=self.max_members,
        )


class IngestConfig(_Strict):
    """How a dropped artifact becomes a model package in this group."""

    image: str = Field(min_length=1, max_length=255)
    content_types: list[str] = Field(default_factory=lambda: ["application/json"], min_length=1)
    response_types: list[str] = Field(default_factory=lambda: ["application/json"], min_length=1)
    auto_approve: bool = False


def render_model_name(template: str, group: str, matches: tuple[str, ...]) -> str:
    """``template`` with ``{group}`` and ``{match}``/``{match1}``… (the parts the route's ``*`` matched)."""

    def value(placeholder: re.Match[str]) -> str:
        name = placeholder.group(1)
        if name == "group":
            return group
        index = int(name[5:] or "1") - 1
        return matches[index] if index < len(matches) else ""

    return _PLACEHOLDER.sub(value, template)


class SmokeCheck(_Strict):
    """Invoke the MME with the new TargetModel before its pointer moves (this also loads and warms it): the pointer
    moves only on a 2xx answer within ``timeout_seconds``. The request body is ``payload`` (sent with
    ``content_type``) or, with ``use_sample_payload_url``, the object at the package's ``SamplePayloadUrl``."""

    payload: str | None = Field(default=None, max_length=6 * 1024 * 1024)
    content_type: str = Field(default="application/json", min_length=1, max_length=1024)
    use_sample_payload_url: bool = False
    timeout_seconds: float = Field(default=60, gt=0, le=600)

    @model_validator(mode="after")
    def _one_payload(self) -> SmokeCheck:
        if (self.payload is None) == (not self.use_sample_payload_url):
            raise ValueError("give exactly one of payload (inline) or use_sample_payload_url: true")
        return self


class MmeTarget(_Strict):
    kind: Literal["mme"]
    endpoint_name: str = Field(pattern=ENDPOINT_NAME_PATTERN)
    bucket: str = Field(pattern=BUCKET_PATTERN)
    prefix: str = Field(default="models/", max_length=512)
    # First path element of the TargetModel; defaults to the group name. A template may use {group} and
    # {match} (the part of the group the route's pattern matched), e.g. "{match}" for "housing-*".
    model_name: str | None = Field(default=None, max_length=128)
    # A tag on the source model package group whose value, when present, is the model name (checked against
    # MODEL_NAME_PATTERN when the promotion reads it); without the tag the template (or the group) is used.
    model_name_tag: str | None = Field(default=None, pattern=TAG_KEY_PATTERN)
    # Invoke the new TargetModel before the pointer moves; without it the pointer moves after the copy.
    smoke: SmokeCheck | None = None

    @field_validator("model_name")
    @classmethod
    def _safe_model_name(cls, value: str | None) -> str | None:
        if value is None:
            return value
        unknown = set(re.findall(r"\{([^}]*)\}", value)) - set(_PLACEHOLDER.findall(value))
        if unknown:
            raise ValueError(f"unknown placeholder(s) {sorted(unknown)}: use {{group}} or {{match}}")
        # Placeholders stand for group-name text (letters, digits, '-'); the rest must be safe as it is.
        if not re.match(MODEL_NAME_PATTERN, _PLACEHOLDER.sub("a", value)):
            raise ValueError(f"String should match pattern '{MODEL_NAME_PATTERN}' (placeholders aside)")
        return value

    @property
    def is_template(self) -> bool:
        return bool(self.model_name and _PLACEHOLDER.search(self.model_name))

    @field_validator("prefix")
    @classmethod
    def _normalise_prefix(cls, value: str) -> str:
        value = value.strip("/")
        if ".." in value.split("/"):
            raise ValueError("must not contain '..'")
        return f"{value}/" if value else ""


class AlarmDefaults(_Strict):
    """Thresholds of the alarms ModelRelay creates when a route names none."""

    invocation_5xx_errors: int = Field(default=1, ge=1)
    model_latency_p99_ms: int = Field(default=1000, ge=1)
    evaluation_periods: int = Field(default=1, ge=1, le=10)
    period_seconds: int = Field(default=60, ge=10)


class BatchSize(_Strict):
    """A rolling step's size (SageMaker ``CapacitySize``): instances, or a percent of the variant's fleet."""

    type: Literal["INSTANCE_COUNT", "CAPACITY_PERCENT"] = "CAPACITY_PERCENT"
    value: int = Field(ge=1)

    def to_api(self) -> dict[str, object]:
        return {"Type": self.type, "Value": self.value}


class ShadowConfig(_Strict):
    """Shadow first: before the guarded rollout, the new model runs as the endpoint's shadow variant
    (``ShadowProductionVariants``: SageMaker copies ``sampling_percent`` of production requests to it and discards
    its responses) for ``duration_seconds``, while its alarms must stay OK. ``alarm_names`` watch the shadow variant
    (dimension ``VariantName`` = ``variant_name``); with none, ModelRelay creates 5XX and p99 latency alarms on it
    from ``default_alarms``."""

    duration_seconds: int = Field(default=1800, ge=1, le=14400)
    sampling_percent: int = Field(default=100, ge=1, le=100)
    variant_name: str = Field(default="modelrelay-shadow", pattern=r"^[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?$")
    instance_count: int | None = Field(default=None, ge=1)  # None: as many as the production variant
    alarm_names: list[str] = Field(default_factory=list, max_length=10)
    default_alarms: AlarmDefaults = Field(default_factory=AlarmDefaults)


class RolloutConfig(_Strict):
    """SageMaker deployment guardrails for a real-time endpoint route: blue/green (``CANARY``, ``LINEAR``,
    ``ALL_AT_ONCE``) or ``ROLLING`` (``RollingUpdatePolicy``: the fleet replaced in batches)."""

    strategy: Literal["CANARY", "LINEAR", "ALL_AT_ONCE", "ROLLING"] = "CANARY"
    canary_size_percent: int = Field(default=10, ge=1, le=50)
    linear_step_percent: int = Field(default=20, ge=10, le=50)
    wait_interval_seconds: int = Field(default=300, ge=0, le=3600)
    termination_wait_seconds: int = Field(default=120, ge=0, le=3600)
    maximum_execution_timeout_seconds: int = Field(default=3600, ge=600, le=28800)
    # ROLLING only (API_RollingUpdatePolicy): each batch 5-50 % of the variant's instance count; the rollback
    # batch defaults to SageMaker's 100 % (the whole old fleet at once) when absent.
    maximum_batch_size: BatchSize = Field(default_factory=lambda: BatchSize(type="CAPACITY_PERCENT", value=25))
    rollback_maximum_batch_size: BatchSize | None = None
    alarm_names: list[str] = Field(default_factory=list, max_length=10)
    default_alarms: AlarmDefaults = Field(default_factory=AlarmDefaults)
    # Optional: the new model first runs as a shadow variant (blue/green strategies only, see ShadowConfig).
    shadow: ShadowConfig | None = None

    @model_validator(mode="after")
    def _shadow_fits(self) -> RolloutConfig:
        if self.shadow is None:
            return self
        if self.strategy == "ROLLING":
            raise ValueError(
                "shadow: a shadow phase is offered before blue/green strategies (CANARY, LINEAR, ALL_AT_ONCE)"
            )
        # The shadow phase and the rollout share one lease and one wait budget (the state machine's longest rollout).
        longest = type(self).model_fields["maximum_execution_timeout_seconds"].metadata
        limit = next(int(rule.le) for rule in longest if getattr(rule, "le", None) is not None)
        if self.shadow.duration_seconds + self.maximum_execution_timeout_seconds > limit:
            raise ValueError(
                f"shadow.duration_seconds ({self.shadow.duration_seconds}) + maximum_execution_timeout_seconds "
                f"({self.maximum_execution_timeout_seconds}) must be at most {limit} s"
            )
        return self

    @model_validator(mode="after")
    def _batch_sizes_in_range(self) -> RolloutConfig:
        if self.maximum_batch_size.type == "CAPACITY_PERCENT" and not 5 <= self.maximum_batch_size.value <= 50:
            raise ValueError(
                f"maximum_batch_size: a CAPACITY_PERCENT batch must be 5-50 % of the fleet "
                f"(got {self.maximum_batch_size.value})"
            )
        rollback = self.rollback_maximum_batch_size
        if rollback is not None and rollback.type == "CAPACITY_PERCENT" and rollback.value > 100:
            raise ValueError(f"rollback_maximum_batch_size: at most 100 % (got {rollback.value})")
        return self

    def steps(self) -> int | None:
        """Bakes of one deployment (None: a ROLLING batch in instances, known only with the fleet's size)."""
        if self.strategy == "LINEAR":
            return -(-100 // self.linear_step_percent)
        if self.strategy == "ROLLING":
            if self.maximum_batch_size.type == "INSTANCE_COUNT":
                return None
            return -(-100 // self.maximum_batch_size.value)
        return 1

    @model_validator(mode="after")
    def _timeout_covers_bakes(self) -> RolloutConfig:
        steps = self.steps() or 1
        # A rolling deployment has no final termination wait: old instances leave after each batch's bake.
        termination = 0 if self.strategy == "ROLLING" else self.termination_wait_seconds
        needed = self.wait_interval_seconds * steps + termination
        if self.maximum_execution_timeout_seconds <= needed:
            raise ValueError(
                f"maximum_execution_timeout_seconds ({self.maximum_execution_timeout_seconds}) must exceed the sum "
                f"of all waits and bakes ({needed} s)"
            )
        return self


class EndpointTarget(_Strict):
    kind: Literal["endpoint"]
    endpoint_name: str = Field(pattern=ENDPOINT_NAME_PATTERN)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)


class ComputeRequirements(_Strict):
    """An inference component's reservation per copy (SageMaker ``InferenceComponentComputeResourceRequirements``,
    field for field); SageMaker places a copy only on an instance with this much free."""

    NumberOfCpuCoresRequired: float | None = Field(default=None, ge=0.25)
    NumberOfAcceleratorDevicesRequired: float | None = Field(default=None, ge=1)
    MinMemoryRequiredInMb: int = Field(ge=128)
    MaxMemoryRequiredInMb: int | None = Field(default=None, ge=128)

    def to_api(self) -> dict[str, object]:
        return self.model_dump(exclude_none=True)


class CopyBatchSize(_Strict):
    """A rolling step of an inference component (``InferenceComponentCapacitySize``): copies, or a percent."""

    type: Literal["COPY_COUNT", "CAPACITY_PERCENT"] = "COPY_COUNT"
    value: int = Field(ge=1)

    def to_api(self) -> dict[str, object]:
        return {"Type": self.type, "Value": self.value}

    def copies_of(self, total: int) -> int:
        return self.value if self.type == "COPY_COUNT" else max(1, -(-total * self.value // 100))


class ComponentRolloutConfig(_Strict):
    """``InferenceComponentDeploymentConfig``: a rolling update of the component's copies, baked
    ``wait_interval_seconds`` per batch while the alarms are watched (auto-rollback on ``ALARM``)."""

    maximum_batch_size: CopyBatchSize = Field(default_factory=lambda: CopyBatchSize(type="COPY_COUNT", value=1))
    rollback_maximum_batch_size: CopyBatchSize | None = None
    wait_interval_seconds: int = Field(default=300, ge=0, le=3600)
    maximum_execution_timeout_seconds: int = Field(default=3600, ge=600, le=28800)
    # A component's metrics are its own (dimension InferenceComponentName): the route names the alarms to watch.
    alarm_names: list[str] = Field(min_length=1, max_length=10)


class InferenceComponentTarget(_Strict):
    """A model as an inference component on a shared real-time endpoint (one component per route, or per group
    with a ``component_name`` template using {group}/{match})."""

    kind: Literal["inference_component"]
    endpoint_name: str = Field(pattern=ENDPOINT_NAME_PATTERN)
    variant_name: str = Field(default="AllTraffic", pattern=ENDPOINT_NAME_PATTERN)
    component_name: str = Field(default="{group}", max_length=63)
    compute: ComputeRequirements
    copies: int = Field(default=1, ge=1, le=1000)
    rollout: ComponentRolloutConfig

    @field_validator("component_name")
    @classmethod
    def _safe_component_name(cls, value: str) -> str:
        unknown = set(re.findall(r"\{([^}]*)\}", value)) - set(_PLACEHOLDER.findall(value))
        if unknown:
            raise ValueError(f"unknown placeholder(s) {sorted(unknown)}: use {{group}} or {{match}}")
        if not re.match(ENDPOINT_NAME_PATTERN, _PLACEHOLDER.sub("a", value)):
            raise ValueError(f"String should match pattern '{ENDPOINT_NAME_PATTERN}' (placeholders aside)")
        return value

    @property
    def is_template(self) -> bool:
        return bool(_PLACEHOLDER.search(self.component_name))

    @model_validator(mode="after")
    def _timeout_covers_batches(self) -> InferenceComponentTarget:
        rollout = self.rollout
        batches = -(-self.copies // rollout.maximum_batch_size.copies_of(self.copies))
        needed = batches * rollout.wait_interval_seconds
        if rollout.maximum_execution_timeout_seconds <= needed:
            raise ValueError(
                f"rollout.maximum_execution_timeout_seconds ({rollout.maximum_execution_timeout_seconds}) must exceed "
                f"the bakes of {batches} batch(es) of copies ({needed} s)"
            )
        return self


Target = Annotated[MmeTarget | EndpointTarget | InferenceComponentTarget, Field(discriminator="kind")]

# A stage's name is what the registry shows (SageMaker ModelLifeCycle ``Stage``, an ``EntityName``).
STAGE_NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
DEPLOYMENT_ROLE_PATTERN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$"
MAX_STAGES = 3
# A manual gate waits at most this long (its task's TimeoutSeconds); the state machine's timeout covers every gate.
MAX_GATE_SECONDS = 86400


class GateConfig(_Strict):
    """What lets a promotion leave a stage: ``automatic`` (the stage's test passed and its alarms stayed OK for
    ``bake_seconds``) or ``manual`` (an approver says yes or no within ``timeout_seconds``: ``modelrelay approve|deny
    EXECUTION``, or the package's registry stage set to the next stage with ``StageStatus=Approved``/``Rejected``;
    with no answer by then the promotion ends as ``gate_expired``)."""

    kind: Literal["automatic", "manual"]
    bake_seconds: int = Field(default=300, ge=0, le=14400)
    timeout_seconds: int = Field(default=MAX_GATE_SECONDS, ge=1, le=MAX_GATE_SECONDS)
    alarm_names: list[str] = Field(default_factory=list, max_length=10)


class Stage(_Strict):
    """One account a route's promotion passes through (e.g. ``staging``, then ``production``): its target (an MME or
    a real-time endpoint with its rollout settings) in the account of ``role_arn``, the deployment role ModelRelay
    assumes there (with ``external_id``); then a test (``test``: the endpoint answers a sample with 2xx in time) and
    a gate (``gate``) before the next stage."""

    name: str = Field(pattern=STAGE_NAME_PATTERN)
    role_arn: str = Field(pattern=DEPLOYMENT_ROLE_PATTERN)
    external_id: str | None = Field(default=None, min_length=2, max_length=1224)
    target: Annotated[MmeTarget | EndpointTarget, Field(discriminator="kind")]
    test: SmokeCheck | None = None
    gate: GateConfig | None = None

    @property
    def account(self) -> str:
        return self.role_arn.split(":")[4]


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """A route pattern as a regular expression: ``*`` matches any run (captured, for ``{match}``)."""
    return re.compile("".join("(.*?)" if c == "*" else re.escape(c) for c in pattern) + r"\Z")


def literal_prefix(pattern: str) -> str:
    """What every group a pattern matches starts with: the text before its first ``*``."""
    return pattern.split("*", 1)[0]


def patterns_overlap(first: str, second: str) -> bool:
    """Whether some name matches both globs (``*`` on either side), by dynamic programming over positions."""

    @cache
    def meet(i: int, j: int) -> bool:
        if i == len(first) and j == len(second):
            return True
        if i < len(first) and first[i] == "*":
            return meet(i + 1, j) or (j < len(second) and meet(i, j + 1))
        if j < len(second) and second[j] == "*":
            return meet(i, j + 1) or (i < len(first) and meet(i + 1, j))
        return i < len(first) and j < len(second) and first[i] == second[j] and meet(i + 1, j + 1)

    return meet(0, 0)


class Route(_Strict):
    # Exactly one of: an exact group name, or a pattern over group names ("housing-*") that routes every group
    # it matches, including groups created after deployment.
    model_package_group: str | None = Field(default=None, pattern=GROUP_NAME_PATTERN)
    pattern: str | None = Field(default=None, pattern=GROUP_GLOB_PATTERN)
    target: Target
    ingest: IngestConfig | None = None
    # Buckets an approved package's ModelDataUrl may point at (the ingest bucket is always allowed).
    allowed_artifact_buckets: list[str] = Field(default_factory=list)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    # Optional: the accounts the promotion passes through, in order (see Stage). A route with stages names no
    # ``target`` of its own: its target is its last stage's (where the model ends up).
    stages: list[Stage] = Field(default_factory=list, max_length=MAX_STAGES)

    @model_validator(mode="before")
    @classmethod
    def _target_of_stages(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("stages") and "target" not in data:
            last = data["stages"][-1]
            return {**data, "target": last.get("target") if isinstance(last, dict) else last.target}
        return data

    @model_validator(mode="after")
    def _stages_fit(self) -> Route:
        names = [stage.name for stage in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stages: names must be unique (got {names})")
        if self.stages and self.pattern is not None:
            for stage in self.stages:
                target = stage.target
                if isinstance(target, MmeTarget) and target.model_name and not target.is_template:
                    raise ValueError(
                        f"stages[{stage.name}]: pattern '{self.pattern}' gives every matched group the same "
                        f"model_name '{target.model_name}'; use a template such as '{{match}}'"
                    )
        return self

    def stage(self, name: str) -> Stage:
        """The stage ``name`` as it applies to this (resolved) route: an MME model name template rendered."""
        stage = next((s for s in self.stages if s.name == name), None)
        if stage is None:
            raise ConfigError(f"route '{self.name}' has no stage '{name}'")
        target = stage.target
        if isinstance(target, MmeTarget) and target.is_template and self.model_package_group:
            matches = self.matches(self.model_package_group) or ()
            rendered = render_model_name(str(target.model_name), self.model_package_group, matches)
            stage = stage.model_copy(update={"target": target.model_copy(update={"model_name": rendered})})
        return stage

    @model_validator(mode="after")
    def _group_or_pattern(self) -> Route:
        if (self.model_package_group is None) == (self.pattern is None):
            raise ValueError("give exactly one of model_package_group (an exact name) or pattern (e.g. 'housing-*')")
        if self.pattern is not None:
            if "*" not in self.pattern:
                raise ValueError(f"pattern '{self.pattern}' has no '*'; use model_package_group for an exact name")
            if "**" in self.pattern:
                raise ValueError(f"pattern '{self.pattern}': '**' is one '*'")
            target = self.target
            if isinstance(target, MmeTarget) and target.model_name and not target.is_template:
                raise ValueError(
                    f"pattern '{self.pattern}' gives every matched group the same model_name '{target.model_name}'; "
                    "use a template such as '{match}' or '{group}'"
                )
            if isinstance(target, InferenceComponentTarget) and not target.is_template:
                raise ValueError(
                    f"pattern '{self.pattern}' gives every matched group the same component_name "
                    f"'{target.component_name}'; use a template such as '{{match}}' or '{{group}}'"
                )
        return self

    @property
    def name(self) -> str:
        """The route as people name it: its group, or its pattern."""
        return self.model_package_group or str(self.pattern)

    def matches(self, group: str) -> tuple[str, ...] | None:
        """The parts of ``group`` the pattern's ``*`` matched (``()`` for an exact route), or None."""
        if self.pattern is None:
            return () if group == self.model_package_group else None
        found = glob_regex(self.pattern).match(group)
        return found.groups() if found else None

    def for_group(self, group: str) -> Route:
        """This route as it applies to ``group``: its exact name and, on an MME, its rendered model name."""
        matches = self.matches(group)
        if matches is None:
            raise NoRouteForGroup(f"model package group '{group}' does not match route '{self.name}'")
        target = self.target
        if isinstance(target, MmeTarget) and target.is_template:
            rendered = render_model_name(str(target.model_name), group, matches)
            if not re.match(MODEL_NAME_PATTERN, rendered):
                raise ConfigError(
                    f"route '{self.name}' gives group '{group}' the model name '{rendered}', which does not match "
                    f"{MODEL_NAME_PATTERN}"
                )
            target = target.model_copy(update={"model_name": rendered})
        if isinstance(target, InferenceComponentTarget) and target.is_template:
            rendered = render_model_name(target.component_name, group, matches)
            if not re.match(ENDPOINT_NAME_PATTERN, rendered):
                raise ConfigError(
                    f"route '{self.name}' gives group '{group}' the inference component name '{rendered}', which "
                    f"does not match {ENDPOINT_NAME_PATTERN}"
                )
            target = target.model_copy(update={"component_name": rendered})
        return self.model_copy(update={"model_package_group": group, "target": target})

    @property
    def model_name(self) -> str:
        if isinstance(self.target, MmeTarget) and self.target.model_name:
            return self.target.model_name
        if isinstance(self.target, InferenceComponentTarget) and not self.target.is_template:
            return self.target.component_name
        return self.model_package_group or str(self.pattern)

    def with_model_name(self, model_name: str) -> Route:
        """This (resolved) route with the model name read from the group's tag, checked like a configured one."""
        if not re.match(MODEL_NAME_PATTERN, model_name):
            raise ConfigError(
                f"the model name '{model_name}' on group '{self.model_package_group}' does not match "
                f"{MODEL_NAME_PATTERN}"
            )
        assert isinstance(self.target, MmeTarget)
        return self.model_copy(update={"target": self.target.model_copy(update={"model_name": model_name})})


class RoutingConfig(_Strict):
    version: Literal[1] = 1
    # Accounts and regions whose approval events are accepted; empty means "the stack's own".
    allowed_source_accounts: list[Annotated[str, Field(pattern=r"^\d{12}$")]] = Field(default_factory=list)
    allowed_regions: list[str] = Field(default_factory=list)
    routes: list[Route] = Field(min_length=1)
    _exact: dict[str, Route] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _no_overlap(self) -> RoutingConfig:
        """No group may match two routes: exact names by a set, names against patterns, patterns pairwise."""
        exact: dict[str, int] = {}
        patterns = [(i, r.pattern) for i, r in enumerate(self.routes) if r.pattern is not None]
        models: dict[tuple[str, str], int] = {}
        for index, route in enumerate(self.routes):
            group = route.model_package_group
            if group is None:
                continue
            if group in exact:
                raise ValueError(f"routes[{index}].model_package_group '{group}' is routed twice")
            exact[group] = index
            for other, pattern in patterns:
                if glob_regex(pattern).match(group):
                    raise ValueError(
                        f"routes overlap: routes[{index}] ('{group}') and routes[{other}] ('{pattern}') both "
                        f"match '{group}'"
                    )
            if isinstance(route.target, MmeTarget) and not route.target.model_name_tag:
                key = (route.target.endpoint_name, route.model_name)
                if key in models:
                    raise ValueError(
                        f"routes[{models[key]}] and routes[{index}] both serve model '{key[1]}' on {key[0]}"
                    )
                models[key] = index
        for position, (index, pattern) in enumerate(patterns):
            for other, second in patterns[position + 1 :]:
                if patterns_overlap(pattern, second):
                    raise ValueError(
                        f"routes overlap: routes[{index}] ('{pattern}') and routes[{other}] ('{second}') can match "
                        "the same group"
                    )
        return self

    def model_post_init(self, context: object, /) -> None:
        # Exact routes by group: a lookup stays constant-time with thousands of routes.
        self._exact = {r.model_package_group: r for r in self.routes if r.model_package_group is not None}

    def _find(self, group: str) -> Route | None:
        if group in self._exact:
            return self._exact[group]
        return next((r for r in self.routes if r.pattern is not None and r.matches(group) is not None), None)

    def route_for(self, group: str) -> Route:
        """The route of ``group`` (exact name first, then the one pattern it matches), resolved for it."""
        route = self._find(group)
        if route is None:
            raise NoRouteForGroup(f"model package group '{group}' has no route in the routing configuration")
        return route.for_group(group)

    def has_route(self, group: str) -> bool:
        return self._find(group) is not None


def _describe_validation_error(source: str, error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"] if not str(part).startswith("function-"))
        problems.append(f"{location or '(root)'}: {item['msg']}")
    return f"{source} is invalid: " + "; ".join(problems)


def parse_routing_config(raw: str | bytes, source: str = "routing configuration") -> RoutingConfig:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source} is not valid JSON: {exc}") from exc
    try:
        return RoutingConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe_validation_error(source, exc)) from exc


def load_routing_config(path: str | Path | None = None) -> RoutingConfig:
    """Load routes from ``path``, ``$MODELRELAY_ROUTES_FILE``, or the copy bundled in the layer at build time."""
    chosen = Path(path or os.environ.get(ROUTES_FILE_ENV) or BUNDLED_ROUTES_FILE)
    try:
        raw = chosen.read_bytes()
    except OSError as exc:
        raise ConfigError(f"routing configuration not readable at {chosen}: {exc.strerror}") from exc
    return parse_routing_config(raw, source=str(chosen))


class Settings(_Strict):
    """What every function reads from its environment (set by template.yaml)."""

    region: str = Field(min_length=1)
    account_id: str = Field(pattern=r"^\d{12}$")
    ingest_bucket: str = Field(pattern=BUCKET_PATTERN)
    ingest_prefix: str = ""
    hub_bucket: str = Field(pattern=BUCKET_PATTERN)
    hub_model_package_group: str = Field(pattern=GROUP_NAME_PATTERN)
    hub_role_arn: str | None = None
    hub_external_id: str | None = None
    state_table: str = Field(min_length=3)
    notification_topic_arn: str = Field(min_length=20)
    event_bus_name: str = Field(min_length=1)
    # Pull mode (template parameter HubMode): this stack runs in the hub account and pulls approved packages from the
    # listed spoke accounts, which forward their events to its bus and grant it read access (spoke/template.yaml).
    hub_mode: Literal["push", "pull"] = "push"
    spoke_account_ids: tuple[Annotated[str, Field(pattern=r"^\d{12}$")], ...] = ()

    @field_validator("spoke_account_ids", mode="before")
    @classmethod
    def _account_list(cls, value: object) -> object:
        # The template passes a CommaDelimitedList as "a,b" (empty: "").
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("hub_mode", mode="before")
    @classmethod
    def _default_mode(cls, value: object) -> object:
        return value or "push"

    @model_validator(mode="after")
    def _pull_needs_spokes(self) -> Settings:
        if self.hub_mode == "pull" and not self.spoke_account_ids:
            raise ValueError("hub_mode: pull mode needs the spoke accounts it accepts (spoke_account_ids)")
        if self.hub_mode == "pull" and self.hub_role_arn:
            raise ValueError("hub_mode: pull mode runs in the hub account; hub_role_arn is for the push pattern")
        return self

    @property
    def pull(self) -> bool:
        return self.hub_mode == "pull"

    def source_accounts(self) -> list[str]:
        """Accounts whose packages this stack promotes by default: its own, and in pull mode the listed spokes."""
        return [self.account_id, *(a for a in self.spoke_account_ids if a != self.account_id)]

    def owns_package(self, package_arn: str) -> bool:
        """Whether ``package_arn`` is in this stack's account (ModelRelay may write on it); in pull mode a spoke's
        package is read-only to the hub (the spoke grants Describe, not Update)."""
        parts = package_arn.split(":")
        return len(parts) > 4 and parts[4] == self.account_id

    def may_write_source(self, package_arn: str) -> bool:
        """Whether ModelRelay records its status on this source package: always in push mode (the stack runs in the
        package's account); in pull mode only on the hub account's own packages."""
        return not self.pull or self.owns_package(package_arn)

    @field_validator("hub_role_arn", "hub_external_id", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return value or None

    @field_validator("ingest_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip("/")
        return f"{value}/" if value else ""


_SETTINGS_ENV = {
    "region": "AWS_REGION",
    "account_id": "MODELRELAY_ACCOUNT_ID",
    "ingest_bucket": "INGEST_BUCKET",
    "ingest_prefix": "INGEST_PREFIX",
    "hub_bucket": "HUB_BUCKET",
    "hub_model_package_group": "HUB_MODEL_PACKAGE_GROUP",
    "hub_role_arn": "HUB_ROLE_ARN",
    "hub_external_id": "HUB_EXTERNAL_ID",
    "state_table": "STATE_TABLE",
    "notification_topic_arn": "NOTIFICATION_TOPIC_ARN",
    "event_bus_name": "EVENT_BUS_NAME",
    "hub_mode": "HUB_MODE",
    "spoke_account_ids": "SPOKE_ACCOUNT_IDS",
}


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    values = {field: environ[name] for field, name in _SETTINGS_ENV.items() if name in environ}
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        message = _describe_validation_error("environment", exc)
        for field, name in _SETTINGS_ENV.items():
            message = re.sub(rf"\b{field}\b", name, message)
        raise ConfigError(message) from exc


@lru_cache(maxsize=1)
def settings() -> Settings:
    return settings_from_env()


@lru_cache(maxsize=1)
def routing() -> RoutingConfig:
    return load_routing_config()
