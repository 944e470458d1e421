"""The exact bytes: pinning artifacts to what was there when the package was registered.

S3 here is a small in-memory fake that answers the calls the adapter makes (HeadObject, GetObject,
ListObjectVersions pages) as S3 does, with whole-second ``LastModified`` times set by the test. (moto's
in-process mock is not used in unit tests: leaving it resets moto's backends, which a sandbox running in the
same test process shares.)
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from modelrelay.config import Settings, parse_routing_config
from modelrelay.domain.artifacts import plan_artifacts
from modelrelay.domain.deps import PromotionDeps
from modelrelay.errors import ArtifactBucketNotAllowed, ArtifactChanged, ArtifactModifiedAfterRegistration
from modelrelay.steps import SourcePackage
from modelrelay_sandbox.artifact_factory import good_artifact

VERSIONED, UNVERSIONED, INGEST = "ds-versioned", "ds-unversioned", "ingest-bucket"
ROUTING = parse_routing_config(
    json.dumps(
        {
            "routes": [
                {
                    "model_package_group": "g",
                    "target": {"kind": "endpoint", "endpoint_name": "e"},
                    "allowed_artifact_buckets": [VERSIONED, UNVERSIONED, "elsewhere-not-routed"],
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
T0 = datetime(2026, 11, 30, 9, 0, 0, tzinfo=UTC)


@dataclass
class Version:
    key: str
    body: bytes
    version_id: str
    last_modified: datetime

    @property
    def etag(self) -> str:
        return hashlib.md5(self.body).hexdigest()  # noqa: S324 - S3's ETag of a single-part upload


@dataclass
class FakeS3:
    versioned: set[str]
    objects: dict[tuple[str, str], list[Version]] = field(default_factory=dict)  # newest last

    def put(self, bucket: str, key: str, body: bytes, at: datetime) -> Version:
        version = Version(key, body, uuid.uuid4().hex if bucket in self.versioned else "null", at)
        history = self.objects.setdefault((bucket, key), [])
        if bucket not in self.versioned:
            history.clear()
        history.append(version)
        return version

    def _find(self, Bucket: str, Key: str, VersionId: str | None = None, **_: Any) -> Version:
        for version in reversed(self.objects.get((Bucket, Key), [])):
            if VersionId in (None, version.version_id):
                return version
        raise ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "HeadObject")

    def head_object(self, **params: Any) -> dict[str, Any]:
        found = self._find(**params)
        response = {
            "ContentLength": len(found.body),
            "ETag": f'"{found.etag}"',
            "Metadata": {},
            "LastModified": found.last_modified,
        }
        return response | ({"VersionId": found.version_id} if params["Bucket"] in self.versioned else {})

    def get_object(self, **params: Any) -> dict[str, Any]:
        return {"Body": io.BytesIO(self._find(**params).body)}

    def get_paginator(self, name: str) -> Any:
        assert name == "list_object_versions"
        fake = self

        class Paginator:
            def paginate(self, Bucket: str, Prefix: str) -> list[dict[str, Any]]:
                versions = [
                    {
                        "Key": v.key,
                        "VersionId": v.version_id,
                        "IsLatest": v is history[-1],
                        "Size": len(v.body),
                        "ETag": f'"{v.etag}"',
                        "LastModified": v.last_modified,
                    }
                    for (bucket, key), history in sorted(fake.objects.items())
                    if bucket == Bucket and key.startswith(Prefix)
                    for v in reversed(history)
                ]
                return [{"Versions": versions}]

        return Paginator()


@pytest.fixture
def s3() -> FakeS3:
    return FakeS3(versioned={VERSIONED, INGEST})


def deps(s3: FakeS3) -> PromotionDeps:
    return PromotionDeps(
        settings=SETTINGS,
        routing=ROUTING,
        s3=s3,
        sagemaker=None,
        store=None,  # type: ignore[arg-type]
        hub=lambda: None,
    )  # type: ignore[arg-type,return-value]


def package(spec: dict[str, Any], created: datetime, sha: str | None = None) -> SourcePackage:
    return SourcePackage(
        arn="arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1",
        group="g",
        version=1,
        account="123456789012",
        region="us-east-1",
        approval_status="Approved",
        inference_specification=spec,
        creation_time=created.isoformat(),
        recorded_sha256=sha,
    )


def one_container(uri: str) -> dict[str, Any]:
    return {"Containers": [{"Image": "img", "ModelDataUrl": uri}]}


def test_a_versioned_artifact_overwritten_after_registration_promotes_the_registered_version(s3: FakeS3) -> None:
    # Given v1 written, the package registered half a second later, then v2 written in a later second
    v1 = s3.put(VERSIONED, "m/model.tar.gz", good_artifact({"model.joblib": b"v1" * 100}), T0)
    s3.put(VERSIONED, "m/model.tar.gz", good_artifact({"model.joblib": b"v2" * 100}), T0 + timedelta(seconds=2))
    # When the promotion pins its artifacts
    source = package(one_container(f"s3://{VERSIONED}/m/model.tar.gz"), T0 + timedelta(milliseconds=500))
    planned = plan_artifacts(source, ROUTING.routes[0], "hub-bucket", deps(s3))
    # Then it pinned v1, whatever is current now
    assert planned[0].object is not None and planned[0].object.version_id == v1.version_id
    assert planned[0].sha256 == hashlib.sha256(v1.body).hexdigest()


def test_two_versions_in_the_second_of_registration_cannot_be_told_apart_and_are_refused(s3: FakeS3) -> None:
    # Given v1 a second before the registration, and v2 stamped with the registration's own second
    s3.put(VERSIONED, "m/model.tar.gz", good_artifact({"a": b"1" * 10}), T0 - timedelta(seconds=1))
    s3.put(VERSIONED, "m/model.tar.gz", good_artifact({"a": b"2" * 10}), T0)
    source = package(one_container(f"s3://{VERSIONED}/m/model.tar.gz"), T0 + timedelta(milliseconds=300))
    # When it is planned, Then which bytes were registered cannot be told: refused, never guessed
    with pytest.raises(ArtifactChanged, match="cannot be told") as refused:
        plan_artifacts(source, ROUTING.routes[0], "hub-bucket", deps(s3))
    assert refused.value.reason == "artifact_modified_after_registration"


def test_an_unversioned_artifact_written_after_registration_is_refused(s3: FakeS3) -> None:
    s3.put(UNVERSIONED, "m/model.tar.gz", good_artifact({"a": b"1" * 10}), T0 + timedelta(seconds=30))
    with pytest.raises(ArtifactModifiedAfterRegistration, match="unversioned bucket"):
        plan_artifacts(
            package(one_container(f"s3://{UNVERSIONED}/m/model.tar.gz"), T0), ROUTING.routes[0], "hub-bucket", deps(s3)
        )


def test_a_recorded_sha256_that_does_not_match_is_refused(s3: FakeS3) -> None:
    s3.put(VERSIONED, "m/model.tar.gz", good_artifact({"model.joblib": b"x" * 100}), T0)
    source = package(one_container(f"s3://{VERSIONED}/m/model.tar.gz"), T0 + timedelta(seconds=1), sha="0" * 64)
    with pytest.raises(ArtifactModifiedAfterRegistration, match="registered with sha256 0000"):
        plan_artifacts(source, ROUTING.routes[0], "hub-bucket", deps(s3))


def test_an_artifact_in_a_bucket_the_route_does_not_allow_is_refused(s3: FakeS3) -> None:
    s3.put("elsewhere", "m/model.tar.gz", good_artifact({"a": b"1" * 10}), T0)
    with pytest.raises(ArtifactBucketNotAllowed, match="elsewhere"):
        plan_artifacts(
            package(one_container("s3://elsewhere/m/model.tar.gz"), T0 + timedelta(seconds=1)),
            ROUTING.routes[0],
            "hub-bucket",
            deps(s3),
        )


def test_an_uncompressed_model_is_pinned_member_by_member_with_a_manifest_digest(s3: FakeS3) -> None:
    # Given an uncompressed model (S3Prefix) registered, then one of its files overwritten
    s3.put(VERSIONED, "llm/config.json", b"config" * 10, T0)
    weights = s3.put(VERSIONED, "llm/model.safetensors", b"weights" * 10, T0)
    s3.put(VERSIONED, "llm/model.safetensors", b"tampered", T0 + timedelta(seconds=5))
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
    (planned,) = plan_artifacts(package(spec, T0 + timedelta(seconds=1)), ROUTING.routes[0], "hub-bucket", deps(s3))
    # Then every member is pinned to its registered version, and the hub location is content-addressed
    assert planned.kind == "prefix"
    assert [(m.relative_key, m.version_id) for m in planned.members] == [
        ("config.json", s3.objects[(VERSIONED, "llm/config.json")][0].version_id),
        ("model.safetensors", weights.version_id),
    ]
    assert planned.hub_uri == f"s3://hub-bucket/artifacts/g/{planned.sha256}/"
