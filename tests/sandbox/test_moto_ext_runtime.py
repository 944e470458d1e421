"""The sandbox's Lambda runtime and Step Functions fixes, against a real in-process server.

Each test creates tiny functions from zips built here and checks what AWS would
return: results, error shapes, timeouts, warm reuse, layers, async retries and
dead letters, and a JSONPath state machine's Retry/Catch on Lambda and SDK errors.
"""

from __future__ import annotations

import base64
import io
import json
import socket
import textwrap
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from modelrelay_sandbox.environment import wait_for
from modelrelay_sandbox.moto_ext import lambda_runtime, stepfunctions
from modelrelay_sandbox.moto_ext.stepfunctions import sfn_service_error_name
from modelrelay_sandbox.server import SandboxPortBusy, SandboxServer, start_server

REGION = "us-east-1"
ACCOUNT = "123456789012"


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    sandbox = start_server(port=None, state_dir=tmp_path_factory.mktemp("sandbox-state"))
    lambda_runtime.configure(async_retry_delay=0.2)
    yield sandbox
    sandbox.stop()


def zip_of(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, textwrap.dedent(text))
    return buffer.getvalue()


def create_function(
    aws: Callable[..., Any],
    role_arn: str,
    code: str,
    *,
    timeout: int = 5,
    client: Any = None,
    **extra: Any,
) -> str:
    name = f"fn-{uuid.uuid4().hex[:8]}"
    lam = client or aws("lambda")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role_arn,
        Handler="app.handler",
        Code={"ZipFile": zip_of({"app.py": code})},
        Timeout=timeout,
        **extra,
    )
    return name


