"""Integration tests for the sandbox's event extensions of moto.

Covers modelrelay_sandbox.moto_ext.sagemaker_events, .eventbridge_targets and
.s3_eventbridge against an in-process moto server: every call goes through
boto3 and HTTP, exactly like the control plane's code in the sandbox.
"""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest

from modelrelay_sandbox import moto_ext
from modelrelay_sandbox.environment import wait_for
from modelrelay_sandbox.moto_ext import eventbridge_targets, lambda_runtime
from modelrelay_sandbox.server import start_server

# The repository's checked copies of AWS's sample events.
SAMPLES = Path(__file__).resolve().parents[2] / "events"
REGION = "eu-west-1"
ACCOUNT = "123456789012"


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = start_server(port=None)  # applies every moto extension, Step Functions executing
    yield server.url
    server.stop()


class Clients:
    def __init__(self, url: str) -> None:
        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
        self.events = session.client("events", endpoint_url=url)
        self.sqs = session.client("sqs", endpoint_url=url)
        self.s3 = session.client("s3", endpoint_url=url)
        self.sagemaker = session.client("sagemaker", endpoint_url=url)
        self.sfn = session.client("stepfunctions", endpoint_url=url)
        self.iam = session.client("iam", endpoint_url=url)
        self.awslambda = session.client("lambda", endpoint_url=url)


@pytest.fixture(scope="module")
def aws(endpoint: str) -> Clients:
    return Clients(endpoint)


def uid() -> str:
    return uuid.uuid4().hex[:10]


def make_queue(aws: Clients, name: str | None = None) -> tuple[str, str]:
    url = aws.sqs.create_queue(QueueName=name or f"q-{uid()}")["QueueUrl"]
    arn = aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def drain(aws: Clients, queue_url: str, expect: int | None = None, timeout: float = 5.0) -> list[dict[str, Any]]:
    """All messages in the queue: with ``expect``, once at least that many arrived (within ``timeout``);
    without (or 0), once the sandbox's background deliveries are idle, so that an empty result proves
    nothing more is coming."""
    messages: list[dict[str, Any]] = []

    def receive_all() -> None:
        while True:
            batch = aws.sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                return
            for message in batch:
                aws.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            messages.extend(batch)

    if not expect:
        assert moto_ext.wait_idle(timeout), "background deliveries still in flight"
        receive_all()
        return messages

    def arrived() -> bool:
        receive_all()
        return len(messages) >= expect

    wait_for(arrived, timeout=timeout, interval=0.05, what=f"{expect} message(s) in {queue_url}")
    return messages


def bodies(messages: list[dict[str, Any]]) -> list[Any]:
    return [json.loads(m["Body"]) for m in messages]


def rule_to_queue(aws: Clients, pattern: dict[str, Any], bus: str = "default", **target: Any) -> tuple[str, str]:
    """A rule with ``pattern`` on ``bus`` whose single target is a fresh SQS queue."""
    queue_url, queue_arn = make_queue(aws)
    name = f"r-{uid()}"
    aws.events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(pattern))
    aws.events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn, **target}])
    return queue_url, name


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / name).read_text())


def now_iso_z() -> str:
    """The current time as event times are written (ISO-8601, whole seconds, ``Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def assert_same_shape(actual: Any, expected: Any, path: str = "$", optional: frozenset[str] = frozenset()) -> None:
    """Same keys (besides ``optional`` ones) and JSON types, recursively, as the AWS sample."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), path
        missing = {k for k in expected if k not in actual} - optional
        assert not missing, f"{path}: missing {missing}"
        for key, value in expected.items():
            if key in actual:
                assert_same_shape(actual[key], value, f"{path}.{key}", optional)
    elif isinstance(expected, list):
        assert isinstance(actual, list), path
        if expected and actual:
            assert_same_shape(actual[0], expected[0], f"{path}[0]", optional)
    elif isinstance(expected, bool):
        assert isinstance(actual, bool), path
    elif isinstance(expected, (int, float)):
        assert isinstance(actual, (int, float)) and not isinstance(actual, bool), path
    else:
        assert isinstance(actual, type(expected)), f"{path}: {type(actual)} is not {type(expected)}"


def iso_z(value: str) -> bool:
    return len(value) == 20 and value.endswith("Z") and value[10] == "T"


INFERENCE: dict[str, Any] = {
    "Containers": [
        {
            "Image": "438346466558.dkr.ecr.eu-west-1.amazonaws.com/linear-learner:1",
            "ModelDataUrl": "s3://artifacts/housing/model.tar.gz",
        }
    ],
    "SupportedContentTypes": ["text/csv"],
    "SupportedResponseMIMETypes": ["application/json"],
}


# ------------------------------------------------------------------------ SageMaker events


