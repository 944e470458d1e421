"""Which IAM action, on which resource ARN, with which condition keys, each request asks for (S3: s3_actions.py).

Follows the Service Authorization Reference (https://docs.aws.amazon.com/service-authorization/latest/reference/)
pages of the services ModelRelay uses: ``list_amazonsagemaker.html``, ``list_amazondynamodb.html``,
``list_amazonsns.html``, ``list_amazonsqs.html``, ``list_amazoneventbridge.html``,
``list_awsstepfunctions.html``, ``list_amazoncloudwatch.html``, ``list_awsidentityandaccessmanagementiam.html``,
``list_awssecuritytokenservice.html``, ``list_awskeymanagementservice.html``, ``list_amazoncloudwatchlogs.html``,
``list_awslambda.html``, ``list_awscloudformation.html``: the action is ``<prefix>:<Operation>`` unless the table
below says otherwise (``lambda:Invoke`` is ``lambda:InvokeFunction``, SageMaker Runtime's InvokeEndpoint is
``sagemaker:InvokeEndpoint``); the resource is the ARN of the resource type the page lists for the action, built
from the request parameters; an action the tables here do not know is authorised against ``*``, as AWS does for
actions without a resource type (``sagemaker:Search``, ``sqs:ListQueues``, ``cloudwatch:DescribeAlarms`` without
names...).

SageMaker lower-cases resource names in its ARNs (``CreateEndpoint`` of ``MyEndpoint`` returns
``...:endpoint/myendpoint``) and authorises against those ARNs: names are lower-cased here; ARNs passed as
parameters are used as given. A versioned model package's ARN is ``model-package/<group>/<version>``; CreateModelPackage
in a group is authorised on the ARN the package will have (the group's next version). Assumption (the reference
leaves it open): ListModelPackages with a ``ModelPackageGroupName`` is authorised on that group's ARN.

Requests that pass a role (SageMaker ``ExecutionRoleArn``, EventBridge target ``RoleArn``, Step Functions
``roleArn``, Lambda ``Role``, CloudFormation ``RoleARN``) also need ``iam:PassRole`` on the role, with
``iam:PassedToService`` the receiving service's principal
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .request_model import ParsedRequest

PARTITION = "aws"

PREFIX = {
    "s3": "s3",
    "sagemaker": "sagemaker",
    "sagemaker-runtime": "sagemaker",
    "lambda": "lambda",
    "dynamodb": "dynamodb",
    "sns": "sns",
    "sqs": "sqs",
    "events": "events",
    "stepfunctions": "states",
    "cloudwatch": "cloudwatch",
    "iam": "iam",
    "sts": "sts",
    "kms": "kms",
    "logs": "logs",
    "cloudformation": "cloudformation",
}

# (service, operation) -> IAM action name, where it differs from the operation name.
ACTION_NAMES = {
    ("lambda", "Invoke"): "InvokeFunction",
    ("lambda", "InvokeAsync"): "InvokeFunction",
    ("lambda", "InvokeWithResponseStream"): "InvokeFunction",
    ("lambda", "GetFunctionConfiguration"): "GetFunctionConfiguration",
    ("lambda", "PutFunctionConcurrency"): "PutFunctionConcurrency",
}


@dataclass
class Authorization:
    """One (action, resource) the request needs, with the request's condition keys (lower-cased names)."""

    action: str
    resource: str
    context: dict[str, list[str]] = field(default_factory=dict)


def _arn(service: str, region: str, account: str, resource: str) -> str:
    return f"arn:{PARTITION}:{service}:{region}:{account}:{resource}"


