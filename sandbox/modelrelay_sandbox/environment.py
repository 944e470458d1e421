"""The sandbox as a user sees it: moto server + extensions, seeded accounts, the real stack deployed.

Used by ``make demo`` / ``make sandbox*``, by tests/integration (in-process) and, through ``outputs.json``,
by tests/e2e. Two emulated accounts: the stack runs in ``ACCOUNT_ID``; the hub lives in ``HUB_ACCOUNT_ID`` and
is written only through the cross-account role (push pattern), as in a real hub-and-spoke setup.
"""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from modelrelay import derive
from modelrelay.config import load_routing_config
from modelrelay_sandbox import policies
from modelrelay_sandbox.deploy import REPO, Deployment, deploy_stack
from modelrelay_sandbox.moto_ext import api_destinations, cloudformation, iam_enforcement
from modelrelay_sandbox.server import SandboxServer, start_server

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account: what the test credentials below resolve to
HUB_ACCOUNT_ID = "222233334444"
ACCESS_KEY_ID = "AKIAMODELRELAYSANDBOX"
SECRET_ACCESS_KEY = "modelrelay-sandbox-secret"  # noqa: S105 - emulator credentials, documented in the README
# The administrators the sandbox's own bootstrap (seeding, the CloudFormation deploy) and its test clients sign
# with: IAM users with "*" on "*", created at start in each account (what enforced IAM needs; see iam_enforcement).
ADMIN_USER = "modelrelay-sandbox-admin"
HUB_ADMIN_ACCESS_KEY_ID = "AKIAMODELRELAYHUBADM"
HUB_ADMIN_SECRET_ACCESS_KEY = "modelrelay-sandbox-hub-secret"  # noqa: S105 - emulator credentials
IAM_USAGE_LOG = "iam-usage.jsonl"  # under the state dir: the decision log of enforced IAM
HUB_ROLE_NAME = "modelrelay-hub-writer"
# The SageMaker execution role of the sandbox's endpoints' models: a rollout passes it to CreateModel, so the stack
# is deployed with it in EndpointExecutionRoleArns (iam:PassRole is granted on nothing else).
ENDPOINT_EXECUTION_ROLE_NAME = "sagemaker-execution"
HUB_EXTERNAL_ID = "modelrelay-sandbox"
HUB_BUCKET = f"modelrelay-hub-{HUB_ACCOUNT_ID}"
HUB_GROUP = "modelrelay-hub"
MME_BUCKET = "modelrelay-sandbox-mme"
MME_ENDPOINT = "housing-mme"
DS_BUCKET = "modelrelay-sandbox-ds-artifacts"
CANARY_ENDPOINT = "fraud-canary"
CANARY_ALARMS = ("fraud-canary-5xx", "fraud-canary-latency")
# The ROLLING routes' guard alarm (their endpoints, 2 instances each, are seeded with the other endpoint routes').
ROLLING_ENDPOINT = "fraud-rolling"
ROLLING_EXCLUDED_ENDPOINT = "fraud-rolling-excluded"
ROLLING_ALARM = "fraud-rolling-5xx"
# An endpoint for inference components (no model in its variant: 2 x ml.m5.xlarge, managed instance scaling) shared
# by the inference-component routes, and the alarm their route names (dimension InferenceComponentName).
IC_ENDPOINT = "shared-ic"
IC_GROUP = "fraud-ic"
IC_ALARM = "fraud-ic-errors"
# A real-shaped endpoint (VPC, network isolation, KMS key, data capture, 2 instances), created from the AWS-shaped
# Describe*/ListTags responses in events/sagemaker/endpoint-vpc-kms/.
VPC_ENDPOINT = "fraud-vpc"
VPC_ENDPOINT_FIXTURE = REPO / "events" / "sagemaker" / "endpoint-vpc-kms"
# An MME behind an inference pipeline (SageMaker's housing example): a shared scikit-learn preprocessor, then the
# Linear Learner multi-model container. Packages of its route are staged only if their preprocessor is this one.
PIPELINE_MME_ENDPOINT = "housing-pipeline-mme"
PIPELINE_PREPROCESSOR_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
PIPELINE_MME_IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"
PIPELINE_PREPROCESSOR_KEY = "corpus/pipeline/preprocessor/model.tar.gz"
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


