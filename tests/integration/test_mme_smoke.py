"""An MME route's smoke check: the new TargetModel is invoked before the pointer moves; a broken model never
becomes current (issue 13)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from modelrelay_sandbox import environment
from modelrelay_sandbox.artifact_factory import good_artifact
from modelrelay_sandbox.moto_ext.sagemaker_mme_invoke import FAIL_TO_LOAD_MARKER, FAIL_TO_PREDICT_MARKER
from tests.integration.conftest import Stack

GROUP, MODEL = "housing-newyork-ny", "NewYork_NY"  # sandbox route with a "smoke" check (a fixed payload)
# Sandbox route whose smoke check sends the object at the package's SamplePayloadUrl ("use_sample_payload_url")
SAMPLE_GROUP, SAMPLE_MODEL = "housing-austin-tx", "Austin_TX"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/housing-inference:1"


def _artifact(broken: bool | str = False) -> tuple[bytes, str]:
    """A model.tar.gz; ``broken`` True (or a marker name) adds the sandbox MME's marker member."""
    files = {"model.joblib": uuid.uuid4().bytes * 64, "code/inference.py": b"def model_fn(d): ...\n"}
    if broken:
        files[FAIL_TO_LOAD_MARKER if broken is True else str(broken)] = b"the container's inference code raises\n"
    data = good_artifact(files)
    return data, hashlib.sha256(data).hexdigest()


def _current(stack: Stack, model: str = MODEL) -> str | None:
    pointer = stack.pointer(model)
    return pointer["current"]["M"]["target_model"]["S"] if pointer and "current" in pointer else None


def _pending(stack: Stack, broken: bool | str) -> tuple[dict[str, object], str]:
    data, sha = _artifact(broken)
    stack.drop(GROUP, data, name=f"{sha[:8]}.tar.gz")
    package = stack.package_with_sha(GROUP, sha)
    stack.settled_executions(str(package["ModelPackageArn"]))
    return package, sha


def test_a_model_that_loads_and_answers_becomes_current(stack: Stack) -> None:
    # Given a pending package whose artifact the MME container loads
    package, sha = _pending(stack, broken=False)
    target = f"{MODEL}/{package['ModelPackageVersion']}-{sha[:12]}.tar.gz"
    # When it is approved
    executions = stack.approve(package)
    # Then the promotion succeeded and the pointer names the new key, which the MME serves
    assert {e["status"] for e in executions} == {"SUCCEEDED"}
    assert stack.describe(str(package["ModelPackageArn"]))["CustomerMetadataProperties"]["modelrelay:status"] == (
        "PromotionSucceeded"
    )
    assert _current(stack) == target
    answer = stack.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=stack.out["mme"]["endpoint_name"], TargetModel=target, Body=b"1,2", ContentType="text/csv"
    )
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_a_model_that_fails_to_load_is_refused_and_removed(stack: Stack) -> None:
    # Given a model that serves, and a pending package whose artifact the container cannot load
    good, _ = _pending(stack, broken=False)
    stack.approve(good)
    before = _current(stack)
    assert before is not None
    package, sha = _pending(stack, broken=True)
    arn = str(package["ModelPackageArn"])
    mme = stack.out["mme"]
    key = f"{mme['prefix']}{MODEL}/{package['ModelPackageVersion']}-{sha[:12]}.tar.gz"
    stack.notifications()
    # When it is approved
    stack.approve(package)
    # Then the promotion failed with mme_model_failed_to_load at StageOnMme
    metadata = stack.describe(arn)["CustomerMetadataProperties"]
    assert metadata["modelrelay:status"] == "PromotionFailed"
    assert metadata["modelrelay:reason"] == "mme_model_failed_to_load"
    assert metadata["modelrelay:failed-step"] == "StageOnMme"
    # And the pointer still names the model that served before, and the new object is gone
    assert _current(stack) == before
    assert stack.keys(mme["bucket"], key) == []
    # And the notification quotes the endpoint's error
    bodies = [m["Body"] for m in stack.notifications()]
    failed = [b for b in bodies if "promotion failed" in b and "mme_model_failed_to_load" in b]
    assert failed and "Failed to load model" in failed[0] and "ModelError" in failed[0], bodies


def test_the_mme_answers_a_missing_target_model_as_sagemaker_does(stack: Stack) -> None:
    # Given no object under the MME prefix for this TargetModel, When a client invokes it
    with pytest.raises(ClientError) as raised:
        stack.client("sagemaker-runtime").invoke_endpoint(
            EndpointName=stack.out["mme"]["endpoint_name"], TargetModel=f"{MODEL}/missing.tar.gz", Body=b"1"
        )
    # Then SageMaker's ValidationError says the model data could not be downloaded
    assert raised.value.response["Error"]["Code"] == "ValidationError"
    assert "Failed to download model data" in raised.value.response["Error"]["Message"]


def _refused_cleanly(stack: Stack, package: dict[str, Any], sha: str, model: str, before: str | None) -> str:
    """The promotion failed at StageOnMme with mme_smoke_failed and left nothing half-written; its notification."""
    arn = str(package["ModelPackageArn"])
    mme = stack.out["mme"]
    group = str(package["ModelPackageGroupName"])
    metadata = stack.describe(arn)["CustomerMetadataProperties"]
    assert metadata["modelrelay:status"] == "PromotionFailed", metadata
    assert metadata["modelrelay:reason"] == "mme_smoke_failed", metadata
    assert metadata["modelrelay:failed-step"] == "StageOnMme"
    # the pointer did not move, the new MME object is gone, and so is the hub copy
    assert _current(stack, model) == before
    assert stack.keys(mme["bucket"], f"{mme['prefix']}{model}/{package['ModelPackageVersion']}-{sha[:12]}") == []
    assert stack.keys(stack.out["hub_bucket"], f"artifacts/{group}/{sha}", hub=True) == []
    bodies = [m["Body"] for m in stack.notifications() if arn in m["Body"]]
    failed = [b for b in bodies if "promotion failed" in b and "mme_smoke_failed" in b]
    assert len(failed) == 1 and not any("succeeded" in b for b in bodies), bodies
    return failed[0]