def invoke(aws: Callable[..., Any], name: str, event: Any = None, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    response = aws("lambda").invoke(FunctionName=name, Payload=json.dumps(event or {}).encode(), **kwargs)
    return response, json.loads(response["Payload"].read() or b"null")


ECHO = """
    import os
    import boto3

    CALLS = 0

    def handler(event, context):
        global CALLS
        CALLS += 1
        print("echo got", event)
        identity = boto3.client("sts").get_caller_identity()
        return {
            "event": event,
            "pid": os.getpid(),
            "calls": CALLS,
            "env": dict(os.environ),
            "account": identity["Account"],
            "context": {
                "function_name": context.function_name,
                "function_version": context.function_version,
                "invoked_function_arn": context.invoked_function_arn,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "aws_request_id": context.aws_request_id,
                "log_group_name": context.log_group_name,
                "log_stream_name": context.log_stream_name,
                "remaining": context.get_remaining_time_in_millis(),
            },
        }
"""

CFN_APP = "import cfnlib\n\ndef handler(event, context):\n    return cfnlib.WHERE\n"

BOOM = """
    def handler(event, context):
        print("about to fail", event)
        raise ValueError("boom")
"""


def create_state_machine(sfn: Any, role_arn: str, definition: dict[str, Any] | str) -> str:
    """A uniquely named state machine with ``definition`` (a dict, or ASL text as given); its ARN."""
    text = definition if isinstance(definition, str) else json.dumps(definition)
    arn: str = sfn.create_state_machine(name=f"sm-{uuid.uuid4().hex[:8]}", definition=text, roleArn=role_arn)[
        "stateMachineArn"
    ]
    return arn


def wait_for_execution(sfn: Any, execution_arn: str, timeout: float = 20) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        return described if described["status"] != "RUNNING" else None

    return wait_for(finished, timeout=timeout, interval=0.1, what=f"execution {execution_arn} to finish")


# --------------------------------------------------------------------------- Lambda: results and environment


def test_handler_runs_with_lambda_environment_and_context(aws: Callable[..., Any], role_arn: str) -> None:
    # Given a function with one configured variable
    name = create_function(aws, role_arn, ECHO, timeout=7, Environment={"Variables": {"STAGE": "sandbox"}})

    # When it is invoked synchronously
    response, result = invoke(aws, name, {"hello": "world"})

    # Then the real handler ran on the event, with Lambda's environment only
    assert "FunctionError" not in response
    assert response["StatusCode"] == 200
    assert result["event"] == {"hello": "world"}
    env = result["env"]
    assert env["STAGE"] == "sandbox"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == REGION
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{name}"
    assert env["_HANDLER"] == "app.handler"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert env["AWS_ACCESS_KEY_ID"].startswith("ASIA") and env["AWS_SESSION_TOKEN"]
    assert env["POWERTOOLS_TRACE_DISABLED"] == "true"
    assert "PYTEST_CURRENT_TEST" not in env  # nothing leaks from the host process
    assert result["account"] == ACCOUNT
    # And the context object carries what Lambda's does
    context = result["context"]
    assert context["function_name"] == name
    assert context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    assert context["memory_limit_in_mb"] == "128"
    assert context["log_group_name"] == f"/aws/lambda/{name}"
    assert context["log_stream_name"] == env["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert 0 < context["remaining"] <= 7000
    uuid.UUID(context["aws_request_id"])


def test_warm_worker_is_reused_and_busy_worker_is_not(aws: Callable[..., Any], role_arn: str) -> None:
    # Given a function invoked once
    name = create_function(aws, role_arn, ECHO)
    _, first = invoke(aws, name)

    # When it is invoked again
    _, second = invoke(aws, name)

    # Then the same warm process served it, with its module state kept
    assert second["pid"] == first["pid"]
    assert second["calls"] == first["calls"] + 1

    # And when two invocations overlap, a second environment is started
    slow = create_function(
        aws, role_arn, "import os, time\ndef handler(e, c):\n    time.sleep(0.8)\n    return os.getpid()"
    )
    pids: list[int] = []
    threads = [threading.Thread(target=lambda: pids.append(invoke(aws, slow)[1])) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(pids)) == 2


def test_credentials_resolve_to_the_functions_account(aws: Callable[..., Any]) -> None:
    # Given a function created in another account (through a role assumed there)
    other = "111111111111"
    creds = aws("sts").assume_role(RoleArn=f"arn:aws:iam::{other}:role/deployer", RoleSessionName="deployer")[
        "Credentials"
    ]
    as_other = {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }
    role = aws("iam", **as_other).create_role(RoleName="fn-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam = aws("lambda", **as_other)
    name = create_function(aws, role, ECHO, client=lam)

    # When it calls STS with the credentials Lambda gave it
    response = lam.invoke(FunctionName=name, Payload=b"{}")
    result = json.loads(response["Payload"].read())

    # Then it is in its own account
    assert result["account"] == other
    assert result["context"]["invoked_function_arn"].split(":")[4] == other


# --------------------------------------------------------------------------- Lambda: errors


def test_handler_exception_returns_lambdas_error_shape(aws: Callable[..., Any], role_arn: str) -> None:
    # Given a handler that raises ValueError("boom")
    name = create_function(aws, role_arn, BOOM)

    # When it is invoked
    response, error = invoke(aws, name, LogType="Tail")

    # Then Lambda's unhandled-error response comes back, as the Python runtime shapes it
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert list(error) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert error["errorMessage"] == "boom"
    assert error["errorType"] == "ValueError"
    assert any('raise ValueError("boom")' in frame for frame in error["stackTrace"])
    # And the log tail has the handler's output and the runtime's error record
    tail = base64.b64decode(response["LogResult"]).decode()
    assert "about to fail {}" in tail
    assert "[ERROR] ValueError: boom" in tail
    assert f"END RequestId: {error['requestId']}" in tail


def test_timeout_kills_the_worker_and_returns_sandbox_timedout(aws: Callable[..., Any], role_arn: str) -> None:
    # Given a function with a 1 s timeout whose handler sleeps past it
    code = """
        import os, time

        def handler(event, context):
            if event.get("sleep"):
                time.sleep(5)
            return os.getpid()
    """
    name = create_function(aws, role_arn, code, timeout=1)
    _, warm_pid = invoke(aws, name)

    # When it is invoked
    started = time.monotonic()
    response, error = invoke(aws, name, {"sleep": True})
    elapsed = time.monotonic() - started

    # Then it fails after ~1 s with Lambda's timeout error
    assert 0.9 < elapsed < 3
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Sandbox.Timedout"
    assert error["errorMessage"].endswith("Task timed out after 1.00 seconds")
    # And the next invocation runs in a fresh environment
    _, pid_after = invoke(aws, name)
    assert pid_after != warm_pid


def test_worker_exit_returns_runtime_exit_error(aws: Callable[..., Any], role_arn: str) -> None:
    # Given a handler that exits its process
    name = create_function(aws, role_arn, "import os\ndef handler(event, context):\n    os._exit(3)")

    # When it is invoked
    response, error = invoke(aws, name)

    # Then Lambda's runtime-exit error comes back
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.ExitError"
    assert error["errorMessage"].endswith("Runtime exited with error: exit status 3")


def test_missing_handler_module_is_an_import_error(aws: Callable[..., Any], role_arn: str) -> None:
    # Given a function whose module imports a package that is nowhere
    name = create_function(aws, role_arn, "import not_installed_anywhere\ndef handler(e, c):\n    return 1")

    # When it is invoked
    response, error = invoke(aws, name)

    # Then the init error is Lambda's
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert error["errorMessage"] == "Unable to import module 'app': No module named 'not_installed_anywhere'"


def test_reserved_concurrency_throttles_synchronous_invokes(aws: Callable[..., Any], role_arn: str) -> None:
    # Given a function limited to one concurrent execution, busy with a slow invocation
    name = create_function(aws, role_arn, "import time\ndef handler(e, c):\n    time.sleep(e.get('sleep', 0))\n")
    aws("lambda").put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    function_arn = aws("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    busy = threading.Thread(target=invoke, args=(aws, name, {"sleep": 1.5}))
    busy.start()
    # (its execution environment exists, and stays busy until the slow invocation returns)
    wait_for(lambda: lambda_runtime.worker_pids(function_arn), timeout=10, interval=0.02, what="the busy worker")

    # When a second synchronous invoke arrives meanwhile
    no_retries = aws("lambda", config=Config(retries={"total_max_attempts": 1}))
    with pytest.raises(ClientError) as raised:
        no_retries.invoke(FunctionName=name, Payload=b"{}")
    busy.join()

    # Then Lambda's throttling error comes back
    assert raised.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429


# --------------------------------------------------------------------------- Lambda: code, layers, logs


def test_layer_modules_import_and_host_wheels_win(aws: Callable[..., Any], role_arn: str) -> None:
    # Given a layer with a module, and a pydantic_core built for another platform
    layer_zip = zip_of(
        {
            "python/relaylib.py": "GREETING = 'from the layer'\n",
            "python/pydantic_core/__init__.py": "raise ImportError('arm64 wheel on an x86_64 host')\n",
        }
    )
    layer_arn = aws("lambda").publish_layer_version(LayerName="relay", Content={"ZipFile": layer_zip})[
        "LayerVersionArn"
    ]
    code = "import relaylib, pydantic_core\ndef handler(e, c):\n    return relaylib.GREETING"
    name = create_function(aws, role_arn, code, Layers=[layer_arn])

    # When the function is invoked
    response, result = invoke(aws, name)

    # Then the layer's module is importable and compiled deps come from the host venv
    assert "FunctionError" not in response, result
    assert result == "from the layer"


def test_cloudformation_function_keeps_layers_and_dead_letter_config(aws: Callable[..., Any]) -> None:
    # Given function code and a layer uploaded to S3, and a template that uses both
    s3 = aws("s3")
    bucket = f"artifacts-{uuid.uuid4().hex[:6]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="layer.zip", Body=zip_of({"python/cfnlib.py": "WHERE = 'cfn layer'\n"}))
    s3.put_object(Bucket=bucket, Key="fn.zip", Body=zip_of({"app.py": CFN_APP}))
    template = {
        "Resources": {
            "Dlq": {"Type": "AWS::SQS::Queue"},
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {}}},
            "Layer": {
                "Type": "AWS::Lambda::LayerVersion",
                "Properties": {"LayerName": "cfnlib", "Content": {"S3Bucket": bucket, "S3Key": "layer.zip"}},
            },
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.12",
                    "Handler": "app.handler",
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    "Code": {"S3Bucket": bucket, "S3Key": "fn.zip"},
                    "Layers": [{"Ref": "Layer"}],
                    "DeadLetterConfig": {"TargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]}},
                },
            },
        }
    }
    stack = f"stack-{uuid.uuid4().hex[:6]}"

    # When the stack is created
    aws("cloudformation").create_stack(StackName=stack, TemplateBody=json.dumps(template))
    resources = aws("cloudformation").describe_stack_resources(StackName=stack)["StackResources"]
    name = next(r["PhysicalResourceId"] for r in resources if r["LogicalResourceId"] == "Fn")

    # Then the function runs its S3 code with the layer, and keeps its DLQ
    response, result = invoke(aws, name)
    assert "FunctionError" not in response, result
    assert result == "cfn layer"
    assert (
        aws("lambda")
        .get_function_configuration(FunctionName=name)["DeadLetterConfig"]["TargetArn"]
        .startswith("arn:aws:sqs:")
    )


def test_code_update_recycles_the_worker(aws: Callable[..., Any], role_arn: str) -> None:
    # Given a warm function
    name = create_function(aws, role_arn, "import os\ndef handler(e, c):\n    return ['v1', os.getpid()]")
    _, (version, pid) = invoke(aws, name)
    assert version == "v1"

    # When its code is updated
    new_code = zip_of({"app.py": "import os\ndef handler(e, c):\n    return ['v2', os.getpid()]"})
    aws("lambda").update_function_code(FunctionName=name, ZipFile=new_code)

    # Then the next invocation runs the new code in a new environment
    _, (version, new_pid) = invoke(aws, name)
    assert version == "v2"
    assert new_pid != pid


def test_logs_go_to_the_log_file_and_cloudwatch(aws: Callable[..., Any], role_arn: str, server: SandboxServer) -> None:
    # Given a function that prints
    name = create_function(aws, role_arn, ECHO)

    # When it is invoked
    invoke(aws, name, {"marker": "log-me"})

    # Then the output is in <state>/logs/<name>.log and in CloudWatch Logs
    log_text = (server.state_dir / "logs" / f"{name}.log").read_text()
    assert "echo got {'marker': 'log-me'}" in log_text
    assert "REPORT RequestId:" in log_text
    events = aws("logs").filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
    assert any("log-me" in event["message"] for event in events)


# --------------------------------------------------------------------------- Lambda: asynchronous invocation


def test_async_failure_is_retried_then_sent_to_the_dead_letter_queue(
    aws: Callable[..., Any], role_arn: str, server: SandboxServer
) -> None:
    # Given a failing function with an SQS dead-letter queue and one retry
    sqs = aws("sqs")
    queue_url = sqs.create_queue(QueueName=f"dlq-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    name = create_function(aws, role_arn, BOOM, DeadLetterConfig={"TargetArn": queue_arn})
    aws("lambda").put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
    assert aws("lambda").get_function_configuration(FunctionName=name)["DeadLetterConfig"] == {"TargetArn": queue_arn}

    # When it is invoked asynchronously
    response = aws("lambda").invoke(FunctionName=name, InvocationType="Event", Payload=b'{"order": 7}')

    # Then the call returns 202 at once, the handler runs twice, then the event lands in the DLQ
    assert response["StatusCode"] == 202
    assert lambda_runtime.wait_idle(timeout=20)
    log_text = (server.state_dir / "logs" / f"{name}.log").read_text()
    assert log_text.count("about to fail {'order': 7}") == 2
    messages = sqs.receive_message(QueueUrl=queue_url, MessageAttributeNames=["All"], WaitTimeSeconds=1)["Messages"]
    assert json.loads(messages[0]["Body"]) == {"order": 7}
    attributes = messages[0]["MessageAttributes"]
    assert attributes["ErrorMessage"]["StringValue"] == "boom"
    assert attributes["ErrorCode"] == {"StringValue": "200", "DataType": "Number"}
    uuid.UUID(attributes["RequestID"]["StringValue"])


def test_invoke_async_for_event_sources_reaches_on_success_destination(aws: Callable[..., Any], role_arn: str) -> None:
    # Given a function with an OnSuccess destination
    sqs = aws("sqs")
    queue_url = sqs.create_queue(QueueName=f"ok-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    name = create_function(aws, role_arn, "def handler(event, context):\n    return {'seen': event['n']}")
    function_arn = aws("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    aws("lambda").put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": queue_arn}}
    )

    # When an event source invokes it through invoke_async
    lambda_runtime.invoke_async(function_arn, b'{"n": 1}')

    # Then the invocation record reaches the destination
    assert lambda_runtime.wait_idle(timeout=20)
    record = json.loads(sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)["Messages"][0]["Body"])
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestPayload"] == {"n": 1}
    assert record["responsePayload"] == {"seen": 1}


