"""Staging and production accounts in the sandbox: where the staged routes of ``sandbox/routes.json`` deploy.

Each account (``STAGING_ACCOUNT_ID``, ``PRODUCTION_ACCOUNT_ID``) has its own administrator (what its owner would
use), and, created by it: the deployment role ModelRelay assumes (trust: the stack account with the ExternalId;
permissions: ``docs/policies/stage-deployment-role-*.json``, rendered by :mod:`policies` as the README shows them),
a SageMaker execution role, a multi-model endpoint with its bucket, a real-time endpoint (2 instances) with a guard
alarm. The hub account's administrator adds ``docs/policies/stage-hub-bucket-policy.json`` to the hub bucket, so
the stages read the hub copies. Seeded by ``environment.start`` into the one sandbox of the process.
"""

from __future__ import annotations

import json
from typing import Any

import boto3

from modelrelay_sandbox import environment, policies
from modelrelay_sandbox.moto_ext import iam_enforcement

STAGING_ACCOUNT_ID = "777788889999"
PRODUCTION_ACCOUNT_ID = "888899990000"
STAGE_ACCOUNTS = {"staging": STAGING_ACCOUNT_ID, "production": PRODUCTION_ACCOUNT_ID}
DEPLOYMENT_ROLE = "modelrelay-deployment"
EXECUTION_ROLE = "sagemaker-execution"
EXTERNAL_ID = "modelrelay-stages"
STAGE_MME = "stage-mme"  # the same name in both accounts: two endpoints
STAGE_ENDPOINT = "fraud-stage"
STAGE_ALARM = "fraud-stage-5xx"
_ADMIN_KEYS = {
    STAGING_ACCOUNT_ID: ("AKIAMODELRELAYSTGADM", "modelrelay-sandbox-staging-secret"),
    PRODUCTION_ACCOUNT_ID: ("AKIAMODELRELAYPRDADM", "modelrelay-sandbox-production-secret"),
}


def mme_bucket(account: str) -> str:
    return f"modelrelay-stage-mme-{account}"


def role_arn(account: str) -> str:
    return f"arn:aws:iam::{account}:role/{DEPLOYMENT_ROLE}"


def admin_session(account: str) -> boto3.Session:
    """The stage account's administrator."""
    key, secret = _ADMIN_KEYS[account]
    return environment.session(key, secret)


def client(account: str, service: str, endpoint_url: str) -> Any:
    return admin_session(account).client(service, endpoint_url=endpoint_url)


def policy_values(account: str) -> dict[str, Any]:
    """The documented stage policies' placeholders (docs/policies/stage-*.json) for one stage account."""
    return {
        "Partition": "aws",
        "Region": environment.REGION,
        "StackAccountId": environment.ACCOUNT_ID,
        "StageAccountId": account,
        "StageExternalId": EXTERNAL_ID,
        "HubAccountId": environment.HUB_ACCOUNT_ID,
        "HubBucket": environment.HUB_BUCKET,
        "HubGroup": environment.HUB_GROUP,
        "StageMmeBucket": mme_bucket(account),
        "StageEndpoint": [STAGE_MME, STAGE_ENDPOINT],
        "StageExecutionRoleArn": f"arn:aws:iam::{account}:role/{EXECUTION_ROLE}",
        "DeploymentRoleArn": [role_arn(a) for a in STAGE_ACCOUNTS.values()],
    }


def create_administrators() -> None:
    for account, (key, secret) in _ADMIN_KEYS.items():
        iam_enforcement.create_admin(account, environment.ADMIN_USER, key, secret)


def _seed_account(account: str, url: str) -> None:
    values = policy_values(account)
    iam = client(account, "iam", url)
    policies.create_documented_role(
        iam, DEPLOYMENT_ROLE, "stage-deployment-role-trust.json", "stage-deployment-role-permissions.json", **values
    )
    iam.create_role(RoleName=EXECUTION_ROLE, AssumeRolePolicyDocument=json.dumps(policies.SAGEMAKER_EXECUTION_TRUST))
    s3 = client(account, "s3", url)
    s3.create_bucket(Bucket=mme_bucket(account))
    sagemaker = client(account, "sagemaker", url)
    execution_role = values["StageExecutionRoleArn"]
    sagemaker.create_model(
        ModelName=f"{STAGE_MME}-model",
        ExecutionRoleArn=execution_role,
        PrimaryContainer={
            "Image": f"{account}.dkr.ecr.us-east-1.amazonaws.com/housing-inference:1",
            "Mode": "MultiModel",
            "ModelDataUrl": f"s3://{mme_bucket(account)}/models/",
        },
    )
    sagemaker.create_model(
        ModelName=f"{STAGE_ENDPOINT}-v0",
        ExecutionRoleArn=execution_role,
        PrimaryContainer={
            "Image": f"{account}.dkr.ecr.us-east-1.amazonaws.com/fraud-inference:1",
            "ModelDataUrl": f"s3://{mme_bucket(account)}/baseline/model.tar.gz",
        },
    )
    for name, model, count in ((STAGE_MME, f"{STAGE_MME}-model", 1), (STAGE_ENDPOINT, f"{STAGE_ENDPOINT}-v0", 2)):
        sagemaker.create_endpoint_config(
            EndpointConfigName=f"{name}-config",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": model,
                    "InitialInstanceCount": count,
                    "InstanceType": "ml.m5.large",
                    "InitialVariantWeight": 1.0,
                }
            ],
        )
        sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")
    client(account, "cloudwatch", url).put_metric_alarm(
        AlarmName=STAGE_ALARM,
        Namespace="AWS/SageMaker",
        MetricName="Invocation5XXErrors",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        Dimensions=[{"Name": "EndpointName", "Value": STAGE_ENDPOINT}, {"Name": "VariantName", "Value": "AllTraffic"}],
    )


def seed(url: str) -> None:
    """Both stage accounts, and the hub bucket's read grant to their deployment roles."""
    for account in STAGE_ACCOUNTS.values():
        _seed_account(account, url)
    environment.hub_admin_session().client("s3", endpoint_url=url).put_bucket_policy(
        Bucket=environment.HUB_BUCKET,
        Policy=json.dumps(policies.render("stage-hub-bucket-policy.json", **policy_values(STAGING_ACCOUNT_ID))),
    )
