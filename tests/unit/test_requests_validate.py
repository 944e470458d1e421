"""Every registry request ModelRelay builds passes botocore's parameter validation, hostile text included.

botocore validates types, required members, lengths and enums before sending; SageMaker's own patterns
(CustomerMetadataProperties values) are checked against the service model's pattern too.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import validate_parameters

from modelrelay.adapters import sagemaker
from modelrelay.domain.hub import hub_specification
from modelrelay.steps import ArtifactRef, PackageArtifact, PromotionPlan, SourcePackage

REPO = Path(__file__).resolve().parents[2]
MODEL = botocore.session.get_session().get_service_model("sagemaker")
HOSTILE = ["line one\nline two\ttab", "x" * 2048, "émoji 🚀 中文 עברית \x00", "", 'Traceback:\n  File "a", line 1']


class Recorder:
    """A SageMaker client that validates each request against the service model and records it."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def _call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        validate_parameters(params, MODEL.operation_model(operation).input_shape)
        self.requests.append((operation, params))
        return {"ModelPackageArn": "arn:aws:sagemaker:us-east-1:222233334444:model-package/hub/1"}

    def create_model_package(self, **params: Any) -> dict[str, Any]:
        return self._call("CreateModelPackage", params)

    def update_model_package(self, **params: Any) -> dict[str, Any]:
        return self._call("UpdateModelPackage", params)


def metadata_ok(values: dict[str, str]) -> bool:
    return all(
        1 <= len(v) <= 256 and all(unicodedata.category(c)[0] in "LZN" or c in "_.:/=+-@" for c in v)
        for v in values.values()
    )


def plan_for(described: dict[str, Any]) -> PromotionPlan:
    spec = described["InferenceSpecification"]
    source = SourcePackage(
        arn=described["ModelPackageArn"],
        group=described["ModelPackageGroupName"],
        version=1,
        account="123456789012",
        region="us-east-1",
        approval_status="Approved",
        inference_specification=spec,
    )
    artifacts = []
    for number, container in enumerate(spec["Containers"]):
        if "ModelDataUrl" in container:
            artifacts.append(
                PackageArtifact(
                    container=number,
                    location="ModelDataUrl",
                    kind="object",
                    source_uri=container["ModelDataUrl"],
                    sha256="a" * 64,
                    hub_uri=f"s3://hub/artifacts/g/{number}.tar.gz",
                )
            )
        if "ModelDataSource" in container:
            artifacts.append(
                PackageArtifact(
                    container=number,
                    location="ModelDataSource",
                    kind="prefix",
                    source_uri=container["ModelDataSource"]["S3DataSource"]["S3Uri"],
                    sha256="b" * 64,
                    hub_uri="s3://hub/artifacts/g/bbbb/",
                )
            )
    ref = ArtifactRef(bucket="b", key="k", size=1, sha256="a" * 64)
    return PromotionPlan(
        decision="promote", reason="approved", package_arn=source.arn, source=source, artifacts=artifacts, artifact=ref
    )


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "events" / "packages").glob("*.json")))
def test_the_hub_package_request_of_each_real_shaped_package_is_valid(name: str) -> None:
    described = json.loads((REPO / "events" / "packages" / name).read_text())
    client = Recorder()
    sagemaker.create_package(
        client,  # type: ignore[arg-type]
        group="modelrelay-hub",
        inference_specification=hub_specification(plan_for(described)),
        approval_status="Approved",
        provenance={"source-package-arn": described["ModelPackageArn"], "sha256": "a" * 64},
        description="Promoted by ModelRelay",
        idempotency_key="execution-1",
    )
    ((operation, params),) = client.requests
    assert operation == "CreateModelPackage" and metadata_ok(params["CustomerMetadataProperties"])
    assert len(params["InferenceSpecification"]["Containers"]) == len(described["InferenceSpecification"]["Containers"])


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_in_descriptions_provenance_and_status_still_makes_valid_requests(text: str) -> None:
    client = Recorder()
    sagemaker.create_package(
        client,  # type: ignore[arg-type]
        group="g",
        inference_specification={"Containers": [{"Image": "i", "ModelDataUrl": "s3://b/k.tar.gz"}]},
        approval_status="PendingManualApproval",
        provenance={"source-key": text, "sha256": text},
        description=text,
        idempotency_key=text,
        extra_metadata={"modelrelay:note": text},
    )
    sagemaker.record_status(
        client,
        "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1",  # type: ignore[arg-type]
        {"modelrelay:detail": text, "modelrelay:reason": text},
    )
    assert [op for op, _ in client.requests] == ["CreateModelPackage", "UpdateModelPackage"]
    assert all(metadata_ok(params["CustomerMetadataProperties"]) for _, params in client.requests)