# --------------------------------------------------------------------------- Step Functions


def test_state_machine_catches_lambda_error_types_and_aws_named_sdk_errors(
    aws: Callable[..., Any], role_arn: str
) -> None:
    # Given a Lambda that rejects some artifacts with a custom exception type
    code = """
        class ArtifactRejected(Exception):
            pass

        def handler(event, context):
            if event.get("mode") == "reject":
                raise ArtifactRejected("checksum mismatch")
            if event.get("mode") == "crash":
                raise KeyError("missing")
            return {"verified": event["package"]}
    """
    function_arn = aws("lambda").get_function(FunctionName=create_function(aws, role_arn, code))["Configuration"][
        "FunctionArn"
    ]
    # And a state machine: Lambda task -> describeModelPackage, with Retry/Catch as in AWS
    definition = {
        "StartAt": "Verify",
        "States": {
            "Verify": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": function_arn, "Payload.$": "$"},
                "ResultSelector": {"verified.$": "$.Payload.verified"},
                "ResultPath": "$.verify",
                "Retry": [{"ErrorEquals": ["Lambda.ServiceException"], "MaxAttempts": 2, "IntervalSeconds": 1}],
                "Catch": [
                    {"ErrorEquals": ["ArtifactRejected"], "ResultPath": "$.error", "Next": "Rejected"},
                    {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "Failed"},
                ],
                "Next": "Describe",
            },
            "Describe": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:sagemaker:describeModelPackage",
                "Parameters": {"ModelPackageName.$": "$.package"},
                "Catch": [
                    {"ErrorEquals": ["SageMaker.SageMakerException"], "ResultPath": "$.error", "Next": "Missing"}
                ],
                "End": True,
            },
            "Rejected": {"Type": "Pass", "End": True},
            "Failed": {"Type": "Pass", "End": True},
            "Missing": {"Type": "Pass", "End": True},
        },
    }
    sfn = aws("stepfunctions")
    machine = create_state_machine(sfn, role_arn, definition)
    missing = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/nope/1"

    def run(payload: dict[str, Any]) -> dict[str, Any]:
        # unnamed executions, as event sources start them
        arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps(payload))["executionArn"]
        described = wait_for_execution(sfn, arn)
        assert described["status"] == "SUCCEEDED", described
        output: dict[str, Any] = json.loads(described["output"])
        return output

    # When the Lambda raises the custom error type
    rejected = run({"mode": "reject", "package": missing})
    # Then Catch on that errorType matched, and Cause is the Lambda error payload
    assert rejected["error"]["Error"] == "ArtifactRejected"
    cause = json.loads(rejected["error"]["Cause"])
    assert cause["errorType"] == "ArtifactRejected"
    assert cause["errorMessage"] == "checksum mismatch"

    # When the Lambda raises anything else, States.TaskFailed catches it
    failed = run({"mode": "crash", "package": missing})
    assert failed["error"]["Error"] == "KeyError"

    # When the SDK call fails, the error is named as AWS names it
    missing_out = run({"mode": "ok", "package": missing})
    assert missing_out["verify"] == {"verified": missing}
    assert missing_out["error"]["Error"] == "SageMaker.SageMakerException"
    assert "Service: SageMaker" in missing_out["error"]["Cause"]


