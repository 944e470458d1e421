"""A promotion killed between a copy and the write that follows it, then re-run: no duplicates, no orphans.

"Killed" means the step died without any compensation (a Lambda timeout or crash): the domain step is run
against the sandbox with a client that fails at the given call, then run again as Step Functions' retry or a
re-drive would, with the same execution name.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from modelrelay.adapters.clients import HubClients
from modelrelay.adapters.store import Store
from modelrelay.config import load_routing_config
from modelrelay.domain.deps import PromotionDeps
from modelrelay.domain.hub import register_in_hub
from modelrelay.domain.mme import stage_on_mme
from modelrelay.domain.prepare import prepare
from modelrelay.events import RerunRequest
from modelrelay.steps import PromotionPlan
from modelrelay_sandbox import environment
from modelrelay_sandbox.environment import wait_for
from modelrelay_sandbox.moto_ext import fault_injection
from tests.integration.conftest import Stack, stack_settings

GROUP, MODEL = "housing-newyork-ny", "NewYork_NY"


class FailingAt:
    """A client that dies at one call, as a killed Lambda would, and behaves normally otherwise."""

    def __init__(self, real: Any, method: str) -> None:
        self._real, self._method = real, method

    def __getattr__(self, name: str) -> Any:
        if name == self._method:
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "killed here"}}, name)
        return getattr(self._real, name)


def deps_for(stack: Stack, **overrides: Any) -> PromotionDeps:
    out = stack.out
    hub = HubClients(
        s3=stack.hub_role_client("s3"),
        sagemaker=overrides.pop("hub_sagemaker", stack.hub_role_client("sagemaker")),
        account_id=out["hub_account_id"],
    )
    settings = stack_settings(out)
    values: dict[str, Any] = {
        "settings": settings,
        "routing": load_routing_config(environment.ROUTES_FILE),
        "s3": stack.client("s3"),
        "sagemaker": stack.client("sagemaker"),
        "store": Store(overrides.pop("dynamodb", stack.client("dynamodb")), out["state_table"]),
        "hub": lambda: hub,
        "runtime": stack.client("sagemaker-runtime"),
    }
    return PromotionDeps(**(values | overrides))


def approved_plan(stack: Stack, execution: str) -> PromotionPlan:
    """A pending package, approved with its rule held back, planned by the real PreparePromotion step."""
    package, _ = stack.pending_version(GROUP)
    events = stack.client("events")
    rule = next(r["Name"] for r in events.list_rules()["Rules"] if "ModelPackageApproval" in r["Name"])
    events.disable_rule(Name=rule)
    try:
        stack.client("sagemaker").update_model_package(
            ModelPackageArn=package["ModelPackageArn"], ModelApprovalStatus="Approved"
        )
    finally:
        events.enable_rule(Name=rule)
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "SageMaker Model Package State Change",
        "source": "aws.sagemaker",
        "account": stack.out["account_id"],
        "time": "2026-11-21T10:00:00Z",
        "region": stack.out["region"],
        "resources": [package["ModelPackageArn"]],
        "detail": {
            "ModelPackageGroupName": GROUP,
            "ModelPackageArn": package["ModelPackageArn"],
            "ModelApprovalStatus": "Approved",
        },
    }
    return prepare(event, execution, deps_for(stack))


def hub_objects(stack: Stack, sha: str) -> list[str]:
    return stack.keys(stack.out["hub_bucket"], f"artifacts/{GROUP}/{sha}", hub=True)


def hub_packages_with(stack: Stack, sha: str) -> list[str]:
    group = stack.hub_group(GROUP)
    return [
        p["ModelPackageArn"]
        for p in stack.packages(group, hub=True)
        if (stack.describe(p["ModelPackageArn"], hub=True).get("CustomerMetadataProperties") or {}).get(
            "modelrelay:sha256"
        )
        == sha
    ]


def test_killed_between_the_hub_copy_and_the_hub_package_then_rerun(stack: Stack) -> None:
    execution = f"crash-{uuid.uuid4().hex[:8]}"
    plan = approved_plan(stack, execution)
    assert plan.artifact is not None
    sha = plan.artifact.sha256
    # Given RegisterInHub died after its copy, before the hub package
    killed = deps_for(stack, hub_sagemaker=FailingAt(stack.hub_role_client("sagemaker"), "create_model_package"))
    with pytest.raises(ClientError, match="killed here"):
        register_in_hub(plan, execution, killed)
    assert len(hub_objects(stack, sha)) == 1 and hub_packages_with(stack, sha) == []
    # When the step runs again (Step Functions retry / redrive: same execution)
    result = register_in_hub(plan, execution, deps_for(stack))
    again = register_in_hub(plan, execution, deps_for(stack))
    # Then one hub object, one hub package pointing at it, and no orphan
    assert result.created_hub_object is False and result.created_hub_package is True
    assert again.hub_package_arn == result.hub_package_arn and again.created_hub_package is False
    assert len(hub_objects(stack, sha)) == 1
    assert hub_packages_with(stack, sha) == [result.hub_package_arn]
    container = stack.describe(result.hub_package_arn, hub=True)["InferenceSpecification"]["Containers"][0]
    assert container["ModelDataUrl"] == f"s3://{stack.out['hub_bucket']}/{hub_objects(stack, sha)[0]}"


def test_killed_between_the_mme_copy_and_the_pointer_move_then_rerun(stack: Stack) -> None:
    execution = f"crash-{uuid.uuid4().hex[:8]}"
    plan = approved_plan(stack, execution)
    hub = register_in_hub(plan, execution, deps_for(stack))
    assert plan.mme_key and plan.mme_bucket
    before = stack.pointer(MODEL)
    revision_before = int(before["revision"]["N"]) if before else 0
    # Given StageOnMme died after its copy, before the pointer move
    killed = deps_for(stack, dynamodb=FailingAt(stack.client("dynamodb"), "update_item"))
    with pytest.raises(ClientError, match="killed here"):
        stage_on_mme(plan, hub, execution, killed)
    assert stack.keys(plan.mme_bucket, plan.mme_key) == [plan.mme_key]
    assert stack.pointer(MODEL) == before
    # When it runs again, twice
    first = stage_on_mme(plan, hub, execution, deps_for(stack))
    second = stage_on_mme(plan, hub, execution, deps_for(stack))
    # Then the object is the one copy, and the pointer moved exactly once
    assert first.created_mme_object is False and first.pointer_moved is True
    assert second.pointer_moved is False
    pointer = stack.pointer(MODEL)
    assert pointer is not None and pointer["current"]["M"]["target_model"]["S"] == plan.target_model
    assert int(pointer["revision"]["N"]) == revision_before + 1


def test_a_failed_promotion_is_rerun_with_force_and_completes_once(stack: Stack) -> None:
    # Given a promotion that failed at RegisterInHub (the hub registry kept throttling) and undid its writes
    package, sha = stack.pending_version(GROUP)
    arn = package["ModelPackageArn"]
    fault_injection.enable(stack.env.server, rate=1.0, seed=3, only={"sagemaker:CreateModelPackage"})
    try:
        stack.client("sagemaker").update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
        executions = stack.settled_executions(arn, count=2, timeout=180)
    finally:
        fault_injection.disable(stack.env.server)
    assert sorted(e["status"] for e in executions) == ["FAILED", "SUCCEEDED"]
    assert stack.describe(arn)["CustomerMetadataProperties"]["modelrelay:failed-step"] == "RegisterInHub"
    assert hub_objects(stack, sha) == [] and hub_packages_with(stack, sha) == []
    # When the operator re-runs it (the documented re-run request) once the cause is gone
    failed = next(e for e in executions if e["status"] == "FAILED")
    request = {"request": "rerun", "event": json.loads(failed["input"])}
    RerunRequest.model_validate(request)
    sfn = stack.client("stepfunctions")
    rerun = sfn.start_execution(stateMachineArn=stack.out["state_machine_arn"], input=json.dumps(request))
    done = wait_for(
        lambda: (d := sfn.describe_execution(executionArn=rerun["executionArn"]))["status"] != "RUNNING" and d,
        timeout=120,
        what="the re-run",
    )
    # Then it succeeded with exactly one hub object and one hub package
    assert done["status"] == "SUCCEEDED"
    assert len(hub_objects(stack, sha)) == 1 and len(hub_packages_with(stack, sha)) == 1
