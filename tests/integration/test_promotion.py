"""The two main jobs, end to end: real template, real ASL in moto's interpreter, real handlers in workers."""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest

from modelrelay_sandbox.artifact_factory import BAD_ARTIFACTS, good_artifact, malicious_traversal_artifact
from modelrelay_sandbox.environment import DS_BUCKET, HUB_ACCOUNT_ID, wait_for
from tests.integration.conftest import Stack

MANUAL_GROUP = "housing-newyork-ny"  # MME route, PendingManualApproval on drop
AUTO_GROUP = "housing-chicago-il"  # MME route, auto-approved drops


def unique_artifact() -> tuple[bytes, str]:
    data = good_artifact({"model.joblib": uuid.uuid4().bytes * 64, "code/inference.py": b"def model_fn(d): ...\n"})
    return data, hashlib.sha256(data).hexdigest()


def test_drop_registers_a_pending_package_with_its_provenance(stack: Stack) -> None:
    # Given a valid artifact, When it is dropped for a group that needs a human approval
    data, sha = unique_artifact()
    key = stack.drop(MANUAL_GROUP, data, name=f"{sha[:8]}.tar.gz")
    # Then a PendingManualApproval package exists whose provenance names the exact object
    package = stack.package_with_sha(MANUAL_GROUP, sha)
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    metadata = package["CustomerMetadataProperties"]
    assert metadata["modelrelay:source-bucket"] == stack.out["ingest_bucket"]
    assert metadata["modelrelay:source-key"] == key
    assert metadata["modelrelay:source-version-id"]
    # And it is registered under an immutable, content-addressed copy of exactly those bytes
    container = package["InferenceSpecification"]["Containers"][0]
    registered = f"registered/{MANUAL_GROUP}/{sha}.tar.gz"
    assert container["ModelDataUrl"] == f"s3://{stack.out['ingest_bucket']}/{registered}"
    copy = stack.client("s3").get_object(Bucket=stack.out["ingest_bucket"], Key=registered)["Body"].read()
    assert hashlib.sha256(copy).hexdigest() == sha
    assert container["Image"].endswith("housing-inference:1")


def test_approval_promotes_to_hub_and_mme_and_moves_the_pointer(stack: Stack) -> None:
    # Given a pending package registered from a drop
    data, sha = unique_artifact()
    stack.drop(MANUAL_GROUP, data, name=f"{sha[:8]}.tar.gz")
    package = stack.package_with_sha(MANUAL_GROUP, sha)
    arn = package["ModelPackageArn"]
    stack.notifications()
    # When a data scientist approves it
    stack.client("sagemaker").update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    executions = stack.settled_executions(arn)
    # Then the promotion succeeded
    assert [e["status"] for e in executions if e["status"] != "SUCCEEDED"] == []
    # And the hub account (reached only through the role) holds a package with provenance and the artifact
    hub_package = stack.package_with_sha(stack.hub_group(MANUAL_GROUP), sha, hub=True)
    assert hub_package["ModelPackageArn"].split(":")[4] == HUB_ACCOUNT_ID
    assert hub_package["ModelApprovalStatus"] == "Approved"
    provenance = hub_package["CustomerMetadataProperties"]
    assert provenance["modelrelay:source-package-arn"] == arn
    assert provenance["modelrelay:source-account"] == stack.out["account_id"]
    hub_key = f"artifacts/{MANUAL_GROUP}/{sha}.tar.gz"
    assert stack.keys(stack.out["hub_bucket"], hub_key, hub=True) == [hub_key]
    # And the MME holds the immutable versioned key and the pointer names it
    version = package["ModelPackageVersion"]
    target_model = f"NewYork_NY/{version}-{sha[:12]}.tar.gz"
    mme = stack.out["mme"]
    assert stack.keys(mme["bucket"], mme["prefix"] + target_model) == [mme["prefix"] + target_model]
    pointer = stack.pointer("NewYork_NY")
    assert pointer is not None and pointer["current"]["M"]["target_model"]["S"] == target_model
    # And the source package says so, and a person is told
    source = stack.describe(arn)["CustomerMetadataProperties"]
    assert source["modelrelay:status"] == "PromotionSucceeded"
    bodies = [m["Body"] for m in stack.notifications()]
    assert any("promotion succeeded" in body and target_model in body for body in bodies), bodies


