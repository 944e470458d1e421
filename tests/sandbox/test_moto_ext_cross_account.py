"""Cross-account model packages (moto_ext.cross_account): CreateModel from another account's package succeeds only
when the package's group policy allows the caller's account, as SageMaker does (moto creates it regardless)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from modelrelay_sandbox.moto_ext import iam_enforcement
from modelrelay_sandbox.server import SandboxServer, start_server

REGION = "us-east-1"
OWNER, CONSUMER, OTHER = "311122223333", "411122223333", "511122223333"
KEYS = {
    OWNER: ("AKIAXACCOUNTOWNER001", "x-account-owner-secret"),
    CONSUMER: ("AKIAXACCOUNTCONSUM01", "x-account-consumer-secret"),
    OTHER: ("AKIAXACCOUNTOTHER001", "x-account-other-secret"),
}
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/xgboost:1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    sandbox = start_server(port=None, state_dir=tmp_path_factory.mktemp("cross-account"))
    for account, (key, secret) in KEYS.items():
        iam_enforcement.create_admin(account, "admin", key, secret)
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture(scope="module")
def sagemaker_of(server: SandboxServer) -> Callable[[str], Any]:
    def client(account: str) -> Any:
        key, secret = KEYS[account]
        return boto3.client(
            "sagemaker",
            endpoint_url=server.url,
            region_name=REGION,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
        )

    return client


def _package(owner: Any) -> tuple[str, str]:
    group = f"shared-{uuid.uuid4().hex[:8]}"
    owner.create_model_package_group(ModelPackageGroupName=group)
    arn: str = owner.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://hub/artifacts/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    return group, arn


def _allow(owner: Any, group: str, *accounts: str) -> None:
    principals = [f"arn:aws:iam::{a}:root" for a in accounts]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": principals[0] if len(principals) == 1 else principals},
                "Action": ["sagemaker:DescribeModelPackage"],
                "Resource": f"arn:aws:sagemaker:{REGION}:{OWNER}:model-package/{group}/*",
            }
        ],
    }
    owner.put_model_package_group_policy(ModelPackageGroupName=group, ResourcePolicy=json.dumps(policy))


def _create_model(client: Any, package_arn: str, account: str = CONSUMER) -> str:
    name = f"m-{uuid.uuid4().hex[:8]}"
    client.create_model(
        ModelName=name,
        ExecutionRoleArn=f"arn:aws:iam::{account}:role/sagemaker-execution",  # the caller's own (iam:PassRole)
        Containers=[{"ModelPackageName": package_arn}],
    )
    return name


def test_create_model_from_another_accounts_package_needs_its_group_policy(
    sagemaker_of: Callable[[str], Any],
) -> None:
    owner, consumer = sagemaker_of(OWNER), sagemaker_of(CONSUMER)
    # Given a package in the owner's account whose group has no resource policy
    group, arn = _package(owner)
    # When another account builds a model from it, Then SageMaker refuses, naming the action and the package
    with pytest.raises(ClientError) as refused:
        _create_model(consumer, arn)
    error = refused.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert "sagemaker:DescribeModelPackage" in error["Message"] and arn in error["Message"]
    # And no model was created
    assert consumer.list_models(NameContains="m-")["Models"] == []
    # When the group policy allows a third account only, Then it is still refused
    _allow(owner, group, OTHER)
    with pytest.raises(ClientError) as still:
        _create_model(consumer, arn)
    assert still.value.response["Error"]["Code"] == "AccessDeniedException"
    # When the group policy allows the consumer (among others), Then the model is built from the package
    _allow(owner, group, OTHER, CONSUMER)
    name = _create_model(consumer, arn)
    assert consumer.describe_model(ModelName=name)["Containers"][0]["ModelPackageName"] == arn
    # And the third account too
    assert _create_model(sagemaker_of(OTHER), arn, OTHER)


def test_create_model_from_an_own_package_needs_no_group_policy(sagemaker_of: Callable[[str], Any]) -> None:
    # Given a package in the caller's own account, with no group policy
    owner = sagemaker_of(OWNER)
    _, arn = _package(owner)
    # When the owner builds a model from it, Then it is created
    name = _create_model(owner, arn, OWNER)
    assert owner.describe_model(ModelName=name)["ModelName"] == name
