"""One synchronous invocation: run the handler on an event in an execution environment, shape the result.

Imitates https://docs.aws.amazon.com/lambda/latest/dg/invocation-sync.html and the runtime errors of
https://docs.aws.amazon.com/lambda/latest/dg/python-exceptions.html: handler exception ->
``FunctionError: Unhandled`` with ``errorMessage``/``errorType``/``requestId``/``stackTrace``; init failures
(``Runtime.ImportModuleError``, ``Runtime.HandlerNotFound``...); worker exit -> ``Runtime.ExitError``;
non-serialisable result -> ``Runtime.MarshalError``. The REPORT line follows
https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html.
"""

from __future__ import annotations

import json
import math
import queue
import signal
import subprocess
import time
import uuid
from typing import Any

from moto.awslambda.models import LambdaFunction

from .concurrency import checkout
from .config import CONFIG
from .logs import to_cloudwatch
from .payloads import InvocationResult, error_payload
from .pool import POOL, spawn
from .spec import FunctionSpec, spec_for
from .timeouts import handler_deadline, timed_out, timeout_error
from .worker import Worker


def _exit_error(worker: Worker, request_id: str) -> bytes:
    try:
        code = worker.proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        worker.kill()
        code = worker.proc.returncode
    worker.logs_closed.wait(timeout=1)  # its last words come before the runtime's
    if code == 0:
        message = f"RequestId: {request_id} Error: Runtime exited without providing a reason"
    elif code is not None and code < 0:
        reason = f"signal: {signal.Signals(-code).name.removeprefix('SIG').lower()}"
        message = f"RequestId: {request_id} Error: Runtime exited with error: {reason}"
    else:
        message = f"RequestId: {request_id} Error: Runtime exited with error: exit status {code}"
    worker.note(f"{message}\nRuntime.ExitError")
    return error_payload("Runtime.ExitError", message)


def run_invocation(
    fn: LambdaFunction,
    event_text: str,
    request_id: str | None = None,
    *,
    wait_for_capacity: bool = False,
) -> InvocationResult:
    """Run ``fn``'s handler once on ``event_text`` (a JSON document), synchronously.

    When the function's reserved concurrency is all in use, raise :class:`Throttled`
    (a synchronous caller's 429), or with ``wait_for_capacity`` wait for a free
    environment (Lambda's queue for asynchronous events).
    """
    spec = spec_for(fn)
    request_id = request_id or str(uuid.uuid4())
    worker = checkout(spec, wait_for_capacity=wait_for_capacity)
    started = time.monotonic()
    if worker is None:
        worker = spawn(fn, spec)
        cold = True
    else:
        cold = False
    try:
        result, reusable = _run_on(worker, spec, event_text, request_id, started, cold)
    except BaseException:
        POOL.checkin(worker, reusable=False)  # never leave a worker marked busy
        raise
    POOL.checkin(worker, reusable=reusable)
    to_cloudwatch(fn, worker.log_stream, result.logs.splitlines())
    return result


def _init_failure(worker: Worker, spec: FunctionSpec, request_id: str) -> bytes | None:
    """Wait for a new worker's init phase; its error payload if it failed."""
    try:
        hello = worker.messages.get(timeout=CONFIG.init_phase_timeout + spec.timeout)
    except queue.Empty:
        return timeout_error(spec, request_id)
    worker.wait_for_logs("init", timeout=1)
    if hello is None:
        return _exit_error(worker, request_id)
    if not hello.get("ok"):
        error = dict(hello["error"])
        error["requestId"] = request_id
        return json.dumps(error).encode()
    return None


def _run_on(
    worker: Worker,
    spec: FunctionSpec,
    event_text: str,
    request_id: str,
    started: float,
    cold: bool,
) -> tuple[InvocationResult, bool]:
    """One invocation on a checked-out worker: the result and whether the worker may be reused."""
    init_ms: float | None = None
    init_done: float | None = None
    if cold:
        failure = _init_failure(worker, spec, request_id)
        init_done = time.monotonic()
        init_ms = (init_done - started) * 1000
        if failure is not None:
            return InvocationResult(request_id, failure, "Unhandled", "".join(worker.take_logs()), spec.version), False
    deadline = handler_deadline(spec, started, init_done)

    begin = time.monotonic()
    worker.note(f"START RequestId: {request_id} Version: {spec.version}")
    deadline_ms = int((time.time() + (deadline - begin)) * 1000)
    sent = worker.send(
        {
            "type": "invoke",
            "request_id": request_id,
            "deadline_ms": deadline_ms,
            "invoked_function_arn": spec.arn,
            "event": event_text,
        }
    )
    reply: dict[str, Any] | None = None
    expired = False
    if sent:
        try:
            reply = worker.messages.get(timeout=max(deadline - time.monotonic(), 0))
        except queue.Empty:
            expired = True
    duration_ms = (time.monotonic() - begin) * 1000
    reusable = False
    function_error: str | None = "Unhandled"
    if expired:
        payload = timed_out(worker, spec, request_id)
    elif reply is None:
        payload = _exit_error(worker, request_id)
    else:
        worker.wait_for_logs(request_id, timeout=2)
        reusable = True
        if reply.get("ok"):
            payload = reply["payload"].encode()
            function_error = None
        else:
            payload = json.dumps(reply["error"]).encode()
    memory = worker.max_memory_mb()
    worker.note(f"END RequestId: {request_id}")
    report = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {math.ceil(duration_ms)} ms\tMemory Size: {spec.memory} MB"
    )
    if memory is not None:
        report += f"\tMax Memory Used: {memory} MB"
    if init_ms is not None:
        report += f"\tInit Duration: {init_ms:.2f} ms"
    worker.note(report)
    logs = "".join(worker.take_logs())
    return InvocationResult(request_id, payload, function_error, logs, spec.version), reusable
