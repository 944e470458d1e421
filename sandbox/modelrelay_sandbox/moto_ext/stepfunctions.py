"""Step Functions runs your ASL.

With ``stepfunctions.execute_state_machine`` on (set by ``apply_all``), moto's
StartExecution runs the definition in its interpreter (``moto/stepfunctions/parser``,
ported from LocalStack). In server mode that interpreter calls services through
boto3 clients, as Step Functions does. Four gaps are fixed here, each with the
smallest patch:

* **Service calls reach this server.** ``boto_client_for`` sends the
  interpreter's calls to ``http://localhost:{moto_server_port()}``, i.e. env
  ``MOTO_PORT`` or 5000, not the port the sandbox listens on. We replace the
  ``moto_server_port`` name that module looks up at call time with one returning
  the sandbox's real port (set by ``start_server`` through :func:`configure`).
* **AWS SDK integration error names** (``arn:aws:states:::aws-sdk:<service>:<action>``).
  AWS documents them as ``<ServiceName>.<ErrorName>``, both PascalCase, the
  service name as Step Functions spells it (``AcmPca``, ``DynamoDb``, ``S3``,
  ``SageMaker``, ``Sfn``...) and the error name always ending in ``Exception``
  (``S3.NoSuchKey`` → ``S3.NoSuchKeyException``). moto knows only ``DynamoDb``
  and ``Sfn`` and otherwise keeps the lower-case SDK name
  (``sagemaker.ResourceNotFoundException``, ``sagemaker.sagemakerException``). Rule implemented (see
  :func:`sfn_service_error_name`): the service part is the service's SDK
  ``serviceId`` split into words (spaces, hyphens, and inside-word case changes:
  ``DynamoDB`` → ``Dynamo DB``) with each word capitalised and the rest of it
  lower-cased when it is an acronym (``DB`` → ``Db``, ``EC2`` → ``Ec2``, ``ACM PCA`` →
  ``AcmPca``; ``SageMaker`` stays) — the names of AWS's Java SDK v2 clients,
  which Step Functions uses. The error part is unchanged from moto: the modeled
  exception's name + ``Exception`` unless it already ends with it; an error
  code the service's model does not declare (e.g. SageMaker's
  ``ValidationException`` for a missing model package) surfaces, as with the
  Java SDK, as the service's generic exception: ``SageMaker.SageMakerException``.
  The optimised integrations (``lambda:invoke``, ``dynamodb:putItem``,
  ``sns:publish``, ``events:putEvents``) already name errors as AWS does
  (``Lambda.<Code>``, ``DynamoDB.ConditionalCheckFailedException``...) and a
  Lambda function's own error surfaces as its ``errorType`` with the error
  payload as ``Cause``: untouched.
* **StartExecution without a name** gets a generated unique name (a UUID), as
  on AWS. moto's interpreter backend uses ``None`` (``...:execution:<sm>:None``),
  so the second unnamed execution fails with ``ExecutionAlreadyExists``; event
  sources (EventBridge targets) always start unnamed executions.
* **JSONata** (``"QueryLanguage": "JSONata"``): moto's evaluator hook
  ``_eval_jsonata`` is left ``None`` (LocalStack runs JSONata in a JVM), so any
  JSONata expression fails with ``TypeError``. We wire the pure-Python
  ``jsonata-python`` package in.

Verified to work as on AWS without a patch (see tests/sandbox/test_moto_ext_runtime.py):
``lambda:invoke`` with ``Payload.$``, ``sns:publish``, ``events:putEvents``,
``aws-sdk:sagemaker:describeModelPackage`` / ``updateModelPackage``,
``dynamodb:putItem`` with ``ConditionExpression``
(``DynamoDB.ConditionalCheckFailedException``), ``Retry``/``Catch`` on
``Lambda.*``, ``States.TaskFailed`` and a handler's own ``errorType``.

* **Integrations act as the state machine's role.** On AWS every service call of
  an execution is made with the execution role's credentials (or a state's
  ``Credentials.RoleArn``). moto's ``boto_client_for`` signs every call with the
  access key ``ak`` (the default account, any permission). We replace it, in each
  interpreter module that imported it, with one that signs with STS credentials
  of the ``StateCredentials.role_arn`` the interpreter passes (the execution role,
  or the state's ``Credentials`` role), assumed through moto's STS backend as the
  Lambda runtime does for execution roles (``lambda_runtime.credentials``), so
  the sandbox's IAM enforcement (``iam_enforcement``) authorises them as that role
  and they act in the role's account.
"""