def test_model_package_state_change_on_create_and_on_approval(aws: Clients) -> None:
    # Given a model package group and a default-bus rule on its approval events, targeting SQS
    group = f"housing-{uid()}"
    aws.sagemaker.create_model_package_group(ModelPackageGroupName=group)
    queue, _ = rule_to_queue(
        aws,
        {
            "source": ["aws.sagemaker"],
            "detail-type": ["SageMaker Model Package State Change"],
            "detail": {"ModelPackageGroupName": [group, "another-group"]},
        },
    )
    # When a package is created pending approval
    arn = aws.sagemaker.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification=INFERENCE,
        MetadataProperties={"GeneratedBy": "pipeline"},
        ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": "s3://b/e.json"}}},
    )["ModelPackageArn"]
    (created,) = bodies(drain(aws, queue, expect=1))
    # Then the event has AWS's full shape, with the whole description in detail
    expected = sample("sagemaker/approved.json")
    assert_same_shape(created, expected)
    assert list(created)[:9] == list(expected)
    assert created["resources"] == [arn]
    assert (created["account"], created["region"]) == (ACCOUNT, REGION)
    assert iso_z(created["time"])
    detail = created["detail"]
    assert detail["ModelApprovalStatus"] == "PendingManualApproval"
    assert detail["ModelPackageArn"] == arn and detail["ModelPackageVersion"] == 1
    (container,) = detail["InferenceSpecification"]["Containers"]
    assert container["ImageDigest"].startswith("sha256:")
    assert {**container, "ImageDigest": None} == {**INFERENCE["Containers"][0], "ImageDigest": None}
    assert iso_z(detail["CreationTime"]) and iso_z(detail["LastModifiedTime"])
    described = aws.sagemaker.describe_model_package(ModelPackageName=arn)
    assert set(detail) == set(described) - {"ResponseMetadata"}

    # When it is approved in a later second (event times have whole seconds), so LastModifiedTime moves
    wait_for(lambda: now_iso_z() > detail["LastModifiedTime"], timeout=5, interval=0.02, what="the next second")
    aws.sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    (approved,) = bodies(drain(aws, queue, expect=1))
    # Then a second event carries the new status and a later LastModifiedTime
    assert approved["detail"]["ModelApprovalStatus"] == "Approved"
    assert approved["detail"]["LastModifiedTime"] > detail["LastModifiedTime"]
    assert approved["id"] != created["id"]

    # When only metadata changes, Then no state-change event is sent
    aws.sagemaker.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"k": "v"})
    assert drain(aws, queue) == []


def test_package_created_without_approval_status_sends_no_event(aws: Clients) -> None:
    # Given a rule on all SageMaker events
    queue, _ = rule_to_queue(aws, {"source": ["aws.sagemaker"], "detail": {"ModelPackageName": [{"exists": True}]}})
    # When an unversioned package is created without an approval status
    aws.sagemaker.create_model_package(ModelPackageName=f"solo-{uid()}", InferenceSpecification=INFERENCE)
    # Then nothing is emitted
    assert drain(aws, queue) == []


def test_update_model_package_merges_and_removes_metadata(aws: Clients) -> None:
    # Given an approved package with two metadata properties
    group = f"meta-{uid()}"
    aws.sagemaker.create_model_package_group(ModelPackageGroupName=group)
    arn = aws.sagemaker.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification=INFERENCE,
        CustomerMetadataProperties={"a": "1", "b": "2"},
    )["ModelPackageArn"]
    aws.sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="ok")
    before = aws.sagemaker.describe_model_package(ModelPackageName=arn)
    wait_for(lambda: datetime.now(UTC) > before["LastModifiedTime"], timeout=5, interval=0.005, what="a later time")
    # When metadata is added and removed without touching the approval status
    aws.sagemaker.update_model_package(
        ModelPackageArn=arn, CustomerMetadataProperties={"c": "3", "a": "10"}, CustomerMetadataPropertiesToRemove=["b"]
    )
    after = aws.sagemaker.describe_model_package(ModelPackageName=arn)
    # Then properties are merged, the removed one is gone, the rest is unchanged
    assert after["CustomerMetadataProperties"] == {"a": "10", "c": "3"}
    assert after["ModelApprovalStatus"] == "Approved"
    assert after["ApprovalDescription"] == "ok"
    assert after["LastModifiedTime"] > before["LastModifiedTime"]
    assert after["ModelPackageGroupName"] == group and after["ModelPackageVersion"] == 1
    assert after["InferenceSpecification"]["SupportedContentTypes"] == ["text/csv"]


def test_list_model_packages_filters_sorts_and_paginates(aws: Clients) -> None:
    # Given five versions in one group (even versions approved) and one in another
    group, other = f"list-{uid()}", f"list-{uid()}"
    for name in (group, other):
        aws.sagemaker.create_model_package_group(ModelPackageGroupName=name)
    for version in range(1, 6):
        status = "Approved" if version % 2 == 0 else "PendingManualApproval"
        aws.sagemaker.create_model_package(ModelPackageGroupName=group, ModelApprovalStatus=status)
    aws.sagemaker.create_model_package(ModelPackageGroupName=other, ModelApprovalStatus="Approved")
    # When listing newest first, two per page
    versions: list[int] = []
    pages = 0
    kwargs: dict[str, Any] = {"ModelPackageGroupName": group, "SortBy": "CreationTime", "SortOrder": "Descending"}
    while True:
        page = aws.sagemaker.list_model_packages(MaxResults=2, **kwargs)
        pages += 1
        versions += [s["ModelPackageVersion"] for s in page["ModelPackageSummaryList"]]
        if "NextToken" not in page:
            break
        kwargs["NextToken"] = page["NextToken"]
    # Then every version of that group comes back once, in order, over three pages
    assert versions == [5, 4, 3, 2, 1] and pages == 3
    # And the approval filter keeps the approved ones only
    approved = aws.sagemaker.list_model_packages(
        ModelPackageGroupName=group, ModelApprovalStatus="Approved", SortBy="CreationTime", SortOrder="Ascending"
    )["ModelPackageSummaryList"]
    assert [s["ModelPackageVersion"] for s in approved] == [2, 4]


