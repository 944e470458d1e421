"""Staged routes without AWS: the configuration, each stage's plan, the gate's state transitions, the ASL's gate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modelrelay.config import ConfigError, parse_routing_config
from modelrelay.domain import stages
from modelrelay.steps import (
    ArtifactRef,
    HubResult,
    PromotionPlan,
    StageRecord,
    StagesRequest,
    StageState,
)
from modelrelay_sandbox import policies
from modelrelay_sandbox import stages as sandbox_stages

REPO = Path(__file__).resolve().parents[2]
ROLE = "arn:aws:iam::777788889999:role/modelrelay-deployment"
PROD = "arn:aws:iam::888899990000:role/modelrelay-deployment"


def routes(**stage_changes: Any) -> str:
    staging = {
        "name": "staging",
        "role_arn": ROLE,
        "target": {"kind": "mme", "endpoint_name": "mme", "bucket": "staging-bucket"},
        "gate": {"kind": "manual", "timeout_seconds": 60},
    } | stage_changes
    production = {"name": "production", "role_arn": PROD, "target": {"kind": "endpoint", "endpoint_name": "ep"}}
    return json.dumps({"routes": [{"model_package_group": "g", "stages": [staging, production]}]})


def test_a_staged_route_targets_its_last_stage_and_names_its_accounts() -> None:
    route = parse_routing_config(routes()).route_for("g")
    assert route.target.kind == "endpoint" and route.target.endpoint_name == "ep"
    assert [(s.name, s.account) for s in route.stages] == [("staging", "777788889999"), ("production", "888899990000")]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"name": "production"}, "unique"),
        ({"role_arn": "not-a-role"}, "role_arn"),
        ({"gate": {"kind": "manual", "timeout_seconds": 90000}}, "timeout_seconds"),
        ({"gate": {"kind": "sometimes"}}, "kind"),
    ],
)
def test_a_bad_stage_is_refused_naming_the_field(change: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_routing_config(routes(**change))


def _plan() -> PromotionPlan:
    artifact = ArtifactRef(bucket="src", key="k/model.tar.gz", size=10, sha256="ab" * 32)
    return PromotionPlan(decision="promote", reason="approved", package_arn="arn:p/g/3", group="g", artifact=artifact)


HUB = HubResult(
    hub_package_arn="arn:hub/1",
    hub_artifact_uri="s3://hub/artifacts/abab.tar.gz",
    created_hub_package=True,
    created_hub_object=True,
    provenance_id="p",
)


def test_a_stage_plan_serves_the_hub_copy_on_the_stage_target() -> None:
    route = parse_routing_config(routes()).route_for("g")
    staged = stages.stage_plan(_plan(), HUB, route.stage("staging"), route)
    assert (staged.stage, staged.stage_account, staged.route_kind) == ("staging", "777788889999", "mme")
    assert staged.artifact is not None and staged.artifact.uri == "s3://hub/artifacts/abab.tar.gz"
    assert staged.mme_bucket == "staging-bucket" and staged.mme_key == f"models/g/0-{'ab' * 6}.tar.gz"
    production = stages.stage_plan(_plan(), HUB, route.stage("production"), route)
    assert (production.route_kind, production.endpoint_name, production.mme_key) == ("endpoint", "ep", None)


def _state(index: int, statuses: list[str]) -> StageState:
    records = [
        StageRecord(name=n, account=a, kind=k, endpoint_name=e, status=s)  # type: ignore[arg-type]
        for (n, a, k, e), s in zip(
            [("staging", "777788889999", "mme", "mme"), ("production", "888899990000", "endpoint", "ep")],
            statuses,
            strict=True,
        )
    ]
    return StageState(index=index, stages=records, gate="manual", gate_timeout_seconds=60)


class _Deps:
    """Only what the gate transitions touch: the gate records and the registry annotation."""

    def __init__(self) -> None:
        self.deleted: list[str] = []
        self.recorded: list[tuple[str, str]] = []
        self.settings = type("S", (), {"may_write_source": staticmethod(lambda arn: True)})()
        self.store = type("St", (), {"delete_gate": lambda _, e: self.deleted.append(e)})()
        self.sagemaker = type("Sm", (), {"update_model_package": self._record})()

    def _record(self, **request: Any) -> None:
        self.recorded.append((request["ModelLifeCycle"]["Stage"], request["ModelLifeCycle"]["StageStatus"]))


def _request(action: str, state: StageState) -> StagesRequest:
    return StagesRequest(execution="e1", action=action, plan=_plan(), hub=HUB, stage=state)  # type: ignore[arg-type]


def test_the_gate_before_production_waits_for_the_production_stage_and_after_it_for_itself() -> None:
    assert stages.awaited_stage(_state(0, ["Tested", "InProgress"])) == "production"
    assert stages.awaited_stage(_state(1, ["Deployed", "Tested"])) == "production"


def test_a_denied_gate_after_production_rolls_back_both_stages_newest_first() -> None:
    deps = _Deps()
    state = _state(1, ["Deployed", "Tested"]).model_copy(update={"approval": {"Cause": "denied by ana"}})
    refused = stages.refuse(_request("refuse", state), deps)  # type: ignore[arg-type]
    assert (refused.phase, refused.reason, refused.outcome, refused.rollback) == (
        "rollback",
        "gate_denied",
        "RolledBack",
        [0, 1],
    )
    assert "denied by ana" in (refused.message or "")
    assert deps.deleted == ["e1"] and deps.recorded == [("production", "Refused")]
    first = stages.rollback_next(_request("rollback_next", refused), deps)  # type: ignore[arg-type]
    assert first.index == 1 and first.plan is not None and first.plan.decision == "restore"
    assert (first.plan.stage, first.plan.route_kind, first.plan.restore_kind) == ("production", "endpoint", "rejected")


def test_an_expired_gate_ends_as_gate_expired_and_leaves_the_stages() -> None:
    deps = _Deps()
    expired = stages.expire(_request("expire", _state(0, ["Tested", "InProgress"])), deps)  # type: ignore[arg-type]
    assert (expired.phase, expired.outcome, expired.reason) == ("done", "Failed", "gate_expired")
    assert expired.rollback == [] and "staging (mme) keeps serving it" in (expired.message or "")
    assert deps.recorded == [("production", "GateExpired")]


def test_the_asl_waits_on_a_task_token_with_a_deadline_and_names_each_ending() -> None:
    states = json.loads((REPO / "statemachines/promotion.asl.json").read_text())["States"]
    gate = states["WaitForApproval"]
    assert gate["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert gate["Parameters"]["Payload"]["token.$"] == "$$.Task.Token"
    assert gate["TimeoutSecondsPath"] == "$.stage.gate_timeout_seconds"
    catches = {tuple(c["ErrorEquals"]): c["Next"] for c in gate["Catch"]}
    assert catches[("GateDenied",)] == "RefuseGate"
    assert catches[("States.Timeout", "States.HeartbeatTimeout")] == "ExpireGate"


def test_the_stage_policies_have_every_placeholder_in_the_sandbox() -> None:
    for name in ("stage-deployment-role-trust.json", "stage-deployment-role-permissions.json"):
        missing = policies.placeholders(policies.load(name)) - set(sandbox_stages.policy_values("777788889999"))
        assert not missing, f"{name}: {missing}"
    missing = policies.placeholders(policies.load("stage-hub-bucket-policy.json")) - set(
        sandbox_stages.policy_values("777788889999")
    )
    assert not missing