def test_a_lambda_task_that_gets_no_answer_fails_with_lambda_sdk_client_exception(
    server: SandboxServer, aws: Callable[..., Any], role_arn: str
) -> None:
    # Given a state machine calling a function, catching the SDK's transport failure as AWS names it
    function_arn = aws("lambda").get_function(
        FunctionName=create_function(aws, role_arn, "def handler(event, context):\n    return event\n")
    )["Configuration"]["FunctionArn"]
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": function_arn,
                "Catch": [{"ErrorEquals": ["Lambda.SdkClientException"], "ResultPath": "$.error", "Next": "NoAnswer"}],
                "End": True,
            },
            "NoAnswer": {"Type": "Pass", "End": True},
        },
    }
    sfn = aws("stepfunctions")
    machine = create_state_machine(sfn, role_arn, definition)
    # And the interpreter's calls sent to a port nobody listens on (the connection is refused)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    stepfunctions.configure(closed_port)
    try:
        # When it runs
        arn = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
        described = wait_for_execution(sfn, arn)
    finally:
        stepfunctions.configure(server.port)

    # Then the task failed with Lambda.SdkClientException (retryable in the product's ASL), caught as such
    assert described["status"] == "SUCCEEDED", described
    error = json.loads(described["output"])["error"]
    assert error["Error"] == "Lambda.SdkClientException"
    assert "Unable to execute HTTP request" in error["Cause"]