def test_auto_approved_drop_is_promoted_without_a_human(stack: Stack) -> None:
    data, sha = unique_artifact()
    stack.drop(AUTO_GROUP, data, name=f"{sha[:8]}.tar.gz")
    package = stack.package_with_sha(AUTO_GROUP, sha)
    assert package["ModelApprovalStatus"] == "Approved"
    executions = stack.settled_executions(package["ModelPackageArn"])
    assert {e["status"] for e in executions} == {"SUCCEEDED"}
    pointer = wait_for(lambda: stack.pointer("Chicago_IL"), what="Chicago_IL pointer")
    assert sha[:12] in pointer["current"]["M"]["target_model"]["S"]


def test_second_delivery_of_the_same_drop_creates_nothing_new(stack: Stack) -> None:
    # Given a drop that was registered
    data, sha = unique_artifact()
    key = stack.drop(MANUAL_GROUP, data, name=f"{sha[:8]}.tar.gz")
    stack.package_with_sha(MANUAL_GROUP, sha)
    head = stack.client("s3").head_object(Bucket=stack.out["ingest_bucket"], Key=key)
    before = len(stack.packages(MANUAL_GROUP))
    # When EventBridge delivers the same S3 event again (at-least-once delivery)
    event_detail = {
        "version": "0",
        "bucket": {"name": stack.out["ingest_bucket"]},
        "object": {
            "key": key,
            "size": len(data),
            "etag": head["ETag"].strip('"'),
            "version-id": head["VersionId"],
            "sequencer": "00000000000000000001",
        },
        "request-id": "redelivery",
        "requester": stack.out["account_id"],
        "source-ip-address": "127.0.0.1",
        "reason": "PutObject",
    }
    stack.client("events").put_events(
        Entries=[
            {
                "Source": "aws.s3",
                "DetailType": "Object Created",
                "Detail": json.dumps(event_detail),
                "Resources": [f"arn:aws:s3:::{stack.out['ingest_bucket']}"],
            }
        ]
    )
    # Then no new package appears
    with pytest.raises(TimeoutError):
        wait_for(lambda: len(stack.packages(MANUAL_GROUP)) > before, timeout=5, what="a duplicate package")


def test_stale_approval_event_is_skipped_touching_nothing(stack: Stack) -> None:
    # Given a package that was approved and then rejected before its event was processed
    data, sha = unique_artifact()
    stack.drop(MANUAL_GROUP, data, name=f"{sha[:8]}.tar.gz")
    package = stack.package_with_sha(MANUAL_GROUP, sha)
    arn = package["ModelPackageArn"]
    stack.client("sagemaker").update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Rejected")
    stack.settled_executions(arn)
    # When the late "Approved" event arrives
    late = dict(package, ModelApprovalStatus="Approved")
    late = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in late.items() if k != "ResponseMetadata"}
    stack.client("stepfunctions").start_execution(
        stateMachineArn=stack.out["state_machine_arn"],
        input=json.dumps(
            {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "SageMaker Model Package State Change",
                "source": "aws.sagemaker",
                "account": stack.out["account_id"],
                "time": "2026-11-20T09:14:05Z",
                "region": stack.out["region"],
                "resources": [arn],
                "detail": late,
            }
        ),
    )
    executions = stack.settled_executions(arn, count=2)
    # Then nothing was promoted: no hub artifact, no MME object
    assert all(e["status"] == "SUCCEEDED" for e in executions)
    assert stack.keys(stack.out["hub_bucket"], f"artifacts/{MANUAL_GROUP}/{sha}", hub=True) == []
    assert not any(sha[:12] in key for key in stack.keys(stack.out["mme"]["bucket"], "models/NewYork_NY/"))


def test_drop_for_an_unknown_group_is_rejected_and_not_created(stack: Stack) -> None:
    key = stack.drop("no-such-group", good_artifact())
    tags = wait_for(
        lambda: stack.client("s3").get_object_tagging(Bucket=stack.out["ingest_bucket"], Key=key)["TagSet"],
        what="rejection tags",
    )
    assert {"Key": "modelrelay:reason", "Value": "unknown_group"} in tags
    groups = stack.client("sagemaker").list_model_package_groups()["ModelPackageGroupSummaryList"]
    assert "no-such-group" not in {g["ModelPackageGroupName"] for g in groups}


BAD_DROPS = [
    "not_gzip_plain_tar",
    "truncated_gzip",
    "gzip_of_text",
    "empty_tar",
    "absolute_path",
    "traversal_dotdot",
    "duplicate_name",
    "fifo",
    "char_device",
    "oversized_object",
]


