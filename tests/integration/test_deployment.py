"""The deployed topology as documented: the hub role and bucket policies from docs/policies/, drops in any case."""

from __future__ import annotations

import hashlib
import json
import uuid
from urllib.parse import unquote

from modelrelay_sandbox import policies
from modelrelay_sandbox.artifact_factory import good_artifact
from modelrelay_sandbox.environment import DS_BUCKET, HUB_ROLE_NAME, hub_policy_values
from tests.integration.conftest import Stack

MANUAL_GROUP = "housing-newyork-ny"


def _document(value: str | dict) -> dict:
    return value if isinstance(value, dict) else json.loads(unquote(value))


def test_a_drop_named_in_any_case_is_registered(stack: Stack) -> None:
    # Given a valid artifact, When it is dropped as Model.Tar.GZ (the ingest code accepts any case)
    data = good_artifact({"model.joblib": uuid.uuid4().bytes * 64})
    sha = hashlib.sha256(data).hexdigest()
    key = stack.drop(MANUAL_GROUP, data, name=f"Model-{sha[:8]}.Tar.GZ")
    # Then the ingest rule delivers it and it is registered, pending approval, with its provenance
    package = stack.package_with_sha(MANUAL_GROUP, sha)
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert package["CustomerMetadataProperties"]["modelrelay:source-key"] == key


def test_the_hub_role_is_created_from_the_documented_policies(stack: Stack) -> None:
    iam = stack.hub_client("iam")
    values = hub_policy_values()
    role = iam.get_role(RoleName=HUB_ROLE_NAME)["Role"]
    assert _document(role["AssumeRolePolicyDocument"]) == policies.render("hub-role-trust.json", **values)
    inline = iam.get_role_policy(RoleName=HUB_ROLE_NAME, PolicyName=HUB_ROLE_NAME)["PolicyDocument"]
    assert _document(inline) == policies.render("hub-role-permissions.json", **values)


def test_the_spoke_buckets_let_the_hub_role_copy(stack: Stack) -> None:
    s3 = stack.client("s3")
    ds = json.loads(s3.get_bucket_policy(Bucket=DS_BUCKET)["Policy"])
    assert ds == policies.render("spoke-bucket-policy.json", **hub_policy_values())
    ingest = json.loads(s3.get_bucket_policy(Bucket=stack.out["ingest_bucket"])["Policy"])
    (statement,) = ingest["Statement"]
    assert statement["Principal"] == {"AWS": stack.out["hub_role_arn"]}
    assert sorted(statement["Action"]) == ["s3:GetObject", "s3:GetObjectVersion"]
    assert statement["Resource"] == f"arn:aws:s3:::{stack.out['ingest_bucket']}/*"