def test_model_package_group_policy_put_get_delete(aws: Clients) -> None:
    # Given a group and a cross-account read policy
    group = f"policy-{uid()}"
    group_arn = aws.sagemaker.create_model_package_group(ModelPackageGroupName=group)["ModelPackageGroupArn"]
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                    "Action": ["sagemaker:DescribeModelPackage"],
                    "Resource": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{group}/*",
                }
            ],
        }
    )
    # When it is put, read back and deleted
    assert (
        aws.sagemaker.put_model_package_group_policy(ModelPackageGroupName=group, ResourcePolicy=policy)[
            "ModelPackageGroupArn"
        ]
        == group_arn
    )
    assert json.loads(aws.sagemaker.get_model_package_group_policy(ModelPackageGroupName=group)["ResourcePolicy"]) == (
        json.loads(policy)
    )
    aws.sagemaker.delete_model_package_group_policy(ModelPackageGroupName=group)
    # Then reading it again fails, and so does a policy on a missing group
    with pytest.raises(aws.sagemaker.exceptions.ClientError):
        aws.sagemaker.get_model_package_group_policy(ModelPackageGroupName=group)
    with pytest.raises(aws.sagemaker.exceptions.ClientError):
        aws.sagemaker.put_model_package_group_policy(ModelPackageGroupName=f"nope-{uid()}", ResourcePolicy=policy)


# ------------------------------------------------------------------------ S3 events

ODD_KEY = "incoming/red flower+1 100%/modèle ü.tar.gz"


def s3_bucket(aws: Clients, versioned: bool = False, eventbridge: bool = True) -> str:
    bucket = f"ingest-{uid()}"
    aws.s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    if versioned:
        aws.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    if eventbridge:
        aws.s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
    return bucket


def test_s3_object_created_events_for_put_copy_and_multipart(aws: Clients) -> None:
    # Given an EventBridge-enabled bucket and a rule on its Object Created events
    bucket = s3_bucket(aws)
    queue, _ = rule_to_queue(
        aws, {"source": ["aws.s3"], "detail-type": ["Object Created"], "detail": {"bucket": {"name": [bucket]}}}
    )
    # When an object with spaces, '+', '%' and non-ASCII in its key is put, copied, and uploaded in two parts
    put = aws.s3.put_object(Bucket=bucket, Key=ODD_KEY, Body=b"model-bytes")
    aws.s3.copy_object(Bucket=bucket, Key=ODD_KEY + ".copy", CopySource={"Bucket": bucket, "Key": ODD_KEY})
    upload = aws.s3.create_multipart_upload(Bucket=bucket, Key=ODD_KEY + ".mp")["UploadId"]
    parts = [
        {
            "PartNumber": n,
            "ETag": aws.s3.upload_part(Bucket=bucket, Key=ODD_KEY + ".mp", UploadId=upload, PartNumber=n, Body=body)[
                "ETag"
            ],
        }
        for n, body in ((1, b"a" * 5 * 1024 * 1024), (2, b"b" * 10))
    ]
    aws.s3.complete_multipart_upload(
        Bucket=bucket, Key=ODD_KEY + ".mp", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    events = bodies(drain(aws, queue, expect=3))
    # Then exactly three events arrive, one per operation, with AWS's shape (no version-id: unversioned bucket)
    assert [e["detail"]["reason"] for e in events] == ["PutObject", "CopyObject", "CompleteMultipartUpload"]
    expected = sample("s3/object-created.json")
    for event in events:
        assert_same_shape(event, expected, optional=frozenset({"version-id"}))
        assert set(event) == set(expected)
        assert set(event["detail"]) == set(expected["detail"])
        assert set(event["detail"]["object"]) == set(expected["detail"]["object"]) - {"version-id"}
        assert event["resources"] == [f"arn:aws:s3:::{bucket}"]
        assert event["account"] == ACCOUNT and event["detail"]["requester"] == ACCOUNT
        assert iso_z(event["time"])
    # And keys are URL-encoded like S3's notification format, resolving to the real objects once decoded
    keys = [e["detail"]["object"]["key"] for e in events]
    assert keys[0] == "incoming/red+flower%2B1+100%25/mod%C3%A8le+%C3%BC.tar.gz"
    for key in keys:
        aws.s3.head_object(Bucket=bucket, Key=unquote_plus(key))
    # And etags carry no quotes; the multipart one ends in -2; sizes are exact; sequencers increase
    put_event, copy_event, mp_event = (e["detail"]["object"] for e in events)
    assert put_event["etag"] == put["ETag"].strip('"') and put_event["size"] == len(b"model-bytes")
    assert copy_event["etag"] == put_event["etag"]
    assert mp_event["etag"].endswith("-2") and mp_event["size"] == 5 * 1024 * 1024 + 10
    sequencers = [int(e["detail"]["object"]["sequencer"], 16) for e in events]
    assert sequencers == sorted(sequencers) and len(set(sequencers)) == 3


def test_s3_versioned_bucket_events_carry_version_id_and_deletes(aws: Clients) -> None:
    # Given a versioned, EventBridge-enabled bucket and a rule on every S3 event for it
    bucket = s3_bucket(aws, versioned=True)
    queue, _ = rule_to_queue(aws, {"source": ["aws.s3"], "detail": {"bucket": {"name": [bucket]}}})
    # When an object is put, deleted (delete marker) and a version is deleted for good
    version = aws.s3.put_object(Bucket=bucket, Key="model.tar.gz", Body=b"x")["VersionId"]
    marker = aws.s3.delete_object(Bucket=bucket, Key="model.tar.gz")["VersionId"]
    aws.s3.delete_object(Bucket=bucket, Key="model.tar.gz", VersionId=version)
    created, marked, deleted = bodies(drain(aws, queue, expect=3))
    # Then Object Created carries the version id, and deletes say what they did
    assert created["detail-type"] == "Object Created"
    assert created["detail"]["object"]["version-id"] == version
    assert_same_shape(created, sample("s3/object-created.json"))
    assert (marked["detail-type"], marked["detail"]["deletion-type"]) == ("Object Deleted", "Delete Marker Created")
    assert marked["detail"]["object"]["version-id"] == marker
    assert deleted["detail"]["deletion-type"] == "Permanently Deleted"
    assert deleted["detail"]["object"]["version-id"] == version
    assert {marked["detail"]["reason"], deleted["detail"]["reason"]} == {"DeleteObject"}


def test_s3_events_only_with_eventbridge_on_and_only_on_default_bus(aws: Clients) -> None:
    # Given a bucket without EventBridge notifications, one with, and a rule on a custom bus
    quiet, loud = s3_bucket(aws, eventbridge=False), s3_bucket(aws)
    bus = f"bus-{uid()}"
    aws.events.create_event_bus(Name=bus)
    default_queue, _ = rule_to_queue(aws, {"source": ["aws.s3"], "detail": {"bucket": {"name": [quiet, loud]}}})
    custom_queue, _ = rule_to_queue(aws, {"source": ["aws.s3"]}, bus=bus)
    # When both buckets get an object
    aws.s3.put_object(Bucket=quiet, Key="k", Body=b"1")
    aws.s3.put_object(Bucket=loud, Key="k", Body=b"1")
    # Then only the enabled bucket's event arrives, and only on the default bus
    (event,) = bodies(drain(aws, default_queue, expect=1))
    assert event["detail"]["bucket"]["name"] == loud
    assert drain(aws, custom_queue) == []


# ------------------------------------------------------------------- EventBridge patterns

PATTERN_RULES: dict[str, dict[str, Any]] = {
    "approved_in_groups": {
        "detail": {"ModelApprovalStatus": ["Approved"], "ModelPackageGroupName": ["housing-a", "housing-b"]}
    },
    "key_prefix": {"detail": {"object": {"key": [{"prefix": "incoming/"}]}}},
    "key_suffix": {"detail": {"object": {"key": [{"suffix": ".tar.gz"}]}}},
    "key_suffix_nocase": {"detail": {"object": {"key": [{"suffix": {"equals-ignore-case": ".tar.gz"}}]}}},
    "not_rejected": {"detail": {"ModelApprovalStatus": [{"anything-but": ["Rejected"]}]}},
    "key_wildcard": {"detail": {"object": {"key": [{"wildcard": "incoming/*/model.tar.gz"}]}}},
    "unversioned": {"detail": {"object": {"key": [{"exists": True}], "version-id": [{"exists": False}]}}},
    "ecr_image": {"detail": {"InferenceSpecification": {"Containers": {"Image": [{"prefix": "438346466558."}]}}}},
}

