"""ROLLING rollouts (SageMaker RollingUpdatePolicy) through the real stack: success, alarm rollback, a failed
new fleet and a preflight refusal, each read from what the endpoint says; a failure leaves nothing half-written."""

from __future__ import annotations

from typing import Any

from modelrelay_sandbox.environment import (
    ROLLING_ALARM,
    ROLLING_ENDPOINT,
    ROLLING_EXCLUDED_ENDPOINT,
    wait_for,
)
from tests.integration.conftest import Stack
from tests.integration.test_rollout import outcome_of, set_alarm

GROUP = "fraud-realtime-rolling"
EXCLUDED_GROUP = "fraud-realtime-rolling-excluded"


def described(stack: Stack, name: str = ROLLING_ENDPOINT) -> dict[str, Any]:
    result: dict[str, Any] = stack.client("sagemaker").describe_endpoint(EndpointName=name)
    return result


def leftovers(stack: Stack, sha: str) -> tuple[list[Any], list[Any]]:
    """Endpoint configs and models this version's rollout created (named after its sha256)."""
    sagemaker = stack.client("sagemaker")
    configs = sagemaker.list_endpoint_configs(NameContains=sha[:12])["EndpointConfigs"]
    models = sagemaker.list_models(NameContains=sha[:12])["Models"]
    return configs, models


def test_a_rolling_update_succeeds_and_the_endpoint_serves_the_new_config(stack: Stack) -> None:
    # Given a pending version on the ROLLING route (2 instances, batches of 1)
    package, sha = stack.pending_version(GROUP)
    # When it is approved
    executions = stack.approve(package)
    # Then the promotion succeeded because the endpoint is InService on the new config, rolled with RollingUpdatePolicy
    assert {e["status"] for e in executions} == {"SUCCEEDED"}
    endpoint = described(stack)
    assert endpoint["EndpointStatus"] == "InService" and sha[:12] in endpoint["EndpointConfigName"]
    policy = endpoint["LastDeploymentConfig"]["RollingUpdatePolicy"]
    assert policy["MaximumBatchSize"] == {"Type": "INSTANCE_COUNT", "Value": 1}
    assert policy["RollbackMaximumBatchSize"] == {"Type": "CAPACITY_PERCENT", "Value": 100}
    assert "BlueGreenUpdatePolicy" not in endpoint["LastDeploymentConfig"]
    assert endpoint["LastDeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"] == [{"AlarmName": ROLLING_ALARM}]
    metadata = stack.describe(package["ModelPackageArn"])["CustomerMetadataProperties"]
    assert metadata["modelrelay:rollout"] == "Succeeded"
    approved = next(e for e in executions if "Approved" in e.get("input", ""))
    assert outcome_of(stack, approved["executionArn"])["detail"]["strategy"] == "ROLLING"


def test_an_alarm_during_a_rolling_bake_is_rolled_back_never_success(stack: Stack) -> None:
    # Given the endpoint serving some config and a new pending version
    package, sha = stack.pending_version(GROUP)
    before = described(stack)["EndpointConfigName"]
    # When the route's guard alarm is in ALARM while the batches bake
    set_alarm(stack, ROLLING_ALARM, "ALARM")
    try:
        executions = stack.approve(package)
    finally:
        set_alarm(stack, ROLLING_ALARM, "OK")
    # Then the rollout is RolledBack (not a success), the endpoint back on its previous config
    failed = [e for e in executions if e["status"] == "FAILED"]
    assert [e.get("error") for e in failed] == ["RolloutRolledBack"]
    endpoint = described(stack)
    assert (endpoint["EndpointStatus"], endpoint["EndpointConfigName"]) == ("InService", before)
    metadata = stack.describe(package["ModelPackageArn"])["CustomerMetadataProperties"]
    assert metadata["modelrelay:rollout"] == "RolledBack"
    assert metadata["modelrelay:rollout-reason"].startswith("alarm_rollback: ")
    outcome = outcome_of(stack, failed[0]["executionArn"])
    assert (outcome["outcome"], outcome["detail"]["alarms"]) == ("RolledBack", [ROLLING_ALARM])
    # And nothing of the losing version is left: no endpoint config, no model
    assert leftovers(stack, sha) == ([], [])


def test_a_rolling_update_whose_new_fleet_fails_is_failed_and_leaves_nothing(stack: Stack) -> None:
    # Given an approved package whose container fails its health check (sandbox marker fail-deployment)
    before = described(stack)["EndpointConfigName"]
    arn, sha = stack.approved_failing_package(GROUP, "fraud-rolling")
    # When its promotion rolls the endpoint
    executions = stack.settled_executions(arn, timeout=120)
    # Then it failed as a failed deployment, quoting SageMaker, and the endpoint serves what it served before
    assert [(e["status"], e.get("error")) for e in executions] == [("FAILED", "PromotionFailed")]
    metadata = stack.describe(arn)["CustomerMetadataProperties"]
    assert metadata["modelrelay:rollout"] == "Failed"
    assert metadata["modelrelay:rollout-reason"].startswith("deployment_failed: ")
    endpoint = described(stack)
    assert (endpoint["EndpointStatus"], endpoint["EndpointConfigName"]) == ("InService", before)
    assert leftovers(stack, sha) == ([], [])


def test_a_serverless_endpoint_is_refused_before_any_write(stack: Stack) -> None:
    # Given the excluded route's endpoint moved to a serverless config (SageMaker excludes it from rolling updates)
    sagemaker = stack.client("sagemaker")
    serverless = f"{ROLLING_EXCLUDED_ENDPOINT}-serverless"
    if described(stack, ROLLING_EXCLUDED_ENDPOINT)["EndpointConfigName"] != serverless:
        sagemaker.create_endpoint_config(
            EndpointConfigName=serverless,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": f"{ROLLING_EXCLUDED_ENDPOINT}-v0",
                    "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5},
                }
            ],
        )
        sagemaker.update_endpoint(EndpointName=ROLLING_EXCLUDED_ENDPOINT, EndpointConfigName=serverless)
        wait_for(
            lambda: described(stack, ROLLING_EXCLUDED_ENDPOINT)["EndpointStatus"] == "InService",
            what="the serverless config in service",
        )
    package, sha = stack.pending_version(EXCLUDED_GROUP)
    # When a version is approved
    executions = stack.approve(package)
    # Then preflight refuses it by name, and nothing was created or changed
    assert [e.get("error") for e in executions if e["status"] == "FAILED"] == ["PromotionFailed"]
    metadata = stack.describe(package["ModelPackageArn"])["CustomerMetadataProperties"]
    assert metadata["modelrelay:reason"] == "rolling_serverless"
    assert "serverless" in metadata["modelrelay:detail"]
    endpoint = described(stack, ROLLING_EXCLUDED_ENDPOINT)
    assert (endpoint["EndpointStatus"], endpoint["EndpointConfigName"]) == ("InService", serverless)
    assert leftovers(stack, sha) == ([], [])
