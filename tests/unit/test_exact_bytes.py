"""The exact bytes: pinning artifacts to what was there when the package was registered (S3 in-process, moto)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from modelrelay.config import Settings, parse_routing_config
from modelrelay.domain.artifacts import plan_artifacts
from modelrelay.domain.deps import PromotionDeps
from modelrelay.errors import ArtifactBucketNotAllowed, ArtifactModifiedAfterRegistration
from modelrelay.steps import SourcePackage
from modelrelay_sandbox.artifact_factory import good_artifact
from modelrelay_sandbox.environment import wait_for

VERSIONED, UNVERSIONED, INGEST = "ds-versioned", "ds-unversioned", "ingest-bucket"
ROUTING = parse_routing_config(
    json.dumps(
        {
            "routes": [
                {
                    "model_package_group": "g",
                    "target": {"kind": "endpoint", "endpoint_name": "e"},
                    "allowed_artifact_buckets": [VERSIONED, UNVERSIONED],
                }
            ]
        }
    )
)
SETTINGS = Settings(
    region="us-east-1",
    account_id="123456789012",
    ingest_bucket=INGEST,
    hub_bucket="hub-bucket",
    hub_model_package_group="hub",
    state_table="table",
    notification_topic_arn="arn:aws:sns:us-east-1:123456789012:t",
    event_bus_name="default",
)


@pytest.fixture
def s3() -> Any:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        for bucket in (VERSIONED, UNVERSIONED, INGEST):
            client.create_bucket(Bucket=bucket)
        client.put_bucket_versioning(Bucket=VERSIONED, VersioningConfiguration={"Status": "Enabled"})
        yield client


def deps(s3: Any) -> PromotionDeps:
    return PromotionDeps(
        settings=SETTINGS,
        routing=ROUTING,
        s3=s3,
        sagemaker=None,
        store=None,  # type: ignore[arg-type]
        hub=lambda: None,
    )  # type: ignore[arg-type,return-value]


def package(spec: dict[str, Any], created: str, sha: str | None = None) -> SourcePackage:
    return SourcePackage(
        arn="arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1",
        group="g",
        version=1,
        account="123456789012",
        region="us-east-1",
        approval_status="Approved",
        inference_specification=spec,
        creation_time=created,
        recorded_sha256=sha,
    )


def one_container(uri: str) -> dict[str, Any]:
    return {"Containers": [{"Image": "img", "ModelDataUrl": uri}]}


def registered_after(s3: Any, bucket: str, key: str, body: bytes) -> str:
    """Put ``body``; return the package's registration time (that instant), once the clock has passed its second
    (S3 times have whole-second precision: a later write must fall in a later second)."""
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    written = s3.head_object(Bucket=bucket, Key=key)["LastModified"]
    wait_for(lambda: datetime.now(UTC).replace(microsecond=0) > written, timeout=5, what="the next second")
    return str(written.isoformat())


def test_a_versioned_artifact_overwritten_after_registration_promotes_the_registered_version(s3: Any) -> None:
    # Given a package registered for v1 of a key, then the key overwritten (v2, written later)
    v1 = good_artifact({"model.joblib": b"v1" * 100})
    created = registered_after(s3, VERSIONED, "m/model.tar.gz", v1)
    first_version = s3.head_object(Bucket=VERSIONED, Key="m/model.tar.gz")["VersionId"]
    s3.put_object(Bucket=VERSIONED, Key="m/model.tar.gz", Body=good_artifact({"model.joblib": b"v2" * 100}))
    # When the promotion pins its artifacts, set in the future relative to v2 by the package's creation time
    source = package(one_container(f"s3://{VERSIONED}/m/model.tar.gz"), created)
    planned = plan_artifacts(source, ROUTING.routes[0], "hub-bucket", deps(s3))
    # Then it pinned v1, whatever is current now
    assert planned[0].object is not None and planned[0].object.version_id == first_version


def test_an_unversioned_artifact_written_after_registration_is_refused(s3: Any) -> None:
    # Given a package registered before its unversioned object was (over)written
    created = registered_after(s3, UNVERSIONED, "m/model.tar.gz", good_artifact({"a": b"1" * 10}))
    earlier = (datetime.fromisoformat(created) - timedelta(seconds=30)).isoformat()
    # When it is planned, Then it is refused with the specific reason
    with pytest.raises(ArtifactModifiedAfterRegistration, match="unversioned bucket"):
        plan_artifacts(
            package(one_container(f"s3://{UNVERSIONED}/m/model.tar.gz"), earlier),
            ROUTING.routes[0],
            "hub-bucket",
            deps(s3),
        )
    assert created


def test_a_recorded_sha256_that_does_not_match_is_refused(s3: Any) -> None:
    body = good_artifact({"model.joblib": b"x" * 100})
    created = registered_after(s3, VERSIONED, "m/model.tar.gz", body)
    source = package(one_container(f"s3://{VERSIONED}/m/model.tar.gz"), created, sha="0" * 64)
    with pytest.raises(ArtifactModifiedAfterRegistration, match="registered with sha256 0000"):
        plan_artifacts(source, ROUTING.routes[0], "hub-bucket", deps(s3))


def test_an_artifact_in_a_bucket_the_route_does_not_allow_is_refused(s3: Any) -> None:
    s3.create_bucket(Bucket="elsewhere")
    created = registered_after(s3, "elsewhere", "m/model.tar.gz", good_artifact({"a": b"1" * 10}))
    with pytest.raises(ArtifactBucketNotAllowed, match="elsewhere"):
        plan_artifacts(
            package(one_container("s3://elsewhere/m/model.tar.gz"), created), ROUTING.routes[0], "hub-bucket", deps(s3)
        )


def test_an_uncompressed_model_is_pinned_member_by_member_with_a_manifest_digest(s3: Any) -> None:
    # Given an uncompressed model (S3Prefix) registered, then one of its files overwritten
    for name in ("config.json", "model.safetensors"):
        s3.put_object(Bucket=VERSIONED, Key=f"llm/{name}", Body=name.encode() * 10)
    head = s3.head_object(Bucket=VERSIONED, Key="llm/model.safetensors")
    created = registered_after(s3, VERSIONED, "llm/config.json", b"config.json" * 10)
    s3.put_object(Bucket=VERSIONED, Key="llm/model.safetensors", Body=b"tampered")
    spec = {
        "Containers": [
            {
                "Image": "tgi",
                "ModelDataSource": {
                    "S3DataSource": {
                        "S3Uri": f"s3://{VERSIONED}/llm/",
                        "S3DataType": "S3Prefix",
                        "CompressionType": "None",
                    }
                },
            }
        ]
    }
    # When it is planned
    (planned,) = plan_artifacts(package(spec, created), ROUTING.routes[0], "hub-bucket", deps(s3))
    # Then every member is pinned to its registered version, and the hub location is content-addressed
    assert planned.kind == "prefix" and [m.relative_key for m in planned.members] == [
        "config.json",
        "model.safetensors",
    ]
    assert planned.members[1].version_id == head["VersionId"] and planned.members[1].size == len(
        b"model.safetensors" * 10
    )
    assert planned.hub_uri == f"s3://hub-bucket/artifacts/g/{planned.sha256}/"