def hub_admin_session() -> boto3.Session:
    """The hub account's administrator (the sandbox seeds the hub account with it, as its owner would)."""
    return session(HUB_ADMIN_ACCESS_KEY_ID, HUB_ADMIN_SECRET_ACCESS_KEY)


def _create_administrators() -> None:
    iam_enforcement.create_admin(ACCOUNT_ID, ADMIN_USER, ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    iam_enforcement.create_admin(HUB_ACCOUNT_ID, ADMIN_USER, HUB_ADMIN_ACCESS_KEY_ID, HUB_ADMIN_SECRET_ACCESS_KEY)


def _routes() -> dict[str, Any]:
    routes: dict[str, Any] = json.loads(ROUTES_FILE.read_text())
    return routes


def hub_policy_values() -> dict[str, Any]:
    """The values of the documented policies' placeholders (docs/policies/*.json) for the sandbox's two accounts."""
    return {
        "Partition": "aws",
        "Region": REGION,
        "SpokeAccountId": ACCOUNT_ID,
        "HubAccountId": HUB_ACCOUNT_ID,
        "HubExternalId": HUB_EXTERNAL_ID,
        "HubRoleArn": f"arn:aws:iam::{HUB_ACCOUNT_ID}:role/{HUB_ROLE_NAME}",
        "HubBucket": HUB_BUCKET,
        "HubGroup": HUB_GROUP,
        # The source buckets: the data-science bucket, and the stack's ingest bucket (its name is generated by
        # CloudFormation: <stack>-ingestbucket-<suffix>; its bucket policy comes from template.yaml).
        "SpokeArtifactBucket": [DS_BUCKET, f"{STACK_NAME}-ingestbucket-*"],
        "SourceArtifactKmsKeyArn": None,  # sandbox buckets use SSE-S3: the KMS statements are left out
        "HubBucketKmsKeyArn": None,
    }


def _seed_hub_account(endpoint_url: str) -> None:
    """The hub role exactly as the README documents it: trust and permissions from docs/policies/. Created by the
    hub account's administrator (the role cannot be assumed before it exists)."""
    hub = hub_admin_session()
    iam = hub.client("iam", endpoint_url=endpoint_url)
    policies.create_documented_role(
        iam, HUB_ROLE_NAME, "hub-role-trust.json", "hub-role-permissions.json", **hub_policy_values()
    )
    hub.client("s3", endpoint_url=endpoint_url).create_bucket(Bucket=HUB_BUCKET)
    hub.client("s3", endpoint_url=endpoint_url).put_bucket_versioning(
        Bucket=HUB_BUCKET, VersioningConfiguration={"Status": "Enabled"}
    )
    # No hub group is seeded: RegisterInHub creates one per source group on first use (<HUB_GROUP>-<group>).


def endpoint_execution_role_arns() -> list[str]:
    """The SageMaker execution roles of the sandbox's endpoints' models (the VPC/KMS fixture brings its own): what
    the stack's EndpointExecutionRoleArns lists, so a rollout may pass them and nothing else."""
    fixture = json.loads((VPC_ENDPOINT_FIXTURE / "describe-model.json").read_text())
    return [f"arn:aws:iam::{ACCOUNT_ID}:role/{ENDPOINT_EXECUTION_ROLE_NAME}", str(fixture["ExecutionRoleArn"])]


def _seed_spoke_account(endpoint_url: str) -> None:
    spoke = session()
    # The endpoints' execution roles, as the account's SageMaker setup has them (SageMaker assumes them).
    for arn in endpoint_execution_role_arns():
        path, name = arn.split(":role", 1)[1].rsplit("/", 1)
        spoke.client("iam", endpoint_url=endpoint_url).create_role(
            Path=f"{path}/", RoleName=name, AssumeRolePolicyDocument=json.dumps(policies.SAGEMAKER_EXECUTION_TRUST)
        )
    s3 = spoke.client("s3", endpoint_url=endpoint_url)
    for bucket in (MME_BUCKET, DS_BUCKET):
        s3.create_bucket(Bucket=bucket)
    # Cross-account S3 needs the bucket's consent too: the hub role copies artifacts server-side.
    s3.put_bucket_policy(
        Bucket=DS_BUCKET, Policy=json.dumps(policies.render("spoke-bucket-policy.json", **hub_policy_values()))
    )
    sagemaker = spoke.client("sagemaker", endpoint_url=endpoint_url)
    for route in _routes()["routes"]:
        if "model_package_group" in route:  # a pattern route's groups are created by whoever uses them
            sagemaker.create_model_package_group(ModelPackageGroupName=route["model_package_group"])
    # A multi-model endpoint, created as on AWS: model (Mode MultiModel) -> endpoint config -> endpoint.
    _create_mme(
        sagemaker,
        MME_ENDPOINT,
        PrimaryContainer={
            "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/housing-inference:1",
            "Mode": "MultiModel",
            "ModelDataUrl": f"s3://{MME_BUCKET}/models/",
        },
    )
    # Real-time endpoints of the endpoint routes, 2 instances each (a canary or linear step must be at most half
    # the fleet). The canary endpoint's route names two alarms, which a user sets to ALARM with
    # `cloudwatch set-alarm-state` to see a rollback.
    for route in _routes()["routes"]:
        if "target" not in route or route["target"]["kind"] != "endpoint":  # staged routes: modelrelay_sandbox.stages
            continue
        name = route["target"]["endpoint_name"]
        if name == VPC_ENDPOINT:
            _seed_fixture_endpoint(sagemaker)
            continue
        sagemaker.create_model(
            ModelName=f"{name}-v0",
            PrimaryContainer={
                "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-inference:1",
                "ModelDataUrl": f"s3://{DS_BUCKET}/{name}/v0/model.tar.gz",
            },
            ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/{ENDPOINT_EXECUTION_ROLE_NAME}",
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


def _seed_rolling_alarms(endpoint_url: str) -> None:
    """The alarm the ROLLING routes name (Invocation5XXErrors of fraud-rolling); a user trips it with
    ``cloudwatch set-alarm-state`` to see a rolling update roll back."""
    session().client("cloudwatch", endpoint_url=endpoint_url).put_metric_alarm(
        AlarmName=ROLLING_ALARM,
        Namespace="AWS/SageMaker",
        MetricName="Invocation5XXErrors",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        Dimensions=[
            {"Name": "EndpointName", "Value": ROLLING_ENDPOINT},
            {"Name": "VariantName", "Value": "AllTraffic"},
        ],
    )


def _seed_inference_component_endpoint(endpoint_url: str) -> None:
    """An endpoint set up for inference components as realtime-endpoints-deploy-models.html shows: the config has
    an ExecutionRoleArn and a variant with an instance type and count but no ModelName; and its routes' alarm."""
    spoke = session()
    sagemaker = spoke.client("sagemaker", endpoint_url=endpoint_url)
    sagemaker.create_endpoint_config(
        EndpointConfigName=f"{IC_ENDPOINT}-config",
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/{ENDPOINT_EXECUTION_ROLE_NAME}",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "InstanceType": "ml.m5.xlarge",
                "InitialInstanceCount": 2,
                "ManagedInstanceScaling": {"Status": "ENABLED", "MinInstanceCount": 1, "MaxInstanceCount": 2},
                "RoutingConfig": {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"},
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=IC_ENDPOINT, EndpointConfigName=f"{IC_ENDPOINT}-config")
    spoke.client("cloudwatch", endpoint_url=endpoint_url).put_metric_alarm(
        AlarmName=IC_ALARM,
        Namespace="AWS/SageMaker",
        MetricName="Invocation5XXErrors",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        Dimensions=[{"Name": "InferenceComponentName", "Value": IC_GROUP}],
    )


def fixture_request(operation: str, described: dict[str, Any], tags: list[dict[str, str]]) -> dict[str, Any]:
    """The Create* request that makes a resource described as ``described`` (its accepted fields, and tags)."""
    import botocore.session

    members = botocore.session.get_session().get_service_model("sagemaker").operation_model(operation).input_shape
    request = {k: v for k, v in described.items() if k in members.members}
    if tags:
        request["Tags"] = tags
    return request


def _seed_fixture_endpoint(sagemaker: Any) -> None:
    """Create the endpoint of events/sagemaker/endpoint-vpc-kms/ (model, endpoint config, endpoint) as described."""

    def load(name: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads((VPC_ENDPOINT_FIXTURE / f"{name}.json").read_text())
        return document

    sagemaker.create_model(**fixture_request("CreateModel", load("describe-model"), load("list-tags-model")["Tags"]))
    config = load("describe-endpoint-config")
    tags = load("list-tags-endpoint-config")["Tags"]
    sagemaker.create_endpoint_config(**fixture_request("CreateEndpointConfig", config, tags))
    endpoint = load("describe-endpoint")
    sagemaker.create_endpoint(EndpointName=endpoint["EndpointName"], EndpointConfigName=endpoint["EndpointConfigName"])


def _seed_package_targets(endpoint_url: str) -> None:
    """What packages registered outside ModelRelay need: a versioned data-science bucket (SageMaker pipelines
    and the SDK write model.tar.gz to mutable keys) and the pipeline MME, created as on AWS (model with two
    containers, the second ``Mode: MultiModel`` -> endpoint config -> endpoint)."""
    from modelrelay_sandbox.artifact_factory import good_artifact

    spoke = session()
    s3 = spoke.client("s3", endpoint_url=endpoint_url)
    s3.put_bucket_versioning(Bucket=DS_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    preprocessor = good_artifact({"preprocessing.joblib": b"shared housing preprocessor v1\n" * 64})
    s3.put_object(Bucket=DS_BUCKET, Key=PIPELINE_PREPROCESSOR_KEY, Body=preprocessor)
    sagemaker = spoke.client("sagemaker", endpoint_url=endpoint_url)
    _create_mme(
        sagemaker,
        PIPELINE_MME_ENDPOINT,
        Containers=[
            {
                "Image": PIPELINE_PREPROCESSOR_IMAGE,
                "ModelDataUrl": f"s3://{DS_BUCKET}/{PIPELINE_PREPROCESSOR_KEY}",
                "Environment": {"SAGEMAKER_PROGRAM": "preprocessing.py"},
            },
            {"Image": PIPELINE_MME_IMAGE, "Mode": "MultiModel", "ModelDataUrl": f"s3://{MME_BUCKET}/pipeline/"},
        ],
    )


def _create_mme(sagemaker: Any, name: str, **containers: Any) -> None:
    """An MME as on AWS: model (``PrimaryContainer`` or ``Containers``) -> endpoint config -> endpoint."""
    sagemaker.create_model(
        ModelName=f"{name}-model",
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/{ENDPOINT_EXECUTION_ROLE_NAME}",
        **containers,
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=f"{name}-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": f"{name}-model",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")


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
        iam_enforcement.configure(enforce=False)  # the next server of this process starts as moto does
        self.server.stop()
        if self.webhooks is not None:
            self.webhooks.stop()
        if self in _RUNNING:
            _RUNNING.remove(self)


def outputs_document(url: str, deployment: Deployment) -> dict[str, Any]:
    """The contract written to ``.sandbox/outputs.json`` (documented in the README)."""
    o = deployment.outputs
    groups = []
    for route in _routes()["routes"]:
        target = route.get("target") or route["stages"][-1]["target"]  # a staged route ends at its last stage
        entry = {
            "name": route.get("model_package_group"),
            "route": target["kind"],
            "endpoint_name": target["endpoint_name"],
            "model_name": target.get("model_name") or route.get("model_package_group") or "{group}",
            "auto_approve": bool((route.get("ingest") or {}).get("auto_approve")),
        }
        if "pattern" in route:
            # Any group created later whose name matches is promoted, no redeploy: create housing-city-boston-ma.
            tag = target.get("model_name_tag")
            entry |= {
                "pattern": route["pattern"],
                "model_name_from": f"template {entry['model_name']} ({{match}}: what '*' matched, {{group}}: the "
                "group)" + (f"; the group's tag {tag} when set" if tag else ""),
            }
        groups.append(entry)
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
        # The hub groups' prefix: each source group's hub group is <prefix>-<group> (domain.hub.hub_group_name).
        "hub_model_package_group": HUB_GROUP,
        "mme": {"endpoint_name": MME_ENDPOINT, "bucket": MME_BUCKET, "prefix": "models/"},
        # Buckets whose packages registered outside ModelRelay (SDK, pipelines) the routes accept.
        "source_artifact_buckets": [DS_BUCKET],
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


_RUNNING: list[SandboxEnvironment] = []  # moto's backends are per process: one sandbox at a time in a process


def start(
    port: int | None = None,
    state_dir: Path | None = None,
    build_dir: Path | None = None,
    iam: bool | None = None,
    parameter_overrides: dict[str, str] | None = None,
) -> SandboxEnvironment:
    """Start the emulator, seed both accounts, deploy the real template, subscribe a notifications queue.

    One sandbox per process (moto keeps its state in process-wide backends): a second ``start`` while one runs
    is refused; one after the previous stopped starts from empty backends.

    ``iam``: enforce IAM (``iam_enforcement``) from the first request on — every request, the bootstrap's too, is
    authenticated and authorised; the decision log is ``<state dir>/iam-usage.jsonl``. ``None``: on, unless env
    ``MODELRELAY_SANDBOX_IAM=off``. Either way the accounts' administrators
    (``ACCESS_KEY_ID`` in the stack account, ``HUB_ADMIN_ACCESS_KEY_ID`` in the hub account) exist.

    ``parameter_overrides``: template parameters to set besides the sandbox's own (benches, e.g.
    ``PromotionConcurrency``).
    """
    if _RUNNING:
        raise RuntimeError(
            f"a sandbox already runs in this process at {_RUNNING[0].url}: moto's state is "
            "per process; stop it first or use it"
        )
    cloudformation.apply()
    kwargs: dict[str, Any] = {"port": port}
    if state_dir is not None:
        kwargs["state_dir"] = state_dir
    server = start_server(**kwargs)
    # Whatever an earlier sandbox of this process left in moto's backends is gone.
    urllib.request.urlopen(urllib.request.Request(f"{server.url}/moto-api/reset", method="POST"), timeout=30).close()  # noqa: S310 - our own loopback URL
    _create_administrators()
    from modelrelay_sandbox import stages  # staging and production accounts (the staged routes' stages)

    stages.create_administrators()
    enforce = iam_enforcement.requested_by_env() if iam is None else iam
    iam_enforcement.configure(enforce=enforce, log_path=(server.state_dir / IAM_USAGE_LOG) if enforce else None)
    webhooks = api_destinations.WebhookReceiver()  # Jenkins and chat, as the stack's API destinations
    try:
        url = server.url
        _seed_hub_account(url)
        _seed_spoke_account(url)
        _seed_package_targets(url)
        _seed_rolling_alarms(url)
        _seed_inference_component_endpoint(url)
        stages.seed(url)
        deployment = deploy_stack(
            session(),
            url,
            STACK_NAME,
            {
                # The watched groups and bucket lists are derived from sandbox/routes.json (modelrelay.derive).
                **derive.parameters(load_routing_config(ROUTES_FILE)),
                "HubBucketName": HUB_BUCKET,
                "HubModelPackageGroupName": HUB_GROUP,
                "HubRoleArn": f"arn:aws:iam::{HUB_ACCOUNT_ID}:role/{HUB_ROLE_NAME}",
                "HubExternalId": HUB_EXTERNAL_ID,
                "EndpointExecutionRoleArns": ",".join(endpoint_execution_role_arns()),
                **webhook_parameters(webhooks.url),
                **(parameter_overrides or {}),
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
    env = SandboxEnvironment(server=server, deployment=deployment, outputs=outputs, webhooks=webhooks)
    _RUNNING.append(env)
    return env


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