def test_state_machine_optimised_integrations_work_as_on_aws(aws: Callable[..., Any], role_arn: str) -> None:
    # Given a table, a topic with a queue subscribed, a model package and a state machine using them
    ddb, sns, sqs, sagemaker = aws("dynamodb"), aws("sns"), aws("sqs"), aws("sagemaker")
    table = f"claims-{uuid.uuid4().hex[:6]}"
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    topic = sns.create_topic(Name=f"notify-{uuid.uuid4().hex[:6]}")["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"inbox-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    group = f"group-{uuid.uuid4().hex[:6]}"
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    package = sagemaker.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/model:1"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    definition = {
        "StartAt": "Claim",
        "States": {
            "Claim": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:putItem",
                "Parameters": {
                    "TableName": table,
                    "Item": {"pk": {"S.$": "$.package"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                },
                "ResultPath": None,
                "Catch": [
                    {
                        "ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"],
                        "ResultPath": "$.error",
                        "Next": "AlreadyClaimed",
                    }
                ],
                "Next": "Approve",
            },
            "Approve": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:sagemaker:updateModelPackage",
                "Parameters": {"ModelPackageArn.$": "$.package", "ModelApprovalStatus": "Approved"},
                "ResultPath": None,
                "Next": "Notify",
            },
            "Notify": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {"TopicArn": topic, "Message.$": "$.package"},
                "ResultPath": None,
                "Next": "Emit",
            },
            "Emit": {
                "Type": "Task",
                "Resource": "arn:aws:states:::events:putEvents",
                "Parameters": {
                    "Entries": [
                        {"Source": "modelrelay.test", "DetailType": "Promoted", "Detail": {"arn.$": "$.package"}}
                    ]
                },
                "ResultSelector": {"failed.$": "$.FailedEntryCount"},
                "ResultPath": "$.emitted",
                "End": True,
            },
            "AlreadyClaimed": {"Type": "Pass", "End": True},
        },
    }
    sfn = aws("stepfunctions")
    machine = create_state_machine(sfn, role_arn, definition)

    def run() -> dict[str, Any]:
        arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"package": package}))["executionArn"]
        described = wait_for_execution(sfn, arn)
        assert described["status"] == "SUCCEEDED", described
        output: dict[str, Any] = json.loads(described["output"])
        return output

    # When it runs once
    first = run()

    # Then every integration did its job
    assert first["emitted"] == {"failed": 0}
    assert sagemaker.describe_model_package(ModelPackageName=package)["ModelApprovalStatus"] == "Approved"
    assert ddb.get_item(TableName=table, Key={"pk": {"S": package}})["Item"]
    bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", [])]
    assert package in bodies

    # And when it runs again, the conditional put fails with DynamoDB's AWS error name
    second = run()
    assert second["error"]["Error"] == "DynamoDB.ConditionalCheckFailedException"


