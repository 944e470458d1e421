"""Pull mode in the sandbox: ModelRelay in a hub account, two data-science spokes forwarding to it, one that is not
listed, all in the running sandbox's moto server (accounts are per credentials).

- the hub (``PULL_HUB_ACCOUNT_ID``): the real ``template.yaml`` deployed with ``HubMode=pull`` and
  ``SpokeAccountIds`` = the two spokes (stack ``modelrelay-pull``, routes ``sandbox/routes-pull.json``), its MME;
- each spoke (``SPOKE_ACCOUNT_IDS``, and ``UNLISTED_SPOKE_ACCOUNT_ID``, which the hub does not list): the real
  ``spoke/template.yaml`` (stack ``modelrelay-spoke``), a versioned artifact bucket and a model package group with
  the hub's read grant. The grants are the documented ones (``docs/policies/pull-spoke-*.json``): the first spoke's
  bucket policy comes from the spoke stack (``ArtifactBucketName``), the others' from the documented statements;
  each group's policy is the documented one, applied as a user applies it to a group the SDK created.

Deployed next to the push sandbox (``environment.start``), so one process still runs one sandbox.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import boto3

from modelrelay import derive
from modelrelay.config import load_routing_config
from modelrelay_sandbox import environment, policies
from modelrelay_sandbox.deploy import REPO, Deployment, deploy_stack
from modelrelay_sandbox.moto_ext import iam_enforcement

PULL_HUB_ACCOUNT_ID = "333344445555"
SPOKE_ACCOUNT_IDS = ("444455556666", "555566667777")
UNLISTED_SPOKE_ACCOUNT_ID = "666677778888"
PULL_STACK_NAME = "relay-hub"  # moto names the archive <stack>-<logical id>-<12>: at most 48
SPOKE_STACK_NAME = "modelrelay-spoke"
PULL_HUB_GROUP = "modelrelay-pull-hub"
PULL_ROUTES_FILE = REPO / "sandbox" / "routes-pull.json"
SPOKE_TEMPLATE = REPO / "spoke" / "template.yaml"
PULL_MME_ENDPOINT = "pull-mme"
PULL_MME_BUCKET = "modelrelay-pull-mme"


def spoke_bucket(account: str) -> str:
    return f"modelrelay-spoke-artifacts-{account}"


def spoke_group(account: str) -> str:
    """The group each spoke's data scientists register into (the hub routes ``churn-*``)."""
    return f"churn-{account[:4]}"


def account_session(endpoint_url: str, account: str) -> boto3.Session:
    """Credentials in ``account``: its administrator's (an IAM user with ``*`` on ``*``, created on first use), as
    whoever deploys there would have. Works with IAM enforced: nothing is assumed across accounts."""
    if account == environment.ACCOUNT_ID:
        return environment.session()
    key, secret = f"AKIASBX{account}0", f"modelrelay-sandbox-admin-{account}"
    iam_enforcement.create_admin(account, environment.ADMIN_USER, key, secret)
    return environment.session(key, secret)


def policy_values(spoke: str) -> dict[str, Any]:
    """The documented pull-mode policies' placeholders (docs/policies/pull-*.json) for one spoke."""
    return {
        "Partition": "aws",
        "Region": environment.REGION,
        "HubAccountId": PULL_HUB_ACCOUNT_ID,
        "SpokeAccountId": spoke,
        "ModelPackageGroup": spoke_group(spoke),
        "SpokeArtifactBucket": spoke_bucket(spoke),
        "StackName": PULL_STACK_NAME,
    }


@dataclass
class PullTopology:
    url: str
    hub: Deployment
    spokes: dict[str, Deployment] = field(default_factory=dict)
    notifications_queue_url: str = ""

    def session(self, account: str) -> boto3.Session:
        return account_session(self.url, account)

    def client(self, account: str, service: str) -> Any:
        return self.session(account).client(service, endpoint_url=self.url)