def test_a_model_that_loads_but_fails_the_smoke_payload_is_refused_and_removed(stack: Stack) -> None:
    # Given a model that serves, and a pending package whose model loads but whose inference code raises
    good, _ = _pending(stack, broken=False)
    stack.approve(good)
    before = _current(stack)
    assert before is not None
    package, sha = _pending(stack, broken=FAIL_TO_PREDICT_MARKER)
    stack.notifications()
    # When it is approved
    stack.approve(package)
    # Then it is refused with mme_smoke_failed (not a load failure), nothing half-written
    notification = _refused_cleanly(stack, package, sha, MODEL, before)
    # And the notification quotes the endpoint's error: ModelError, the container's 500 and message, the log stream
    assert "ModelError (424)" in notification and "(original status 500)" in notification, notification
    assert "Received server error (500) from primary" in notification and FAIL_TO_PREDICT_MARKER in notification
    assert "log stream arn:aws:logs:" in notification and "/aws/sagemaker/Endpoints/housing-mme" in notification


def _registered(stack: Stack, sample: str | None, broken: bool | str = False) -> tuple[dict[str, Any], str]:
    """A package registered as the SageMaker SDK's ``ModelPackage.register`` does (artifact and sample payload in
    the data-science bucket, ``SamplePayloadUrl`` beside the inference specification), pending approval.

    ``sample``: "present" (a CSV object), "missing" (a URL with no object behind it) or None (not set).
    """
    data, sha = _artifact(broken)
    s3, run = stack.client("s3"), uuid.uuid4().hex
    artifact_key = f"{SAMPLE_GROUP}/{run}/model.tar.gz"
    s3.put_object(Bucket=environment.DS_BUCKET, Key=artifact_key, Body=data)
    extra: dict[str, str] = {}
    if sample is not None:
        sample_key = f"{SAMPLE_GROUP}/{run}/sample-payload.csv"
        if sample == "present":
            s3.put_object(Bucket=environment.DS_BUCKET, Key=sample_key, Body=b"8.3252,41.0,6.98,1.02,322.0,2.55\n")
        extra["SamplePayloadUrl"] = f"s3://{environment.DS_BUCKET}/{sample_key}"
    arn = stack.client("sagemaker").create_model_package(
        ModelPackageGroupName=SAMPLE_GROUP,
        ModelPackageDescription="housing model for Austin, TX",
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://{environment.DS_BUCKET}/{artifact_key}"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["application/json"],
            "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large"],
        },
        **extra,
    )["ModelPackageArn"]
    stack.settled_executions(arn)
    return stack.describe(arn), sha


def test_a_model_that_answers_its_sample_payload_becomes_current(stack: Stack) -> None:
    # Given a pending package whose SamplePayloadUrl names an object in the data-science bucket
    package, sha = _registered(stack, sample="present")
    assert package["SamplePayloadUrl"].startswith(f"s3://{environment.DS_BUCKET}/")
    target = f"{SAMPLE_MODEL}/{package['ModelPackageVersion']}-{sha[:12]}.tar.gz"
    # When it is approved
    executions = stack.approve(package)
    # Then the smoke check sent the sample to the new TargetModel, the model answered, and the pointer moved
    assert {e["status"] for e in executions} == {"SUCCEEDED"}
    metadata = stack.describe(str(package["ModelPackageArn"]))["CustomerMetadataProperties"]
    assert metadata["modelrelay:status"] == "PromotionSucceeded", metadata
    assert _current(stack, SAMPLE_MODEL) == target
    mme = stack.out["mme"]
    assert stack.keys(mme["bucket"], f"{mme['prefix']}{target}") == [f"{mme['prefix']}{target}"]


def test_a_model_that_fails_its_sample_payload_is_refused(stack: Stack) -> None:
    # Given a model that serves on the sample-payload route, and a package whose model raises on every request
    good, _ = _registered(stack, sample="present")
    stack.approve(good)
    before = _current(stack, SAMPLE_MODEL)
    assert before is not None
    package, sha = _registered(stack, sample="present", broken=FAIL_TO_PREDICT_MARKER)
    stack.notifications()
    # When it is approved, Then refused with mme_smoke_failed, the endpoint's error quoted, nothing half-written
    stack.approve(package)
    notification = _refused_cleanly(stack, package, sha, SAMPLE_MODEL, before)
    assert "ModelError (424)" in notification and "(original status 500)" in notification, notification


@pytest.mark.parametrize("sample", [None, "missing"], ids=["no-sample-payload-url", "sample-payload-object-missing"])
def test_a_package_without_a_sample_payload_is_refused_on_a_sample_payload_route(
    stack: Stack, sample: str | None
) -> None:
    # Given the route's current model, and a package whose SamplePayloadUrl is not set (or names no object)
    before = _current(stack, SAMPLE_MODEL)
    package, sha = _registered(stack, sample=sample)
    stack.notifications()
    # When it is approved
    stack.approve(package)
    # Then refused with mme_smoke_failed before any invocation, saying what is wrong with the SamplePayloadUrl
    notification = _refused_cleanly(stack, package, sha, SAMPLE_MODEL, before)
    if sample is None:
        assert "the route's smoke check uses the package's SamplePayloadUrl, which is not set" in notification
    else:
        assert f"which is {package['SamplePayloadUrl']} and does not exist" in notification, notification
