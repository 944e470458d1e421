"""Invoke's request and response payloads: the event must be JSON; results and error payloads.

Imitates the Invoke API (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html:
``InvalidRequestContentException`` for a payload that is not JSON; ``FunctionError`` and
``X-Amz-Executed-Version`` of the response) and the error payload shape of
https://docs.aws.amazon.com/lambda/latest/dg/python-exceptions.html.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from moto.awslambda.exceptions import LambdaClientError


@dataclass
class InvocationResult:
    """The outcome of one invocation, as Lambda's Invoke API reports it."""

    request_id: str
    payload: bytes
    function_error: str | None
    logs: str
    executed_version: str

    @property
    def error(self) -> dict[str, Any] | None:
        if not self.function_error:
            return None
        parsed: dict[str, Any] = json.loads(self.payload)
        return parsed


def error_payload(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


def parse_payload(body: Any) -> str:
    """The payload as JSON text; Lambda rejects a payload that is not JSON."""
    if body is None or body == b"" or body == "":
        return "{}"
    text = body.decode("utf-8") if isinstance(body, bytes | bytearray) else body
    if not isinstance(text, str):
        return json.dumps(text)
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise LambdaClientError(
            "InvalidRequestContentException",
            f"Could not parse request body into json: Could not parse payload into json: {exc}",
        ) from exc
    return text
