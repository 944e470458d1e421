"""Promote exactly what was approved, with everything the package says about running it (real-shaped packages).

Each package under ``events/packages/`` is a DescribeModelPackage response shaped as AWS returns it for a package
registered by the SageMaker Python SDK (scikit-learn with SAGEMAKER_PROGRAM, built-in XGBoost, PyTorch, a Hugging
Face LLM with an uncompressed ModelDataSource, a two-container inference pipeline). The tests register it in the
sandbox as the SDK would, upload artifacts where it points, approve it, and compare the hub package and what
serves with the source field for field.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from modelrelay_sandbox import environment
from modelrelay_sandbox.artifact_factory import good_artifact
from modelrelay_sandbox.environment import DS_BUCKET, PIPELINE_MME_ENDPOINT, fixture_request, wait_for
from tests.integration.conftest import Stack

REPO = Path(__file__).resolve().parents[2]
PACKAGES = REPO / "events" / "packages"


def fixture(name: str) -> dict[str, Any]:
    """A package of events/packages/, its artifacts moved under a key prefix of their own (training jobs write new
    keys; the pipeline MME's preprocessor stays where the endpoint runs it from)."""
    text = (
        (PACKAGES / name)
        .read_text()
        .replace(f"s3://{DS_BUCKET}/corpus/", f"s3://{DS_BUCKET}/corpus/{uuid.uuid4().hex[:12]}/")
    )
    text = re.sub(
        rf"s3://{DS_BUCKET}/corpus/\w+/pipeline/preprocessor/", f"s3://{DS_BUCKET}/corpus/pipeline/preprocessor/", text
    )
    described: dict[str, Any] = json.loads(text)
    return described


def s3_uris(spec: dict[str, Any]) -> list[tuple[dict[str, Any], str, str]]:
    """(where, field, uri) of every artifact location of an inference specification."""
    found = []
    for container in spec["Containers"]:
        if "ModelDataUrl" in container:
            found.append((container, "ModelDataUrl", container["ModelDataUrl"]))
        source = (container.get("ModelDataSource") or {}).get("S3DataSource")
        if source:
            found.append((source, "S3Uri", source["S3Uri"]))
    return found


def upload_artifacts(stack: Stack, spec: dict[str, Any], unique: str) -> dict[str, bytes]:
    """Put bytes where the package points (unique per test run); returns {uri: bytes} (prefix: {uri+key: bytes})."""
    s3, uploaded = stack.client("s3"), {}
    for _, _, uri in s3_uris(spec):
        bucket, key = uri[5:].split("/", 1)
        if key == environment.PIPELINE_PREPROCESSOR_KEY:
            uploaded[uri] = s3.get_object(Bucket=bucket, Key=key)["Body"].read()  # what the pipeline MME runs
        elif uri.endswith("/"):  # an uncompressed model: its files under the prefix
            for name in ("config.json", "model-00001-of-00002.safetensors", "tokenizer.json"):
                body = f"{name} {unique}\n".encode() * 32
                s3.put_object(Bucket=bucket, Key=key + name, Body=body)
                uploaded[uri + name] = body
        else:
            body = good_artifact({"model.joblib": f"{uri} {unique}".encode() * 64})
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            uploaded[uri] = body
    return uploaded


def register_like_the_sdk(stack: Stack, described: dict[str, Any]) -> str:
    request = fixture_request("CreateModelPackage", described, [])
    request.pop("ModelPackageName", None)  # versioned packages are named by their group
    request["ModelApprovalStatus"] = "PendingManualApproval"
    return str(stack.client("sagemaker").create_model_package(**request)["ModelPackageArn"])


def approve_and_wait(stack: Stack, arn: str) -> dict[str, str]:
    stack.client("sagemaker").update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")

    def recorded() -> dict[str, str] | None:
        metadata = stack.describe(arn).get("CustomerMetadataProperties") or {}
        return metadata if metadata.get("modelrelay:status") else None

    return wait_for(recorded, timeout=120, what=f"the outcome recorded on {arn}")  # type: ignore[no-any-return]


def hub_objects_equal(stack: Stack, hub_uri: str, expected: bytes) -> bool:
    bucket, key = hub_uri[5:].split("/", 1)
    body = stack.hub_client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return hashlib.sha256(body).digest() == hashlib.sha256(expected).digest()


@pytest.mark.parametrize(
    "name",
    [
        "sklearn-sdk.json",
        "xgboost-builtin.json",
        "pytorch-sdk.json",
        "huggingface-llm-uncompressed.json",
        "inference-pipeline.json",
    ],
)
def test_a_real_shaped_package_is_promoted_field_for_field(stack: Stack, name: str) -> None:
    # Given a package registered as the SageMaker SDK registers it, its artifacts where it points
    described = fixture(name)
    unique = uuid.uuid4().hex
    uploaded = upload_artifacts(stack, described["InferenceSpecification"], unique)
    arn = register_like_the_sdk(stack, described)
    # When it is approved
    metadata = approve_and_wait(stack, arn)
    # Then the promotion succeeded, and the hub package carries the source's specification field for field,
    # every container, with only the artifact locations rewritten to hub copies of exactly the same bytes
    assert metadata["modelrelay:status"] == "PromotionSucceeded", metadata
    source_spec = stack.describe(arn)["InferenceSpecification"]
    hub_spec = stack.describe(metadata["modelrelay:hub-package"], hub=True)["InferenceSpecification"]
    expected = copy.deepcopy(source_spec)
    for (where, field, _), (_, _, hub_uri) in zip(s3_uris(expected), s3_uris(hub_spec), strict=True):
        assert hub_uri.startswith(f"s3://{stack.out['hub_bucket']}/artifacts/")
        where[field] = hub_uri
    assert hub_spec == expected
    for (_, _, source_uri), (_, _, hub_uri) in zip(s3_uris(source_spec), s3_uris(hub_spec), strict=True):
        if source_uri.endswith("/"):
            for uri, body in uploaded.items():
                if uri.startswith(source_uri):
                    assert hub_objects_equal(stack, hub_uri + uri[len(source_uri) :], body)
        else:
            assert hub_objects_equal(stack, hub_uri, uploaded[source_uri])


def test_the_llm_endpoint_serves_a_model_built_from_the_hub_package(stack: Stack) -> None:
    # Given the uncompressed LLM package approved on its endpoint route
    described = fixture("huggingface-llm-uncompressed.json")
    upload_artifacts(stack, described["InferenceSpecification"], uuid.uuid4().hex)
    arn = register_like_the_sdk(stack, described)
    metadata = approve_and_wait(stack, arn)
    # Then the endpoint serves a model whose container is the hub package (all of its containers)
    assert metadata["modelrelay:status"] == "PromotionSucceeded", metadata
    sagemaker = stack.client("sagemaker")
    config = sagemaker.describe_endpoint_config(
        EndpointConfigName=sagemaker.describe_endpoint(EndpointName="corpus-llm")["EndpointConfigName"]
    )
    model = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    containers = model.get("Containers") or [model["PrimaryContainer"]]
    assert [c.get("ModelPackageName") for c in containers] == [metadata["modelrelay:hub-package"]]


def test_the_pipeline_mme_stages_the_multi_model_container_only_behind_its_own_preprocessor(stack: Stack) -> None:
    # Given a pipeline package whose preprocessor is the one the pipeline MME runs
    described = fixture("inference-pipeline.json")
    uploaded = upload_artifacts(stack, described["InferenceSpecification"], uuid.uuid4().hex)
    arn = register_like_the_sdk(stack, described)
    # When it is approved
    metadata = approve_and_wait(stack, arn)
    # Then the Linear Learner artifact (container 2) is what the MME's Boston_MA pointer serves
    assert metadata["modelrelay:status"] == "PromotionSucceeded", metadata
    item = stack.client("dynamodb").get_item(
        TableName=stack.out["state_table"],
        Key={"pk": {"S": f"pointer#{PIPELINE_MME_ENDPOINT}#Boston_MA"}},
        ConsistentRead=True,
    )["Item"]
    staged = item["current"]["M"]["s3_uri"]["S"]
    bucket, key = staged[5:].split("/", 1)
    body = stack.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    learner = described["InferenceSpecification"]["Containers"][1]["ModelDataUrl"]
    assert hashlib.sha256(body).digest() == hashlib.sha256(uploaded[learner]).digest()
    assert key.startswith("pipeline/Boston_MA/")


def test_a_city_model_trained_behind_another_preprocessor_is_never_staged(stack: Stack) -> None:
    # Given a pipeline package whose preprocessor artifact differs from the one the pipeline MME runs
    described = fixture("inference-pipeline.json")
    other = copy.deepcopy(described)
    other["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] = (
        f"s3://{DS_BUCKET}/corpus/pipeline/preprocessor-v2/model.tar.gz"
    )
    upload_artifacts(stack, other["InferenceSpecification"], uuid.uuid4().hex)
    arn = register_like_the_sdk(stack, other)
    before = (
        stack.client("dynamodb")
        .get_item(
            TableName=stack.out["state_table"],
            Key={"pk": {"S": f"pointer#{PIPELINE_MME_ENDPOINT}#Boston_MA"}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    # When it is approved
    metadata = approve_and_wait(stack, arn)
    # Then it is refused with pipeline_mismatch, before anything was written: no hub package, the pointer stays
    assert metadata["modelrelay:status"] == "PromotionFailed"
    assert (metadata["modelrelay:failed-step"], metadata["modelrelay:reason"]) == (
        "PreparePromotion",
        "pipeline_mismatch",
    )
    assert "modelrelay:hub-package" not in metadata
    after = (
        stack.client("dynamodb")
        .get_item(
            TableName=stack.out["state_table"],
            Key={"pk": {"S": f"pointer#{PIPELINE_MME_ENDPOINT}#Boston_MA"}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    assert after == before


def test_an_uncompressed_model_is_refused_on_an_mme_route(stack: Stack) -> None:
    # Given the LLM package (an uncompressed S3Prefix model) registered in a group routed to the MME
    described = fixture("huggingface-llm-uncompressed.json") | {"ModelPackageGroupName": "corpus-pytorch"}
    upload_artifacts(stack, described["InferenceSpecification"], uuid.uuid4().hex)
    arn = register_like_the_sdk(stack, described)
    # When it is approved, Then it is refused with its specific reason
    metadata = approve_and_wait(stack, arn)
    assert (metadata["modelrelay:status"], metadata["modelrelay:reason"]) == (
        "PromotionFailed",
        "mme_uncompressed_artifact",
    )


def test_bytes_written_after_registration_are_never_promoted(stack: Stack) -> None:
    # Given a package registered by the SDK for model.tar.gz in a versioned bucket, then that key overwritten
    described = fixture("sklearn-sdk.json")
    unique = uuid.uuid4().hex
    key = f"corpus/sklearn/{unique}/model.tar.gz"
    described["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] = f"s3://{DS_BUCKET}/{key}"
    uploaded = upload_artifacts(stack, described["InferenceSpecification"], unique)
    arn = register_like_the_sdk(stack, described)
    created = stack.describe(arn)["CreationTime"]
    # (S3 times are whole seconds: the overwrite must fall in a later second to be told apart)
    wait_for(lambda: datetime.now(UTC) >= created.replace(microsecond=0) + timedelta(seconds=1), what="a new second")
    registered_bytes = uploaded[f"s3://{DS_BUCKET}/{key}"]
    stack.client("s3").put_object(Bucket=DS_BUCKET, Key=key, Body=good_artifact({"model.joblib": b"other" * 99}))
    # When the package is approved
    metadata = approve_and_wait(stack, arn)
    # Then the MME serves the registered bytes, not the newer ones
    assert metadata["modelrelay:status"] == "PromotionSucceeded", metadata
    pointer = stack.pointer("Corpus_sklearn")
    assert pointer is not None
    staged = pointer["current"]["M"]["s3_uri"]["S"][5:].split("/", 1)
    body = stack.client("s3").get_object(Bucket=staged[0], Key=staged[1])["Body"].read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(registered_bytes).digest()


def test_a_drop_overwritten_before_approval_promotes_the_bytes_that_were_approved(stack: Stack) -> None:
    # Given two drops under the same key (package 1, then package 2 for other bytes)
    group = "housing-newyork-ny"
    first = good_artifact({"model.joblib": uuid.uuid4().bytes * 64})
    second = good_artifact({"model.joblib": uuid.uuid4().bytes * 64})
    name = f"same-{uuid.uuid4().hex[:8]}.tar.gz"
    stack.drop(group, first, name=name)
    package_1 = stack.package_with_sha(group, hashlib.sha256(first).hexdigest())
    stack.drop(group, second, name=name)
    stack.package_with_sha(group, hashlib.sha256(second).hexdigest())
    # When package 1 is approved
    metadata = approve_and_wait(stack, package_1["ModelPackageArn"])
    # Then package 1's bytes are what the MME serves under its name
    assert metadata["modelrelay:status"] == "PromotionSucceeded", metadata
    pointer = stack.pointer("NewYork_NY")
    assert pointer is not None
    staged = pointer["current"]["M"]["s3_uri"]["S"][5:].split("/", 1)
    body = stack.client("s3").get_object(Bucket=staged[0], Key=staged[1])["Body"].read()
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(first).hexdigest()


def test_rejecting_the_only_serving_model_withdraws_it_and_reports_a_rollback(stack: Stack) -> None:
    # Given the first and only approved version of a model serving on the MME
    described = fixture("sklearn-sdk.json") | {"ModelPackageGroupName": "corpus-withdraw"}
    upload_artifacts(stack, described["InferenceSpecification"], uuid.uuid4().hex)
    arn = register_like_the_sdk(stack, described)
    assert approve_and_wait(stack, arn)["modelrelay:status"] == "PromotionSucceeded"
    served = stack.pointer("Corpus_withdraw")
    assert served is not None and "M" in served["current"]
    # When it is rejected
    stack.client("sagemaker").update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Rejected")

    def withdrawn() -> dict[str, Any] | None:
        pointer = stack.pointer("Corpus_withdraw")
        return pointer if pointer and "NULL" in pointer["current"] else None

    pointer = wait_for(withdrawn, timeout=60, what="the pointer withdrawn")
    # Then clients see no current model, the rejected target stays first in the history, and the outcome is a
    # rollback (never a failed promotion)
    assert pointer["history"]["L"][0]["M"]["package_arn"]["S"] == arn
    metadata = wait_for(
        lambda: (
            (m := stack.describe(arn).get("CustomerMetadataProperties") or {}).get("modelrelay:status")
            == "RollbackSucceeded"
            and m
        ),
        timeout=60,
        what="the rollback's outcome on the package",
    )
    assert "modelrelay:failed-step" not in metadata
    rollbacks = [n for n in stack.notifications() if "rollback succeeded for corpus-withdraw" in n["Body"].lower()]
    assert rollbacks and "withdrawn" in rollbacks[-1]["Body"]


def test_rejecting_the_only_version_rolled_onto_an_endpoint_returns_it_to_its_own_config(stack: Stack) -> None:
    # Given an endpoint serving the configuration it had before ModelRelay, and the first version rolled onto it
    sagemaker = stack.client("sagemaker")
    original = sagemaker.describe_endpoint(EndpointName="withdraw-endpoint")["EndpointConfigName"]
    described = fixture("sklearn-sdk.json") | {"ModelPackageGroupName": "corpus-withdraw-endpoint"}
    upload_artifacts(stack, described["InferenceSpecification"], uuid.uuid4().hex)
    arn = register_like_the_sdk(stack, described)
    assert approve_and_wait(stack, arn)["modelrelay:status"] == "PromotionSucceeded"
    assert sagemaker.describe_endpoint(EndpointName="withdraw-endpoint")["EndpointConfigName"] != original
    # When that version is rejected
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Rejected")
    metadata = wait_for(
        lambda: (
            (m := stack.describe(arn).get("CustomerMetadataProperties") or {}).get("modelrelay:status")
            in ("RollbackSucceeded", "RollbackFailed")
            and m
        ),
        timeout=120,
        what="the rollback's outcome on the package",
    )
    # Then the endpoint is back on its own config (recorded at the first rollout, never deleted), as a rollback
    assert metadata["modelrelay:status"] == "RollbackSucceeded", metadata
    endpoint = sagemaker.describe_endpoint(EndpointName="withdraw-endpoint")
    assert (endpoint["EndpointStatus"], endpoint["EndpointConfigName"]) == ("InService", original)
    assert sagemaker.describe_endpoint_config(EndpointConfigName=original)["EndpointConfigName"] == original
