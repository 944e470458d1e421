"""modelrelay_sandbox.moto_ext.sagemaker_inference_components through boto3 against an in-process sandbox server:
state sequences (polls), alarm rollback, failure injection and AWS's validation."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from modelrelay_sandbox.moto_ext import sagemaker_endpoints
from modelrelay_sandbox.server import SandboxServer, start_server

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/sagemaker-execution"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/fraud-inference"
COMPUTE = {"NumberOfCpuCoresRequired": 1, "MinMemoryRequiredInMb": 1024}
ROLLING = {"RollingUpdatePolicy": {"MaximumBatchSize": {"Type": "COPY_COUNT", "Value": 1}, "WaitIntervalInSeconds": 0}}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    server = start_server(port=None, state_dir=Path(tmp_path_factory.mktemp("ic-sandbox")))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def aws(srv: SandboxServer) -> tuple[Any, Any]:
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    return session.client("sagemaker", endpoint_url=srv.url), session.client("cloudwatch", endpoint_url=srv.url)


@pytest.fixture(autouse=True)
def two_polls() -> Iterator[None]:
    sagemaker_endpoints.configure(polls=2)
    yield
    sagemaker_endpoints.configure()


def model(sm: Any, image: str = IMAGE) -> str:
    name = f"m-{uuid.uuid4().hex[:8]}"
    sm.create_model(ModelName=name, PrimaryContainer={"Image": image}, ExecutionRoleArn=ROLE)
    return name


def endpoint(sm: Any) -> str:
    name = f"ic-{uuid.uuid4().hex[:8]}"
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ExecutionRoleArn=ROLE,
        ProductionVariants=[{"VariantName": "AllTraffic", "InstanceType": "ml.m5.xlarge", "InitialInstanceCount": 2}],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    return name


def statuses(sm: Any, name: str, polls: int) -> list[tuple[str, str]]:
    seen = []
    for _ in range(polls):
        described = sm.describe_inference_component(InferenceComponentName=name)
        seen.append((described["InferenceComponentStatus"], described["Specification"]["ModelName"]))
    return seen


def component(sm: Any, ep: str, model_name: str) -> str:
    name = f"c-{uuid.uuid4().hex[:8]}"
    sm.create_inference_component(
        InferenceComponentName=name,
        EndpointName=ep,
        VariantName="AllTraffic",
        Specification={"ModelName": model_name, "ComputeResourceRequirements": COMPUTE},
        RuntimeConfig={"CopyCount": 2},
    )
    return name


def test_create_then_update_follow_creating_updating_in_service(aws: tuple[Any, Any]) -> None:
    sm, _ = aws
    # Given an endpoint set up for components and a component on model one
    ep, one, two = endpoint(sm), model(sm), model(sm)
    name = component(sm, ep, one)
    # Then it is Creating for 2 polls, then InService with its copies
    assert statuses(sm, name, 3) == [("Creating", one), ("Creating", one), ("InService", one)]
    # When it is updated to model two with a rolling policy
    sm.update_inference_component(
        InferenceComponentName=name,
        Specification={"ModelName": two, "ComputeResourceRequirements": COMPUTE},
        DeploymentConfig=ROLLING,
    )
    # Then it shows the old model while Updating, then InService on the new one
    assert statuses(sm, name, 3) == [("Updating", one), ("Updating", one), ("InService", two)]
    described = sm.describe_inference_component(InferenceComponentName=name)
    assert described["RuntimeConfig"]["CurrentCopyCount"] == 2 and described["LastDeploymentConfig"] == ROLLING
    listed = sm.list_inference_components(EndpointNameEquals=ep)["InferenceComponents"]
    assert [c["InferenceComponentName"] for c in listed] == [name]


def test_an_alarm_rolls_the_update_back_to_the_old_model(aws: tuple[Any, Any]) -> None:
    sm, cw = aws
    ep, one, two = endpoint(sm), model(sm), model(sm)
    name = component(sm, ep, one)
    statuses(sm, name, 3)
    alarm = f"a-{uuid.uuid4().hex[:8]}"
    cw.put_metric_alarm(
        AlarmName=alarm,
        MetricName="Invocation5XXErrors",
        Namespace="AWS/SageMaker",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    # When an update runs while its alarm is in ALARM
    sm.update_inference_component(
        InferenceComponentName=name,
        Specification={"ModelName": two, "ComputeResourceRequirements": COMPUTE},
        DeploymentConfig=ROLLING | {"AutoRollbackConfiguration": {"Alarms": [{"AlarmName": alarm}]}},
    )
    cw.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="test")
    # Then the component is InService on the OLD model, saying which alarm rolled it back
    described = sm.describe_inference_component(InferenceComponentName=name)
    assert (described["InferenceComponentStatus"], described["Specification"]["ModelName"]) == ("InService", one)
    assert described["FailureReason"].startswith(f"Alarm {alarm} was triggered during the deployment.")


def test_failure_injection_fails_a_creation_and_rolls_an_update_back(aws: tuple[Any, Any]) -> None:
    sm, _ = aws
    ep = endpoint(sm)
    bad = model(sm, f"{IMAGE}-fail-deployment")
    # A component created on a failing model ends Failed, with the health-check reason
    failed = component(sm, ep, bad)
    assert statuses(sm, failed, 3)[-1] == ("Failed", bad)
    assert "ping health check" in sm.describe_inference_component(InferenceComponentName=failed)["FailureReason"]
    # An update to a failing model ends InService on the old model, never on the bad one
    good = model(sm)
    name = component(sm, ep, good)
    statuses(sm, name, 3)
    sm.update_inference_component(
        InferenceComponentName=name,
        Specification={"ModelName": bad, "ComputeResourceRequirements": COMPUTE},
        DeploymentConfig=ROLLING,
    )
    assert statuses(sm, name, 4)[-2:] == [("InService", good), ("InService", good)]


def test_aws_validation(aws: tuple[Any, Any]) -> None:
    sm, _ = aws
    ep, one = endpoint(sm), model(sm)
    # An endpoint whose variant names a model is not for components
    sm.create_endpoint_config(
        EndpointConfigName=f"{ep}-plain",
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": one, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
        ],
    )
    sm.create_endpoint(EndpointName=f"{ep}-plain", EndpointConfigName=f"{ep}-plain")
    with pytest.raises(ClientError, match="not configured for inference components"):
        component(sm, f"{ep}-plain", one)
    # A missing model, and an update while in progress, are refused
    with pytest.raises(ClientError, match="Could not find model"):
        component(sm, ep, "no-such-model")
    name = component(sm, ep, one)
    with pytest.raises(ClientError, match="Cannot update in-progress inference component"):
        sm.update_inference_component(InferenceComponentName=name, RuntimeConfig={"CopyCount": 3})
    # And a deleted component is not found
    sm.delete_inference_component(InferenceComponentName=name)
    with pytest.raises(ClientError, match="Could not find inference component"):
        sm.describe_inference_component(InferenceComponentName=name)