def test_jsonata_state_machine_runs(aws: Callable[..., Any], role_arn: str) -> None:
    # Given a JSONata state machine
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Sum",
        "States": {
            "Sum": {
                "Type": "Pass",
                "Output": {"total": "{% $sum($states.input.values) %}", "names": "{% $states.input.items.name %}"},
                "End": True,
            }
        },
    }
    sfn = aws("stepfunctions")
    machine = create_state_machine(sfn, role_arn, definition)

    # When it runs
    payload = {"values": [1, 2, 3], "items": [{"name": "a"}, {"name": "b"}]}
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps(payload))["executionArn"]
    described = wait_for_execution(sfn, arn)

    # Then the expressions were evaluated
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == {"total": 6, "names": ["a", "b"]}


@pytest.mark.parametrize(
    ("sdk_name", "expected"),
    [
        ("sagemaker", "SageMaker"),
        ("dynamodb", "DynamoDb"),
        ("s3", "S3"),
        ("sfn", "Sfn"),
        ("acmpca", "AcmPca"),
        ("ec2", "Ec2"),
    ],
)
def test_sdk_service_error_names_follow_aws_spelling(sdk_name: str, expected: str) -> None:
    # Given / When / Then: the service part of "<Service>.<Error>Exception" as AWS documents it
    assert sfn_service_error_name(sdk_name) == expected


# --------------------------------------------------------------------------- server


def test_busy_port_fails_fast_with_a_clear_error(server: SandboxServer) -> None:
    # Given a port somebody listens on
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]

        # When the sandbox is started on it
        started = time.monotonic()
        with pytest.raises(SandboxPortBusy) as raised:
            start_server(port=port, state_dir=Path(server.state_dir))

    # Then it fails at once, naming the port
    assert time.monotonic() - started < 2
    assert str(port) in str(raised.value)
