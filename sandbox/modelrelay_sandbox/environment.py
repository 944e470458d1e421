"""The sandbox as a user sees it: moto server + extensions, seeded accounts, the real stack deployed.

Used by ``make demo`` / ``make sandbox*``, by tests/integration (in-process) and, through ``outputs.json``,
by tests/e2e. Two emulated accounts: the stack runs in ``ACCOUNT_ID``; the hub lives in ``HUB_ACCOUNT_ID`` and
is written only through the cross-account role (push pattern), as in a real hub-and-spoke setup.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from modelrelay_sandbox.deploy import REPO, Deployment, deploy_stack
from modelrelay_sandbox.moto_ext import api_destinations, cloudformation
from modelrelay_sandbox.server import SandboxServer, start_server

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account: what the test credentials below resolve to
HUB_ACCOUNT_ID = "222233334444"
ACCESS_KEY_ID = "AKIAMODELRELAYSANDBOX"
SECRET_ACCESS_KEY = "modelrelay-sandbox-secret"  # noqa: S105 - emulator credentials, documented in the README
HUB_ROLE_NAME = "modelrelay-hub-writer"
HUB_EXTERNAL_ID = "modelrelay-sandbox"
HUB_BUCKET = f"modelrelay-hub-{HUB_ACCOUNT_ID}"
HUB_GROUP = "modelrelay-hub"
MME_BUCKET = "modelrelay-sandbox-mme"
MME_ENDPOINT = "housing-mme"
DS_BUCKET = "modelrelay-sandbox-ds-artifacts"
CANARY_ENDPOINT = "fraud-canary"
CANARY_ALARMS = ("fraud-canary-5xx", "fraud-canary-latency")
STACK_NAME = "modelrelay"
ROUTES_FILE = REPO / "sandbox" / "routes.json"


def session(
    access_key: str = ACCESS_KEY_ID, secret: str = SECRET_ACCESS_KEY, token: str | None = None
) -> boto3.Session:
    return boto3.Session(
        aws_access_key_id=access_key, aws_secret_access_key=secret, aws_session_token=token, region_name=REGION
    )


def hub_session(endpoint_url: str) -> boto3.Session:
    """Credentials in the hub account, obtained the way ModelRelay obtains them: AssumeRole with ExternalId."""
    sts = session().client("sts", endpoint_url=endpoint_url)
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{HUB_ACCOUNT_ID}:role/{HUB_ROLE_NAME}",
        RoleSessionName="modelrelay-sandbox",
        ExternalId=HUB_EXTERNAL_ID,
    )["Credentials"]
    return session(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])


def _routes() -> dict[str, Any]:
    routes: dict[str, Any] = json.loads(ROUTES_FILE.read_text())
    return routes


def _seed_hub_account(endpoint_url: str) -> None:
    hub = hub_session(endpoint_url)
    iam = hub.client("iam", endpoint_url=endpoint_url)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": HUB_EXTERNAL_ID}},
            }
        ],
    }
    iam.create_role(RoleName=HUB_ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))
    hub.client("s3", endpoint_url=endpoint_url).create_bucket(Bucket=HUB_BUCKET)
    hub.client("s3", endpoint_url=endpoint_url).put_bucket_versioning(
        Bucket=HUB_BUCKET, VersioningConfiguration={"Status": "Enabled"}
    )
    hub.client("sagemaker", endpoint_url=endpoint_url).create_model_package_group(
        ModelPackageGroupName=HUB_GROUP, ModelPackageGroupDescription="ModelRelay hub registry (sandbox)"
    )


def _seed_spoke_account(endpoint_url: str) -> None:
    spoke = session()
    s3 = spoke.client("s3", endpoint_url=endpoint_url)
    for bucket in (MME_BUCKET, DS_BUCKET):
        s3.create_bucket(Bucket=bucket)
    sagemaker = spoke.client("sagemaker", endpoint_url=endpoint_url)
    for route in _routes()["routes"]:
        sagemaker.create_model_package_group(ModelPackageGroupName=route["model_package_group"])
    # A multi-model endpoint, created as on AWS: model (Mode MultiModel) -> endpoint config -> endpoint.
    sagemaker.create_model(
        ModelName=f"{MME_ENDPOINT}-model",
        PrimaryContainer={
            "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/housing-inference:1",
            "Mode": "MultiModel",
            "ModelDataUrl": f"s3://{MME_BUCKET}/models/",
        },
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/sagemaker-execution",
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=f"{MME_ENDPOINT}-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": f"{MME_ENDPOINT}-model",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=MME_ENDPOINT, EndpointConfigName=f"{MME_ENDPOINT}-config")
    # Real-time endpoints of the endpoint routes, 2 instances each (a canary or linear step must be at most half
    # the fleet). The canary endpoint's route names two alarms, which a user sets to ALARM with
    # `cloudwatch set-alarm-state` to see a rollback.
    for route in _routes()["routes"]:
        if route["target"]["kind"] != "endpoint":
            continue
        name = route["target"]["endpoint_name"]
        sagemaker.create_model(
            ModelName=f"{name}-v0",
            PrimaryContainer={
                "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-inference:1",
                "ModelDataUrl": f"s3://{DS_BUCKET}/{name}/v0/model.tar.gz",
            },
            ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/sagemaker-execution",
        )
        sagemaker.create_endpoint_config(
            EndpointConfigName=f"{name}-v0",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": f"{name}-v0",
                    "InitialInstanceCount": 2,
                    "InstanceType": "ml.m5.large",
                    "InitialVariantWeight": 1.0,
                }
            ],
        )
        sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-v0")
    cloudwatch = spoke.client("cloudwatch", endpoint_url=endpoint_url)
    for alarm, metric in zip(CANARY_ALARMS, ("Invocation5XXErrors", "ModelLatency"), strict=True):
        cloudwatch.put_metric_alarm(
            AlarmName=alarm,
            Namespace="AWS/SageMaker",
            MetricName=metric,
            Statistic="Maximum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            Dimensions=[
                {"Name": "EndpointName", "Value": CANARY_ENDPOINT},
                {"Name": "VariantName", "Value": "AllTraffic"},
            ],
        )


@dataclass
class SandboxEnvironment:
    server: SandboxServer
    deployment: Deployment
    outputs: dict[str, Any] = field(default_factory=dict)
    webhooks: Any = None  # the WebhookReceiver the stack's API destinations call

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.server.stop()
        if self.webhooks is not None:
            self.webhooks.stop()


def outputs_document(url: str, deployment: Deployment) -> dict[str, Any]:
    """The contract written to ``.sandbox/outputs.json`` (documented in the README)."""
    o = deployment.outputs
    groups = []
    for route in _routes()["routes"]:
        target = route["target"]
        groups.append(
            {
                "name": route["model_package_group"],
                "route": target["kind"],
                "endpoint_name": target["endpoint_name"],
                "model_name": target.get("model_name") or route["model_package_group"],
                "auto_approve": bool((route.get("ingest") or {}).get("auto_approve")),
            }
        )
    resolve = (
        f"aws --endpoint-url {url} --region {REGION} dynamodb get-item --table-name {o['StateTableName']} "
        f'--key \'{{"pk": {{"S": "pointer#{MME_ENDPOINT}#{{model}}"}}}}\' '
        "--query Item.current.M.target_model.S --output text"
    )
    return {
        "endpoint_url": url,
        "region": REGION,
        "access_key_id": ACCESS_KEY_ID,
        "secret_access_key": SECRET_ACCESS_KEY,
        "account_id": ACCOUNT_ID,
        "hub_account_id": HUB_ACCOUNT_ID,
        "hub_role_arn": f"arn:aws:iam::{HUB_ACCOUNT_ID}:role/{HUB_ROLE_NAME}",
        "hub_external_id": HUB_EXTERNAL_ID,
        "stack_name": deployment.stack_name,
        "ingest_bucket": o["IngestBucketName"],
        "ingest_prefix": "incoming/",
        "hub_bucket": HUB_BUCKET,
        "hub_model_package_group": HUB_GROUP,
        "mme": {"endpoint_name": MME_ENDPOINT, "bucket": MME_BUCKET, "prefix": "models/"},
        "groups": groups,
        "canary": {"endpoint_name": CANARY_ENDPOINT, "alarm_names": list(CANARY_ALARMS)},
        "state_machine_arn": o["PromotionStateMachineArn"],
        "state_table": o["StateTableName"],
        "notification_topic_arn": o["NotificationTopicArn"],
        "notifications_queue_url": o.get("SandboxNotificationsQueueUrl", ""),
        "dead_letter_queue_urls": [o["ApprovalDeadLetterQueueUrl"], o["IngestDeadLetterQueueUrl"]],
        "resolve_command": resolve,
    }


JENKINS_USER, JENKINS_TOKEN = "modelrelay-ci", "sandbox-jenkins-api-token"
CHAT_TOKEN = "sandbox-chat-token"  # noqa: S105 - emulator value


def webhook_parameters(receiver_url: str) -> dict[str, str]:
    """The webhook parameters of the sandbox stack: Jenkins and chat are the local receiver."""
    return {
        "JenkinsJobUrl": f"{receiver_url}/job/modelrelay-promoted/buildWithParameters",
        "JenkinsUser": JENKINS_USER,
        "JenkinsApiToken": JENKINS_TOKEN,
        "ChatWebhookUrl": f"{receiver_url}/services/T000/B000/chat",
        "ChatWebhookToken": CHAT_TOKEN,
    }


def webhook_outputs(receiver_url: str, deployment: Deployment) -> dict[str, str]:
    """outputs.json ``webhooks``: where the API destinations deliver, and where to read what they received."""
    return {
        "receiver_url": receiver_url,
        "requests_url": f"{receiver_url}/_requests",
        "jenkins_url": webhook_parameters(receiver_url)["JenkinsJobUrl"],
        "chat_url": webhook_parameters(receiver_url)["ChatWebhookUrl"],
        "dead_letter_queue_url": deployment.outputs.get("WebhookDeadLetterQueueUrl", ""),
    }


def start(port: int | None = None, state_dir: Path | None = None, build_dir: Path | None = None) -> SandboxEnvironment:
    """Start the emulator, seed both accounts, deploy the real template, subscribe a notifications queue."""
    cloudformation.apply()
    kwargs: dict[str, Any] = {"port": port}
    if state_dir is not None:
        kwargs["state_dir"] = state_dir
    server = start_server(**kwargs)
    webhooks = api_destinations.WebhookReceiver()  # Jenkins and chat, as the stack's API destinations
    try:
        url = server.url
        _seed_hub_account(url)
        _seed_spoke_account(url)
        groups = ",".join(r["model_package_group"] for r in _routes()["routes"])
        deployment = deploy_stack(
            session(),
            url,
            STACK_NAME,
            {
                "WatchedModelPackageGroups": groups,
                "MmeArtifactBuckets": MME_BUCKET,
                "SourceArtifactBuckets": DS_BUCKET,
                "HubBucketName": HUB_BUCKET,
                "HubModelPackageGroupName": HUB_GROUP,
                "HubRoleArn": f"arn:aws:iam::{HUB_ACCOUNT_ID}:role/{HUB_ROLE_NAME}",
                "HubExternalId": HUB_EXTERNAL_ID,
                **webhook_parameters(webhooks.url),
            },
            ROUTES_FILE,
            build_dir=build_dir,
        )
        # What a person would be told, readable by scripts: an SQS queue subscribed to the topic.
        sqs = session().client("sqs", endpoint_url=url)
        queue_url = sqs.create_queue(QueueName="modelrelay-sandbox-notifications")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        session().client("sns", endpoint_url=url).subscribe(
            TopicArn=deployment.outputs["NotificationTopicArn"],
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        deployment.outputs["SandboxNotificationsQueueUrl"] = queue_url
    except BaseException:
        server.stop()
        webhooks.stop()
        raise
    outputs = outputs_document(url, deployment) | {"webhooks": webhook_outputs(webhooks.url, deployment)}
    return SandboxEnvironment(server=server, deployment=deployment, outputs=outputs, webhooks=webhooks)


def wait_for(predicate: Any, timeout: float = 60.0, interval: float = 0.2, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
