"""ROLLING (SageMaker RollingUpdatePolicy) without AWS: the config's ranges, the request (checked against
botocore's service model), every documented exclusion refused by name, and the outcome classified as for
blue/green."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator
from pydantic import ValidationError

from modelrelay.config import BatchSize, RolloutConfig
from modelrelay.domain.rollout import classify, deployment_config, preflight
from modelrelay.errors import PreflightFailed
from modelrelay.steps import RolloutState
from tests.unit.test_rollout import deps

SAGEMAKER = botocore.session.get_session().get_service_model("sagemaker")


def rolling(**overrides: Any) -> RolloutConfig:
    settings: dict[str, Any] = {
        "strategy": "ROLLING",
        "maximum_batch_size": BatchSize(type="INSTANCE_COUNT", value=1),
        "wait_interval_seconds": 60,
        "maximum_execution_timeout_seconds": 1800,
    }
    return RolloutConfig(**(settings | overrides))


def endpoint(count: int = 4) -> dict[str, Any]:
    return {
        "EndpointName": "e",
        "EndpointStatus": "InService",
        "EndpointConfigName": "old",
        "ProductionVariants": [{"VariantName": "AllTraffic", "CurrentInstanceCount": count}],
    }


def config(*variants: dict[str, Any]) -> dict[str, Any]:
    default = {"VariantName": "AllTraffic", "ModelName": "m", "InitialInstanceCount": 4, "InstanceType": "ml.g5.xlarge"}
    return {"EndpointConfigName": "old", "ProductionVariants": list(variants) or [default]}


def test_the_rolling_request_is_what_botocore_accepts_for_update_endpoint() -> None:
    # Given a ROLLING route with a rollback batch
    rollout = rolling(rollback_maximum_batch_size=BatchSize(type="CAPACITY_PERCENT", value=50))
    # When its DeploymentConfig is built
    request = {"EndpointName": "e", "EndpointConfigName": "new", "DeploymentConfig": deployment_config(rollout, ["a"])}
    # Then it is a RollingUpdatePolicy (no blue/green policy) that the SDK's service model validates
    assert request["DeploymentConfig"] == {
        "RollingUpdatePolicy": {
            "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1},
            "WaitIntervalInSeconds": 60,
            "MaximumExecutionTimeoutInSeconds": 1800,
            "RollbackMaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 50},
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "a"}]},
    }
    report = ParamValidator().validate(request, SAGEMAKER.operation_model("UpdateEndpoint").input_shape)
    assert not report.has_errors(), report.generate_report()


def test_without_a_rollback_batch_none_is_sent() -> None:
    # Given no rollback_maximum_batch_size, When built, Then SageMaker's default (100 %, all at once) applies
    policy = deployment_config(rolling(), [])["RollingUpdatePolicy"]
    assert "RollbackMaximumBatchSize" not in policy


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"maximum_batch_size": {"type": "CAPACITY_PERCENT", "value": 4}}, "5-50 %"),
        ({"maximum_batch_size": {"type": "CAPACITY_PERCENT", "value": 51}}, "5-50 %"),
        ({"maximum_batch_size": {"type": "INSTANCE_COUNT", "value": 0}}, "greater than or equal to 1"),
        ({"rollback_maximum_batch_size": {"type": "CAPACITY_PERCENT", "value": 101}}, "at most 100 %"),
        # 4 batches of 25 % baked 300 s each need 1200 s
        (
            {
                "maximum_batch_size": {"type": "CAPACITY_PERCENT", "value": 25},
                "wait_interval_seconds": 300,
                "maximum_execution_timeout_seconds": 1200,
            },
            "must exceed the sum of all waits and bakes (1200 s)",
        ),
        ({"maximum_batch_size": {"type": "FRACTION", "value": 1}}, "INSTANCE_COUNT"),
    ],
)
def test_the_route_refuses_what_sagemaker_would(settings: dict[str, Any], message: str) -> None:
    # Given ROLLING settings outside SageMaker's documented ranges, When parsed, Then the field is named
    with pytest.raises(ValidationError) as error:
        RolloutConfig.model_validate({"strategy": "ROLLING"} | settings)
    assert message in str(error.value)


def test_a_rolling_route_needs_no_termination_wait_in_its_timeout() -> None:
    # Given 2 batches of 50 % baked 250 s each: 500 s, under 600 s although a 120 s termination wait is set
    rollout = RolloutConfig.model_validate(
        {
            "strategy": "ROLLING",
            "maximum_batch_size": {"type": "CAPACITY_PERCENT", "value": 50},
            "wait_interval_seconds": 250,
            "termination_wait_seconds": 120,
            "maximum_execution_timeout_seconds": 600,
        }
    )
    # Then it is valid: old instances leave after each batch, there is no final termination wait
    assert rollout.steps() == 2


@pytest.mark.parametrize(
    ("given_endpoint", "given_config", "rollout", "reason"),
    [
        (endpoint(), config(), rolling(), None),
        (endpoint(2), config(), rolling(), None),  # 1 of 2 instances is 50 %
        (
            endpoint(),
            config(
                {"VariantName": "A", "ModelName": "m", "InitialInstanceCount": 2, "InstanceType": "ml.g5.xlarge"},
                {"VariantName": "B", "ModelName": "m", "InitialInstanceCount": 2, "InstanceType": "ml.g5.xlarge"},
            ),
            rolling(),
            "rolling_multiple_variants",
        ),
        (
            endpoint(0),
            config({"VariantName": "AllTraffic", "ModelName": "m", "ServerlessConfig": {"MemorySizeInMB": 2048}}),
            rolling(),
            "rolling_serverless",
        ),
        (endpoint(1), config(), rolling(), "rolling_batch_too_large"),
        (
            endpoint(4),
            config(),
            rolling(maximum_batch_size=BatchSize(type="INSTANCE_COUNT", value=3)),
            "rolling_batch_too_large",
        ),
        # 50 % of 3 instances rounds up to 2: more than half the fleet
        (endpoint(3), config(), rolling(maximum_batch_size=BatchSize(value=50)), "rolling_batch_too_large"),
        (endpoint(40), config(), rolling(), "rolling_batch_too_small"),  # 1 of 40 is 2.5 %
        # 8 batches of one instance baked 300 s each: 2400 s > 1800 s
        (endpoint(8), config(), rolling(wait_interval_seconds=300), "rolling_timeout_too_short"),
        (
            endpoint(),
            config(
                {
                    "VariantName": "AllTraffic",
                    "ModelName": "m",
                    "InitialInstanceCount": 4,
                    "InstanceType": "ml.inf1.xlarge",
                }
            ),
            rolling(),
            "guardrails_unsupported_instance",
        ),
    ],
)
def test_rolling_preflight(
    given_endpoint: dict[str, Any], given_config: dict[str, Any], rollout: RolloutConfig, reason: str | None
) -> None:
    # Given an endpoint and a ROLLING route
    if reason is None:
        # When preflight runs, Then a supported fleet passes
        preflight(given_endpoint, given_config, rollout, deps())
        return
    # When preflight runs, Then what SageMaker excludes is refused by name, before any write
    with pytest.raises(PreflightFailed) as error:
        preflight(given_endpoint, given_config, rollout, deps())
    assert error.value.reason == reason
    assert str(error.value).startswith(f"{reason}: ")


@pytest.mark.parametrize(
    ("described", "expected"),
    [
        ({"EndpointStatus": "Updating", "EndpointConfigName": "old"}, ("InProgress", "in_progress")),
        ({"EndpointStatus": "RollingBack", "EndpointConfigName": "old"}, ("InProgress", "in_progress")),
        ({"EndpointStatus": "InService", "EndpointConfigName": "new"}, ("Succeeded", "in_service")),
        (
            {"EndpointStatus": "InService", "EndpointConfigName": "old", "FailureReason": "x"},
            ("Failed", "deployment_failed"),
        ),
        ({"EndpointStatus": "UpdateRollbackFailed", "EndpointConfigName": "old"}, ("Failed", "rollback_failed")),
    ],
)
def test_a_rolling_update_is_classified_from_the_endpoint(described: dict[str, Any], expected: tuple[str, str]) -> None:
    # Given a rolling update from "old" to "new", When the endpoint is described, Then only "new" InService succeeds
    state = RolloutState(status="InProgress", endpoint_name="e", old_config="old", new_config="new", strategy="ROLLING")
    assert classify(described, state)[:2] == expected


def test_a_rolling_rollback_with_a_fired_alarm_is_rolled_back_not_success() -> None:
    # Given a rolling update whose guard alarm fired, When it is back InService on the old config
    state = RolloutState(status="InProgress", endpoint_name="e", old_config="old", new_config="new", strategy="ROLLING")
    status, code, _ = classify({"EndpointStatus": "InService", "EndpointConfigName": "old"}, state, ["a-5xx"])
    # Then it is RolledBack/alarm_rollback
    assert (status, code) == ("RolledBack", "alarm_rollback")
