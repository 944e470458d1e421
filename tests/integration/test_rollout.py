"""Endpoint rollouts with canary guardrails through the real stack; outcomes read from what the endpoint says."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from typing import Any

import pytest

from modelrelay_sandbox.artifact_factory import good_artifact
from modelrelay_sandbox.environment import CANARY_ALARMS, CANARY_ENDPOINT
from tests.integration.conftest import Stack

GROUP = "fraud-realtime"


def pending_package(stack: Stack) -> tuple[dict[str, Any], str]:
    return stack.pending_version(GROUP)


def approve(stack: Stack, package: dict[str, Any]) -> list[dict[str, Any]]:
    return stack.approve(package)


def endpoint(stack: Stack) -> dict[str, Any]:
    described: dict[str, Any] = stack.client("sagemaker").describe_endpoint(EndpointName=CANARY_ENDPOINT)
    return described


def outcome_of(stack: Stack, execution_arn: str) -> dict[str, Any]:
    """The RecordOutcome step's result (what was published on the bus and notified)."""
    events = stack.client("stepfunctions").get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    for event in reversed(events):
        details = event.get("taskSucceededEventDetails") or event.get("lambdaFunctionSucceededEventDetails") or {}
        output = json.loads(details.get("output") or "{}")
        if isinstance(output, dict) and "detail_type" in output:
            return output
    raise AssertionError("no RecordOutcome result in the execution history")


def set_alarm(stack: Stack, name: str, state: str) -> None:
    stack.client("cloudwatch").set_alarm_state(AlarmName=name, StateValue=state, StateReason="integration test")


@pytest.fixture(autouse=True)
def one_rollout_test_at_a_time() -> Any:
    # The tests share one canary endpoint; each starts from InService.
    with ROLLOUT_LOCK:
        yield


ROLLOUT_LOCK = threading.Lock()


def test_canary_rollout_succeeds_and_the_endpoint_serves_the_new_config(stack: Stack) -> None:
    # Given an approved package on the canary route
    package, sha = pending_package(stack)
    stack.notifications()
    # When the promotion rolls the endpoint
    executions = approve(stack, package)
    # Then it succeeded because the endpoint is InService on the new config
    assert {e["status"] for e in executions} == {"SUCCEEDED"}
    described = endpoint(stack)
    assert described["EndpointStatus"] == "InService"
    assert sha[:12] in described["EndpointConfigName"]
    metadata = stack.describe(package["ModelPackageArn"])["CustomerMetadataProperties"]
    assert metadata["modelrelay:rollout"] == "Succeeded"
    hub = stack.describe(metadata["modelrelay:hub-package"], hub=True)["CustomerMetadataProperties"]
    assert hub["modelrelay:rollout"] == "Succeeded"
    assert any(
        "rollout succeeded" in m["Body"] and package["ModelPackageArn"] in m["Body"] for m in stack.notifications()
    )


def test_alarm_during_the_bake_rolls_back_and_is_reported_as_rolled_back(stack: Stack) -> None:
    # Given a healthy endpoint and a new approved version
    package, sha = pending_package(stack)
    before = endpoint(stack)["EndpointConfigName"]
    stack.notifications()
    # When one of the route's alarms is in ALARM while the canary bakes
    set_alarm(stack, CANARY_ALARMS[0], "ALARM")
    try:
        executions = approve(stack, package)
    finally:
        set_alarm(stack, CANARY_ALARMS[0], "OK")
    # Then the execution does not succeed, the endpoint is back on its previous config, and it says why
    statuses = sorted(e["status"] for e in executions)
    assert statuses == ["FAILED", "SUCCEEDED"]  # the rollout, and the quiet pending-event execution
    failed = next(e for e in executions if e["status"] == "FAILED")
    assert failed.get("error") == "RolloutRolledBack"
    described = endpoint(stack)
    assert described["EndpointStatus"] == "InService" and described["EndpointConfigName"] == before
    metadata = stack.describe(package["ModelPackageArn"])["CustomerMetadataProperties"]
    assert metadata["modelrelay:rollout"] == "RolledBack"
    assert metadata["modelrelay:rollout-reason"].startswith("alarm_rollback: ")
    assert CANARY_ALARMS[0] in metadata["modelrelay:rollout-reason"]
    # the reason is a fact (the guard alarm that went to ALARM), SageMaker's FailureReason is quoted beside it
    outcome = outcome_of(stack, failed["executionArn"])
    assert (outcome["outcome"], outcome["detail_type"]) == ("RolledBack", "Rollout RolledBack")
    assert outcome["detail"]["reason"] == "alarm_rollback"
    assert outcome["detail"]["alarms"] == [CANARY_ALARMS[0]]
    assert "was triggered during the deployment" in outcome["detail"]["failure_reason"]
    bodies = [m["Body"] for m in stack.notifications() if package["ModelPackageArn"] in m["Body"]]
    assert any("rollout rolled back" in body and CANARY_ALARMS[0] in body for body in bodies), bodies
    assert not any("succeeded" in body for body in bodies)
    # And the losing endpoint config was removed
    configs = stack.client("sagemaker").list_endpoint_configs(NameContains=sha[:12])["EndpointConfigs"]
    assert configs == []