def _is_arn(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("arn:")


# ------------------------------------------------------------------ SageMaker

_SM_NAME_PARAMS = (
    ("InferenceComponentName", "inference-component"),
    ("EndpointName", "endpoint"),
    ("EndpointConfigName", "endpoint-config"),
    ("ModelName", "model"),
    ("ModelPackageGroupName", "model-package-group"),
)


def _sm_name_arn(kind: str, value: str, region: str, account: str) -> str:
    if _is_arn(value):
        return value
    return _arn("sagemaker", region, account, f"{kind}/{value.lower()}")


def _next_package_arn(group: str, region: str, account: str) -> str:
    """The ARN CreateModelPackage gives the group's next version."""
    from moto.sagemaker.models import sagemaker_backends

    name = group.split("/")[-1] if _is_arn(group) else group
    version = 1
    try:
        backend = sagemaker_backends[account][region]
        versions = [
            int(getattr(p, "model_package_version", 0) or 0)
            for p in backend.model_packages.values()
            if getattr(p, "model_package_group_name", None) == name
        ]
        version = max(versions, default=0) + 1
    except Exception:  # noqa: BLE001, S110 - a backend without the group: version 1
        pass
    return _arn("sagemaker", region, account, f"model-package/{name.lower()}/{version}")


def _sagemaker(req: ParsedRequest, account: str) -> list[str]:
    p, op, region = req.params, req.operation, req.region
    if op == "CreateModelPackage":
        if p.get("ModelPackageGroupName"):
            return [_next_package_arn(p["ModelPackageGroupName"], region, account)]
        return [_sm_name_arn("model-package", p.get("ModelPackageName", "*"), region, account)]
    if isinstance(p.get("ModelPackageArn"), str):  # UpdateModelPackage
        return [_sm_name_arn("model-package", p["ModelPackageArn"], region, account)]
    if "ModelPackageName" in p and op in (
        "DescribeModelPackage",
        "UpdateModelPackage",
        "DeleteModelPackage",
    ):
        return [_sm_name_arn("model-package", p["ModelPackageName"], region, account)]
    if op == "ModelPackageArnList" or op == "BatchDescribeModelPackage":
        return [str(a) for a in p.get("ModelPackageArnList", [])] or ["*"]
    if op in ("AddTags", "ListTags", "DeleteTags"):
        return [p["ResourceArn"]] if _is_arn(p.get("ResourceArn")) else ["*"]
    if op in ("ListModelPackages",) and p.get("ModelPackageGroupName"):
        return [_sm_name_arn("model-package-group", p["ModelPackageGroupName"], region, account)]
    if op.startswith("List") or op == "Search":
        return ["*"]
    if op == "UpdateEndpoint":
        # Authorised on the endpoint and on the endpoint config it moves to (the Service Authorization Reference
        # lists both resource types for the action): neither alone may let a caller move an endpoint.
        return [
            _sm_name_arn("endpoint", str(p.get("EndpointName", "")), region, account),
            _sm_name_arn("endpoint-config", str(p.get("EndpointConfigName", "")), region, account),
        ]
    resources: list[str] = []
    for param, kind in _SM_NAME_PARAMS:
        if param in p and isinstance(p[param], str):
            # The operation's own resource first: CreateEndpoint names an endpoint config too, but is on the endpoint.
            resources.append(_sm_name_arn(kind, p[param], region, account))
            if op not in ("CreateInferenceComponent", "UpdateInferenceComponent"):
                break
    if op in ("CreateInferenceComponent", "UpdateInferenceComponent"):
        model = (p.get("Specification") or {}).get("ModelName")
        if model:
            resources.append(_sm_name_arn("model", model, region, account))
    return resources or ["*"]


def _sagemaker_runtime(req: ParsedRequest, account: str) -> list[str]:
    return [_sm_name_arn("endpoint", req.params.get("EndpointName", "*"), req.region, account)]


# ------------------------------------------------------------------ the others


def _dynamodb(req: ParsedRequest, account: str) -> list[str]:
    p = req.params
    if "TableName" in p:
        table = p["TableName"]
        return [table if _is_arn(table) else _arn("dynamodb", req.region, account, f"table/{table}")]
    if req.operation in ("BatchGetItem", "BatchWriteItem"):
        tables = list((p.get("RequestItems") or {}).keys())
        return [t if _is_arn(t) else _arn("dynamodb", req.region, account, f"table/{t}") for t in tables] or ["*"]
    if req.operation == "TransactWriteItems":
        names = []
        for item in p.get("TransactItems", []):
            for body in item.values():
                if isinstance(body, dict) and "TableName" in body:
                    names.append(_arn("dynamodb", req.region, account, f"table/{body['TableName']}"))
        return names or ["*"]
    return ["*"]


def _queue_arn(url: str, region: str) -> str:
    # http://host/123456789012/name or https://sqs.region.amazonaws.com/123456789012/name
    parts = url.rstrip("/").split("/")
    return _arn("sqs", region, parts[-2], parts[-1])


def _sqs(req: ParsedRequest, account: str) -> list[str]:
    p = req.params
    if "QueueUrl" in p:
        return [_queue_arn(p["QueueUrl"], req.region)]
    if "QueueName" in p:
        owner = p.get("QueueOwnerAWSAccountId") or account
        return [_arn("sqs", req.region, owner, p["QueueName"])]
    return ["*"]


def _sns(req: ParsedRequest, account: str) -> list[str]:
    p = req.params
    for key in ("TopicArn", "TargetArn", "ResourceArn"):
        if _is_arn(p.get(key)):
            return [p[key]]
    if req.operation == "CreateTopic" and "Name" in p:
        return [_arn("sns", req.region, account, p["Name"])]
    if req.operation in ("Unsubscribe", "GetSubscriptionAttributes", "SetSubscriptionAttributes"):
        arn = p.get("SubscriptionArn", "")
        return [arn.rsplit(":", 1)[0]] if _is_arn(arn) else ["*"]
    return ["*"]


def _events(req: ParsedRequest, account: str) -> list[str]:
    p, op, region = req.params, req.operation, req.region

    def bus(name: str | None) -> str:
        name = name or "default"
        return name if _is_arn(name) else _arn("events", region, account, f"event-bus/{name}")

    if op == "PutEvents":
        buses = {bus(e.get("EventBusName")) for e in p.get("Entries", [])}
        return sorted(buses) or [bus(None)]
    if op in (
        "PutRule",
        "DescribeRule",
        "DeleteRule",
        "EnableRule",
        "DisableRule",
        "PutTargets",
        "RemoveTargets",
        "ListTargetsByRule",
    ):
        name = p.get("Name") or p.get("Rule") or ""
        bus_name = p.get("EventBusName") or "default"
        bus_name = bus_name.split("/")[-1] if _is_arn(bus_name) else bus_name
        path = f"rule/{name}" if bus_name == "default" else f"rule/{bus_name}/{name}"
        return [_arn("events", region, account, path)]
    if op in ("CreateEventBus", "DescribeEventBus", "DeleteEventBus"):
        return [bus(p.get("Name"))]
    if op in ("CreateArchive", "DescribeArchive", "DeleteArchive", "UpdateArchive"):
        return [_arn("events", region, account, f"archive/{p.get('ArchiveName', '')}")]
    if op in ("StartReplay", "DescribeReplay", "CancelReplay"):
        return [_arn("events", region, account, f"replay/{p.get('ReplayName', '')}")]
    if op in ("CreateConnection", "DescribeConnection", "DeleteConnection", "UpdateConnection"):
        return [_arn("events", region, account, f"connection/{p.get('Name', '')}")]
    if op in ("CreateApiDestination", "DescribeApiDestination", "DeleteApiDestination", "UpdateApiDestination"):
        return [_arn("events", region, account, f"api-destination/{p.get('Name', '')}")]
    if op in ("CreateEndpoint", "DescribeEndpoint", "UpdateEndpoint", "DeleteEndpoint"):
        return [_arn("events", region, account, f"endpoint/{p.get('Name', '')}")]
    if _is_arn(p.get("ResourceARN")):
        return [p["ResourceARN"]]
    return ["*"]


def _states(req: ParsedRequest, account: str) -> list[str]:
    p, op, region = req.params, req.operation, req.region
    for key in ("stateMachineArn", "executionArn", "resourceArn", "activityArn"):
        if _is_arn(p.get(key)):
            arn = p[key]
            if op in ("StartExecution", "StartSyncExecution") or key != "executionArn":
                return [arn]
            return [arn]
    if op == "CreateStateMachine" and "name" in p:
        return [_arn("states", region, account, f"stateMachine:{p['name']}")]
    if op in ("SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat") and p.get("taskToken"):
        # A callback task's token is authorised on the state machine whose execution waits with it.
        waiting = _state_machine_waiting_on(account, region, str(p["taskToken"]))
        return [waiting] if waiting else ["*"]
    return ["*"]


def _state_machine_waiting_on(account: str, region: str, token: str) -> str | None:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    try:
        backend = stepfunctions_parser_backends[account][region]
        for machine in backend.state_machines:
            for execution in machine.executions:
                worker = getattr(execution, "exec_worker", None)
                pool = worker.env.callback_pool_manager if worker is not None else None
                if pool is not None and pool.get(token) is not None:
                    return str(machine.arn)
    except Exception:  # noqa: BLE001 - an unknown token is authorised as "*" (and then answered InvalidToken)
        return None
    return None


def _cloudwatch(req: ParsedRequest, account: str) -> list[str]:
    p = req.params
    names: list[str] = []
    if isinstance(p.get("AlarmName"), str):
        names = [p["AlarmName"]]
    elif isinstance(p.get("AlarmNames"), list):
        names = [str(n) for n in p["AlarmNames"]]
    if names:
        return [_arn("cloudwatch", req.region, account, f"alarm:{n}") for n in names]
    if _is_arn(p.get("ResourceARN")):
        return [p["ResourceARN"]]
    return ["*"]


def _iam(req: ParsedRequest, account: str) -> list[str]:
    p = req.params
    for key, kind in (("RoleName", "role"), ("UserName", "user"), ("GroupName", "group")):
        if isinstance(p.get(key), str):
            path = p.get("Path", "/") if req.operation.startswith("Create") else "/"
            return [f"arn:{PARTITION}:iam::{account}:{kind}{path}{p[key]}"]
    if _is_arn(p.get("PolicyArn")):
        return [p["PolicyArn"]]
    if req.operation == "CreatePolicy" and "PolicyName" in p:
        return [f"arn:{PARTITION}:iam::{account}:policy{p.get('Path', '/')}{p['PolicyName']}"]
    return ["*"]


def _sts(req: ParsedRequest, account: str) -> list[str]:
    if _is_arn(req.params.get("RoleArn")):
        return [req.params["RoleArn"]]
    return ["*"]


def _kms(req: ParsedRequest, account: str) -> list[str]:
    key = req.params.get("KeyId")
    if not isinstance(key, str):
        return ["*"]
    if _is_arn(key):
        return [key]
    if key.startswith("alias/"):
        return [_arn("kms", req.region, account, key)]
    return [_arn("kms", req.region, account, f"key/{key}")]


def _logs(req: ParsedRequest, account: str) -> list[str]:
    p = req.params
    group = p.get("logGroupName")
    if isinstance(group, str):
        stream = p.get("logStreamName")
        suffix = f":log-stream:{stream}" if isinstance(stream, str) else ":*"
        return [_arn("logs", req.region, account, f"log-group:{group}{suffix}")]
    return ["*"]


_FUNCTION_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[^:]+:\d{12}:function:[^:]+(:[^:]+)?$")


def _lambda(req: ParsedRequest, account: str) -> list[str]:
    p = req.params
    name = p.get("FunctionName")
    if isinstance(name, str):
        if _FUNCTION_ARN.match(name):
            return [name]
        if ":" in name:  # name:qualifier or partial ARN 123456789012:function:name
            parts = name.split(":")
            if len(parts) >= 3 and parts[1] == "function":
                return [_arn("lambda", req.region, parts[0], "function:" + ":".join(parts[2:]))]
            return [_arn("lambda", req.region, account, f"function:{name}")]
        qualifier = p.get("Qualifier")
        suffix = f":{qualifier}" if isinstance(qualifier, str) else ""
        return [_arn("lambda", req.region, account, f"function:{name}{suffix}")]
    if _is_arn(p.get("Resource")):
        return [p["Resource"]]
    if req.operation == "GetLayerVersion" or req.operation == "PublishLayerVersion":
        return [_arn("lambda", req.region, account, f"layer:{p.get('LayerName', '')}")]
    return ["*"]


def _cloudformation(req: ParsedRequest, account: str) -> list[str]:
    name = req.params.get("StackName")
    if isinstance(name, str):
        return [name if _is_arn(name) else _arn("cloudformation", req.region, account, f"stack/{name}/*")]
    return ["*"]


_RESOURCES: dict[str, Callable[[ParsedRequest, str], list[str]]] = {
    "sagemaker": _sagemaker,
    "sagemaker-runtime": _sagemaker_runtime,
    "dynamodb": _dynamodb,
    "sqs": _sqs,
    "sns": _sns,
    "events": _events,
    "stepfunctions": _states,
    "cloudwatch": _cloudwatch,
    "iam": _iam,
    "sts": _sts,
    "kms": _kms,
    "logs": _logs,
    "lambda": _lambda,
    "cloudformation": _cloudformation,
}

# ------------------------------------------------------------------ condition keys and iam:PassRole


def _dynamodb_context(req: ParsedRequest, account: str) -> dict[str, list[str]]:
    """``dynamodb:LeadingKeys``: the partition key values of the items the request reads or writes."""
    p = req.params
    item = p.get("Key") or p.get("Item")
    if not isinstance(item, dict) or "TableName" not in p:
        return {}
    try:
        from moto.dynamodb.models import dynamodb_backends

        table = dynamodb_backends[account][req.region].get_table(p["TableName"])
        hash_key = table.hash_key_attr
    except Exception:  # noqa: BLE001 - no such table: the operation fails on its own
        return {}
    value = item.get(hash_key)
    if isinstance(value, dict) and value:
        return {"dynamodb:leadingkeys": [str(next(iter(value.values())))]}
    return {}


def _sts_context(req: ParsedRequest, account: str) -> dict[str, list[str]]:
    ext = req.params.get("ExternalId")
    return {"sts:externalid": [ext]} if isinstance(ext, str) else {}


# (service, operation) -> [(parameter path, service principal the role is passed to)]
PASSED_ROLES: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    ("sagemaker", "CreateModel"): (("ExecutionRoleArn",), "sagemaker.amazonaws.com"),
    ("sagemaker", "CreateEndpointConfig"): (("ExecutionRoleArn",), "sagemaker.amazonaws.com"),
    ("sagemaker", "CreateTrainingJob"): (("RoleArn",), "sagemaker.amazonaws.com"),
    ("sagemaker", "CreateProcessingJob"): (("RoleArn",), "sagemaker.amazonaws.com"),
    ("sagemaker", "CreatePipeline"): (("RoleArn",), "sagemaker.amazonaws.com"),
    ("stepfunctions", "CreateStateMachine"): (("roleArn",), "states.amazonaws.com"),
    ("stepfunctions", "UpdateStateMachine"): (("roleArn",), "states.amazonaws.com"),
    ("lambda", "CreateFunction"): (("Role",), "lambda.amazonaws.com"),
    ("lambda", "UpdateFunctionConfiguration"): (("Role",), "lambda.amazonaws.com"),
    ("cloudformation", "CreateStack"): (("RoleARN",), "cloudformation.amazonaws.com"),
    ("cloudformation", "UpdateStack"): (("RoleARN",), "cloudformation.amazonaws.com"),
    ("events", "PutRule"): (("RoleArn",), "events.amazonaws.com"),
}