from __future__ import annotations

import re
import threading
import uuid
from functools import cache
from typing import Any

import botocore.session
import jsonata
from botocore.exceptions import UnknownServiceError
from moto import settings
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk,
)
from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata
from moto.stepfunctions.parser.asl.utils import boto_client
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

_PATCH_MARK = "__modelrelay_sandbox_patch__"
_lock = threading.Lock()
_port: int | None = None

# Step Functions' aws-sdk service names that are not boto3's (moto maps them too).
_SFN_TO_BOTO = {
    "sfn": "stepfunctions",
    "states": "stepfunctions",
    "eventbridge": "events",
    "elasticloadbalancingv2": "elbv2",
    "acmpca": "acm-pca",
}
# Java SDK v2 client names that the word rule cannot derive.
_SERVICE_NAME_OVERRIDES = {"iot": "Iot", "cloudwatch logs": "CloudWatchLogs"}


def configure(port: int | None) -> None:
    """The port of the sandbox server the interpreter's service calls go to
    (``None``: moto's default, env ``MOTO_PORT`` or 5000)."""
    global _port
    _port = port


def _sandbox_port() -> str:
    return str(_port) if _port is not None else settings.moto_server_port()


def _pascal_word(word: str) -> str:
    return word[:1].upper() + word[1:].lower()


@cache
def sfn_service_error_name(sdk_service_name: str) -> str:
    """``sagemaker`` → ``SageMaker``, ``dynamodb`` → ``DynamoDb``, ``acmpca`` → ``AcmPca``.

    The service part of an aws-sdk integration error name (see module docstring).
    """
    boto_name = _SFN_TO_BOTO.get(sdk_service_name.lower(), sdk_service_name.lower())
    try:
        service_id = botocore.session.get_session().get_service_model(boto_name).service_id
    except UnknownServiceError:
        return _pascal_word(sdk_service_name)
    service_id = str(service_id)
    if service_id.lower() in _SERVICE_NAME_OVERRIDES:
        return _SERVICE_NAME_OVERRIDES[service_id.lower()]
    words: list[str] = []
    for chunk in re.split(r"[\s\-_]+", service_id):
        # "DynamoDB" -> ["Dynamo", "DB"], "SageMaker" -> ["Sage", "Maker"], "EC2" -> ["EC2"]
        words += re.findall(r"[A-Z0-9]+(?![a-z])|[A-Z]?[a-z0-9]+", chunk)
    return "".join(_pascal_word(w) for w in words)


def _normalise_service_error_name(service_name: str) -> str:
    """Replacement of ``StateTaskServiceAwsSdk._normalise_service_error_name``."""
    return sfn_service_error_name(service_name)


def _eval_jsonata(expression: str) -> Any:
    """moto's ``_eval_jsonata`` hook, evaluated by jsonata-python (no JVM)."""
    try:
        return jsonata.Jsonata(expression).evaluate(None)
    except jsonata.JException as exc:
        raise moto_jsonata.JSONataException("UNKNOWN", str(exc)) from exc


_original_start_execution = StepFunctionsParserBackend.start_execution


def _start_execution(
    self: StepFunctionsParserBackend,
    state_machine_arn: str,
    name: str | None = None,
    execution_input: Any = None,
    trace_header: Any = None,
) -> Any:
    """``StartExecution``: an execution started without a name gets a UUID one, as on AWS."""
    return _original_start_execution(
        self,
        state_machine_arn,
        name=name or str(uuid.uuid4()),
        execution_input=execution_input,
        trace_header=trace_header,
    )


# ------------------------------------------------------------------ Step Functions: Lambda.<ErrorCode>

_LAMBDA_ERRORS_MARK = "__modelrelay_lambda_task_error_names__"