@pytest.mark.parametrize("case", BAD_DROPS)
def test_bad_artifact_drop_is_rejected_with_its_reason_and_nothing_written(stack: Stack, case: str) -> None:
    reason, build = BAD_ARTIFACTS[case]
    # Given a hostile or broken artifact, When it is dropped
    key = stack.drop(MANUAL_GROUP, build(), name=f"bad-{case}.tar.gz")
    # Then the object carries the specific reason and no package records it
    tags = wait_for(
        lambda: stack.client("s3").get_object_tagging(Bucket=stack.out["ingest_bucket"], Key=key)["TagSet"],
        what="rejection tags",
    )
    assert {"Key": "modelrelay:reason", "Value": reason} in tags
    for summary in stack.packages(MANUAL_GROUP):
        assert key not in (summary.get("ModelPackageDescription") or "")


def test_approved_package_with_a_malicious_artifact_fails_clearly_and_writes_nothing(stack: Stack) -> None:
    # Given a package registered directly in the registry, pointing at a tar with a '../' member
    key = f"bad/{uuid.uuid4()}.tar.gz"
    stack.client("s3").put_object(Bucket=DS_BUCKET, Key=key, Body=malicious_traversal_artifact())
    arn = stack.client("sagemaker").create_model_package(
        ModelPackageGroupName=MANUAL_GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": "img:1", "ModelDataUrl": f"s3://{DS_BUCKET}/{key}"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    # When its approval is processed
    executions = stack.settled_executions(arn)
    # Then the promotion failed, the package names the step and reason, and nothing was written
    assert [e["status"] for e in executions] == ["FAILED"]
    metadata = stack.describe(arn)["CustomerMetadataProperties"]
    assert metadata["modelrelay:status"] == "PromotionFailed"
    assert metadata["modelrelay:failed-step"] == "PreparePromotion"
    assert metadata["modelrelay:reason"] == "path_traversal"
    bodies = [m["Body"] for m in stack.notifications()]
    assert any("path_traversal" in body and arn in body for body in bodies)


def test_second_delivery_of_an_approval_creates_nothing_new(stack: Stack) -> None:
    # Given an approval that was promoted
    data, sha = unique_artifact()
    stack.drop(AUTO_GROUP, data, name=f"{sha[:8]}.tar.gz")
    package = stack.package_with_sha(AUTO_GROUP, sha)
    arn = package["ModelPackageArn"]
    stack.settled_executions(arn)
    hub_group = stack.hub_group(AUTO_GROUP)
    hub_before = len(stack.packages(hub_group, hub=True))
    stack.notifications()
    # When the same approval event is delivered again
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "SageMaker Model Package State Change",
        "source": "aws.sagemaker",
        "account": stack.out["account_id"],
        "time": "2026-11-20T09:14:05Z",
        "region": stack.out["region"],
        "resources": [arn],
        "detail": {
            "ModelPackageGroupName": AUTO_GROUP,
            "ModelPackageArn": arn,
            "ModelApprovalStatus": "Approved",
            "ModelPackageVersion": package["ModelPackageVersion"],
        },
    }
    stack.client("stepfunctions").start_execution(
        stateMachineArn=stack.out["state_machine_arn"], input=json.dumps(event)
    )
    executions = stack.settled_executions(arn, count=2)
    # Then it ends quietly: no second hub package, no second success notification
    assert {e["status"] for e in executions} == {"SUCCEEDED"}
    assert len(stack.packages(hub_group, hub=True)) == hub_before
    assert not [m for m in stack.notifications() if arn in m["Body"]]


def test_large_objects_are_copied_server_side_in_parts(stack: Stack) -> None:
    # Given an object larger than one copy part (parts shrunk to S3's 5 MiB minimum to keep the test small)
    from modelrelay.adapters import s3 as s3ops

    s3 = stack.client("s3")
    body = uuid.uuid4().bytes * (12 * 1024 * 1024 // 16)
    s3.put_object(Bucket=DS_BUCKET, Key="big/model.tar.gz", Body=body)
    # When it is copied with the multipart path
    s3ops.multipart_copy(
        s3,
        {"Bucket": DS_BUCKET, "Key": "big/model.tar.gz"},
        len(body),
        DS_BUCKET,
        "big/copy.tar.gz",
        {s3ops.SHA256_METADATA: "x"},
        part_size=5 * 1024 * 1024,
    )
    # Then the copy is byte-identical, made of 3 parts, and carries the metadata
    head = s3.head_object(Bucket=DS_BUCKET, Key="big/copy.tar.gz")
    assert head["ETag"].strip('"').endswith("-3")
    assert head["Metadata"][s3ops.SHA256_METADATA] == "x"
    copied = s3.get_object(Bucket=DS_BUCKET, Key="big/copy.tar.gz")["Body"].read()
    assert hashlib.sha256(copied).digest() == hashlib.sha256(body).digest()
