"""A hub group per source group (issue 13): created on first use, tagged with its origin; versions count per model."""

from __future__ import annotations

import json
import uuid

from modelrelay.adapters.sagemaker import ensure_group
from modelrelay_sandbox.artifact_factory import good_artifact
from tests.integration.conftest import Stack
from tests.integration.test_pattern_routes import approve_and_wait, new_group_with_package


def _another_package(stack: Stack, group: str) -> str:
    """A second package in an existing group, registered like the first (same image, a new artifact)."""
    described = stack.describe(stack.packages(group)[0]["ModelPackageArn"])
    container = described["InferenceSpecification"]["Containers"][0]
    bucket, key = container["ModelDataUrl"][5:].split("/", 1)
    new_key = key.replace("model.tar.gz", f"{uuid.uuid4().hex[:6]}.tar.gz")
    data = good_artifact({"model.joblib": uuid.uuid4().bytes * 64})
    stack.client("s3").put_object(Bucket=bucket, Key=new_key, Body=data)
    spec = dict(described["InferenceSpecification"])
    spec["Containers"] = [{"Image": container["Image"], "ModelDataUrl": f"s3://{bucket}/{new_key}"}]
    created = stack.client("sagemaker").create_model_package(
        ModelPackageGroupName=group, ModelApprovalStatus="PendingManualApproval", InferenceSpecification=spec
    )
    return str(created["ModelPackageArn"])


def _hub_package(stack: Stack, source_arn: str) -> dict[str, str]:
    metadata = approve_and_wait(stack, source_arn)
    assert metadata["modelrelay:status"] == "PromotionSucceeded", metadata
    return stack.describe(metadata["modelrelay:hub-package"], hub=True)


def test_each_source_group_gets_its_own_hub_group_where_versions_count_per_model(stack: Stack) -> None:
    # Given two source groups created at run time under the pattern route, with no hub group yet
    first, second = (f"housing-city-{uuid.uuid4().hex[:6]}" for _ in range(2))
    hub_sagemaker = stack.hub_client("sagemaker")
    assert (
        hub_sagemaker.list_model_package_groups(NameContains=stack.hub_group(first))["ModelPackageGroupSummaryList"]
        == []
    )
    # When a package of each is promoted, then a second one of the first group
    first_1 = _hub_package(stack, new_group_with_package(stack, first)[0])
    second_1 = _hub_package(stack, new_group_with_package(stack, second)[0])
    first_2 = _hub_package(stack, _another_package(stack, first))
    # Then each source group has its own hub group (<prefix>-<group>), and versions count per model
    assert [p["ModelPackageGroupName"] for p in (first_1, first_2)] == [stack.hub_group(first)] * 2
    assert second_1["ModelPackageGroupName"] == stack.hub_group(second)
    assert [p["ModelPackageVersion"] for p in (first_1, first_2, second_1)] == [1, 2, 1]
    # And the hub group is tagged with its origin
    group_arn = hub_sagemaker.describe_model_package_group(ModelPackageGroupName=stack.hub_group(first))[
        "ModelPackageGroupArn"
    ]
    tags = {t["Key"]: t["Value"] for t in hub_sagemaker.list_tags(ResourceArn=group_arn)["Tags"]}
    assert tags["modelrelay:source-group"] == first
    assert tags["modelrelay:source-account"] == stack.out["account_id"]
    # And (a cross-account hub) its resource policy lets the spoke describe its packages, nothing else
    policy = json.loads(
        hub_sagemaker.get_model_package_group_policy(ModelPackageGroupName=stack.hub_group(first))["ResourcePolicy"]
    )
    (statement,) = policy["Statement"]
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{stack.out['account_id']}:root"}
    assert statement["Action"] == ["sagemaker:DescribeModelPackage"]
    assert statement["Resource"].endswith(f":model-package/{stack.hub_group(first)}/*")


def test_creating_an_existing_hub_group_again_is_tolerated_and_keeps_it(stack: Stack) -> None:
    # Given a hub group that exists (another execution created it first)
    name = stack.hub_group(f"housing-city-{uuid.uuid4().hex[:6]}")
    hub_sagemaker = stack.hub_client("sagemaker")
    assert ensure_group(hub_sagemaker, name, "first", {"modelrelay:source-group": "a"}) is True
    created = hub_sagemaker.describe_model_package_group(ModelPackageGroupName=name)["CreationTime"]
    # When a concurrent first use creates it again, Then that is no error, and the group is the first one
    assert ensure_group(hub_sagemaker, name, "second", {"modelrelay:source-group": "a"}) is False
    again = hub_sagemaker.describe_model_package_group(ModelPackageGroupName=name)
    assert again["CreationTime"] == created and again["ModelPackageGroupDescription"] == "first"
