"""An MME route's smoke check: the new TargetModel is invoked before the pointer moves; a broken model never
becomes current (issue 13)."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from botocore.exceptions import ClientError

from modelrelay_sandbox.artifact_factory import good_artifact
from modelrelay_sandbox.moto_ext.sagemaker_mme_invoke import FAIL_TO_LOAD_MARKER
from tests.integration.conftest import Stack

GROUP, MODEL = "housing-newyork-ny", "NewYork_NY"  # sandbox route with a "smoke" check


def _artifact(broken: bool = False) -> tuple[bytes, str]:
    files = {"model.joblib": uuid.uuid4().bytes * 64, "code/inference.py": b"def model_fn(d): ...\n"}
    if broken:
        files[FAIL_TO_LOAD_MARKER] = b"the container's model_fn raises\n"
    data = good_artifact(files)
    return data, hashlib.sha256(data).hexdigest()


def _current(stack: Stack) -> str | None:
    pointer = stack.pointer(MODEL)
    return pointer["current"]["M"]["target_model"]["S"] if pointer and "current" in pointer else None


def _pending(stack: Stack, broken: bool) -> tuple[dict[str, object], str]:
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
