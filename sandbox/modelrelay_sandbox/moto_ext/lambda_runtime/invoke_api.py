"""moto's Invoke, replaced: run the real handler (``RequestResponse``), queue it (``Event``) or check (``DryRun``).

Imitates https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html: ``X-Amz-Invocation-Type``,
``X-Amz-Function-Error``, ``X-Amz-Executed-Version`` and ``X-Amz-Log-Result`` (``LogType=Tail``). moto's
Docker-less ``LambdaSimpleBackend`` would return a canned string. moto reads the ``Qualifier`` query
parameter under the wrong name: select a version or alias with a qualified ``FunctionName``/ARN.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from moto.awslambda.models import LambdaFunction
from moto.awslambda_simple.models import LambdaSimpleBackend

from .async_invoke import submit_async
from .invoke import run_invocation
from .logs import TAIL_BYTES
from .payloads import parse_payload


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is None and isinstance(headers, Mapping):
        lowered = name.lower()
        for key, candidate in headers.items():
            if str(key).lower() == lowered:
                return str(candidate)
    return None if value is None else str(value)


def function_invoke(self: LambdaFunction, body: Any, request_headers: Any, response_headers: Any) -> bytes:
    """``LambdaFunction.invoke``: run the handler (sync) or queue it (``Event``)."""
    invocation_type = _header(request_headers, "X-Amz-Invocation-Type") or "RequestResponse"
    event_text = parse_payload(body)
    if invocation_type == "DryRun":
        return b""
    if invocation_type == "Event":
        submit_async(self, event_text)
        return b""
    result = run_invocation(self, event_text)
    if result.function_error:
        response_headers["x-amz-function-error"] = result.function_error
    response_headers["x-amz-executed-version"] = result.executed_version
    tail = result.logs.encode("utf-8")[-TAIL_BYTES:]
    response_headers["x-amz-log-result"] = base64.b64encode(tail).decode()
    return result.payload


def simple_backend_invoke(
    self: LambdaSimpleBackend,
    function_name: str,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: Any,
) -> bytes:
    """``LambdaSimpleBackend.invoke``: the real function instead of a canned string."""
    fn = self.get_function(function_name, qualifier)
    result = fn.invoke(body, headers, response_headers)
    payload = result if isinstance(result, bytes) else result.encode()
    response_headers["Content-Length"] = str(len(payload))
    return payload
