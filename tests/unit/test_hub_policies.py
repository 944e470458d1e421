"""The cross-account hub's policy documents (docs/policies/) grant what the hub-side code calls, and the README
shows exactly these files. IAM is not enforced in the sandbox yet (issue 9), so this is where a missing action shows.
"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path
from typing import Any

import pytest

from modelrelay.domain.hub import hub_group_name
from modelrelay_sandbox import policies
from modelrelay_sandbox.environment import hub_policy_values

REPO = Path(__file__).resolve().parents[2]

# What runs under the hub role's credentials, read from src/modelrelay/domain/hub.py (RegisterInHub, the
# compensation in remove_own_registration), domain/rollout.py (hub package status and outcome) and adapters/s3.py:
#   s3.copy_immutable -> head(dest) = HeadObject (s3:GetObject; s3:ListBucket makes a missing key 404),
#     CopyObject with CopySource VersionId, TaggingDirective=REPLACE + Tagging: source s3:GetObject +
#     s3:GetObjectVersion, destination s3:PutObject + s3:PutObjectTagging (REPLACE reads no source tags),
#     > 5 GiB: CreateMultipartUpload (with Tagging) / UploadPartCopy / CompleteMultipartUpload = s3:PutObject (+tagging)
#     on the destination and the same source reads, AbortMultipartUpload on failure;
#   s3.created_by -> GetObjectTagging; s3.delete -> DeleteObject;
#   sagemaker.create_package / describe / approval_status / package_status / record_status / delete_package
#     -> CreateModelPackage, DescribeModelPackage, UpdateModelPackage, DeleteModelPackage (no listing: the hub index
#     in the state table finds packages, issue 13).
HUB_BUCKET_OBJECT_ACTIONS = [
    "s3:GetObject",
    "s3:PutObject",
    "s3:PutObjectTagging",
    "s3:GetObjectTagging",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
]
HUB_BUCKET_ACTIONS = ["s3:ListBucket"]
SOURCE_OBJECT_ACTIONS = ["s3:GetObject", "s3:GetObjectVersion"]
HUB_REGISTRY_ACTIONS = [
    "sagemaker:CreateModelPackage",
    "sagemaker:DescribeModelPackage",
    "sagemaker:UpdateModelPackage",
    "sagemaker:DeleteModelPackage",
]

# domain.hub.ensure_hub_group -> sagemaker.ensure_group: CreateModelPackageGroup with Tags (first use of a group).
# A cross-account hub: PutModelPackageGroupPolicy lets the spoke describe the group's packages.
HUB_GROUP_ACTIONS = ["sagemaker:CreateModelPackageGroup", "sagemaker:AddTags", "sagemaker:PutModelPackageGroupPolicy"]

VALUES = {
    **hub_policy_values(),
    "SpokeArtifactBucket": ["spoke-ingest", "spoke-ds"],
    "SourceArtifactKmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/source",
    "HubBucketKmsKeyArn": "arn:aws:kms:us-east-1:222233334444:key/hub",
}
HUB_GROUP_ARN = "arn:aws:sagemaker:us-east-1:222233334444:model-package-group/{group}"
HUB_PACKAGE_ARN = "arn:aws:sagemaker:us-east-1:222233334444:model-package/{group}/3"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allowed(document: dict[str, Any], action: str, resource: str, principal: str | None = None) -> bool:
    """Does an Allow statement match (IAM's wildcard rules for actions and resources; no Deny in these files)?"""
    for statement in document["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        if principal is not None and principal not in _as_list(statement.get("Principal", {}).get("AWS")):
            continue
        actions = _as_list(statement["Action"])
        resources = _as_list(statement.get("Resource", "*"))
        if any(fnmatch.fnmatchcase(action, a) for a in actions) and any(
            fnmatch.fnmatchcase(resource, r) for r in resources
        ):
            return True
    return False


@pytest.fixture(scope="module")
def permissions() -> dict[str, Any]:
    return policies.render("hub-role-permissions.json", **VALUES)


@pytest.mark.parametrize("action", HUB_BUCKET_OBJECT_ACTIONS)
@pytest.mark.parametrize("key", ["artifacts/g/abc.tar.gz", "artifacts/g/abc/model/weights.bin"])
def test_the_hub_role_writes_and_cleans_up_hub_artifacts(permissions: dict[str, Any], action: str, key: str) -> None:
    assert allowed(permissions, action, f"arn:aws:s3:::{VALUES['HubBucket']}/{key}")


def test_the_hub_role_writes_nothing_outside_artifacts(permissions: dict[str, Any]) -> None:
    assert not allowed(permissions, "s3:PutObject", f"arn:aws:s3:::{VALUES['HubBucket']}/other/x")
    assert not allowed(permissions, "s3:PutObject", "arn:aws:s3:::spoke-ds/x")


@pytest.mark.parametrize("action", HUB_BUCKET_ACTIONS)
def test_missing_hub_objects_answer_404(permissions: dict[str, Any], action: str) -> None:
    assert allowed(permissions, action, f"arn:aws:s3:::{VALUES['HubBucket']}")


@pytest.mark.parametrize("action", SOURCE_OBJECT_ACTIONS)
@pytest.mark.parametrize("bucket", ["spoke-ingest", "spoke-ds"])
def test_the_server_side_copy_reads_every_spoke_source_on_both_sides(
    permissions: dict[str, Any], action: str, bucket: str
) -> None:
    resource = f"arn:aws:s3:::{bucket}/incoming/g/model.tar.gz"
    assert allowed(permissions, action, resource)  # the hub role's identity policy
    bucket_policy = policies.render("spoke-bucket-policy.json", **VALUES)
    assert allowed(bucket_policy, action, resource, principal=VALUES["HubRoleArn"])  # and the spoke bucket's


@pytest.mark.parametrize("action", HUB_REGISTRY_ACTIONS)
@pytest.mark.parametrize("arn", [HUB_GROUP_ARN, HUB_PACKAGE_ARN])
def test_the_hub_role_runs_the_hub_registry(permissions: dict[str, Any], action: str, arn: str) -> None:
    # Given a source group's hub group (<prefix>-<group>), Then the role runs it, and no group outside the prefix
    hub_group = hub_group_name(VALUES["HubGroup"], "housing-newyork-ny")
    assert allowed(permissions, action, arn.format(group=hub_group))
    assert not allowed(permissions, action, arn.format(group="another-group"))
    assert not allowed(permissions, action, arn.format(group=VALUES["HubGroup"]))


@pytest.mark.parametrize("action", HUB_GROUP_ACTIONS)
def test_the_hub_role_creates_and_tags_each_source_groups_hub_group(permissions: dict[str, Any], action: str) -> None:
    # RegisterInHub: CreateModelPackageGroup with Tags (tagging on create needs sagemaker:AddTags too)
    assert allowed(permissions, action, HUB_GROUP_ARN.format(group=hub_group_name(VALUES["HubGroup"], "g")))
    assert not allowed(permissions, action, HUB_GROUP_ARN.format(group="another-group"))
    assert not allowed(permissions, action, HUB_PACKAGE_ARN.format(group=hub_group_name(VALUES["HubGroup"], "g")))


def test_kms_through_s3_only_and_only_when_a_key_is_given(permissions: dict[str, Any]) -> None:
    via_s3 = {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}
    kms = {s["Sid"]: s for s in permissions["Statement"] if str(s["Action"]).startswith(("kms:", "['kms:"))}
    assert kms["DecryptSpokeArtifactsThroughS3"]["Resource"] == VALUES["SourceArtifactKmsKeyArn"]
    assert kms["DecryptSpokeArtifactsThroughS3"]["Action"] == "kms:Decrypt"
    assert set(kms["EncryptHubArtifactsThroughS3"]["Action"]) == {"kms:GenerateDataKey", "kms:Decrypt"}
    assert all(s["Condition"] == via_s3 for s in kms.values())
    without_keys = policies.render(
        "hub-role-permissions.json", **{**VALUES, "SourceArtifactKmsKeyArn": None, "HubBucketKmsKeyArn": None}
    )
    assert not [s for s in without_keys["Statement"] if "kms" in json.dumps(s["Action"])]


def test_the_role_trusts_only_the_spoke_with_the_external_id() -> None:
    trust = policies.render("hub-role-trust.json", **VALUES)
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": VALUES["HubExternalId"]}}


def test_every_placeholder_of_the_files_has_a_sandbox_value() -> None:
    for path in sorted(policies.POLICY_DIR.glob("*.json")):
        if path.name.startswith(("pull-", "stage-")):
            continue  # pull mode's and the stages' policies have their topology's values (test_pull_mode, test_stages)
        missing = policies.placeholders(policies.load(path.name)) - set(hub_policy_values())
        assert not missing, f"{path.name}: {missing}"


def test_the_readme_shows_exactly_the_policy_files() -> None:
    readme = (REPO / "README.md").read_text()
    shown = dict(re.findall(r"<!-- policy: (docs/policies/[\w.-]+) -->\n```json\n(.*?)\n```", readme, re.S))
    files = {f"docs/policies/{p.name}": p.read_text().rstrip("\n") for p in policies.POLICY_DIR.glob("*.json")}
    assert shown == files
