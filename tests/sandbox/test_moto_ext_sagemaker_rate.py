"""The sandbox's SageMaker control-plane meter and throttle (moto_ext.sagemaker_rate), against a real server."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from modelrelay_sandbox.moto_ext import sagemaker_rate
from modelrelay_sandbox.moto_ext.fault_injection import DEFAULT_EXCLUDE_USER_AGENT
from modelrelay_sandbox.server import SandboxServer, start_server

NO_RETRIES = Config(retries={"total_max_attempts": 1})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    sandbox = start_server(port=None, state_dir=tmp_path_factory.mktemp("sandbox-state"))
    yield sandbox
    sagemaker_rate.disable(sandbox)
    sandbox.stop()


@pytest.fixture
def sagemaker(server: SandboxServer) -> Callable[..., Any]:
    def client(config: Config | None = None) -> Any:
        return boto3.client(
            "sagemaker",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=config,
        )

    return client


def group_exists(client: Any, name: str) -> bool:
    try:
        client.describe_model_package_group(ModelPackageGroupName=name)
    except ClientError:
        return False
    return True


def test_requests_are_counted_per_second_and_a_marked_client_is_not(
    server: SandboxServer, sagemaker: Callable[..., Any]
) -> None:
    # Given the meter, measuring only
    meter = sagemaker_rate.enable(server, rate=None)

    # When ModelRelay-like code makes 6 control-plane calls and a test client (marked) makes 3
    for _ in range(6):
        sagemaker().list_model_package_groups()
    marked = sagemaker(Config(user_agent_extra=DEFAULT_EXCLUDE_USER_AGENT))
    for _ in range(3):
        marked.list_model_package_groups()

    # Then the 6 are counted, all within one second of each other or not, and none throttled
    assert meter.count() == 6
    assert 1 <= meter.peak() <= 6
    assert meter.throttled == 0


def test_beyond_the_rate_sagemaker_answers_throttling_and_the_call_has_no_effect(
    server: SandboxServer, sagemaker: Callable[..., Any]
) -> None:
    # Given SageMaker throttling at 1 request per second with a burst of 2
    meter = sagemaker_rate.enable(server, rate=1.0, burst=2)
    client = sagemaker(NO_RETRIES)
    client.list_model_package_groups()
    client.list_model_package_groups()

    # When a third call comes at once
    name = f"throttled-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ClientError) as raised:
        client.create_model_package_group(ModelPackageGroupName=name)

    # Then SageMaker's throttling error comes back, and nothing was created
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert meter.throttled == 1
    sagemaker_rate.enable(server, rate=None)
    assert not group_exists(sagemaker(), name)


def test_adaptive_sdk_retries_get_every_call_through_the_throttle(
    server: SandboxServer, sagemaker: Callable[..., Any]
) -> None:
    # Given SageMaker throttling at 5 requests per second (burst 5)
    meter = sagemaker_rate.enable(server, rate=5.0, burst=5)

    # When a client in botocore's adaptive mode makes 15 calls as fast as it can
    client = sagemaker(Config(retries={"mode": "adaptive", "max_attempts": 10}))
    for _ in range(15):
        client.list_model_package_groups()

    # Then every call succeeded, some after a throttle, and no second saw more than the bucket allows
    assert meter.count() == 15
    assert meter.throttled >= 1
    assert meter.peak() <= 5 + 5
