"""A failure after UpdateEndpoint was accepted says what the endpoint really serves (never only "failed")."""

from __future__ import annotations

import json
from typing import Any

from modelrelay.config import Settings, parse_routing_config
from modelrelay.domain.deps import PromotionDeps
from modelrelay.domain.outcome import record_outcome
from modelrelay.steps import OutcomeRequest, PromotionPlan, RolloutState, StepFailure, TaskError

ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1"


class FakeSageMaker:
    def __init__(self, config: str) -> None:
        self.config = config
        self.updates: list[dict[str, Any]] = []

    def describe_endpoint(self, EndpointName: str) -> dict[str, Any]:
        return {"EndpointName": EndpointName, "EndpointStatus": "InService", "EndpointConfigName": self.config}

    def update_model_package(self, **params: Any) -> dict[str, Any]:
        self.updates.append(params)
        return {}


class FakeStore:
    def close_claim(self, *args: Any) -> None:
        return None

    def current_target(self, *args: Any) -> dict[str, Any]:
        return {}


def request(step: str) -> OutcomeRequest:
    plan = PromotionPlan(
        decision="promote", reason="approved", package_arn=ARN, group="g", route_kind="endpoint", endpoint_name="e"
    )
    rollout = RolloutState(status="InProgress", endpoint_name="e", old_config="old", new_config="new")
    failure = StepFailure(step=step, error=TaskError(Error="Runtime.ExitError", Cause="RequestId: x Error: killed"))
    return OutcomeRequest(execution="exec-1", event={}, plan=plan, rollout=rollout, failure=failure)


def deps(sagemaker: FakeSageMaker) -> PromotionDeps:
    settings = Settings(
        region="us-east-1",
        account_id="123456789012",
        ingest_bucket="ingest-bucket",
        hub_bucket="hub-bucket",
        hub_model_package_group="hub",
        state_table="table",
        notification_topic_arn="arn:aws:sns:us-east-1:123456789012:t",
        event_bus_name="default",
    )
    routing = parse_routing_config(
        json.dumps({"routes": [{"model_package_group": "g", "target": {"kind": "endpoint", "endpoint_name": "e"}}]})
    )
    return PromotionDeps(
        settings=settings,
        routing=routing,
        s3=None,
        sagemaker=sagemaker,  # type: ignore[arg-type]
        store=FakeStore(),
        hub=lambda: None,
    )  # type: ignore[arg-type,return-value]


def test_a_crash_after_the_update_was_accepted_reports_the_endpoint_on_the_new_config() -> None:
    # Given CheckRollout crashed while the endpoint already serves the new config
    sagemaker = FakeSageMaker(config="new")
    # When the outcome is recorded
    result = record_outcome(request("CheckRollout"), deps(sagemaker))
    # Then it is a failure that says what serves, and the crash is not recorded as reason "RequestId"
    assert result.outcome == "Failed"
    assert result.detail["endpoint_config"] == "new" and "new configuration new" in result.detail["endpoint_note"]
    assert result.detail["reason"] == "Runtime.ExitError"


def test_a_failure_with_the_endpoint_still_on_the_old_config_says_so_without_a_note() -> None:
    result = record_outcome(request("StartRollout"), deps(FakeSageMaker(config="old")))
    assert (result.detail["endpoint_config"], result.detail.get("endpoint_note")) == ("old", None)
