"""Least privilege, proven on the sandbox with IAM enforced (issue 9): each role does its work (every other
integration test runs under enforcement) and cannot do what it must not. Every request below is signed with the
role's own temporary credentials, obtained the way Lambda obtains them for the function."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from modelrelay.domain.hub import hub_group_name
from modelrelay_sandbox import environment
from modelrelay_sandbox.moto_ext import iam_enforcement
from modelrelay_sandbox.moto_ext.lambda_runtime.credentials import role_credentials
from tests.integration.conftest import Stack

FUNCTIONS = (
    "IngestFunction",
    "PreparePromotionFunction",
    "RegisterInHubFunction",
    "StageOnMmeFunction",
    "RecordOutcomeFunction",
    "RolloutStepFunction",
)
ACCESS_DENIED = {"AccessDenied", "AccessDeniedException"}
ROUTED_GROUP = "housing-newyork-ny"


@pytest.fixture(scope="module")
def roles(stack: Stack) -> dict[str, str]:
    """Execution role ARN of each of the stack's functions, by logical id."""
    found: dict[str, str] = {}
    for page in stack.client("lambda").get_paginator("list_functions").paginate():
        for function in page["Functions"]:
            for logical_id in FUNCTIONS:
                if f"-{logical_id}-" in function["FunctionName"]:
                    found[logical_id] = function["Role"]
    assert set(found) == set(FUNCTIONS), found
    return found


@pytest.fixture(scope="module")
def act_as(stack: Stack, roles: dict[str, str]) -> Callable[[str, str], Any]:
    """A client signed with the temporary credentials of a function's execution role."""

    def client(logical_id: str, service: str) -> Any:
        creds = role_credentials(environment.ACCOUNT_ID, environment.REGION, roles[logical_id], logical_id)
        return boto3.client(
            service,
            region_name=environment.REGION,
            endpoint_url=stack.env.url,
            aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=creds["AWS_SESSION_TOKEN"],
        )

    return client


def denied(call: Callable[[], Any]) -> str:
    """Run ``call``; it must be refused by IAM. Returns AWS's message (it names the action)."""
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response["Error"]
    assert error["Code"] in ACCESS_DENIED, error
    return str(error.get("Message", ""))


def test_the_sandbox_enforces_iam(stack: Stack) -> None:
    # Given the integration sandbox, Then IAM is enforced (the default), so every test here and elsewhere counts
    assert iam_enforcement.enforcing()


def test_unknown_credentials_are_refused(stack: Stack) -> None:
    # Given made-up keys, When they call AWS, Then AWS refuses them as unknown
    made_up = boto3.client(
        "sts",
        region_name=environment.REGION,
        endpoint_url=stack.env.url,
        aws_access_key_id="AKIAMADEUPMADEUP1234",
        aws_secret_access_key="made-up",
    )
    with pytest.raises(ClientError) as raised:
        made_up.get_caller_identity()
    assert raised.value.response["Error"]["Code"] == "InvalidClientTokenId"


def test_ingest_cannot_write_under_the_mme_or_hub_prefixes(stack: Stack, act_as: Callable[[str, str], Any]) -> None:
    # Given the ingest function's role
    s3 = act_as("IngestFunction", "s3")
    mme = stack.out["mme"]
    # When it writes onto the MME's prefix, or into the hub bucket, Then IAM refuses it (S3 says only "Access Denied")
    denied(lambda: s3.put_object(Bucket=mme["bucket"], Key=f"{mme['prefix']}NewYork_NY/evil.tar.gz", Body=b"x"))
    denied(lambda: s3.put_object(Bucket=stack.out["hub_bucket"], Key="artifacts/evil.tar.gz", Body=b"x"))
    # And it may write where its work is: the registered copies under the ingest bucket's registered/ prefix
    s3.put_object(Bucket=stack.out["ingest_bucket"], Key="registered/least-privilege/probe", Body=b"x")