def test_two_approvals_racing_on_one_endpoint_both_complete_and_the_later_serves(stack: Stack) -> None:
    # Given two versions of the same group, pending
    first, _ = pending_package(stack)
    second, second_sha = pending_package(stack)
    assert second["ModelPackageVersion"] > first["ModelPackageVersion"]
    # When both are approved at the same moment
    threads = [threading.Thread(target=approve, args=(stack, p)) for p in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    # Then neither failed and the later version serves
    for package in (first, second):
        assert all(e["status"] == "SUCCEEDED" for e in stack.executions_for(package["ModelPackageArn"]))
    assert second_sha[:12] in endpoint(stack)["EndpointConfigName"]


def test_a_crashed_executions_lease_expires(stack: Stack) -> None:
    # Given a lease left behind by an execution that crashed an hour ago
    stack.client("dynamodb").put_item(
        TableName=stack.out["state_table"],
        Item={
            "pk": {"S": f"lease#{CANARY_ENDPOINT}"},
            "holder": {"S": "crashed-execution"},
            "expires_at": {"N": str(int(time.time()) - 3600)},
        },
    )
    package, sha = pending_package(stack)
    # When a new version is approved, Then the expired lease does not block it
    executions = approve(stack, package)
    assert {e["status"] for e in executions} == {"SUCCEEDED"}
    assert sha[:12] in endpoint(stack)["EndpointConfigName"]
    assert "Item" not in stack.client("dynamodb").get_item(
        TableName=stack.out["state_table"], Key={"pk": {"S": f"lease#{CANARY_ENDPOINT}"}}, ConsistentRead=True
    )


@pytest.mark.parametrize(
    ("group", "endpoint_name"),
    [("fraud-realtime-linear", "fraud-linear"), ("fraud-realtime-all-at-once", "fraud-all-at-once")],
)
def test_linear_and_all_at_once_rollouts_succeed_with_managed_default_alarms(
    stack: Stack, group: str, endpoint_name: str
) -> None:
    # Given a route whose rollout names no alarms
    data = good_artifact({"model.joblib": uuid.uuid4().bytes * 64})
    sha = hashlib.sha256(data).hexdigest()
    stack.drop(group, data, name=f"{sha[:8]}.tar.gz")
    package = stack.package_with_sha(group, sha)
    stack.settled_executions(package["ModelPackageArn"])
    # When a version is approved
    stack.client("sagemaker").update_model_package(
        ModelPackageArn=package["ModelPackageArn"], ModelApprovalStatus="Approved"
    )
    executions = stack.settled_executions(package["ModelPackageArn"], count=2, timeout=120)
    # Then the endpoint serves it, guarded by the 5XX and latency alarms ModelRelay created
    assert {e["status"] for e in executions} == {"SUCCEEDED"}
    described = stack.client("sagemaker").describe_endpoint(EndpointName=endpoint_name)
    assert described["EndpointStatus"] == "InService" and sha[:12] in described["EndpointConfigName"]
    alarms = stack.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"modelrelay-{endpoint_name}-")
    assert sorted(a["AlarmName"] for a in alarms["MetricAlarms"]) == [
        f"modelrelay-{endpoint_name}-5xx",
        f"modelrelay-{endpoint_name}-latency-p99",
    ]


def test_a_failed_deployment_is_reported_as_failed_and_nothing_else_moves(stack: Stack) -> None:
    # Given an approved package whose container cannot start (the sandbox fails images named fail-deployment)
    before = endpoint(stack)["EndpointConfigName"]
    arn, sha = stack.approved_failing_package(GROUP, "fraud")
    stack.notifications()
    # When its promotion rolls the endpoint
    executions = stack.settled_executions(arn, timeout=120)
    # Then the execution failed as a failed deployment (not a rollback: no guard alarm fired), with SageMaker's reason
    assert [(e["status"], e.get("error")) for e in executions] == [("FAILED", "PromotionFailed")]
    metadata = stack.describe(arn)["CustomerMetadataProperties"]
    assert metadata["modelrelay:rollout"] == "Failed"
    assert metadata["modelrelay:rollout-reason"].startswith("deployment_failed: ")
    assert "health check" in metadata["modelrelay:rollout-reason"]
    assert outcome_of(stack, executions[0]["executionArn"])["detail"]["reason"] == "deployment_failed"
    # And the endpoint is back in service on its old config (as AWS leaves it), the loser deleted
    described = endpoint(stack)
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", before)
    assert stack.client("sagemaker").list_endpoint_configs(NameContains=sha[:12])["EndpointConfigs"] == []
    bodies = [m["Body"] for m in stack.notifications() if arn in m["Body"]]
    assert any("rollout failed" in body and "deployment_failed" in body for body in bodies), bodies
