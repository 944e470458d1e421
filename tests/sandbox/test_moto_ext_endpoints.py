"""Integration tests for modelrelay_sandbox.moto_ext.sagemaker_endpoints: SageMaker UpdateEndpoint with
deployment guardrails, and the endpoint/model APIs a rollout needs, through boto3 and HTTP against an
in-process sandbox server.

Progress is driven by DescribeEndpoint polls (default 3 polls show ``Updating``, the next completes).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from modelrelay_sandbox.environment import wait_for
from modelrelay_sandbox.moto_ext import sagemaker_endpoints
from modelrelay_sandbox.server import SandboxServer, start_server

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/sagemaker-execution"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/fraud-inference"


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    server = start_server(port=None, state_dir=Path(tmp_path_factory.mktemp("endpoints-sandbox")))
    yield server
    server.stop()


class Clients:
    def __init__(self, url: str) -> None:
        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
        self.sm = session.client("sagemaker", endpoint_url=url)
        self.cw = session.client("cloudwatch", endpoint_url=url)
        self.events = session.client("events", endpoint_url=url)
        self.sqs = session.client("sqs", endpoint_url=url)


@pytest.fixture(scope="module")
def aws(srv: SandboxServer) -> Clients:
    return Clients(srv.url)


@pytest.fixture(autouse=True)
def default_settings() -> Iterator[None]:
    sagemaker_endpoints.configure()
    yield
    sagemaker_endpoints.configure()


def uid() -> str:
    return uuid.uuid4().hex[:10]


def model(aws: Clients, image: str = f"{IMAGE}:1") -> str:
    name = f"model-{uid()}"
    aws.sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": image})
    return name


def config(aws: Clients, model_name: str, variant: str = "AllTraffic", count: int = 4, **extra: Any) -> str:
    name = f"config-{uid()}"
    aws.sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": variant,
                "ModelName": model_name,
                "InitialInstanceCount": count,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": 1.0,
            }
        ],
        **extra,
    )
    return name


def endpoint(aws: Clients, image: str = f"{IMAGE}:1") -> tuple[str, str]:
    """A new InService endpoint; returns (endpoint name, its config name)."""
    name, config_name = f"endpoint-{uid()}", config(aws, model(aws, image))
    aws.sm.create_endpoint(EndpointName=name, EndpointConfigName=config_name)
    return name, config_name


def alarm(aws: Clients) -> str:
    name = f"errors-{uid()}"
    aws.cw.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/SageMaker",
        MetricName="Invocation5XXErrors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    return name


def blue_green(routing: dict[str, Any], alarms: list[str] | None = None) -> dict[str, Any]:
    deployment: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": 300,
            "MaximumExecutionTimeoutInSeconds": 3600,
        }
    }
    if alarms:
        deployment["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": a} for a in alarms]}
    return deployment


CANARY = {"Type": "CANARY", "WaitIntervalInSeconds": 600, "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 25}}
LINEAR = {"Type": "LINEAR", "WaitIntervalInSeconds": 300, "LinearStepSize": {"Type": "INSTANCE_COUNT", "Value": 2}}
ALL_AT_ONCE = {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 120}


def describe(aws: Clients, name: str) -> dict[str, Any]:
    described: dict[str, Any] = aws.sm.describe_endpoint(EndpointName=name)
    return described


def polls(aws: Clients, name: str, count: int) -> list[dict[str, Any]]:
    return [describe(aws, name) for _ in range(count)]


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def endpoint_arn(name: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{name}"


# ----------------------------------------------------------------------------- successful updates


@pytest.mark.parametrize(
    ("routing", "first_stage", "expected_message"),
    [
        (
            CANARY,
            "Creating",
            "Baking for 600 seconds (WaitIntervalInSeconds) with traffic enabled on canary capacity of 1 instance(s).",
        ),
        (
            LINEAR,
            "Creating",
            "Baking for 300 seconds (WaitIntervalInSeconds) with traffic enabled on 2 of 4 instance(s).",
        ),
        (
            ALL_AT_ONCE,
            "Creating",
            "Baking for 120 seconds (WaitIntervalInSeconds) with traffic enabled on full capacity of 4 instance(s).",
        ),
    ],
    ids=["CANARY", "LINEAR", "ALL_AT_ONCE"],
)
def test_blue_green_update_is_updating_for_three_polls_then_in_service_on_the_new_config(
    aws: Clients, routing: dict[str, Any], first_stage: str, expected_message: str
) -> None:
    # Given an InService endpoint and a new config of the same variant, new image
    name, old = endpoint(aws)
    new = config(aws, model(aws, f"{IMAGE}:2"), count=4)
    before = describe(aws, name)
    # When it is updated with a blue/green deployment config guarded by an alarm
    deployment = blue_green(routing, alarms=[alarm(aws)])
    arn = aws.sm.update_endpoint(EndpointName=name, EndpointConfigName=new, DeploymentConfig=deployment)
    # Then it is Updating on the OLD config for three polls, the new one pending
    assert arn["EndpointArn"] == endpoint_arn(name)
    updating = polls(aws, name, 3)
    assert [d["EndpointStatus"] for d in updating] == ["Updating"] * 3
    assert {d["EndpointConfigName"] for d in updating} == {old}
    assert updating[0]["LastModifiedTime"] > before["LastModifiedTime"]
    pending = updating[0]["PendingDeploymentSummary"]
    assert pending["EndpointConfigName"] == new and pending["StartTime"] >= before["LastModifiedTime"]
    assert pending["ProductionVariants"][0]["VariantName"] == "AllTraffic"
    assert pending["ProductionVariants"][0]["InstanceType"] == "ml.m5.large"
    assert pending["ProductionVariants"][0]["VariantStatus"][0]["Status"] == first_stage
    messages = [
        d["PendingDeploymentSummary"]["ProductionVariants"][0]["VariantStatus"][0]["StatusMessage"] for d in updating
    ]
    assert expected_message in messages, messages
    # And the fourth poll finds it InService on the new config, nothing pending, no failure
    done = describe(aws, name)
    assert done["EndpointStatus"] == "InService"
    assert done["EndpointConfigName"] == new
    assert "PendingDeploymentSummary" not in done and "FailureReason" not in done
    assert done["LastDeploymentConfig"] == deployment
    variant = done["ProductionVariants"][0]
    assert variant["CurrentInstanceCount"] == variant["DesiredInstanceCount"] == 4
    assert variant["DeployedImages"][0]["SpecifiedImage"] == f"{IMAGE}:2"
    # And it stays there
    assert describe(aws, name)["EndpointStatus"] == "InService"


def test_update_without_deployment_config_may_change_variant_names_and_honours_configured_polls(
    aws: Clients,
) -> None:
    # Given one poll configured, and a new config with a different variant name
    sagemaker_endpoints.configure(polls=1)
    name, _ = endpoint(aws)
    new = config(aws, model(aws, f"{IMAGE}:2"), variant="Blue", count=2)
    # When it is updated without a DeploymentConfig (AWS's default: blue/green, all at once)
    aws.sm.update_endpoint(EndpointName=name, EndpointConfigName=new)
    # Then one poll shows Updating and the next InService on the new variant
    assert [d["EndpointStatus"] for d in polls(aws, name, 2)] == ["Updating", "InService"]
    described = describe(aws, name)
    assert described["EndpointConfigName"] == new
    assert [v["VariantName"] for v in described["ProductionVariants"]] == ["Blue"]


def test_retain_all_variant_properties_keeps_the_current_instance_count(aws: Clients) -> None:
    # Given an endpoint of 4 instances and a new config of 1
    sagemaker_endpoints.configure(polls=0)
    name, _ = endpoint(aws)
    new = config(aws, model(aws, f"{IMAGE}:2"), count=1)
    # When it is updated retaining the variant properties
    aws.sm.update_endpoint(EndpointName=name, EndpointConfigName=new, RetainAllVariantProperties=True)
    # Then the first poll completes it, still with 4 instances
    described = describe(aws, name)
    assert described["EndpointStatus"] == "InService" and described["EndpointConfigName"] == new
    assert described["ProductionVariants"][0]["DesiredInstanceCount"] == 4


def test_time_mode_scales_the_deployment_waits(aws: Clients) -> None:
    # Given time mode at 1/1000 of the canary's nominal 900 s (600 s canary bake + 300 s termination wait)
    sagemaker_endpoints.configure(time_scale=0.001)
    name, _ = endpoint(aws)
    new = config(aws, model(aws, f"{IMAGE}:2"))
    # When it is updated with a canary config
    started = time.monotonic()
    aws.sm.update_endpoint(EndpointName=name, EndpointConfigName=new, DeploymentConfig=blue_green(CANARY))
    # Then it is Updating however often it is polled at first, and InService once the time is up (0.9 s)
    assert [d["EndpointStatus"] for d in polls(aws, name, 5)] == ["Updating"] * 5

    def finished() -> dict[str, Any] | None:
        described = describe(aws, name)
        return described if described["EndpointStatus"] != "Updating" else None

    done = wait_for(finished, timeout=10, interval=0.05, what="the update to finish")
    assert time.monotonic() - started >= 0.9
    assert (done["EndpointStatus"], done["EndpointConfigName"]) == ("InService", new)


# ----------------------------------------------------------------------------- rollback and failure


def test_alarm_in_alarm_during_the_bake_rolls_back_to_the_old_config(aws: Clients) -> None:
    # Given an update guarded by two alarms, one of them quiet, baking
    name, old = endpoint(aws)
    quiet, tripped = alarm(aws), alarm(aws)
    new = config(aws, model(aws, f"{IMAGE}:2"))
    aws.sm.update_endpoint(
        EndpointName=name, EndpointConfigName=new, DeploymentConfig=blue_green(CANARY, alarms=[quiet, tripped])
    )
    assert describe(aws, name)["EndpointStatus"] == "Updating"
    # When one alarm goes into ALARM
    aws.cw.set_alarm_state(AlarmName=tripped, StateValue="ALARM", StateReason="5XX errors on the canary")
    # Then the next poll is RollingBack, and the one after InService on the OLD config with the reason
    rolling, rolled = polls(aws, name, 2)
    assert rolling["EndpointStatus"] == "RollingBack"
    assert rolling["EndpointConfigName"] == old
    assert rolled["EndpointStatus"] == "InService"
    assert rolled["EndpointConfigName"] == old
    assert rolled["FailureReason"] == (
        f"Alarm {tripped} was triggered during the deployment. Rolled back to the previous endpoint configuration."
    )
    assert "PendingDeploymentSummary" not in rolled
    assert rolled["ProductionVariants"][0]["DeployedImages"][0]["SpecifiedImage"] == f"{IMAGE}:1"


def test_image_marked_fail_deployment_returns_in_service_on_the_old_config_with_a_failure_reason(
    aws: Clients,
) -> None:
    # Given a new config whose model image carries the failure marker
    name, old = endpoint(aws)
    new = config(aws, model(aws, f"{IMAGE}:fail-deployment"))
    # When the endpoint is updated to it
    aws.sm.update_endpoint(EndpointName=name, EndpointConfigName=new, DeploymentConfig=blue_green(LINEAR))
    # Then, as on AWS, it is Updating for three polls, then InService on the OLD config (which served throughout)
    # with the health-check reason
    statuses = [d["EndpointStatus"] for d in polls(aws, name, 4)]
    assert statuses == ["Updating", "Updating", "Updating", "InService"]
    described = describe(aws, name)
    assert described["EndpointStatus"] == "InService" and described["EndpointConfigName"] == old
    assert "PendingDeploymentSummary" not in described
    assert described["ProductionVariants"][0]["DeployedImages"][0]["SpecifiedImage"] == f"{IMAGE}:1"
    assert described["FailureReason"] == (
        "The primary container for production variant AllTraffic did not pass "
        "the ping health check. Please check CloudWatch logs for this endpoint."
    )
    # And it can be updated again (the reason clears)
    aws.sm.update_endpoint(EndpointName=name, EndpointConfigName=config(aws, model(aws)))
    assert "FailureReason" not in describe(aws, name)


def test_failure_marker_is_found_through_the_model_package_a_model_names(aws: Clients) -> None:
    # Given a model package whose image carries the failure marker, and a model naming it by ARN (as a
    # rollout's model names the hub package)
    group = f"group-{uid()}"
    aws.sm.create_model_package_group(ModelPackageGroupName=group)
    package = aws.sm.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": f"{IMAGE}:fail-deployment"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    model_name = f"model-{uid()}"
    aws.sm.create_model(ModelName=model_name, ExecutionRoleArn=ROLE, Containers=[{"ModelPackageName": package}])
    name, old = endpoint(aws)
    # When the endpoint is updated to a config of that model
    sagemaker_endpoints.configure(polls=0)
    aws.sm.update_endpoint(EndpointName=name, EndpointConfigName=config(aws, model_name))
    # Then it fails: back in service on the old config, saying why
    described = describe(aws, name)
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", old)
    assert "ping health check" in described["FailureReason"]


def test_image_marked_fail_rollback_ends_update_rollback_failed_when_an_alarm_fires(aws: Clients) -> None:
    # Given an update to an image marked fail-rollback, with its alarm already in ALARM
    name, _ = endpoint(aws)
    tripped = alarm(aws)
    aws.cw.set_alarm_state(AlarmName=tripped, StateValue="ALARM", StateReason="test")
    new = config(aws, model(aws, f"{IMAGE}:fail-rollback"))
    # When it is updated
    aws.sm.update_endpoint(
        EndpointName=name, EndpointConfigName=new, DeploymentConfig=blue_green(ALL_AT_ONCE, alarms=[tripped])
    )
    # Then it rolls back and the rollback fails
    assert [d["EndpointStatus"] for d in polls(aws, name, 2)] == ["RollingBack", "UpdateRollbackFailed"]
    reason = describe(aws, name)["FailureReason"]
    assert reason.startswith(
        f"Alarm {tripped} was triggered during the deployment. Rolling back to the "
        "previous endpoint configuration failed"
    )


# ----------------------------------------------------------------------------- validation


def test_update_of_an_unknown_endpoint_is_a_validation_error(aws: Clients) -> None:
    # Given a config, When an endpoint that does not exist is updated, Then ValidationException names its ARN
    new = config(aws, model(aws))
    assert error_of(aws.sm.update_endpoint, EndpointName="no-such-endpoint", EndpointConfigName=new) == (
        "ValidationException",
        f'Could not find endpoint "{endpoint_arn("no-such-endpoint")}".',
    )


def test_update_to_an_unknown_config_is_a_validation_error(aws: Clients) -> None:
    # Given an endpoint, When it is updated to a config that does not exist, Then ValidationException
    name, _ = endpoint(aws)
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/no-such-config"
    assert error_of(aws.sm.update_endpoint, EndpointName=name, EndpointConfigName="no-such-config") == (
        "ValidationException",
        f'Could not find endpoint configuration "{arn}".',
    )
    assert describe(aws, name)["EndpointStatus"] == "InService"


def test_blue_green_update_to_different_variant_names_is_a_validation_error(aws: Clients) -> None:
    # Given an endpoint on variant AllTraffic and a config of variant Green
    name, old = endpoint(aws)
    new = config(aws, model(aws), variant="Green")
    # When it is updated with a DeploymentConfig, Then ValidationException names both variant sets
    code, message = error_of(
        aws.sm.update_endpoint, EndpointName=name, EndpointConfigName=new, DeploymentConfig=blue_green(CANARY)
    )
    assert code == "ValidationException"
    assert "Green" in message and "AllTraffic" in message and new in message and old in message
    assert describe(aws, name)["EndpointStatus"] == "InService"


def test_update_or_delete_while_updating_is_a_validation_error(aws: Clients) -> None:
    # Given an endpoint being updated
    name, _ = endpoint(aws)
    new = config(aws, model(aws, f"{IMAGE}:2"))
    aws.sm.update_endpoint(EndpointName=name, EndpointConfigName=new)
    expected = ("ValidationException", f'Cannot update in-progress endpoint "{endpoint_arn(name)}".')
    # When it is updated again, or deleted, or its capacity changed, Then each is refused
    assert error_of(aws.sm.update_endpoint, EndpointName=name, EndpointConfigName=new) == expected
    assert error_of(aws.sm.delete_endpoint, EndpointName=name) == expected
    assert (
        error_of(
            aws.sm.update_endpoint_weights_and_capacities,
            EndpointName=name,
            DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 1}],
        )
        == expected
    )
    # And once InService it can be deleted
    polls(aws, name, 4)
    aws.sm.delete_endpoint(EndpointName=name)


def test_update_while_rolling_back_is_a_validation_error(aws: Clients) -> None:
    # Given an endpoint rolling back
    name, _ = endpoint(aws)
    tripped = alarm(aws)
    aws.cw.set_alarm_state(AlarmName=tripped, StateValue="ALARM", StateReason="test")
    new = config(aws, model(aws, f"{IMAGE}:2"))
    aws.sm.update_endpoint(
        EndpointName=name, EndpointConfigName=new, DeploymentConfig=blue_green(CANARY, alarms=[tripped])
    )
    assert describe(aws, name)["EndpointStatus"] == "RollingBack"
    # When it is updated, Then it is refused
    code, message = error_of(aws.sm.update_endpoint, EndpointName=name, EndpointConfigName=new)
    assert (code, message) == ("ValidationException", f'Cannot update in-progress endpoint "{endpoint_arn(name)}".')


def test_canary_without_canary_size_is_a_validation_error(aws: Clients) -> None:
    name, _ = endpoint(aws)
    new = config(aws, model(aws))
    code, message = error_of(
        aws.sm.update_endpoint,
        EndpointName=name,
        EndpointConfigName=new,
        DeploymentConfig=blue_green({"Type": "CANARY", "WaitIntervalInSeconds": 60}),
    )
    assert code == "ValidationException" and "CanarySize" in message


# ----------------------------------------------------------------------------- capacity changes


def test_weights_and_capacities_update_completes_after_the_polls(aws: Clients) -> None:
    # Given an endpoint of 4 instances
    name, _ = endpoint(aws)
    # When it is scaled to 6
    arn = aws.sm.update_endpoint_weights_and_capacities(
        EndpointName=name, DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 6}]
    )
    # Then it returns the ARN, is Updating with desired 6 / current 4 for three polls, then InService at 6
    assert arn["EndpointArn"] == endpoint_arn(name)
    updating = polls(aws, name, 3)
    assert {d["EndpointStatus"] for d in updating} == {"Updating"}
    variant = updating[0]["ProductionVariants"][0]
    assert (variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]) == (4, 6)
    done = describe(aws, name)
    assert done["EndpointStatus"] == "InService"
    assert done["ProductionVariants"][0]["CurrentInstanceCount"] == 6


# ----------------------------------------------------------------------------- what a rollout reads


def test_endpoint_config_fields_are_preserved_and_the_endpoint_reports_them(aws: Clients) -> None:
    # Given a config with data capture, a KMS key and async inference
    model_name = model(aws)
    capture = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 20,
        "DestinationS3Uri": "s3://capture/fraud",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
    }
    kms = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    async_config = {"OutputConfig": {"S3OutputPath": "s3://async/out"}}
    name = config(aws, model_name, DataCaptureConfig=capture, KmsKeyId=kms, AsyncInferenceConfig=async_config)
    # When it is described, Then every field is as given
    described = aws.sm.describe_endpoint_config(EndpointConfigName=name)
    assert described["ProductionVariants"] == [
        {
            "VariantName": "AllTraffic",
            "ModelName": model_name,
            "InitialInstanceCount": 4,
            "InstanceType": "ml.m5.large",
            "InitialVariantWeight": 1.0,
        }
    ]
    assert described["DataCaptureConfig"] == capture
    assert described["KmsKeyId"] == kms and described["AsyncInferenceConfig"] == async_config
    # And an endpoint on it reports variants, capture summary and async config as DescribeEndpoint does
    endpoint_name = f"endpoint-{uid()}"
    aws.sm.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=name)
    ep = describe(aws, endpoint_name)
    variant = ep["ProductionVariants"][0]
    assert (variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]) == (4, 4)
    assert (variant["CurrentWeight"], variant["DesiredWeight"]) == (1.0, 1.0)
    assert ep["DataCaptureConfig"] == {
        "EnableCapture": True,
        "CaptureStatus": "Started",
        "CurrentSamplingPercentage": 20,
        "DestinationS3Uri": "s3://capture/fraud",
    }
    assert ep["AsyncInferenceConfig"] == async_config


def test_unset_data_capture_is_omitted_so_a_described_config_can_be_cloned(aws: Clients) -> None:
    # Given a config without data capture
    name = config(aws, model(aws))
    # When it is described, Then DataCaptureConfig is absent (moto said {}), and the description clones
    described = aws.sm.describe_endpoint_config(EndpointConfigName=name)
    assert "DataCaptureConfig" not in described
    clone = {k: v for k, v in described.items() if k in ("DataCaptureConfig", "KmsKeyId", "AsyncInferenceConfig")}
    aws.sm.create_endpoint_config(
        EndpointConfigName=f"clone-{uid()}", ProductionVariants=described["ProductionVariants"], **clone
    )


def test_creating_an_existing_endpoint_config_or_model_is_a_validation_error(aws: Clients) -> None:
    # Given an endpoint, its config and model
    model_name = model(aws)
    config_name = config(aws, model_name)
    name = f"endpoint-{uid()}"
    aws.sm.create_endpoint(EndpointName=name, EndpointConfigName=config_name)
    # When each is created again, Then ValidationException as on AWS
    assert error_of(aws.sm.create_endpoint, EndpointName=name, EndpointConfigName=config_name) == (
        "ValidationException",
        f'Cannot create already existing endpoint "{endpoint_arn(name)}".',
    )
    code, message = error_of(
        aws.sm.create_endpoint_config,
        EndpointConfigName=config_name,
        ProductionVariants=[
            {"VariantName": "A", "ModelName": model_name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        ],
    )
    assert code == "ValidationException"
    assert message.startswith("Cannot create already existing endpoint configuration")
    code, message = error_of(
        aws.sm.create_model, ModelName=model_name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE}
    )
    assert (code, message[:36]) == ("ValidationException", "Cannot create already existing model")


def test_current_instance_types_are_accepted(aws: Clients) -> None:
    # Given a model, When a config uses an instance type moto's own list lacks
    name = f"config-{uid()}"
    arn = aws.sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "A", "ModelName": model(aws), "InitialInstanceCount": 1, "InstanceType": "ml.g5.xlarge"}
        ],
    )
    # Then it is created, with that instance type
    assert arn["EndpointConfigArn"] == f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/{name}"
    described = aws.sm.describe_endpoint_config(EndpointConfigName=name)
    assert [v["InstanceType"] for v in described["ProductionVariants"]] == ["ml.g5.xlarge"]


def test_list_models_and_configs_filter_paginate_and_delete(aws: Clients) -> None:
    # Given three models and configs sharing a unique infix
    infix = uid()
    models = []
    for i in range(3):
        models.append(f"m-{infix}-{i}")
        aws.sm.create_model(ModelName=models[-1], ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE})
    named = []
    for i, m in enumerate(models):
        named.append(f"c-{infix}-{i}")
        aws.sm.create_endpoint_config(
            EndpointConfigName=named[-1],
            ProductionVariants=[
                {"VariantName": "A", "ModelName": m, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
            ],
        )
    # When they are listed by name, two at a time
    pages = list(aws.sm.get_paginator("list_models").paginate(NameContains=infix, PaginationConfig={"PageSize": 2}))
    config_pages = list(
        aws.sm.get_paginator("list_endpoint_configs").paginate(NameContains=infix, PaginationConfig={"PageSize": 2})
    )
    # Then each lists exactly those, newest first (AWS's default order), over two pages
    assert [len(p["Models"]) for p in pages] == [2, 1]
    assert [m["ModelName"] for p in pages for m in p["Models"]] == models[::-1]
    assert [c["EndpointConfigName"] for p in config_pages for c in p["EndpointConfigs"]] == named[::-1]
    # And deleting removes them; deleting again is a ValidationException
    aws.sm.delete_model(ModelName=models[0])
    aws.sm.delete_endpoint_config(EndpointConfigName=named[0])
    assert [m["ModelName"] for m in aws.sm.list_models(NameContains=infix)["Models"]] == models[:0:-1]
    assert error_of(aws.sm.delete_model, ModelName=models[0])[0] == "ValidationException"
    assert error_of(aws.sm.delete_endpoint_config, EndpointConfigName=named[0])[0] == "ValidationException"


# ----------------------------------------------------------------------------- events


def test_deployment_state_change_events_reach_the_default_bus(aws: Clients) -> None:
    # Given a rule on the default bus sending endpoint deployment events of one endpoint to a queue
    name, old = endpoint(aws)
    queue_url = aws.sqs.create_queue(QueueName=f"q-{uid()}")["QueueUrl"]
    queue_arn = aws.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = f"deployments-{uid()}"
    aws.events.put_rule(
        Name=rule,
        EventPattern=json.dumps(
            {
                "source": ["aws.sagemaker"],
                "detail-type": ["SageMaker Endpoint Deployment State Change"],
                "resources": [endpoint_arn(name)],
            }
        ),
    )
    aws.events.put_targets(Rule=rule, Targets=[{"Id": "queue", "Arn": queue_arn}])
    # When the endpoint is updated to completion
    new = config(aws, model(aws, f"{IMAGE}:2"))
    aws.sm.update_endpoint(EndpointName=name, EndpointConfigName=new, DeploymentConfig=blue_green(CANARY))
    polls(aws, name, 4)
    # Then an UPDATING event (with the pending deployment) and an IN_SERVICE event arrived, shaped as on AWS
    events: list[dict[str, Any]] = []

    def both_arrived() -> bool:
        for message in aws.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
            events.append(json.loads(message["Body"]))
        return len(events) >= 2

    wait_for(both_arrived, timeout=5, interval=0.05, what="two deployment state change events")
    details = sorted((e["detail"] for e in events), key=lambda d: d["EndpointStatus"] != "UPDATING")
    assert [d["EndpointStatus"] for d in details] == ["UPDATING", "IN_SERVICE"]
    assert details[0]["EndpointConfigName"] == old
    assert details[0]["PendingDeploymentSummary"]["EndpointConfigName"] == new
    assert isinstance(details[0]["LastModifiedTime"], int)
    assert details[1]["EndpointConfigName"] == new and details[1]["Tags"] == {}
    assert all(e["source"] == "aws.sagemaker" and e["account"] == ACCOUNT for e in events)