PATTERN_CASES: list[tuple[dict[str, Any], set[str]]] = [
    (
        {"ModelApprovalStatus": "Approved", "ModelPackageGroupName": "housing-b", "InferenceSpecification": INFERENCE},
        {"approved_in_groups", "not_rejected", "ecr_image"},
    ),
    ({"ModelApprovalStatus": "Approved", "ModelPackageGroupName": "housing-c"}, {"not_rejected"}),
    ({"ModelApprovalStatus": "Rejected", "ModelPackageGroupName": "housing-a"}, set()),
    (
        {"object": {"key": "incoming/nyc/model.tar.gz"}},
        {"key_prefix", "key_suffix", "key_suffix_nocase", "key_wildcard", "unversioned"},
    ),
    ({"object": {"key": "incoming/nyc/MODEL.TAR.GZ", "version-id": "v1"}}, {"key_prefix", "key_suffix_nocase"}),
    # anything-but (like every operator but exists: false) needs the field to be there
    ({"object": {"key": "other/model.tar.gz"}}, {"key_suffix", "key_suffix_nocase", "unversioned"}),
]


def test_event_pattern_operators(aws: Clients) -> None:
    # Given one rule per pattern operator, each tagging what it delivers with its name
    bus = f"patterns-{uid()}"
    aws.events.create_event_bus(Name=bus)
    queue_url, queue_arn = make_queue(aws)
    for name, pattern in PATTERN_RULES.items():
        aws.events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps({"source": ["test"], **pattern}))
        aws.events.put_targets(
            Rule=name, EventBusName=bus, Targets=[{"Id": "t", "Arn": queue_arn, "Input": json.dumps({"rule": name})}]
        )
    for detail, expected in PATTERN_CASES:
        # When an event is put
        aws.events.put_events(
            Entries=[{"Source": "test", "DetailType": "t", "Detail": json.dumps(detail), "EventBusName": bus}]
        )
        # Then exactly the rules whose pattern matches with AWS semantics deliver it
        matched = {b["rule"] for b in bodies(drain(aws, queue_url, expect=len(expected)))}
        assert matched == expected, detail


