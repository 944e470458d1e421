"""Reserved concurrency: at the limit, a synchronous invoke is throttled (429), an asynchronous event waits.

Imitates https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html and the
``TooManyRequestsException`` (``Reason: ReservedFunctionConcurrentInvocationLimitExceeded``) of
https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html. Reserved concurrency 0 throttles every
invocation, asynchronous ones included.
"""

from __future__ import annotations

import json

from moto.awslambda.exceptions import LambdaClientError

from .pool import POOL
from .spec import FunctionSpec
from .worker import Worker


class Throttled(LambdaClientError):
    """Lambda's answer when a function's reserved concurrency is all in use."""

    code = 429

    def __init__(self) -> None:
        super().__init__("TooManyRequestsException", "Rate Exceeded.")
        self.description = json.dumps(
            {
                "__type": self.error_type,
                "message": self.message,
                "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
            }
        )


def checkout(spec: FunctionSpec, *, wait_for_capacity: bool) -> Worker | None:
    """A free warm environment of ``spec`` (marked busy), or None when a new one may be started (the start is
    reserved: :func:`.pool.spawn` it). At the reserved-concurrency limit raise :class:`Throttled`, or with
    ``wait_for_capacity`` wait for an environment to be checked in."""
    while True:
        worker, may_start = POOL.checkout(spec)
        if worker is not None or may_start:
            return worker
        if not wait_for_capacity or spec.reserved_concurrency == 0:
            raise Throttled()
        POOL.wait_for_checkin(timeout=0.5)
