"""Going back: a serving package set to Rejected restores the previous approved version; manual rollback."""

from __future__ import annotations

import json
from typing import Any

from modelrelay_sandbox.environment import CANARY_ENDPOINT, wait_for
from tests.integration.conftest import Stack
from tests.integration.test_rollout import ROLLOUT_LOCK

MME_GROUP, MME_MODEL = "housing-newyork-ny", "NewYork_NY"
ENDPOINT_GROUP = "fraud-realtime"


def promoted(stack: Stack, group: str) -> tuple[dict[str, Any], str]:
    """A new version of ``group``, dropped, approved and promoted; returns (package, sha256)."""
    package, sha = stack.pending_version(group)
    assert {e["status"] for e in stack.approve(package)} == {"SUCCEEDED"}
    return package, sha


def current_target(stack: Stack) -> str:
    pointer = stack.pointer(MME_MODEL)
    assert pointer is not None
    return str(pointer["current"]["M"]["target_model"]["S"])


def test_rejecting_the_serving_mme_version_moves_the_pointer_back(stack: Stack) -> None:
    # Given two promoted versions, the second one serving
    _, first_sha = promoted(stack, MME_GROUP)
    second, second_sha = promoted(stack, MME_GROUP)
    assert second_sha[:12] in current_target(stack)
    # When the serving version is rejected
    stack.client("sagemaker").update_model_package(
        ModelPackageArn=second["ModelPackageArn"], ModelApprovalStatus="Rejected"
    )
    # Then the pointer is back on the first version, in one move, and the rejected one left the history
    wait_for(lambda: first_sha[:12] in current_target(stack), what="the pointer to move back")
    pointer = stack.pointer(MME_MODEL)
    assert pointer is not None
    history = [h["M"]["target_model"]["S"] for h in pointer["history"]["L"]]
    assert not any(second_sha[:12] in target for target in history)
    executions = stack.settled_executions(second["ModelPackageArn"], count=3)
    assert {e["status"] for e in executions} == {"SUCCEEDED"}


def test_manual_rollback_of_an_mme_model(stack: Stack) -> None:
    # Given two promoted versions
    _, first_sha = promoted(stack, MME_GROUP)
    _, second_sha = promoted(stack, MME_GROUP)
    assert second_sha[:12] in current_target(stack)
    # When an operator rolls the group back (the documented state machine input)
    sfn = stack.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=stack.out["state_machine_arn"], input=json.dumps({"request": "rollback", "group": MME_GROUP})
    )["executionArn"]
    described = wait_for(
        lambda: (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and d, what="the rollback"
    )
    # Then it succeeded and the previous version serves
    assert described["status"] == "SUCCEEDED"
    assert first_sha[:12] in current_target(stack)


def test_rejecting_the_serving_endpoint_version_rolls_the_endpoint_back(stack: Stack) -> None:
    with ROLLOUT_LOCK:
        # Given two versions rolled out in turn, the second serving
        _, first_sha = promoted(stack, ENDPOINT_GROUP)
        second, second_sha = promoted(stack, ENDPOINT_GROUP)
        sagemaker = stack.client("sagemaker")
        assert second_sha[:12] in sagemaker.describe_endpoint(EndpointName=CANARY_ENDPOINT)["EndpointConfigName"]
        # When the serving version is rejected
        sagemaker.update_model_package(ModelPackageArn=second["ModelPackageArn"], ModelApprovalStatus="Rejected")
        executions = stack.settled_executions(second["ModelPackageArn"], count=3, timeout=120)
        # Then a guarded rollout returned the endpoint to the first version's config
        assert {e["status"] for e in executions} == {"SUCCEEDED"}
        described = sagemaker.describe_endpoint(EndpointName=CANARY_ENDPOINT)
        assert described["EndpointStatus"] == "InService" and first_sha[:12] in described["EndpointConfigName"]
        # And the rejected version's config is gone
        assert sagemaker.list_endpoint_configs(NameContains=second_sha[:12])["EndpointConfigs"] == []
