"""Concurrency limits: at a limit, a synchronous invoke is throttled (429), an asynchronous event waits.

Imitates https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html (reserved concurrency;
the account's quota shared by the unreserved functions), https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html
and the ``TooManyRequestsException`` of https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html with its
``Reason``: ``ReservedFunctionConcurrentInvocationLimitExceeded`` at a function's reservation,
``ConcurrentInvocationLimitExceeded`` at the account's quota. Asynchronous events wait in Lambda's internal
queue (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html: throttled events are retried for
up to 6 hours); reserved concurrency 0 throttles every invocation, asynchronous ones included.
"""

from __future__ import annotations

import json
import threading
from collections import Counter

from moto.awslambda.exceptions import LambdaClientError

from .pool import POOL, RESERVED_LIMIT
from .spec import FunctionSpec
from .worker import Worker

_counts_lock = threading.Lock()
THROTTLES: Counter[str] = Counter()  # synchronous invokes answered 429, by Reason (benches report it)
QUEUED: Counter[str] = Counter()  # asynchronous events that had to wait for capacity, by Reason


class Throttled(LambdaClientError):
    """Lambda's answer when a function's reserved concurrency is all in use."""

    code = 429

    def __init__(self, reason: str = RESERVED_LIMIT) -> None:
        super().__init__("TooManyRequestsException", "Rate Exceeded.")
        self.reason = reason
        self.description = json.dumps({"__type": self.error_type, "message": self.message, "Reason": reason})


def checkout(spec: FunctionSpec, *, wait_for_capacity: bool) -> Worker | None:
    """A free warm environment of ``spec`` (marked busy), or None when a new one may be started (the start is
    reserved: :func:`.pool.spawn` it). At a concurrency limit raise :class:`Throttled`, or with
    ``wait_for_capacity`` wait for an environment to be checked in."""
    waited = False
    while True:
        worker, refusal = POOL.checkout(spec)
        if worker is not None or refusal is None:
            return worker
        if not wait_for_capacity or spec.reserved_concurrency == 0:
            with _counts_lock:
                THROTTLES[refusal] += 1
            raise Throttled(refusal)
        if not waited:
            with _counts_lock:
                QUEUED[refusal] += 1
            waited = True
        POOL.wait_for_checkin(timeout=0.5)