def passed_roles(req: ParsedRequest) -> list[tuple[str, str]]:
    """(role ARN, iam:PassedToService) of every role the request passes."""
    out: list[tuple[str, str]] = []
    spec = PASSED_ROLES.get((req.service, req.operation))
    if spec:
        for key in spec[0]:
            if _is_arn(req.params.get(key)):
                out.append((req.params[key], spec[1]))
    if (req.service, req.operation) == ("events", "PutTargets"):
        for target in req.params.get("Targets", []):
            if _is_arn(target.get("RoleArn")):
                out.append((target["RoleArn"], "events.amazonaws.com"))
    return out


def authorizations(req: ParsedRequest, account: str) -> list[Authorization]:
    """Every (action, resource) the request needs (non-S3 services; see s3_actions for S3)."""
    prefix = PREFIX.get(req.service, req.service)
    name = ACTION_NAMES.get((req.service, req.operation), req.operation)
    action = f"{prefix}:{name}"
    builder = _RESOURCES.get(req.service)
    resources = builder(req, account) if builder else ["*"]
    context: dict[str, list[str]] = {}
    if req.service == "dynamodb":
        context |= _dynamodb_context(req, account)
    if req.service == "sts":
        context |= _sts_context(req, account)
    out = [Authorization(action, r, dict(context)) for r in resources]
    if req.service == "sagemaker" and req.operation.startswith("Create") and req.params.get("Tags") and resources:
        # SageMaker: creating a resource with Tags also needs sagemaker:AddTags on it ("Grant permission to tag
        # resources on creation", https://docs.aws.amazon.com/sagemaker/latest/dg/security_iam_id-based-policy-examples.html).
        out.append(Authorization("sagemaker:AddTags", resources[0], dict(context)))
    for role, service in passed_roles(req):
        out.append(Authorization("iam:PassRole", role, {"iam:passedtoservice": [service]}))
    return out