def _seed_hub(url: str) -> None:
    hub = account_session(url, PULL_HUB_ACCOUNT_ID)
    s3 = hub.client("s3", endpoint_url=url)
    s3.create_bucket(Bucket=PULL_MME_BUCKET)
    sagemaker = hub.client("sagemaker", endpoint_url=url)
    sagemaker.create_model(
        ModelName=f"{PULL_MME_ENDPOINT}-model",
        ExecutionRoleArn=f"arn:aws:iam::{PULL_HUB_ACCOUNT_ID}:role/sagemaker-execution",
        PrimaryContainer={
            "Image": f"{PULL_HUB_ACCOUNT_ID}.dkr.ecr.us-east-1.amazonaws.com/churn-inference:1",
            "Mode": "MultiModel",
            "ModelDataUrl": f"s3://{PULL_MME_BUCKET}/models/",
        },
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=f"{PULL_MME_ENDPOINT}-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": f"{PULL_MME_ENDPOINT}-model",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=PULL_MME_ENDPOINT, EndpointConfigName=f"{PULL_MME_ENDPOINT}-config")


def _seed_spoke(url: str, spoke: str, *, stack_bucket_policy: bool) -> Deployment:
    session = account_session(url, spoke)
    s3 = session.client("s3", endpoint_url=url)
    bucket = spoke_bucket(spoke)
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    values = policy_values(spoke)
    if not stack_bucket_policy:
        s3.put_bucket_policy(
            Bucket=bucket, Policy=json.dumps(policies.render("pull-spoke-bucket-policy.json", **values))
        )
    # A group as the SDK creates it, then the documented read grant for the hub account.
    sagemaker = session.client("sagemaker", endpoint_url=url)
    sagemaker.create_model_package_group(ModelPackageGroupName=spoke_group(spoke))
    sagemaker.put_model_package_group_policy(
        ModelPackageGroupName=spoke_group(spoke),
        ResourcePolicy=json.dumps(policies.render("pull-spoke-group-policy.json", **values)),
    )
    return deploy_stack(
        session,
        url,
        SPOKE_STACK_NAME,
        {"HubAccountId": PULL_HUB_ACCOUNT_ID, "ArtifactBucketName": bucket if stack_bucket_policy else ""},
        PULL_ROUTES_FILE,
        template_path=SPOKE_TEMPLATE,
    )


def deploy(url: str, spokes: tuple[str, ...] = (*SPOKE_ACCOUNT_IDS, UNLISTED_SPOKE_ACCOUNT_ID)) -> PullTopology:
    """Deploy the pull-mode hub and its spokes (by default both listed spokes and the unlisted one; ``make demo``
    deploys one) into the running sandbox at ``url``."""
    _seed_hub(url)
    hub_session = account_session(url, PULL_HUB_ACCOUNT_ID)
    hub = deploy_stack(
        hub_session,
        url,
        PULL_STACK_NAME,
        {
            **derive.parameters(load_routing_config(PULL_ROUTES_FILE)),
            "HubMode": "pull",
            "EndpointExecutionRoleArns": f"arn:aws:iam::{PULL_HUB_ACCOUNT_ID}:role/sagemaker-execution",
            "SpokeAccountIds": ",".join(SPOKE_ACCOUNT_IDS),
            "HubModelPackageGroupName": PULL_HUB_GROUP,
        },
        PULL_ROUTES_FILE,
    )
    topology = PullTopology(url=url, hub=hub)
    for index, spoke in enumerate(spokes):
        topology.spokes[spoke] = _seed_spoke(url, spoke, stack_bucket_policy=index == 0)
    sqs = hub_session.client("sqs", endpoint_url=url)
    queue_url = sqs.create_queue(QueueName="modelrelay-pull-notifications")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    hub_session.client("sns", endpoint_url=url).subscribe(
        TopicArn=hub.outputs["NotificationTopicArn"],
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    topology.notifications_queue_url = queue_url
    return topology
