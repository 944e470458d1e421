"""The sandbox's multi-model endpoint (moto_ext.sagemaker_mme_invoke), against a real server: InvokeEndpoint with a
TargetModel finds the artifact under the MME prefix, loads it, and answers with SageMaker Runtime's shapes; the
documented marker members make a model fail to load (``MODELRELAY_FAIL_TO_LOAD``) or load and fail every request
(``MODELRELAY_FAIL_TO_PREDICT``)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError

from modelrelay_sandbox.artifact_factory import good_artifact
from modelrelay_sandbox.moto_ext.sagemaker_mme_invoke import FAIL_TO_LOAD_MARKER, FAIL_TO_PREDICT_MARKER
from modelrelay_sandbox.server import SandboxServer, start_server

REGION, ACCOUNT = "us-east-1", "123456789012"
BUCKET, PREFIX, ENDPOINT = "mme-invoke-test", "models/", "mme-invoke-test"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    sandbox = start_server(port=None, state_dir=Path(tmp_path_factory.mktemp("mme-invoke-sandbox")))
    yield sandbox
    sandbox.stop()


def client(server: SandboxServer, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="module")
def mme(server: SandboxServer) -> str:
    """A multi-model endpoint whose model serves ``s3://BUCKET/PREFIX``."""
    client(server, "s3").create_bucket(Bucket=BUCKET)
    sagemaker = client(server, "sagemaker")
    sagemaker.create_model(
        ModelName=ENDPOINT,
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/sagemaker-execution",
        PrimaryContainer={
            "Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/housing-inference:1",
            "Mode": "MultiModel",
            "ModelDataUrl": f"s3://{BUCKET}/{PREFIX}",
        },
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=ENDPOINT,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": ENDPOINT,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=ENDPOINT)
    return ENDPOINT


def stored_model(server: SandboxServer, *markers: str) -> str:
    """Upload a model artifact (with the given marker members) under the MME prefix; return its TargetModel."""
    files = {"model.joblib": uuid.uuid4().bytes * 16, **{marker: b"sandbox marker\n" for marker in markers}}
    target = f"Model_{uuid.uuid4().hex[:8]}/1-{uuid.uuid4().hex[:12]}.tar.gz"
    client(server, "s3").put_object(Bucket=BUCKET, Key=PREFIX + target, Body=good_artifact(files))
    return target


def invoke_error(server: SandboxServer, endpoint: str, target: str) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        client(server, "sagemaker-runtime").invoke_endpoint(
            EndpointName=endpoint, TargetModel=target, Body=b"8.3,41.0,6.9", ContentType="text/csv"
        )
    response: dict[str, Any] = raised.value.response
    return response


def test_a_model_that_loads_answers_200(server: SandboxServer, mme: str) -> None:
    # Given an artifact without markers under the prefix
    target = stored_model(server)
    # When a client invokes it
    answer = client(server, "sagemaker-runtime").invoke_endpoint(
        EndpointName=mme, TargetModel=target, Body=b"8.3,41.0,6.9", ContentType="text/csv"
    )
    # Then 200, the variant named, the body naming the model
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert answer["InvokedProductionVariant"] == "AllTraffic"
    assert json.loads(answer["Body"].read())["target_model"] == target


def test_a_model_whose_inference_code_raises_answers_model_error_500_every_time(
    server: SandboxServer, mme: str
) -> None:
    # Given an artifact that loads but whose predict_fn raises (the FAIL_TO_PREDICT marker)
    target = stored_model(server, FAIL_TO_PREDICT_MARKER)
    for _ in range(2):  # loaded once, then every request fails the same way
        # When a client invokes it
        response = invoke_error(server, mme, target)
        # Then ModelError (424), the container's status 500 and error JSON quoted, and the log stream
        assert response["Error"]["Code"] == "ModelError"
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
        assert response["OriginalStatusCode"] == 500
        container = json.loads(response["OriginalMessage"])
        assert container["code"] == 500 and FAIL_TO_PREDICT_MARKER in container["message"]
        log_stream = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/{mme}"
        assert response["LogStreamArn"] == log_stream
        assert response["Error"]["Message"].startswith("Received server error (500) from primary with message ")
        assert f"See {log_stream} in account {ACCOUNT} for more information." in response["Error"]["Message"]
        # and nothing in it says the model failed to load (that is MODELRELAY_FAIL_TO_LOAD's answer)
        assert "load" not in json.dumps(response).lower()


def test_a_model_that_fails_to_load_answers_model_error_507(server: SandboxServer, mme: str) -> None:
    # Given an artifact the container cannot load, When a client invokes it
    response = invoke_error(server, mme, stored_model(server, FAIL_TO_LOAD_MARKER))
    # Then ModelError (424) with the container's 507 and its load error
    assert (response["Error"]["Code"], response["OriginalStatusCode"]) == ("ModelError", 507)
    assert "Failed to load model" in json.loads(response["OriginalMessage"])["message"]


def test_the_model_error_carries_exactly_the_members_botocore_models() -> None:
    # Given botocore's sagemaker-runtime service model, Then ModelError is HTTP 424 with the members the sandbox sets
    shape = botocore.session.get_session().get_service_model("sagemaker-runtime").shape_for("ModelError")
    assert shape.metadata["error"]["httpStatusCode"] == 424
    assert set(shape.members) == {"Message", "OriginalStatusCode", "OriginalMessage", "LogStreamArn"}


def test_a_missing_target_model_is_a_download_validation_error(server: SandboxServer, mme: str) -> None:
    # Given no object under the prefix, When a client invokes it, Then SageMaker's ValidationError
    response = invoke_error(server, mme, "Nobody/1-000000000000.tar.gz")
    assert response["Error"]["Code"] == "ValidationError"
    assert f"Failed to download model data(bucket: {BUCKET}, key: {PREFIX}Nobody/" in response["Error"]["Message"]
