"""Inference-component routes through the real stack: a component created, rolled forward with a rolling update,
rolled back by its alarm, a failed model never reported as success, and a rejection moving the component back."""

from __future__ import annotations

from typing import Any

from modelrelay_sandbox.environment import IC_ALARM, IC_ENDPOINT, IC_GROUP
from tests.integration.conftest import Stack
from tests.integration.test_rollout import outcome_of, set_alarm


def component(stack: Stack) -> dict[str, Any] | None:
    sagemaker = stack.client("sagemaker")
    try:
        described: dict[str, Any] = sagemaker.describe_inference_component(InferenceComponentName=IC_GROUP)
    except sagemaker.exceptions.ClientError:
        return None
    return described


def models_of(stack: Stack, sha: str) -> list[Any]:
    models: list[Any] = stack.client("sagemaker").list_models(NameContains=sha[:12])["Models"]
    return models


def promoted(stack: Stack) -> tuple[dict[str, Any], str]:
    """A version approved and serving on the component (the component is created on the first one)."""
    package, sha = stack.pending_version(IC_GROUP)
    executions = stack.approve(package)
    assert {e["status"] for e in executions} == {"SUCCEEDED"}
    return package, sha


def test_a_promotion_creates_then_rolls_the_component_to_the_new_model(stack: Stack) -> None:
    # Given a version serving on the component (created by its promotion, InService with 2 copies)
    _, first_sha = promoted(stack)
    created = component(stack)
    assert created is not None and created["InferenceComponentStatus"] == "InService"
    assert created["EndpointName"] == IC_ENDPOINT and created["RuntimeConfig"]["CurrentCopyCount"] == 2
    assert first_sha[:12] in created["Specification"]["ModelName"]
    # When a newer version is approved
    package, sha = stack.pending_version(IC_GROUP)
    executions = stack.approve(package)
    # Then it succeeded because the component is InService on the new model, rolled by copies with the alarm
    assert {e["status"] for e in executions} == {"SUCCEEDED"}
    now = component(stack)
    assert now is not None and now["InferenceComponentStatus"] == "InService"
    assert sha[:12] in now["Specification"]["ModelName"]
    assert now["Specification"]["ComputeResourceRequirements"] == {
        "NumberOfCpuCoresRequired": 1,
        "MinMemoryRequiredInMb": 2048,
    }
    deployment = now["LastDeploymentConfig"]
    assert deployment["RollingUpdatePolicy"]["MaximumBatchSize"] == {"Type": "COPY_COUNT", "Value": 1}
    assert deployment["AutoRollbackConfiguration"]["Alarms"] == [{"AlarmName": IC_ALARM}]
    metadata = stack.describe(package["ModelPackageArn"])["CustomerMetadataProperties"]
    assert (metadata["modelrelay:rollout"], metadata["modelrelay:rollout-component"]) == ("Succeeded", IC_GROUP)
    approved = next(e for e in executions if "Approved" in e.get("input", ""))
    detail = outcome_of(stack, approved["executionArn"])["detail"]
    assert (detail["strategy"], detail["inference_component"]) == ("INFERENCE_COMPONENT_ROLLING", IC_GROUP)
    # And the previous winner's model is kept for a rollback
    assert models_of(stack, first_sha)


def test_an_alarm_during_the_rolling_update_moves_the_copies_back_never_success(stack: Stack) -> None:
    # Given a version serving on the component and a newer pending one
    promoted(stack)
    before = component(stack)
    assert before is not None
    package, sha = stack.pending_version(IC_GROUP)
    # When the component's alarm is in ALARM while the copies roll
    set_alarm(stack, IC_ALARM, "ALARM")
    try:
        executions = stack.approve(package)
    finally:
        set_alarm(stack, IC_ALARM, "OK")
    # Then the rollout is RolledBack, the component InService on the model it served before
    failed = [e for e in executions if e["status"] == "FAILED"]
    assert [e.get("error") for e in failed] == ["RolloutRolledBack"]
    after = component(stack)
    assert after is not None and after["InferenceComponentStatus"] == "InService"
    assert after["Specification"]["ModelName"] == before["Specification"]["ModelName"]
    metadata = stack.describe(package["ModelPackageArn"])["CustomerMetadataProperties"]
    assert metadata["modelrelay:rollout-reason"].startswith("alarm_rollback: ")
    # And the losing model is gone
    assert models_of(stack, sha) == []


def test_a_model_that_fails_its_health_check_fails_the_promotion_and_leaves_nothing(stack: Stack) -> None:
    # Given a version serving, and an approved package whose container fails (sandbox marker fail-deployment)
    promoted(stack)
    before = component(stack)
    assert before is not None
    arn, sha = stack.approved_failing_package(IC_GROUP, "{IC_GROUP}")
    # When its promotion rolls the component
    executions = stack.settled_executions(arn, timeout=120)
    # Then it failed (never success), quoting SageMaker; the component still serves what it served; no model left
    assert [(e["status"], e.get("error")) for e in executions] == [("FAILED", "PromotionFailed")]
    metadata = stack.describe(arn)["CustomerMetadataProperties"]
    assert metadata["modelrelay:rollout"] == "Failed"
    assert metadata["modelrelay:rollout-reason"].startswith("deployment_failed: ")
    after = component(stack)
    assert after is not None and after["InferenceComponentStatus"] == "InService"
    assert after["Specification"]["ModelName"] == before["Specification"]["ModelName"]
    assert models_of(stack, sha) == []


def test_rejecting_the_serving_version_moves_the_component_back(stack: Stack) -> None:
    # Given two versions promoted in turn, the second serving
    _, first_sha = promoted(stack)
    second, second_sha = promoted(stack)
    # When the serving one is rejected
    stack.client("sagemaker").update_model_package(
        ModelPackageArn=second["ModelPackageArn"], ModelApprovalStatus="Rejected"
    )
    executions = stack.settled_executions(second["ModelPackageArn"], count=3, timeout=120)
    # Then the rollback succeeded: the component is InService on the first version's model again
    assert [e["status"] for e in executions].count("SUCCEEDED") == 3
    after = component(stack)
    assert after is not None and after["InferenceComponentStatus"] == "InService"
    assert first_sha[:12] in after["Specification"]["ModelName"]
    # And the rejected version's model is deleted
    assert models_of(stack, second_sha) == []