def test_disabled_rule_does_not_deliver(aws: Clients) -> None:
    # Given a disabled rule
    queue, name = rule_to_queue(aws, {"source": ["disabled-test"]})
    aws.events.disable_rule(Name=name)
    # When a matching event is put, Then nothing is delivered
    aws.events.put_events(Entries=[{"Source": "disabled-test", "DetailType": "t", "Detail": "{}"}])
    assert drain(aws, queue) == []


# --------------------------------------------------------------- input transformation

DETAIL = {"bucket": {"name": "b1"}, "object": {"key": "incoming/x.tar.gz", "size": 0, "flag": False}}


def put_test_event(aws: Clients, source: str, detail: dict[str, Any] = DETAIL) -> str:
    entries = aws.events.put_events(Entries=[{"Source": source, "DetailType": "Test", "Detail": json.dumps(detail)}])
    return str(entries["Entries"][0]["EventId"])


def test_input_transformer_input_path_and_constant_input(aws: Clients) -> None:
    # Given three targets on one rule: a JSON transformer, a plain-text transformer and an InputPath
    source = f"transform-{uid()}"
    name = f"r-{uid()}"
    aws.events.put_rule(Name=name, EventPattern=json.dumps({"source": [source]}))
    queues = {kind: make_queue(aws) for kind in ("json", "text", "path", "const")}
    paths = {
        "bucket": "$.detail.bucket.name",
        "key": "$.detail.object.key",
        "size": "$.detail.object.size",
        "flag": "$.detail.object.flag",
        "object": "$.detail.object",
        "nope": "$.detail.nope",
    }
    template = (
        '{"bucket": "<bucket>", "key": <key>, "size": <size>, "flag": <flag>, "object": <object>, '
        '"missing": "<nope>", "rule": "<aws.events.rule-name>", "event": <aws.events.event.json>}'
    )
    aws.events.put_targets(
        Rule=name,
        Targets=[
            {
                "Id": "json",
                "Arn": queues["json"][1],
                "InputTransformer": {"InputPathsMap": paths, "InputTemplate": template},
            },
            {
                "Id": "text",
                "Arn": queues["text"][1],
                "InputTransformer": {"InputPathsMap": paths, "InputTemplate": "Object <key> is in <bucket>"},
            },
            {"Id": "path", "Arn": queues["path"][1], "InputPath": "$.detail.object"},
            {"Id": "const", "Arn": queues["const"][1], "Input": '{"fixed": true}'},
        ],
    )
    # When a matching event is put
    event_id = put_test_event(aws, source)
    # Then each target gets its own rendering, with AWS's rules
    (rendered,) = bodies(drain(aws, queues["json"][0], expect=1))
    assert rendered["bucket"] == "b1" and rendered["key"] == "incoming/x.tar.gz"
    assert rendered["size"] == 0 and rendered["flag"] is False and rendered["object"] == DETAIL["object"]
    assert rendered["missing"] == "" and rendered["rule"] == name
    assert rendered["event"]["id"] == event_id and rendered["event"]["detail"] == DETAIL
    (text,) = drain(aws, queues["text"][0], expect=1)
    assert text["Body"] == "Object incoming/x.tar.gz is in b1"
    assert bodies(drain(aws, queues["path"][0], expect=1)) == [DETAIL["object"]]
    assert bodies(drain(aws, queues["const"][0], expect=1)) == [{"fixed": True}]


class ThrottlingException(Exception):
    """What a throttled AWS call raises (retryable for EventBridge)."""


# ------------------------------------------------------------------ Step Functions target