def _patch_lambda_task_errors() -> None:
    """``Lambda.<ErrorCode>`` for a failed Invoke of a ``Resource: <function ARN>`` task.

    On AWS a throttled or failed Invoke is ``Lambda.TooManyRequestsException``, ``Lambda.ServiceException``...,
    which is what ``Retry`` lists name; moto's interpreter calls every such error ``Exception``. A call that got no
    answer at all (the connection refused, dropped or timed out) is the SDK's own failure,
    ``Lambda.SdkClientException``, one of the transient errors of "Handle Lambda service exceptions"
    (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html).
    """
    from botocore.exceptions import ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from moto.stepfunctions.parser.api import HistoryEventType, LambdaFunctionFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    original = StateTaskLambda._from_error
    if getattr(original, _LAMBDA_ERRORS_MARK, False):
        return

    def _from_error(self: Any, env: Any, ex: Exception) -> Any:
        if isinstance(ex, (HTTPClientError, BotoConnectionError)):
            # The call never got Lambda's answer (connection refused, dropped, timed out): the Java SDK that Step
            # Functions uses raises SdkClientException, which Step Functions names Lambda.SdkClientException.
            name, cause = "Lambda.SdkClientException", f"Unable to execute HTTP request: {ex}"
        elif not isinstance(ex, ClientError):
            return original(self, env, ex)
        else:
            error = ex.response.get("Error", {})
            metadata = ex.response.get("ResponseMetadata", {})
            name = f"Lambda.{error.get('Code') or 'Unknown'}"
            cause = (
                f"{error.get('Message', '')} (Service: AWSLambda; Status Code: {metadata.get('HTTPStatusCode')}; "
                f"Error Code: {error.get('Code')}; Request ID: {metadata.get('RequestId')}; Proxy: null)"
            )
        return FailureEvent(
            env=env,
            error_name=CustomErrorName(name),
            event_type=HistoryEventType.LambdaFunctionFailed,
            event_details=EventDetails(
                lambdaFunctionFailedEventDetails=LambdaFunctionFailedEventDetails(error=name, cause=cause)
            ),  # type: ignore[typeddict-item]
        )

    setattr(_from_error, _LAMBDA_ERRORS_MARK, True)
    StateTaskLambda._from_error = _from_error  # type: ignore[method-assign]


# ------------------------------------------------------------------ integrations act as the execution role

_INTERPRETER_MODULES = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sns",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sqs",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_events",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_unsupported",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_eval_s3",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3",
)


_clients_lock = threading.Lock()
_clients: dict[tuple[str, str, str, str, str], Any] = {}


def _role_boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
    """moto's ``boto_client_for``, signed with the role of ``state_credentials`` (the execution role).

    One client per (service, Region, credentials, port), reused by every execution: moto builds a new client for
    each integration call, which costs more CPU than the call itself and, under a burst of hundreds of executions,
    starves the in-process server (boto3 clients are thread-safe; their creation is not, hence the lock)."""
    role_arn = getattr(state_credentials, "role_arn", None)
    if not role_arn:
        return _original_boto_client_for(region=region, service=service, state_credentials=state_credentials)
    import boto3
    from botocore.config import Config
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds

    from .lambda_runtime.credentials import role_credentials

    creds = role_credentials(role_arn.split(":")[4], region, role_arn, f"states-{role_arn.split('/')[-1]}")
    port = _sandbox_port()
    key = (service, region, creds["AWS_ACCESS_KEY_ID"], creds["AWS_SESSION_TOKEN"], port)
    client = _clients.get(key)  # lock-free once built: every integration call of every execution comes here
    if client is not None:
        return client
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = boto3.client(
                service,
                region_name=region,
                endpoint_url=f"http://localhost:{port}",
                aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
                aws_session_token=creds["AWS_SESSION_TOKEN"],
                config=Config(  # as moto's boto_client_for, with a pool for concurrent executions
                    parameter_validation=False,
                    retries={"max_attempts": 0, "total_max_attempts": 1},
                    connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                    read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                    # Every execution shares this client: a pool as deep as a burst's concurrent calls, so
                    # connections are kept alive instead of opened and dropped per call.
                    max_pool_connections=1024,
                ),
            )
        return client


_original_boto_client_for = boto_client.boto_client_for


def _patch_integration_credentials() -> None:
    import importlib

    for name in _INTERPRETER_MODULES:
        module = importlib.import_module(name)
        if getattr(module, "boto_client_for", None) is _original_boto_client_for:
            module.boto_client_for = _role_boto_client_for  # type: ignore[attr-defined]


def apply() -> None:
    """Install the patches (idempotent)."""
    with _lock:
        if getattr(boto_client.moto_server_port, _PATCH_MARK, False):
            return
        setattr(_sandbox_port, _PATCH_MARK, True)
        boto_client.moto_server_port = _sandbox_port
        state_task_service_aws_sdk.StateTaskServiceAwsSdk._normalise_service_error_name = staticmethod(  # type: ignore[method-assign]
            _normalise_service_error_name
        )
        moto_jsonata._eval_jsonata = _eval_jsonata
        _patch_lambda_task_errors()
        StepFunctionsParserBackend.start_execution = _start_execution  # type: ignore[method-assign]
        _patch_integration_credentials()
