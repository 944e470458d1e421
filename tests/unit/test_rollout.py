"""Rollout logic without AWS: deployment configs per strategy, every preflight rejection, outcome classification."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelrelay.config import RolloutConfig, parse_routing_config
from modelrelay.domain.deps import RolloutDeps
from modelrelay.domain.rollout import classify, deployment_config, preflight
from modelrelay.errors import PreflightFailed
from modelrelay.steps import RolloutState


class FakeCloudWatch:
    def __init__(self, alarms: set[str]) -> None:
        self.alarms = alarms

    def describe_alarms(self, AlarmNames: list[str]) -> dict[str, Any]:
        return {"MetricAlarms": [{"AlarmName": n} for n in AlarmNames if n in self.alarms]}


def deps(alarms: set[str] | None = None) -> RolloutDeps:
    routing = parse_routing_config(
        json.dumps({"routes": [{"model_package_group": "g", "target": {"kind": "endpoint", "endpoint_name": "e"}}]})
    )
    return RolloutDeps(
        settings=None,
        routing=routing,
        sagemaker=None,  # type: ignore[arg-type]
        cloudwatch=FakeCloudWatch(alarms or set()),
        store=None,  # type: ignore[arg-type]
        hub=lambda: None,
    )  # type: ignore[arg-type,return-value]


def endpoint(status: str = "InService", count: int = 4) -> dict[str, Any]:
    return {
        "EndpointName": "e",
        "EndpointStatus": status,
        "EndpointConfigName": "old",
        "ProductionVariants": [{"VariantName": "AllTraffic", "CurrentInstanceCount": count}],
    }


CONFIG = {
    "EndpointConfigName": "old",
    "ProductionVariants": [
        {"VariantName": "AllTraffic", "ModelName": "m", "InitialInstanceCount": 4, "InstanceType": "ml.m5.large"}
    ],
}


@pytest.mark.parametrize(
    ("strategy", "routing"),
    [
        (
            "CANARY",
            {"Type": "CANARY", "WaitIntervalInSeconds": 300, "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}},
        ),
        (
            "LINEAR",
            {
                "Type": "LINEAR",
                "WaitIntervalInSeconds": 300,
                "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 20},
            },
        ),
        ("ALL_AT_ONCE", {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 300}),
    ],
)
def test_deployment_config_per_strategy(strategy: str, routing: dict[str, Any]) -> None:
    rollout = RolloutConfig(strategy=strategy, maximum_execution_timeout_seconds=3600)  # type: ignore[arg-type]
    config = deployment_config(rollout, ["a1", "a2"])
    assert config == {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": 120,
            "MaximumExecutionTimeoutInSeconds": 3600,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "a1"}, {"AlarmName": "a2"}]},
    }


@pytest.mark.parametrize(
    ("given_endpoint", "rollout", "alarms", "reason"),
    [
        (endpoint("Updating"), RolloutConfig(), set(), "endpoint_not_in_service"),
        (endpoint(count=1), RolloutConfig(strategy="CANARY"), set(), "canary_too_large"),
        (
            endpoint(count=2),
            RolloutConfig(strategy="LINEAR", linear_step_percent=50, maximum_execution_timeout_seconds=3600),
            set(),
            None,
        ),
        (
            endpoint(count=1),
            RolloutConfig(strategy="LINEAR", linear_step_percent=50, maximum_execution_timeout_seconds=3600),
            set(),
            "linear_step_too_large",
        ),
        (endpoint(), RolloutConfig(alarm_names=["present", "absent"]), {"present"}, "alarm_missing"),
        (endpoint(count=1), RolloutConfig(strategy="ALL_AT_ONCE"), set(), None),
    ],
)
def test_preflight(
    given_endpoint: dict[str, Any], rollout: RolloutConfig, alarms: set[str], reason: str | None
) -> None:
    if reason is None:
        preflight(given_endpoint, CONFIG, rollout, deps(alarms))
        return
    with pytest.raises(PreflightFailed) as error:
        preflight(given_endpoint, CONFIG, rollout, deps(alarms))
    assert error.value.reason == reason
    assert str(error.value).startswith(f"{reason}: ")


def test_preflight_rejects_a_config_without_variants() -> None:
    with pytest.raises(PreflightFailed, match="no production variants"):
        preflight(endpoint(), {"EndpointConfigName": "old", "ProductionVariants": []}, RolloutConfig(), deps())


ROLLOUT = RolloutState(status="InProgress", endpoint_name="e", old_config="old", new_config="new")


@pytest.mark.parametrize(
    ("described", "fired", "expected", "code"),
    [
        ({"EndpointStatus": "InService", "EndpointConfigName": "new"}, [], "Succeeded", "in_service"),
        (
            {"EndpointStatus": "InService", "EndpointConfigName": "old", "FailureReason": "Alarm x"},
            ["x"],
            "RolledBack",
            "alarm_rollback",
        ),
        # no guard alarm fired: back on the old config is a failed deployment, whatever FailureReason says
        (
            {"EndpointStatus": "InService", "EndpointConfigName": "old", "FailureReason": "Alarm x"},
            [],
            "Failed",
            "deployment_failed",
        ),
        ({"EndpointStatus": "InService", "EndpointConfigName": "old"}, [], "Failed", "deployment_failed"),
        (
            {"EndpointStatus": "Failed", "EndpointConfigName": "old", "FailureReason": "boom"},
            [],
            "Failed",
            "deployment_failed",
        ),
        ({"EndpointStatus": "UpdateRollbackFailed", "EndpointConfigName": "old"}, ["x"], "Failed", "rollback_failed"),
        ({"EndpointStatus": "Updating", "EndpointConfigName": "old"}, [], "InProgress", "in_progress"),
        ({"EndpointStatus": "RollingBack", "EndpointConfigName": "old"}, ["x"], "InProgress", "in_progress"),
        (
            {"EndpointStatus": "InService", "EndpointConfigName": "someone-else"},
            [],
            "Failed",
            "unexpected_endpoint_config",
        ),
    ],
)
def test_outcome_comes_from_what_the_endpoint_says_and_which_alarms_fired(
    described: dict[str, Any], fired: list[str], expected: str, code: str
) -> None:
    status, reason_code, sentence = classify(described, ROLLOUT, fired)
    assert (status, reason_code) == (expected, code)
    if "FailureReason" in described and expected != "Succeeded":
        assert f'SageMaker: "{described["FailureReason"]}"' in sentence  # quoted, verbatim
    if code == "alarm_rollback":
        assert "x" in sentence