PASS_MACHINE = json.dumps({"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}})


def state_machine(aws: Clients) -> str:
    return str(
        aws.sfn.create_state_machine(
            name=f"sm-{uid()}", definition=PASS_MACHINE, roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn"
        )["stateMachineArn"]
    )


def executions(aws: Clients, machine: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The machine's executions, once at least ``count`` exist and none is running."""

    def settled() -> list[dict[str, Any]] | None:
        listed = aws.sfn.list_executions(stateMachineArn=machine)["executions"]
        done = [aws.sfn.describe_execution(executionArn=e["executionArn"]) for e in listed]
        return done if len(done) >= count and all(d["status"] != "RUNNING" for d in done) else None

    return wait_for(settled, timeout=timeout, interval=0.1, what=f"{count} finished execution(s) of {machine}")


def test_step_functions_target_starts_an_execution_with_the_event(aws: Clients) -> None:
    # Given a rule with two Step Functions targets: the raw event and a transformed input
    machine = state_machine(aws)
    other = state_machine(aws)
    source = f"sfn-{uid()}"
    name = f"r-{uid()}"
    aws.events.put_rule(Name=name, EventPattern=json.dumps({"source": [source]}))
    aws.events.put_targets(
        Rule=name,
        Targets=[
            {"Id": "raw", "Arn": machine, "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/eb"},
            {
                "Id": "shaped",
                "Arn": other,
                "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/eb",
                "InputTransformer": {"InputPathsMap": {"k": "$.detail.object.key"}, "InputTemplate": '{"key": "<k>"}'},
            },
        ],
    )
    # When a matching event is put
    event_id = put_test_event(aws, source)
    # Then each machine runs one execution whose input is what EventBridge delivered
    (run,) = executions(aws, machine, 1)
    started = json.loads(run["input"])
    assert started["id"] == event_id and started["source"] == source and started["detail"] == DETAIL
    assert started["account"] == ACCOUNT and iso_z(started["time"])
    assert run["status"] == "SUCCEEDED" and json.loads(run["output"]) == started
    assert run["name"].startswith(event_id)
    (shaped,) = executions(aws, other, 1)
    assert json.loads(shaped["input"]) == {"key": "incoming/x.tar.gz"}


def test_throttled_start_execution_is_retried_then_dead_lettered(aws: Clients, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given StartExecution that is throttled for the first calls (the server runs in this process)
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend.start_execution
    throttled = {"left": 2, "calls": 0}

    def start_execution(self: StepFunctionsParserBackend, *args: Any, **kwargs: Any) -> Any:
        throttled["calls"] += 1
        if throttled["left"] > 0:
            throttled["left"] -= 1
            raise ThrottlingException("Rate exceeded")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(StepFunctionsParserBackend, "start_execution", start_execution)
    machine = state_machine(aws)
    dlq_url, dlq_arn = make_queue(aws)
    source, name = f"throttle-{uid()}", f"r-{uid()}"
    aws.events.put_rule(Name=name, EventPattern=json.dumps({"source": [source]}))
    aws.events.put_targets(
        Rule=name,
        Targets=[
            {
                "Id": "sm",
                "Arn": machine,
                "RetryPolicy": {"MaximumRetryAttempts": 4},
                "DeadLetterConfig": {"Arn": dlq_arn},
            }
        ],
    )
    # When an event is put while StartExecution is throttled twice
    put_test_event(aws, source)
    assert eventbridge_targets.wait_idle(5)
    # Then the third attempt starts the execution and nothing is dead-lettered
    assert throttled["calls"] == 3
    assert len(executions(aws, machine, 1)) == 1
    assert drain(aws, dlq_url) == []

    # When StartExecution stays throttled past the retry policy (two retries)
    throttled.update(left=100, calls=0)
    aws.events.put_targets(
        Rule=name,
        Targets=[
            {
                "Id": "sm",
                "Arn": machine,
                "RetryPolicy": {"MaximumRetryAttempts": 2},
                "DeadLetterConfig": {"Arn": dlq_arn},
            }
        ],
    )
    event_id = put_test_event(aws, source)
    assert eventbridge_targets.wait_idle(5)
    # Then it was tried three times and the event is in the DLQ
    assert throttled["calls"] == 3
    (message,) = drain(aws, dlq_url, expect=1)
    assert json.loads(message["Body"])["id"] == event_id
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert (attributes["ERROR_CODE"], attributes["RETRY_ATTEMPTS"]) == ("THROTTLING", "2")
    assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts"


def test_missing_state_machine_goes_to_dlq_without_retries(aws: Clients) -> None:
    # Given a target whose state machine does not exist, with a retry policy and a DLQ
    dlq_url, dlq_arn = make_queue(aws)
    source = f"dlq-{uid()}"
    name = f"r-{uid()}"
    missing = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:gone-{uid()}"
    aws.events.put_rule(Name=name, EventPattern=json.dumps({"source": [source]}))
    aws.events.put_targets(
        Rule=name,
        Targets=[
            {
                "Id": "gone",
                "Arn": missing,
                "RetryPolicy": {"MaximumRetryAttempts": 3},
                "DeadLetterConfig": {"Arn": dlq_arn},
            }
        ],
    )
    # When a matching event is put
    event_id = put_test_event(aws, source)
    # Then (as AWS documents for a target resource that does not exist) it goes to the DLQ at once,
    # carrying the event and EventBridge's attributes
    (message,) = drain(aws, dlq_url, expect=1)
    assert json.loads(message["Body"])["id"] == event_id
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["RULE_ARN"] == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}"
    assert attributes["TARGET_ARN"] == missing
    assert attributes["ERROR_CODE"] == "RESOURCE_NOT_FOUND"
    assert attributes["ERROR_MESSAGE"]
    assert attributes["RETRY_ATTEMPTS"] == "0"
    assert "EXHAUSTED_RETRY_CONDITION" not in attributes


# ------------------------------------------------------------------------- Lambda target


class Invocations(list[tuple[str, bytes]]):
    """Recorded invoke_async calls; ``failures`` are raised by the next calls, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.failures: list[Exception] = []


@pytest.fixture
def lambda_calls(monkeypatch: pytest.MonkeyPatch) -> Invocations:
    """Replace lambda_runtime.invoke_async by a recorder whose failures each test scripts."""
    calls = Invocations()

    def invoke_async(function_arn: str, payload: bytes) -> None:
        calls.append((function_arn, payload))
        if calls.failures:
            raise calls.failures.pop(0)

    monkeypatch.setattr(lambda_runtime, "invoke_async", invoke_async)
    return calls


ECHO_HANDLER = "def handler(event, context):\n    return event\n"
FORWARD_HANDLER = """
import json, os
import boto3

def handler(event, context):
    boto3.client("sqs").send_message(QueueUrl=os.environ["QUEUE_URL"], MessageBody=json.dumps(event))
"""


def lambda_function(aws: Clients, source: str = ECHO_HANDLER, env: dict[str, str] | None = None) -> str:
    role = aws.iam.create_role(
        RoleName=f"fn-{uid()}",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", source)
    return str(
        aws.awslambda.create_function(
            FunctionName=f"fn-{uid()}",
            Runtime="python3.12",
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": code.getvalue()},
            Environment={"Variables": env or {}},
        )["FunctionArn"]
    )


def lambda_rule(aws: Clients, function_arn: str, **target: Any) -> tuple[str, str]:
    source, name = f"fn-{uid()}", f"r-{uid()}"
    aws.events.put_rule(Name=name, EventPattern=json.dumps({"source": [source]}))
    aws.events.put_targets(Rule=name, Targets=[{"Id": "fn", "Arn": function_arn, **target}])
    return source, name


def test_lambda_target_is_invoked_asynchronously_with_the_event(aws: Clients, lambda_calls: Invocations) -> None:
    # Given a rule targeting a Lambda function
    function = lambda_function(aws)
    source, _ = lambda_rule(aws, function)
    # When a matching event is put
    event_id = put_test_event(aws, source)
    # Then the function gets one asynchronous invocation with the whole event
    ((arn, payload),) = lambda_calls
    event = json.loads(payload)
    assert arn == function and event["id"] == event_id and event["detail"] == DETAIL
    assert list(event) == ["version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"]


def test_lambda_target_runs_the_handler_in_the_sandbox_runtime(aws: Clients) -> None:
    # Given a rule targeting a real function whose handler forwards its event to a queue
    queue_url, _ = make_queue(aws)
    function = lambda_function(aws, FORWARD_HANDLER, {"QUEUE_URL": queue_url})
    source, _ = lambda_rule(aws, function)
    # When a matching event is put
    event_id = put_test_event(aws, source)
    # Then the handler ran with the event (asynchronously, through lambda_runtime)
    assert lambda_runtime.wait_idle(30)
    (event,) = bodies(drain(aws, queue_url, expect=1, timeout=10))
    assert event["id"] == event_id and event["detail"] == DETAIL


def test_lambda_target_retries_then_dead_letters(aws: Clients, lambda_calls: Invocations) -> None:
    # Given a Lambda target that is throttled twice, then accepts
    function = lambda_function(aws)
    source, _ = lambda_rule(aws, function, RetryPolicy={"MaximumRetryAttempts": 5})
    lambda_calls.failures.extend([ThrottlingException("Rate exceeded")] * 2)
    # When an event is put, Then EventBridge retries until the invocation is accepted
    put_test_event(aws, source)
    assert eventbridge_targets.wait_idle(5)
    assert len(lambda_calls) == 3

    # Given a Lambda target that is always throttled, with two retries and a DLQ
    dlq_url, dlq_arn = make_queue(aws)
    source, name = lambda_rule(
        aws,
        function,
        RetryPolicy={"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 60},
        DeadLetterConfig={"Arn": dlq_arn},
    )
    lambda_calls.clear()
    lambda_calls.failures.extend([ThrottlingException("Rate exceeded")] * 10)
    # When an event is put
    event_id = put_test_event(aws, source)
    assert eventbridge_targets.wait_idle(5)
    # Then it is tried 1 + 2 times and lands in the DLQ saying why
    assert len(lambda_calls) == 3
    (message,) = drain(aws, dlq_url, expect=1)
    assert json.loads(message["Body"])["id"] == event_id
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "THROTTLING" and attributes["RETRY_ATTEMPTS"] == "2"
    assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts"
    assert attributes["TARGET_ARN"] == function and attributes["RULE_ARN"].endswith(f"rule/{name}")


def test_missing_lambda_function_goes_to_dlq(aws: Clients, lambda_calls: Invocations) -> None:
    # Given a target naming a function that does not exist, with a DLQ
    dlq_url, dlq_arn = make_queue(aws)
    missing = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:gone-{uid()}"
    source, _ = lambda_rule(aws, missing, DeadLetterConfig={"Arn": dlq_arn})
    # When an event is put, Then nothing is invoked and the event is dead-lettered as not found
    put_test_event(aws, source)
    (message,) = drain(aws, dlq_url, expect=1)
    assert message["MessageAttributes"]["ERROR_CODE"]["StringValue"] == "RESOURCE_NOT_FOUND"
    assert lambda_calls == []


# ------------------------------------------------------ other buses, archives and replays


def test_event_bus_target_forwards_the_original_event(aws: Clients) -> None:
    # Given a rule on the default bus forwarding to another bus, where a rule feeds a queue
    target_bus = f"central-{uid()}"
    bus_arn = aws.events.create_event_bus(Name=target_bus)["EventBusArn"]
    source = f"fwd-{uid()}"
    queue, _ = rule_to_queue(aws, {"source": [source]}, bus=target_bus)
    name = f"r-{uid()}"
    aws.events.put_rule(Name=name, EventPattern=json.dumps({"source": [source]}))
    aws.events.put_targets(
        Rule=name, Targets=[{"Id": "bus", "Arn": bus_arn, "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/fwd"}]
    )
    # When an event with resources is put on the default bus
    entries = aws.events.put_events(
        Entries=[{"Source": source, "DetailType": "T", "Detail": "{}", "Resources": ["arn:aws:s3:::b"]}]
    )
    # Then it arrives on the other bus unchanged (same id, account and resources)
    (event,) = bodies(drain(aws, queue, expect=1))
    assert event["id"] == entries["Entries"][0]["EventId"]
    assert event["resources"] == ["arn:aws:s3:::b"] and event["account"] == ACCOUNT


def test_put_events_returns_before_its_targets_are_delivered(aws: Clients, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a rule feeding a queue whose deliveries are held until the test releases them
    source = f"async-{uid()}"
    queue, _ = rule_to_queue(aws, {"source": [source]})
    release, real_deliver = threading.Event(), eventbridge_targets._deliver_sqs

    def held(*args: Any) -> None:
        assert release.wait(30), "the test never released the delivery"
        real_deliver(*args)

    monkeypatch.setattr(eventbridge_targets, "_deliver_sqs", held)

    # When an event is put
    started = time.monotonic()
    aws.events.put_events(Entries=[{"Source": source, "DetailType": "T", "Detail": "{}"}])
    returned_after = time.monotonic() - started

    # Then PutEvents has answered with the delivery still pending, and the event arrives once released
    assert returned_after < 10
    assert not eventbridge_targets.wait_idle(0)
    assert aws.sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages", []) == []
    release.set()
    assert [e["source"] for e in bodies(drain(aws, queue, expect=1))] == [source]


def test_a_bus_forwarding_loop_stops_after_five_hops(aws: Clients) -> None:
    # Given two buses that forward every event of a source to each other, each also feeding a queue
    source = f"loop-{uid()}"
    buses = [f"loop-a-{uid()}", f"loop-b-{uid()}"]
    arns = [aws.events.create_event_bus(Name=bus)["EventBusArn"] for bus in buses]
    queues = [rule_to_queue(aws, {"source": [source]}, bus=bus)[0] for bus in buses]
    for bus, other_arn in zip(buses, reversed(arns), strict=True):
        name = f"fwd-{uid()}"
        aws.events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps({"source": [source]}))
        aws.events.put_targets(
            Rule=name,
            EventBusName=bus,
            Targets=[{"Id": "bus", "Arn": other_arn, "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/fwd"}],
        )

    # When one event is put on the first bus
    aws.events.put_events(Entries=[{"Source": source, "DetailType": "T", "Detail": "{}", "EventBusName": buses[0]}])

    # Then it went back and forth a bounded number of times (the hop count survives the asynchronous deliveries)
    first, second = (len(drain(aws, queue)) for queue in queues)
    assert (first, second) == (3, 3)


def test_archive_records_and_replay_redelivers_within_the_window(aws: Clients) -> None:
    # Given a bus with an archive and a rule feeding a queue
    bus = f"archived-{uid()}"
    bus_arn = aws.events.create_event_bus(Name=bus)["EventBusArn"]
    archive = f"arch-{uid()}"
    archive_arn = aws.events.create_archive(ArchiveName=archive, EventSourceArn=bus_arn)["ArchiveArn"]
    queue, _ = rule_to_queue(aws, {"source": ["replayed"]}, bus=bus)
    # When two events are put (the second one after a cut, in a later second), then a replay covers only the first
    aws.events.put_events(
        Entries=[{"Source": "replayed", "DetailType": "T", "Detail": '{"n": 1}', "EventBusName": bus}]
    )
    originals = bodies(drain(aws, queue, expect=1))
    first_second = datetime.fromisoformat(originals[0]["time"].replace("Z", "+00:00")).timestamp()
    wait_for(lambda: time.time() >= first_second + 1, timeout=5, interval=0.02, what="the first event's second to pass")
    cut = time.time()
    wait_for(lambda: time.time() > cut, timeout=5, interval=0.001, what="the clock to pass the cut")
    aws.events.put_events(
        Entries=[{"Source": "replayed", "DetailType": "T", "Detail": '{"n": 2}', "EventBusName": bus}]
    )
    originals += bodies(drain(aws, queue, expect=1))
    assert aws.events.describe_archive(ArchiveName=archive)["EventCount"] == 2
    replay = f"replay-{uid()}"
    aws.events.start_replay(
        ReplayName=replay,
        EventSourceArn=archive_arn,
        EventStartTime=cut - 60,
        EventEndTime=cut,
        Destination={"Arn": bus_arn},
    )
    # Then the archived first event is delivered again, marked as a replay, and not archived twice
    (replayed,) = bodies(drain(aws, queue, expect=1))
    assert replayed["detail"] == {"n": 1} and replayed["replay-name"] == replay
    assert [o["detail"] for o in originals] == [{"n": 1}, {"n": 2}]
    assert aws.events.describe_replay(ReplayName=replay)["State"] == "COMPLETED"
    assert aws.events.describe_archive(ArchiveName=archive)["EventCount"] == 2
