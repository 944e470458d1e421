"""The sandbox's rolling updates (``RollingUpdatePolicy``): batches baked in turn, alarm rollback, and what
SageMaker excludes (serverless, multi-variant, a batch outside 5-50 % of the fleet) refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelrelay_sandbox.moto_ext import sagemaker_endpoints
from modelrelay_sandbox.server import SandboxServer, start_server
from tests.sandbox.test_moto_ext_endpoints import (
    IMAGE,
    Clients,
    alarm,
    config,
    describe,
    endpoint,
    error_of,
    model,
    polls,
    uid,
)


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clients]:
    server: SandboxServer = start_server(port=None, state_dir=Path(tmp_path_factory.mktemp("rolling-sandbox")))
    yield Clients(server.url)
    server.stop()


@pytest.fixture(autouse=True)
def default_settings() -> Iterator[None]:
    sagemaker_endpoints.configure()  # 3 polls of Updating, then the outcome
    yield
    sagemaker_endpoints.configure()


def rolling(batch: dict[str, Any], alarms: list[str] | None = None) -> dict[str, Any]:
    deployment: dict[str, Any] = {
        "RollingUpdatePolicy": {
            "MaximumBatchSize": batch,
            "WaitIntervalInSeconds": 300,
            "MaximumExecutionTimeoutInSeconds": 3600,
            "RollbackMaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 100},
        }
    }
    if alarms:  # AutoRollbackConfiguration.Alarms has at least one item (botocore's service model)
        deployment["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": a} for a in alarms]}
    return deployment


ONE = {"Type": "INSTANCE_COUNT", "Value": 1}


def test_a_rolling_update_bakes_batch_by_batch_then_serves_the_new_config(aws: Clients) -> None:
    # Given a 4-instance endpoint
    name, old = endpoint(aws)
    new = config(aws, model(aws, f"{IMAGE}:2"))
    # When it is updated in batches of 2 instances
    aws.sm.update_endpoint(
        EndpointName=name, EndpointConfigName=new, DeploymentConfig=rolling({"Type": "INSTANCE_COUNT", "Value": 2})
    )
    seen = polls(aws, name, 4)
    # Then it is Updating on the old config with the new one pending, baking each batch, then InService on the new
    assert [d["EndpointStatus"] for d in seen] == ["Updating", "Updating", "Updating", "InService"]
    assert all(d["EndpointConfigName"] == old for d in seen[:3])
    messages = [
        d["PendingDeploymentSummary"]["ProductionVariants"][0]["VariantStatus"][0]["StatusMessage"] for d in seen[:3]
    ]
    assert "Baking for 300 seconds (WaitIntervalInSeconds) with traffic enabled on 2 of 4 instance(s)." in messages
    assert seen[3]["EndpointConfigName"] == new
    assert describe(aws, name)["LastDeploymentConfig"]["RollingUpdatePolicy"]["MaximumBatchSize"] == {
        "Type": "INSTANCE_COUNT",
        "Value": 2,
    }


def test_an_alarm_during_a_rolling_bake_rolls_back_to_the_old_config(aws: Clients) -> None:
    # Given a rolling update guarded by an alarm
    name, old = endpoint(aws)
    tripped = alarm(aws)
    new = config(aws, model(aws, f"{IMAGE}:2"))
    aws.sm.update_endpoint(EndpointName=name, EndpointConfigName=new, DeploymentConfig=rolling(ONE, [tripped]))
    assert describe(aws, name)["EndpointStatus"] == "Updating"
    # When the alarm goes to ALARM
    aws.cw.set_alarm_state(AlarmName=tripped, StateValue="ALARM", StateReason="5XX on the first batch")
    # Then RollingBack, then InService on the old config saying which alarm
    rolling_back, rolled = polls(aws, name, 2)
    assert rolling_back["EndpointStatus"] == "RollingBack"
    assert (rolled["EndpointStatus"], rolled["EndpointConfigName"]) == ("InService", old)
    assert rolled["FailureReason"].startswith(f"Alarm {tripped} was triggered during the deployment.")


def test_a_failing_new_fleet_ends_in_service_on_the_old_config(aws: Clients) -> None:
    # Given a rolling update to an image that fails its health check
    name, old = endpoint(aws)
    new = config(aws, model(aws, f"{IMAGE}-fail-deployment:2"))
    aws.sm.update_endpoint(EndpointName=name, EndpointConfigName=new, DeploymentConfig=rolling(ONE))
    # When it completes, Then the endpoint is InService on the old config with a FailureReason
    final = polls(aws, name, 4)[-1]
    assert (final["EndpointStatus"], final["EndpointConfigName"]) == ("InService", old)
    assert "did not pass the ping health check" in final["FailureReason"]


def test_what_sagemaker_excludes_from_rolling_is_a_validation_error(aws: Clients) -> None:
    # Given a 4-instance endpoint
    name, old = endpoint(aws)
    four = config(aws, model(aws, f"{IMAGE}:2"))
    # When the batch is 3 of 4 instances (75 %) or 4 %, Then refused
    code, message = error_of(
        aws.sm.update_endpoint,
        EndpointName=name,
        EndpointConfigName=four,
        DeploymentConfig=rolling({"Type": "INSTANCE_COUNT", "Value": 3}),
    )
    assert code == "ValidationException" and "between 5% and 50%" in message
    code, message = error_of(
        aws.sm.update_endpoint,
        EndpointName=name,
        EndpointConfigName=four,
        DeploymentConfig=rolling({"Type": "CAPACITY_PERCENT", "Value": 4}),
    )
    assert code == "ValidationException" and "between 5% and 50%" in message
    # When the new config is serverless, Then refused
    serverless = f"config-{uid()}"
    aws.sm.create_endpoint_config(
        EndpointConfigName=serverless,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": model(aws),
                "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5},
            }
        ],
    )
    code, message = error_of(
        aws.sm.update_endpoint, EndpointName=name, EndpointConfigName=serverless, DeploymentConfig=rolling(ONE)
    )
    assert code == "ValidationException" and "serverless" in message
    # And the endpoint never left InService on its old config
    described = describe(aws, name)
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", old)
