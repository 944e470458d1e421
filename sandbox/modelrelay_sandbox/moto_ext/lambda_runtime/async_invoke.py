"""Asynchronous invocation: 202 at once, the handler in the background, retries, then DLQ and destinations.

Imitates https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html and
https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html: a failed invocation is
retried ``MaximumRetryAttempts`` times (event invoke config, default 2) with one request id, after
``async_retry_delay`` seconds (0.5 s here instead of Lambda's minutes); events wait for capacity instead of
being throttled. :func:`wait_idle` waits for all of it, deliveries included.
``MaximumEventAgeInSeconds`` is not enforced.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda.models import LambdaFunction
from moto.awslambda.utils import get_backend

from .concurrency import Throttled
from .config import CONFIG
from .destinations import send_dead_letter, send_destination
from .invoke import run_invocation
from .logs import write_log
from .payloads import parse_payload

LOG = logging.getLogger(__name__)


_async_executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="lambda-async")
_inflight_cond = threading.Condition()
_inflight = 0


def invoke_async(function_arn: str, payload: bytes) -> None:
    """Invoke a function asynchronously, as Lambda does for ``InvocationType=Event``.

    For event sources (EventBridge targets, S3 notifications...): ``function_arn``
    is the function's ARN (a qualified ARN selects a version or alias),
    ``payload`` the event as JSON bytes. Returns at once; the invocation, its
    retries (``MaximumRetryAttempts`` of the function's event invoke config,
    default 2), its dead-letter queue and its destinations run in the
    background. :func:`wait_idle` waits for them. Raises moto's
    ``UnknownFunctionException`` if the function does not exist and
    ``InvalidRequestContentException`` if ``payload`` is not JSON.
    """
    parts = function_arn.split(":")
    if len(parts) < 7:
        raise ValueError(f"not a Lambda function ARN: {function_arn!r}")
    region, account = parts[3], parts[4]
    qualifier = parts[7] if len(parts) > 7 else None
    fn = get_backend(account, region).get_function(function_arn, qualifier)
    submit_async(fn, parse_payload(payload))


def wait_idle(timeout: float) -> bool:
    """Wait until no asynchronous invocation (retries, DLQ, destinations included) is
    in flight; True if idle within ``timeout`` seconds."""
    with _inflight_cond:
        return _inflight_cond.wait_for(lambda: _inflight == 0, timeout=timeout)


def submit_async(fn: LambdaFunction, event_text: str) -> None:
    global _inflight
    with _inflight_cond:
        _inflight += 1
    try:
        _async_executor.submit(_run_async, fn, event_text)
    except RuntimeError:
        _async_done()
        raise


def _async_done() -> None:
    global _inflight
    with _inflight_cond:
        _inflight -= 1
        _inflight_cond.notify_all()


def _run_async(fn: LambdaFunction, event_text: str) -> None:
    try:
        _run_async_attempts(fn, event_text)
    except (ClientError, BotoCoreError, LambdaClientError, OSError, RuntimeError) as exc:
        # The background thread has no caller to report to: log where a developer looks.
        LOG.exception("asynchronous invocation of %s failed in the sandbox", fn.function_name)
        write_log(fn.function_name, f"[sandbox] asynchronous invocation failed: {exc!r}\n")
    finally:
        _async_done()


def _async_config(fn: LambdaFunction) -> dict[str, Any]:
    configs = fn.event_invoke_config
    return dict(configs[0].config) if configs else {}


def _run_async_attempts(fn: LambdaFunction, event_text: str) -> None:
    config = _async_config(fn)
    max_retries = int(config.get("MaximumRetryAttempts", 2))
    request_id = str(uuid.uuid4())  # Lambda keeps one request id across retries
    attempts = 0
    while True:
        attempts += 1
        try:
            result = run_invocation(fn, event_text, request_id=request_id, wait_for_capacity=True)
        except Throttled as throttled:
            # Reserved concurrency 0: every event is throttled until it expires.
            send_dead_letter(fn, event_text, request_id, "429", throttled.message)
            return
        if not result.function_error:
            send_destination(fn, config, "OnSuccess", event_text, result, attempts)
            return
        if attempts > max_retries:
            break
        time.sleep(CONFIG.async_retry_delay)
    error_message = str((result.error or {}).get("errorMessage", ""))
    send_dead_letter(fn, event_text, result.request_id, "200", error_message)
    send_destination(fn, config, "OnFailure", event_text, result, attempts)
