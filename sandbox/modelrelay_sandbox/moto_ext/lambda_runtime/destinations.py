"""Where a finished asynchronous invocation goes: the dead-letter queue and the OnSuccess/OnFailure destinations.

Imitates https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html: the event to
``DeadLetterConfig.TargetArn`` (SQS or SNS) with the ``RequestID``, ``ErrorCode`` and ``ErrorMessage``
message attributes; an invocation record (``requestContext``, ``requestPayload``, ``responseContext``,
``responsePayload``) to the destination (SQS, SNS, Lambda or EventBridge), sent as the function's
execution role.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from moto.awslambda.models import LambdaFunction

from .credentials import role_client
from .payloads import InvocationResult
from .spec import spec_for

LOG = logging.getLogger(__name__)


def send_dead_letter(fn: LambdaFunction, event_text: str, request_id: str, error_code: str, message: str) -> None:
    """The event to ``DeadLetterConfig.TargetArn``, with Lambda's three message attributes
    (``ErrorCode``: the invocation's HTTP status; ``ErrorMessage``: first 1 KB)."""
    target = (getattr(fn, "dead_letter_config", None) or {}).get("TargetArn")
    if not target:
        return
    attributes = {
        "RequestID": {"DataType": "String", "StringValue": request_id},
        "ErrorCode": {"DataType": "Number", "StringValue": error_code},
        "ErrorMessage": {"DataType": "String", "StringValue": message[:1024] or "-"},
    }
    _deliver(fn, target, event_text, attributes)


def send_destination(
    fn: LambdaFunction,
    config: Mapping[str, Any],
    kind: str,
    event_text: str,
    result: InvocationResult,
    attempts: int,
) -> None:
    target = (config.get("DestinationConfig") or {}).get(kind, {}).get("Destination")
    if not target:
        return
    response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": result.executed_version}
    if result.function_error:
        response_context["functionError"] = result.function_error
    try:
        response_payload: Any = json.loads(result.payload) if result.payload else None
    except json.JSONDecodeError:
        response_payload = result.payload.decode("utf-8", errors="replace")
    record = {
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {
            "requestId": result.request_id,
            "functionArn": f"{fn.function_arn}:{result.executed_version}"
            if fn.function_arn.count(":") == 6
            else fn.function_arn,
            "condition": "Success" if kind == "OnSuccess" else "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": json.loads(event_text),
        "responseContext": response_context,
        "responsePayload": response_payload,
    }
    detail_type = (
        "Lambda Function Invocation Result - Success"
        if kind == "OnSuccess"
        else "Lambda Function Invocation Result - Failure"
    )
    _deliver(fn, target, json.dumps(record), None, detail_type=detail_type)


def _deliver(
    fn: LambdaFunction,
    target_arn: str,
    body: str,
    attributes: dict[str, dict[str, str]] | None,
    detail_type: str | None = None,
) -> None:
    """Send ``body`` to an SQS queue, SNS topic, Lambda function or event bus, as the
    function's execution role."""
    spec = spec_for(fn)
    parts = target_arn.split(":")
    service, region, account = parts[2], parts[3], parts[4]
    if service == "sqs":
        sqs = role_client("sqs", spec, region)
        url = sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=account)["QueueUrl"]
        kwargs: dict[str, Any] = {"QueueUrl": url, "MessageBody": body}
        if attributes:
            kwargs["MessageAttributes"] = attributes
        sqs.send_message(**kwargs)
    elif service == "sns":
        sns_kwargs: dict[str, Any] = {"TopicArn": target_arn, "Message": body}
        if attributes:
            sns_kwargs["MessageAttributes"] = attributes
        role_client("sns", spec, region).publish(**sns_kwargs)
    elif service == "lambda":
        from .async_invoke import invoke_async  # async_invoke imports this module

        invoke_async(target_arn, body.encode())
    elif service == "events":
        role_client("events", spec, region).put_events(
            Entries=[
                {
                    "Source": "lambda",
                    "DetailType": detail_type or "Lambda Function Invocation Result",
                    "Detail": body,
                    "Resources": [fn.function_arn],
                    "EventBusName": target_arn,
                }
            ]
        )
    else:
        LOG.warning("unsupported destination %s for %s", target_arn, fn.function_name)
