"""Endpoint rollouts as AWS runs them, through the real stack: a real-shaped endpoint (VPC, network isolation,
KMS key, data capture, 2 instances; events/sagemaker/endpoint-vpc-kms/) keeps every setting across a promotion;
a deployment whose new fleet fails is reported Failed/deployment_failed with nothing left half-written; a hub
package SageMaker has not finished is waited for."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from modelrelay_sandbox.artifact_factory import good_artifact
from modelrelay_sandbox.environment import DS_BUCKET, VPC_ENDPOINT, VPC_ENDPOINT_FIXTURE
from modelrelay_sandbox.moto_ext import sagemaker_package_status
from tests.integration.conftest import Stack
from tests.integration.test_rollout import outcome_of

GROUP = "fraud-realtime-vpc"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-inference:2"
FAILING_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-inference:fail-deployment"
READ_ONLY = ("EndpointConfigName", "EndpointConfigArn", "CreationTime", "ResponseMetadata")


def fixture(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((Path(VPC_ENDPOINT_FIXTURE) / f"{name}.json").read_text())
    return document


def approved_package(stack: Stack, image: str = IMAGE) -> tuple[str, str]:
    """A package registered elsewhere (the SDK way) and approved at once: (its ARN, its artifact's SHA-256)."""
    data = good_artifact({"model.joblib": uuid.uuid4().bytes * 64})
    key = f"fraud-vpc/{uuid.uuid4()}/model.tar.gz"
    stack.client("s3").put_object(Bucket=DS_BUCKET, Key=key, Body=data)
    arn: str = stack.client("sagemaker").create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": image, "ModelDataUrl": f"s3://{DS_BUCKET}/{key}"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    return arn, hashlib.sha256(data).hexdigest()


def tags(stack: Stack, arn: str) -> list[dict[str, str]]:
    found: list[dict[str, str]] = stack.client("sagemaker").list_tags(ResourceArn=arn)["Tags"]
    return found


def serving(stack: Stack) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(DescribeEndpoint, DescribeEndpointConfig, DescribeModel) of what the VPC endpoint serves now."""
    sm = stack.client("sagemaker")
    endpoint = sm.describe_endpoint(EndpointName=VPC_ENDPOINT)
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    model = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    return endpoint, config, model


def failed_attempts(stack: Stack, execution_arn: str, error: str) -> int:
    events = stack.client("stepfunctions").get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    return sum(1 for event in events if error in json.dumps(event, default=str) and "Failed" in event["type"])


def lease(stack: Stack) -> dict[str, Any] | None:
    item: dict[str, Any] | None = (
        stack.client("dynamodb")
        .get_item(TableName=stack.out["state_table"], Key={"pk": {"S": f"lease#{VPC_ENDPOINT}"}}, ConsistentRead=True)
        .get("Item")
    )
    return item


def test_the_sandbox_endpoint_is_the_fixture(stack: Stack) -> None:
    # The sandbox created fraud-vpc from the AWS-shaped responses: it describes back the same settings
    endpoint, config, model = serving(stack)
    if endpoint["EndpointConfigName"] != fixture("describe-endpoint")["EndpointConfigName"]:
        pytest.skip("the endpoint was already rolled by an earlier test")
    expected_model = {k: v for k, v in fixture("describe-model").items() if k != "CreationTime"}
    assert {k: v for k, v in model.items() if k in expected_model} == expected_model
    expected_config = {k: v for k, v in fixture("describe-endpoint-config").items() if k != "CreationTime"}
    assert {k: v for k, v in config.items() if k in expected_config} == expected_config
    expected = fixture("describe-endpoint")
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["DataCaptureConfig"] == expected["DataCaptureConfig"]
    variant, expected_variant = endpoint["ProductionVariants"][0], expected["ProductionVariants"][0]
    for key in ("VariantName", "CurrentInstanceCount", "DesiredInstanceCount", "CurrentWeight", "DesiredWeight"):
        assert variant[key] == expected_variant[key], key
    assert tags(stack, model["ModelArn"]) == fixture("list-tags-model")["Tags"]


def test_a_promotion_onto_the_vpc_kms_endpoint_keeps_every_setting_of_the_serving_model_and_config(
    stack: Stack,
) -> None:
    # Given the endpoint as it serves now
    _, old_config, old_model = serving(stack)
    old_model_tags = [t for t in tags(stack, old_model["ModelArn"]) if not t["Key"].startswith("modelrelay:")]
    old_config_tags = [
        t for t in tags(stack, old_config["EndpointConfigArn"]) if not t["Key"].startswith("modelrelay:")
    ]
    # When an approved package is promoted onto it through the real state machine
    arn, sha = approved_package(stack)
    executions = stack.settled_executions(arn, timeout=180)
    # Then it serves the new model
    assert [e["status"] for e in executions] == ["SUCCEEDED"]
    endpoint, config, model = serving(stack)
    assert endpoint["EndpointStatus"] == "InService" and sha[:12] in endpoint["EndpointConfigName"]
    hub_package = stack.describe(arn)["CustomerMetadataProperties"]["modelrelay:hub-package"]
    # a model built from the hub package, running as and where the old one ran
    assert model["Containers"][0]["ModelPackageName"] == hub_package
    for key in ("ExecutionRoleArn", "VpcConfig", "EnableNetworkIsolation"):
        assert model[key] == old_model[key], key
    assert model["EnableNetworkIsolation"] is True and model["VpcConfig"] == fixture("describe-model")["VpcConfig"]
    new_model_tags = tags(stack, model["ModelArn"])
    assert [t for t in new_model_tags if not t["Key"].startswith("modelrelay:")] == old_model_tags
    assert {"Key": "modelrelay:package", "Value": arn} in new_model_tags
    # an endpoint config equal to the old one except its name and the model (KMS key, data capture, variant settings)
    same = {k: v for k, v in old_config.items() if k not in READ_ONLY}
    same["ProductionVariants"] = [v | {"ModelName": model["ModelName"]} for v in old_config["ProductionVariants"]]
    assert {k: v for k, v in config.items() if k not in READ_ONLY} == same
    assert config["KmsKeyId"] == fixture("describe-endpoint-config")["KmsKeyId"]
    assert config["DataCaptureConfig"] == fixture("describe-endpoint-config")["DataCaptureConfig"]
    config_tags = tags(stack, config["EndpointConfigArn"])
    assert [t for t in config_tags if not t["Key"].startswith("modelrelay:")] == old_config_tags
    assert lease(stack) is None


def test_a_deployment_whose_new_fleet_fails_is_failed_deployment_failed_and_nothing_is_left_half_written(
    stack: Stack,
) -> None:
    # Given the endpoint in service, and an approved package whose container fails its health check
    before, _, _ = serving(stack)
    models_before = {m["ModelName"] for m in stack.client("sagemaker").list_models(MaxResults=100)["Models"]}
    arn, sha = approved_package(stack, image=FAILING_IMAGE)
    # When it is rolled out
    executions = stack.settled_executions(arn, timeout=180)
    # Then the execution failed (never success, never "rolled back"), as a failed deployment quoting SageMaker
    assert [(e["status"], e.get("error")) for e in executions] == [("FAILED", "PromotionFailed")]
    outcome = outcome_of(stack, executions[0]["executionArn"])
    assert outcome["outcome"] == "Failed" and outcome["detail_type"] == "Rollout Failed"
    detail = outcome["detail"]
    assert detail["reason"] == "deployment_failed" and detail["alarms"] == []
    assert "did not pass the ping health check" in detail["failure_reason"]
    assert f'"{detail["failure_reason"]}"' in detail["message"]  # SageMaker's words, quoted
    metadata = stack.describe(arn)["CustomerMetadataProperties"]
    assert metadata["modelrelay:rollout"] == "Failed"
    assert metadata["modelrelay:rollout-reason"].startswith("deployment_failed: ")
    # And the endpoint is back in service on its old config (as AWS leaves it), with SageMaker's reason
    after = stack.client("sagemaker").describe_endpoint(EndpointName=VPC_ENDPOINT)
    assert after["EndpointStatus"] == "InService"
    assert after["EndpointConfigName"] == before["EndpointConfigName"]
    assert "ping health check" in after["FailureReason"]
    # And nothing is half-written: the new endpoint config and model were deleted, the lease released
    sm = stack.client("sagemaker")
    assert sm.list_endpoint_configs(NameContains=sha[:12])["EndpointConfigs"] == []
    assert sm.list_models(NameContains=sha[:12])["Models"] == []
    assert {m["ModelName"] for m in sm.list_models(MaxResults=100)["Models"]} == models_before
    assert lease(stack) is None


def test_a_hub_package_sagemaker_has_not_finished_is_waited_for_then_rolled_out(stack: Stack) -> None:
    # Given hub packages that SageMaker reports InProgress for their first describes (as it validates and scans)
    sagemaker_package_status.configure(describes=3, group=stack.hub_group(GROUP))
    try:
        arn, sha = approved_package(stack)
        # When the package is promoted
        executions = stack.settled_executions(arn, timeout=180)
    finally:
        sagemaker_package_status.configure()
    # Then StartRollout waited (HubPackageNotReady, retried by the state machine) and the rollout then succeeded
    assert [e["status"] for e in executions] == ["SUCCEEDED"]
    assert failed_attempts(stack, executions[0]["executionArn"], "HubPackageNotReady") >= 1
    hub_package = stack.describe(arn)["CustomerMetadataProperties"]["modelrelay:hub-package"]
    assert stack.describe(hub_package, hub=True)["ModelPackageStatus"] == "Completed"
    endpoint, _, model = serving(stack)
    assert sha[:12] in endpoint["EndpointConfigName"]
    assert model["Containers"][0]["ModelPackageName"] == hub_package
