"""Tests for the emulator extensions a faithful rollout needs: sagemaker_resource_fields (models and endpoint
configs described back as created), sagemaker_package_status (packages InProgress for a while, opt-in) and
cloudwatch_alarm_history (DescribeAlarmHistory), through boto3 against an in-process sandbox server."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from modelrelay_sandbox.moto_ext import sagemaker_package_status
from modelrelay_sandbox.server import SandboxServer, start_server

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/sagemaker-execution"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/fraud-inference:1"
VPC = {"SecurityGroupIds": ["sg-0123456789abcdef0"], "Subnets": ["subnet-0123456789abcdef0", "subnet-0fedcba987654321"]}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    server = start_server(port=None, state_dir=Path(tmp_path_factory.mktemp("fidelity-sandbox")))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def session() -> boto3.Session:
    return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)


@pytest.fixture(scope="module")
def sm(srv: SandboxServer, session: boto3.Session) -> Any:
    return session.client("sagemaker", endpoint_url=srv.url)


@pytest.fixture(scope="module")
def cw(srv: SandboxServer, session: boto3.Session) -> Any:
    return session.client("cloudwatch", endpoint_url=srv.url)


def uid() -> str:
    return uuid.uuid4().hex[:10]


# ----------------------------------------------------------------------------- models and endpoint configs


def test_a_model_is_described_with_its_network_isolation_vpc_and_execution_config(sm: Any) -> None:
    name = f"model-{uid()}"
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE,
        Containers=[{"Image": IMAGE}, {"Image": IMAGE}],
        InferenceExecutionConfig={"Mode": "Direct"},
        VpcConfig=VPC,
        EnableNetworkIsolation=True,
        Tags=[{"Key": "team", "Value": "fraud"}],
    )
    described = sm.describe_model(ModelName=name)
    assert described["EnableNetworkIsolation"] is True
    assert described["VpcConfig"] == VPC
    assert described["InferenceExecutionConfig"] == {"Mode": "Direct"}
    assert sm.list_tags(ResourceArn=described["ModelArn"])["Tags"] == [{"Key": "team", "Value": "fraud"}]


def test_an_endpoint_config_is_described_back_with_every_field_it_was_created_with(sm: Any) -> None:
    model = f"model-{uid()}"
    sm.create_model(ModelName=model, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE})
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": model,
        "InitialInstanceCount": 2,
        "InstanceType": "ml.m5.xlarge",
        "InitialVariantWeight": 1.0,
        "VolumeSizeInGB": 30,
        "ModelDataDownloadTimeoutInSeconds": 1200,
        "ContainerStartupHealthCheckTimeoutInSeconds": 600,
    }
    fields = {
        "KmsKeyId": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "DataCaptureConfig": {
            "EnableCapture": True,
            "InitialSamplingPercentage": 20,
            "DestinationS3Uri": "s3://fraud-capture/fraud-vpc",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        },
        "ExecutionRoleArn": ROLE,
        "VpcConfig": VPC,
        "EnableNetworkIsolation": True,
        "MetricsConfig": {"EnableEnhancedMetrics": True},
    }
    name = f"config-{uid()}"
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant], **fields)
    described = sm.describe_endpoint_config(EndpointConfigName=name)
    assert described["ProductionVariants"] == [variant]
    for key, value in fields.items():
        assert described[key] == value, key


# ----------------------------------------------------------------------------- package status (opt-in)


@pytest.fixture
def package_group(sm: Any) -> Iterator[str]:
    group = f"group-{uid()}"
    sm.create_model_package_group(ModelPackageGroupName=group)
    yield group
    sagemaker_package_status.configure()


def _package(sm: Any, group: str) -> str:
    arn: str = sm.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://b/m.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    return arn


def test_packages_are_completed_at_once_by_default(sm: Any, package_group: str) -> None:
    described = sm.describe_model_package(ModelPackageName=_package(sm, package_group))
    assert described["ModelPackageStatus"] == "Completed"


@pytest.mark.parametrize("final", ["Completed", "Failed"])
def test_a_package_can_stay_in_progress_for_n_describes(sm: Any, package_group: str, final: str) -> None:
    sagemaker_package_status.configure(describes=2, group=package_group, final=final)
    arn = _package(sm, package_group)
    statuses = [sm.describe_model_package(ModelPackageName=arn) for _ in range(3)]
    assert [d["ModelPackageStatus"] for d in statuses] == ["InProgress", "InProgress", final]
    assert statuses[0]["ModelPackageStatusDetails"]["ValidationStatuses"][0]["Status"] == "InProgress"
    validation = statuses[2]["ModelPackageStatusDetails"]["ValidationStatuses"][0]
    assert validation["Status"] == final and ("FailureReason" in validation) == (final == "Failed")
    # a package of another group is not affected
    other = f"group-{uid()}"
    sm.create_model_package_group(ModelPackageGroupName=other)
    assert sm.describe_model_package(ModelPackageName=_package(sm, other))["ModelPackageStatus"] == "Completed"


# ----------------------------------------------------------------------------- alarm history


def test_describe_alarm_history_lists_each_state_change_as_aws_records_it(cw: Any) -> None:
    name = f"alarm-{uid()}"
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/SageMaker",
        MetricName="Invocation5XXErrors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    before = datetime.now(UTC) - timedelta(seconds=5)
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="5xx spike")
    cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="recovered")
    items = cw.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate", StartDate=before)[
        "AlarmHistoryItems"
    ]
    assert [i["HistorySummary"] for i in items] == ["Alarm updated from ALARM to OK", "Alarm updated from OK to ALARM"]
    data = json.loads(items[1]["HistoryData"])
    assert data["oldState"]["stateValue"] == "OK"
    assert data["newState"] == {"stateValue": "ALARM", "stateReason": "5xx spike"}
    assert items[1]["AlarmType"] == "MetricAlarm" and items[1]["AlarmName"] == name
    # a window after the changes is empty; paging returns every item once
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert cw.describe_alarm_history(AlarmName=name, StartDate=later)["AlarmHistoryItems"] == []
    paged = [
        item
        for page in cw.get_paginator("describe_alarm_history").paginate(
            AlarmName=name, PaginationConfig={"PageSize": 1}
        )
        for item in page["AlarmHistoryItems"]
    ]
    assert len(paged) == 2


def test_a_model_without_a_vpc_is_described_without_vpc_config(sm: Any) -> None:
    name = f"model-{uid()}"
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE})
    described = sm.describe_model(ModelName=name)
    assert "VpcConfig" not in described and described["EnableNetworkIsolation"] is False