def test_ingest_cannot_create_packages_in_a_group_without_a_route(
    stack: Stack, act_as: Callable[[str, str], Any]
) -> None:
    # Given a model package group no route names (created by the account's administrator)
    stack.client("sagemaker").create_model_package_group(ModelPackageGroupName="unrouted-least-privilege")
    sagemaker = act_as("IngestFunction", "sagemaker")
    # When the ingest role creates a package in it, Then IAM refuses it
    message = denied(
        lambda: sagemaker.create_model_package(
            ModelPackageGroupName="unrouted-least-privilege",
            ModelApprovalStatus="PendingManualApproval",
            InferenceSpecification={
                "Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
        )
    )
    assert "sagemaker:CreateModelPackage" in message


@pytest.mark.parametrize("logical_id", ["RolloutStepFunction", "RecordOutcomeFunction", "PreparePromotionFunction"])
def test_promotion_functions_cannot_update_an_endpoint_no_route_names(
    act_as: Callable[[str, str], Any], logical_id: str
) -> None:
    # Given a promotion function's role, When it updates an endpoint that no route names
    sagemaker = act_as(logical_id, "sagemaker")
    # Then IAM refuses it (before SageMaker even looks for the endpoint)
    message = denied(
        lambda: sagemaker.update_endpoint(EndpointName="payments-prod", EndpointConfigName="payments-prod-evil")
    )
    assert "sagemaker:UpdateEndpoint" in message


def test_the_rollout_cannot_pass_a_role_that_is_not_an_endpoint_execution_role(
    act_as: Callable[[str, str], Any],
) -> None:
    # Given the rollout function's role, When it creates a model it may create (named as its own are, after the
    # route's endpoint) with an administrator role as the model's execution role
    sagemaker = act_as("RolloutStepFunction", "sagemaker")
    message = denied(
        lambda: sagemaker.create_model(
            ModelName="fraud-canary-000000000000-least-privilege",
            ExecutionRoleArn=f"arn:aws:iam::{environment.ACCOUNT_ID}:role/OrganizationAccountAccessRole",
            PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"},
        )
    )
    # Then passing that role is refused
    assert "iam:PassRole" in message


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_nothing_but_the_hub_role_writes_the_hub(
    stack: Stack, act_as: Callable[[str, str], Any], logical_id: str
) -> None:
    # Given a function's own role (not the hub role it may assume)
    hub_group = hub_group_name(stack.out["hub_model_package_group"], ROUTED_GROUP)
    # When it writes the hub's bucket or registry directly, Then IAM refuses it (cross-account, no grant)
    denied(
        lambda: act_as(logical_id, "s3").put_object(
            Bucket=stack.out["hub_bucket"], Key=f"artifacts/{ROUTED_GROUP}/evil.tar.gz", Body=b"x"
        )
    )
    hub_arn = f"arn:aws:sagemaker:{environment.REGION}:{environment.HUB_ACCOUNT_ID}"
    denied(
        lambda: act_as(logical_id, "sagemaker").update_model_package(
            ModelPackageArn=f"{hub_arn}:model-package/{hub_group}/1", ModelApprovalStatus="Approved"
        )
    )


@pytest.mark.parametrize(("external_id", "allowed"), [("wrong-id", False), (None, False), ("right", True)])
def test_the_hub_role_is_assumed_only_with_its_external_id(
    stack: Stack, act_as: Callable[[str, str], Any], external_id: str | None, allowed: bool
) -> None:
    # Given the function that writes the hub, and the hub role's trust policy (docs/policies/hub-role-trust.json)
    sts = act_as("RegisterInHubFunction", "sts")
    request: dict[str, Any] = {"RoleArn": stack.out["hub_role_arn"], "RoleSessionName": "least-privilege"}
    if external_id is not None:
        request["ExternalId"] = environment.HUB_EXTERNAL_ID if external_id == "right" else external_id
    # When it assumes the hub role, Then only the right ExternalId gets credentials
    if allowed:
        assert sts.assume_role(**request)["Credentials"]["AccessKeyId"]
    else:
        denied(lambda: sts.assume_role(**request))


def test_a_function_not_granted_the_hub_role_cannot_assume_it(stack: Stack, act_as: Callable[[str, str], Any]) -> None:
    # Given a role of the trusted account whose own policy does not grant sts:AssumeRole on the hub role (the ingest
    # function's: the trust policy delegates to the account, so its identity policy decides), with the right ExternalId
    sts = act_as("IngestFunction", "sts")
    # When it assumes the hub role, Then it is refused
    denied(
        lambda: sts.assume_role(
            RoleArn=stack.out["hub_role_arn"],
            RoleSessionName="least-privilege",
            ExternalId=environment.HUB_EXTERNAL_ID,
        )
    )


def test_denials_are_recorded_in_the_decision_log(stack: Stack, act_as: Callable[[str, str], Any]) -> None:
    # Given a refused request
    s3 = act_as("IngestFunction", "s3")
    denied(lambda: s3.put_object(Bucket=stack.out["mme"]["bucket"], Key="models/evil.tar.gz", Body=b"x"))
    # Then the decision log has it, with the role and the action
    log = iam_enforcement.decision_log.path()
    assert log is not None
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(
        d["decision"] == "Deny" and d["action"] == "s3:PutObject" and "IngestFunction" in d["principal"] for d in lines
    )
