"""Shadow first (route rollout.shadow) through the real stack: the new model runs as the endpoint's shadow variant
(ShadowProductionVariants) before the guarded rollout; a shadow alarm or a shadow fleet that fails ends the
promotion Failed with its reason, the endpoint back on the very config and variants it served before."""

from __future__ import annotations

from typing import Any

from modelrelay_sandbox.environment import wait_for
from tests.integration.conftest import Stack
from tests.integration.test_rolling import leftovers
from tests.integration.test_rollout import outcome_of, set_alarm

GROUP = "fraud-realtime-shadow"
ENDPOINT = "fraud-shadow"
SHADOW_5XX = f"modelrelay-{ENDPOINT}-shadow-5xx"  # ModelRelay's default alarm on the shadow variant


def described(stack: Stack) -> dict[str, Any]:
    result: dict[str, Any] = stack.client("sagemaker").describe_endpoint(EndpointName=ENDPOINT)
    return result


def production(endpoint: dict[str, Any]) -> tuple[str, list[tuple[str, list[str]]]]:
    """What production serves: the config and each variant's deployed images."""
    variants = [
        (v["VariantName"], [i["SpecifiedImage"] for i in v.get("DeployedImages", [])])
        for v in endpoint["ProductionVariants"]
    ]
    return endpoint["EndpointConfigName"], variants


def states_of(stack: Stack, execution_arn: str) -> list[str]:
    events = stack.client("stepfunctions").get_execution_history(executionArn=execution_arn, maxResults=1000)
    return [e["stateEnteredEventDetails"]["name"] for e in events["events"] if "stateEnteredEventDetails" in e]


def test_a_shadow_that_stays_healthy_is_followed_by_the_rollout(stack: Stack) -> None:
    # Given a pending version on a route with a 5-second shadow phase before an ALL_AT_ONCE rollout
    package, sha = stack.pending_version(GROUP)
    # When it is approved
    executions = stack.approve(package)
    # Then the shadow ran first (its alarm on the shadow variant exists), then the guarded rollout succeeded
    assert {e["status"] for e in executions} == {"SUCCEEDED"}
    approved = next(e for e in executions if "Approved" in e.get("input", ""))
    states = states_of(stack, approved["executionArn"])
    assert states.index("StartShadow") < states.index("CheckShadow") < states.index("StartRollout")
    alarm = stack.client("cloudwatch").describe_alarms(AlarmNames=[SHADOW_5XX])["MetricAlarms"][0]
    assert {"Name": "VariantName", "Value": "modelrelay-shadow"} in alarm["Dimensions"]
    endpoint = described(stack)
    assert endpoint["EndpointStatus"] == "InService" and sha[:12] in endpoint["EndpointConfigName"]
    assert "ShadowProductionVariants" not in endpoint
    assert "BlueGreenUpdatePolicy" in endpoint["LastDeploymentConfig"]
    # And the shadow config is gone; the serving config has no shadow variant
    configs, _ = leftovers(stack, sha)
    assert [c["EndpointConfigName"] for c in configs] == [endpoint["EndpointConfigName"]]
    served = stack.client("sagemaker").describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    assert "ShadowProductionVariants" not in served
    assert outcome_of(stack, approved["executionArn"])["outcome"] == "Succeeded"


def test_a_shadow_alarm_fails_the_promotion_and_production_never_saw_the_model(stack: Stack) -> None:
    # Given the endpoint serving some config and a new pending version
    package, sha = stack.pending_version(GROUP)
    before = production(described(stack))
    # When it is approved and the shadow variant's 5XX alarm goes to ALARM once the shadow is being set up
    stack.client("sagemaker").update_model_package(
        ModelPackageArn=package["ModelPackageArn"], ModelApprovalStatus="Approved"
    )
    sagemaker = stack.client("sagemaker")
    wait_for(
        lambda: any(
            c["EndpointConfigName"].endswith("-sh")
            for c in sagemaker.list_endpoint_configs(NameContains=sha[:12])["EndpointConfigs"]
        ),
        what="the shadow config",
    )
    set_alarm(stack, SHADOW_5XX, "ALARM")
    try:
        executions = stack.settled_executions(package["ModelPackageArn"], count=2, timeout=120)
    finally:
        set_alarm(stack, SHADOW_5XX, "OK")
    # Then the promotion failed with shadow_alarm, never success, and no rollout was started
    failed = [e for e in executions if e["status"] == "FAILED"]
    assert [e.get("error") for e in failed] == ["PromotionFailed"]
    assert "StartRollout" not in states_of(stack, failed[0]["executionArn"])
    metadata = stack.describe(package["ModelPackageArn"])["CustomerMetadataProperties"]
    assert metadata["modelrelay:rollout"] == "Failed"
    assert metadata["modelrelay:rollout-reason"].startswith("shadow_alarm: ")
    # And production never saw the model: same config, same variants and images, no shadow variant left
    endpoint = described(stack)
    assert endpoint["EndpointStatus"] == "InService" and production(endpoint) == before
    assert "ShadowProductionVariants" not in endpoint
    assert leftovers(stack, sha) == ([], [])


def test_a_shadow_fleet_that_fails_ends_the_promotion_failed_with_production_untouched(stack: Stack) -> None:
    # Given an approved package whose container fails its health check (sandbox marker fail-deployment)
    before = production(described(stack))
    arn, sha = stack.approved_failing_package(GROUP, "fraud-shadow")
    # When its promotion starts the shadow
    executions = stack.settled_executions(arn, timeout=120)
    # Then it failed as shadow_failed, quoting SageMaker, before any rollout
    assert [(e["status"], e.get("error")) for e in executions] == [("FAILED", "PromotionFailed")]
    assert "StartRollout" not in states_of(stack, executions[0]["executionArn"])
    reason = stack.describe(arn)["CustomerMetadataProperties"]["modelrelay:rollout-reason"]
    assert reason.startswith("shadow_failed: ") and "ping health check" in reason
    # And production is untouched and nothing of the version is left
    endpoint = described(stack)
    assert endpoint["EndpointStatus"] == "InService" and production(endpoint) == before
    assert leftovers(stack, sha) == ([], [])
