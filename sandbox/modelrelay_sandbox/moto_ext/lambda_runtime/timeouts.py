"""The function's timeout: when the handler's deadline falls, and what Lambda answers when it passes.

Imitates https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html (``Sandbox.Timedout``,
"Task timed out after N.00 seconds"; the environment is discarded) and the init-phase rule of
https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html#runtimes-lifecycle-ib
(an init phase over its 10 s limit is re-run inside the invoke phase, so the handler's deadline then counts
from the end of that limit).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from .config import CONFIG
from .payloads import error_payload
from .spec import FunctionSpec
from .worker import Worker


def timeout_error(spec: FunctionSpec, request_id: str) -> bytes:
    message = f"RequestId: {request_id} Error: Task timed out after {spec.timeout:.2f} seconds"
    return error_payload("Sandbox.Timedout", message)


def handler_deadline(spec: FunctionSpec, started: float, init_done: float | None) -> float:
    """The handler's deadline (``time.monotonic()``): ``Timeout`` after the init phase of a new environment
    (``init_done``; None for a warm one), or after now."""
    if init_done is None:
        return time.monotonic() + spec.timeout
    over_limit = init_done - started > CONFIG.init_phase_timeout
    return (started + CONFIG.init_phase_timeout if over_limit else init_done) + spec.timeout


def timed_out(worker: Worker, spec: FunctionSpec, request_id: str) -> bytes:
    """Kill the environment of an invocation past its deadline; Lambda's timeout error payload."""
    worker.kill()
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    worker.note(f"{stamp} {request_id} Task timed out after {spec.timeout:.2f} seconds")
    return timeout_error(spec, request_id)
