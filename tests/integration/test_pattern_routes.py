"""Pattern routes in the sandbox: a group created after deployment is promoted with no redeploy."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from modelrelay_sandbox.artifact_factory import good_artifact
from modelrelay_sandbox.environment import DS_BUCKET, wait_for
from tests.integration.conftest import Stack

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/housing-inference:1"


def new_group_with_package(stack: Stack, group: str, tags: list[dict[str, str]] | None = None) -> tuple[str, str]:
    """Create a group now (as a data scientist would, after ModelRelay was deployed) and register a package."""
    sagemaker = stack.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName=group, Tags=tags or [])
    data = good_artifact({"model.joblib": uuid.uuid4().bytes * 64})
    key = f"sdk/{group}/{uuid.uuid4().hex}/model.tar.gz"
    stack.client("s3").put_object(Bucket=DS_BUCKET, Key=key, Body=data)
    arn = sagemaker.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://{DS_BUCKET}/{key}"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )["ModelPackageArn"]
    return str(arn), hashlib.sha256(data).hexdigest()


def approve_and_wait(stack: Stack, arn: str) -> dict[str, str]:
    stack.client("sagemaker").update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")

    def recorded() -> dict[str, str] | None:
        metadata = stack.describe(arn).get("CustomerMetadataProperties") or {}
        return metadata if metadata.get("modelrelay:status") else None

    return wait_for(recorded, timeout=120, what=f"the outcome recorded on {arn}")  # type: ignore[no-any-return]


def current_target(stack: Stack, model: str) -> Any:
    pointer = stack.pointer(model)
    return pointer["current"]["M"]["target_model"]["S"] if pointer else None


def test_outputs_list_the_pattern_route_and_how_its_model_name_is_derived(stack: Stack) -> None:
    (entry,) = [g for g in stack.out["groups"] if g.get("pattern")]
    assert entry["pattern"] == "housing-city-*" and entry["route"] == "mme"
    assert entry["model_name"] == "City_{match}" and "modelrelay:model-name" in entry["model_name_from"]


def test_a_group_created_after_deployment_is_promoted_under_its_templated_model_name(stack: Stack) -> None:
    # Given a group that did not exist when the stack was deployed, matching the route housing-city-*
    arn, sha = new_group_with_package(stack, f"housing-city-{uuid.uuid4().hex[:6]}-ma")
    group = arn.split("/")[1]
    # When its package is approved
    metadata = approve_and_wait(stack, arn)
    # Then it is promoted, with no redeploy, onto the MME as City_<what * matched>
    assert metadata["modelrelay:status"] == "PromotionSucceeded", metadata
    model = "City_" + group.removeprefix("housing-city-")
    version = stack.describe(arn)["ModelPackageVersion"]
    assert current_target(stack, model) == f"{model}/{version}-{sha[:12]}.tar.gz"


def test_a_group_tag_names_the_model(stack: Stack) -> None:
    # Given a new group tagged with the model name its clients use
    suffix = uuid.uuid4().hex[:6]
    model = f"Boston_MA_{suffix}"
    arn, _sha = new_group_with_package(
        stack, f"housing-city-boston-{suffix}", tags=[{"Key": "modelrelay:model-name", "Value": model}]
    )
    # When it is approved, Then the TargetModel is under the tag's name, not the template's
    assert approve_and_wait(stack, arn)["modelrelay:status"] == "PromotionSucceeded"
    assert current_target(stack, model).startswith(f"{model}/")
    assert current_target(stack, f"City_boston-{suffix}") is None


def test_an_approval_in_a_group_no_route_matches_starts_nothing(stack: Stack) -> None:
    # Given a package in a group outside every route and prefix, approved first
    outside, _ = new_group_with_package(stack, f"rent-{uuid.uuid4().hex[:6]}")
    stack.client("sagemaker").update_model_package(ModelPackageArn=outside, ModelApprovalStatus="Approved")
    # And then one in a routed group (events are delivered in order; its outcome bounds the wait)
    routed, _ = new_group_with_package(stack, f"housing-city-{uuid.uuid4().hex[:6]}")
    assert approve_and_wait(stack, routed)["modelrelay:status"] == "PromotionSucceeded"
    # Then the approval rule delivered nothing for the unrouted group, and its package was not touched
    assert stack.executions_for(outside) == []
    assert "modelrelay:status" not in (stack.describe(outside).get("CustomerMetadataProperties") or {})
