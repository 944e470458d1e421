"""Fault injection: the sandbox answers a fraction of AWS requests with throttling and 5xx errors.

AWS throttles and fails a small share of calls at any time; ModelRelay must survive that (SDK retries,
Step Functions ``Retry``, EventBridge and Lambda retries) without losing work or doing it twice. moto never
fails a call it can serve. This module puts a WSGI middleware in front of the running sandbox server
(``SandboxServer._server.app``) that answers a seeded, configurable fraction of requests with the error AWS
itself would send, *before* moto sees the request (so a faulted call had no effect, as with a real throttle):

======================================  ==============================================================
Protocol of the request                 Injected answer (throttle, or server error)
======================================  ==============================================================
JSON (``X-Amz-Target``: SageMaker,       ``400 {"__type": "ThrottlingException", "message": ...}`` or
DynamoDB, EventBridge, Step Functions,   ``500 {"__type": "InternalFailure"}`` (DynamoDB:
CloudWatch Logs, SQS JSON)               ``InternalServerError``)
REST-JSON (Lambda)                       ``429 TooManyRequestsException`` or ``500 ServiceException``,
                                         ``X-Amzn-ErrorType`` header + JSON body, as Lambda sends them
REST-XML (S3)                            ``503 <Error><Code>SlowDown</Code>...`` or
                                         ``500 <Error><Code>InternalError</Code>...``
Query (STS, SNS, IAM, CloudFormation,    ``400 <ErrorResponse><Error><Type>Sender</Type><Code>Throttling``
SQS query)                               or ``500 ... <Type>Receiver</Type><Code>InternalFailure``
======================================  ==============================================================

Every answer carries ``x-amzn-RequestId`` (S3: ``x-amz-request-id`` / ``x-amz-id-2``), so SDK error parsing
and retry classification behave as against AWS: botocore's ``standard`` and ``legacy`` retry modes retry all
of them. One fault in four is a server error, the rest are throttles.

What is faulted: every *signed* AWS API request (``Authorization: AWS4-HMAC-SHA256 ...`` or a presigned
``X-Amz-Credential``) whose ``User-Agent`` does not contain the exclude marker (default ``modelrelay-test``):
the Lambda handlers in their worker subprocesses and the Step Functions interpreter's own service calls
(``lambda:invoke``, ``events:putEvents``, ``sns:publish``, ``aws-sdk:*``). Never faulted: requests carrying the
marker (a test's own clients: ``botocore.config.Config(user_agent_extra="modelrelay-test")``), moto's
internal ``/moto-api`` paths, unsigned requests, and whatever the sandbox does in process (EventBridge
deliveries, asynchronous Lambda invocations, SNS → SQS).

Use::

    from modelrelay_sandbox.moto_ext import fault_injection
    injector = fault_injection.enable(server, rate=0.2, seed=7)   # server: a SandboxServer
    ...                                                           # drive the system
    print(injector.injected, injector.stats())                    # faults answered so far, by service/code
    fault_injection.disable(server)

``enable`` on a server that already injects changes its rate and seed (the counters continue);
``only={"sagemaker", "lambda:Invoke"}`` limits faults to services (signing names) or ``service:Action``.

Injected Lambda throttles reach the state machine as ``Lambda.TooManyRequestsException`` (and 5xx as
``Lambda.ServiceException``...), as on AWS, thanks to ``moto_ext.stepfunctions`` (which names them so always),
so the ASL's ``Retry`` handles them.

The environment switch ``MODELRELAY_SANDBOX_FAULT_RATE`` (a fraction ``0.2`` or a percentage ``20%``;
empty/``0`` = off) is read only by :func:`enable_from_env`, meant to be called by the sandbox CLI right after
the server starts (``python -m modelrelay_sandbox.cli run`` does).

Limits: a fault is always injected before the request reaches moto; a call that succeeds but whose answer
is lost (a timeout after the server acted) is not simulated. The choice of *which* request is faulted
depends on the arrival order of concurrent requests, so a seed makes the rate reproducible, not the exact
requests.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any
from xml.sax.saxutils import escape

from werkzeug.wsgi import get_input_stream

RATE_ENV = "MODELRELAY_SANDBOX_FAULT_RATE"
DEFAULT_EXCLUDE_USER_AGENT = "modelrelay-test"
SERVER_ERROR_SHARE = 0.25  # one fault in four is a 5xx, the rest are throttles

_WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_CREDENTIAL = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_QUERY_CREDENTIAL = re.compile(r"X-Amz-Credential=[^&]*?(?:%2F|/)\d{8}(?:%2F|/)[^&%/]+(?:%2F|/)([^&%/]+)", re.I)
_ACTION = re.compile(r"(?:^|&)Action=([A-Za-z0-9]+)")
_lock = threading.Lock()


class FaultInjector:
    """WSGI middleware answering a fraction of AWS requests with throttling / 5xx errors (see module doc)."""

    def __init__(
        self,
        app: _WSGIApp,
        rate: float,
        seed: int,
        exclude_user_agent: str = DEFAULT_EXCLUDE_USER_AGENT,
        only: Iterable[str] | None = None,
    ) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self.seen = 0
        self.configure(rate, seed, exclude_user_agent, only)

    def configure(
        self,
        rate: float,
        seed: int,
        exclude_user_agent: str = DEFAULT_EXCLUDE_USER_AGENT,
        only: Iterable[str] | None = None,
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1, got {rate}")
        with self._lock:
            self.rate = rate
            self.seed = seed
            self.exclude_user_agent = exclude_user_agent
            self.only = {item.lower() for item in only} if only else None
            self._random = random.Random(seed)

    @property
    def injected(self) -> int:
        """Faults answered since the injector was installed."""
        with self._lock:
            return sum(self._counts.values())

    def stats(self) -> dict[str, int]:
        """Faults answered so far by ``<service>:<error code>``, plus ``total`` and ``eligible`` requests."""
        with self._lock:
            return {**dict(sorted(self._counts.items())), "total": sum(self._counts.values()), "eligible": self.seen}

    # ------------------------------------------------------------------ WSGI

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = _describe(environ)
        if request is None or self.exclude_user_agent in environ.get("HTTP_USER_AGENT", ""):
            return self.app(environ, start_response)
        service = request["service"]
        if self.only is not None and service not in self.only:
            action = _action(environ, request)
            if f"{service}:{action}".lower() not in self.only:
                return self.app(environ, start_response)
        with self._lock:
            self.seen += 1
            fault = self._random.random() < self.rate
            server_error = fault and self._random.random() < SERVER_ERROR_SHARE
        if not fault:
            return self.app(environ, start_response)
        _drain(environ)
        status, headers, body, code = _error_response(request, server_error)
        with self._lock:
            self._counts[f"{service}:{code}"] += 1
        if environ.get("REQUEST_METHOD") == "HEAD":  # AWS answers HEAD errors without a body
            body = b""
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]


# ------------------------------------------------------------------ request classification


def _describe(environ: dict[str, Any]) -> dict[str, str] | None:
    """Service (signing name) and protocol of a signed AWS request; None for anything else."""
    if environ.get("PATH_INFO", "").startswith("/moto-api"):
        return None
    match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", "")) or _QUERY_CREDENTIAL.search(
        environ.get("QUERY_STRING", "")
    )
    if match is None:
        return None
    service = match.group(1).lower()
    if environ.get("HTTP_X_AMZ_TARGET"):
        protocol = "json"
    elif service == "s3":
        protocol = "rest-xml"
    elif environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded") or _ACTION.search(
        environ.get("QUERY_STRING", "")
    ):
        protocol = "query"
    else:
        protocol = "rest-json"
    return {"service": service, "protocol": protocol, "content_type": environ.get("CONTENT_TYPE", "")}


def _action(environ: dict[str, Any], request: dict[str, str]) -> str:
    """The API action of a request (only needed for ``only=`` filters)."""
    protocol = request["protocol"]
    if protocol == "json":
        return str(environ.get("HTTP_X_AMZ_TARGET", "")).rsplit(".", 1)[-1]
    if protocol == "query":
        found = _ACTION.search(environ.get("QUERY_STRING", ""))
        if found:
            return found.group(1)
        # In the form body: read it and hand moto an identical stream.
        body = get_input_stream(environ, safe_fallback=True).read()
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("wsgi.input_terminated", None)
        found = _ACTION.search(body.decode("utf-8", "replace"))
        return found.group(1) if found else ""
    path = environ.get("PATH_INFO", "")
    if request["service"] == "lambda" and path.endswith("/invocations"):
        return "Invoke"
    return f"{environ.get('REQUEST_METHOD', '')} {path}"


def _drain(environ: dict[str, Any]) -> None:
    """Read the request body, as AWS does before answering, so the client sees the answer, not a reset."""
    stream = get_input_stream(environ, safe_fallback=True)
    while stream.read(65536):
        pass


# ------------------------------------------------------------------ error answers


def _error_response(request: dict[str, str], server_error: bool) -> tuple[str, list[tuple[str, str]], bytes, str]:
    """(status line, headers, body, error code) of the fault AWS sends for this request's protocol."""
    service, protocol = request["service"], request["protocol"]
    request_id = str(uuid.uuid4())
    if protocol == "rest-xml":
        code, status, message = (
            ("InternalError", "500 Internal Server Error", "We encountered an internal error. Please try again.")
            if server_error
            else ("SlowDown", "503 Slow Down", "Please reduce your request rate.")
        )
        host_id = uuid.uuid4().hex
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>"
            f"<RequestId>{request_id}</RequestId><HostId>{host_id}</HostId></Error>"
        ).encode()
        headers = [("Content-Type", "application/xml"), ("x-amz-request-id", request_id), ("x-amz-id-2", host_id)]
        return status, headers, body, code
    if protocol == "query":
        code, status, kind, message = (
            (
                "InternalFailure",
                "500 Internal Server Error",
                "Receiver",
                "The request processing has failed because of an unknown error, exception or failure.",
            )
            if server_error
            else ("Throttling", "400 Bad Request", "Sender", "Rate exceeded")
        )
        body = (
            f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>{escape(message)}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        return status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body, code
    if protocol == "rest-json":
        if server_error:
            code, status, payload = (
                "ServiceException",
                "500 Internal Server Error",
                {"Type": "Service", "message": "An internal error occurred. Please try again."},
            )
        else:
            code, status, payload = (
                "TooManyRequestsException",
                "429 Too Many Requests",
                {"Type": "User", "message": "Rate Exceeded.", "Reason": "CallerRateLimitExceeded"},
            )
        headers = [("Content-Type", "application/json"), ("X-Amzn-ErrorType", code), ("x-amzn-RequestId", request_id)]
        return status, headers, json.dumps(payload).encode(), code
    # JSON protocols (X-Amz-Target)
    if server_error:
        code = "InternalServerError" if service == "dynamodb" else "InternalFailure"
        status, message = "500 Internal Server Error", "The service encountered an internal error; try again."
    else:
        code, status, message = "ThrottlingException", "400 Bad Request", "Rate exceeded"
    content_type = (
        request["content_type"]
        if request["content_type"].startswith("application/x-amz-json")
        else "application/x-amz-json-1.1"
    )
    body = json.dumps({"__type": code, "message": message}).encode()
    return status, [("Content-Type", content_type), ("x-amzn-RequestId", request_id)], body, code


# ------------------------------------------------------------------ switch


def _wsgi_server(server: Any) -> Any:
    """The werkzeug server of a ``SandboxServer`` (or a werkzeug server itself)."""
    return getattr(server, "_server", server)


def injector(server: Any) -> FaultInjector | None:
    """The injector installed on ``server``, if any."""
    app = _wsgi_server(server).app
    return app if isinstance(app, FaultInjector) else None


def enable(
    server: Any,
    rate: float,
    seed: int,
    exclude_user_agent: str = DEFAULT_EXCLUDE_USER_AGENT,
    only: Iterable[str] | None = None,
) -> FaultInjector:
    """Start answering ``rate`` of the eligible requests of ``server`` with faults; returns the injector."""
    wsgi = _wsgi_server(server)
    with _lock:
        current = injector(server)
        if current is not None:
            current.configure(rate, seed, exclude_user_agent, only)
            return current
        wrapped = FaultInjector(wsgi.app, rate, seed, exclude_user_agent, only)
        wsgi.app = wrapped
        return wrapped


def disable(server: Any) -> FaultInjector | None:
    """Stop injecting faults (idempotent); returns the removed injector, whose counters stay readable."""
    wsgi = _wsgi_server(server)
    with _lock:
        current = injector(server)
        if current is not None:
            wsgi.app = current.app
        return current


def parse_rate(text: str) -> float:
    """``0.2`` or ``20%`` → 0.2 (ValueError naming the variable otherwise)."""
    value = text.strip()
    try:
        rate = float(value[:-1]) / 100 if value.endswith("%") else float(value)
    except ValueError as exc:
        raise ValueError(f"{RATE_ENV}={text!r} is not a fraction (0.2) or a percentage (20%)") from exc
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"{RATE_ENV}={text!r} is outside 0..1 (0%..100%)")
    return rate


def enable_from_env(server: Any, seed: int = 0, environ: dict[str, str] | None = None) -> FaultInjector | None:
    """Enable fault injection when ``MODELRELAY_SANDBOX_FAULT_RATE`` asks for it; None when unset or zero."""
    text = (os.environ if environ is None else environ).get(RATE_ENV, "").strip()
    if not text:
        return None
    rate = parse_rate(text)
    if rate == 0:
        return None
    return enable(server, rate=rate, seed=seed)


__all__ = [
    "DEFAULT_EXCLUDE_USER_AGENT",
    "RATE_ENV",
    "FaultInjector",
    "disable",
    "enable",
    "enable_from_env",
    "injector",
    "parse_rate",
]
