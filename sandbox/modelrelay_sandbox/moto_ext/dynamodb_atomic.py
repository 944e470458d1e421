"""DynamoDB conditional writes are atomic.

AWS evaluates a ``ConditionExpression`` and applies the write as one atomic step, which is what ModelRelay's
claims, leases and pointer revisions rely on. moto's server handles requests on several threads and its
``DynamoDBBackend`` checks the condition and then writes without a lock, so two concurrent conditional writes
on one item can both pass (seen as a lost pointer revision under the 70-event load test). This serialises
the backend's write operations with one lock, which is all the atomicity AWS promises.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from moto.dynamodb.models import DynamoDBBackend

_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")
_lock = threading.RLock()
_MARK = "__modelrelay_atomic__"


def _atomic(method: Any) -> Any:
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _lock:
            return method(self, *args, **kwargs)

    setattr(wrapper, _MARK, True)
    return wrapper


def apply() -> None:
    """Install the lock around every write operation (idempotent)."""
    for name in _WRITES:
        method = getattr(DynamoDBBackend, name, None)
        if method is not None and not getattr(method, _MARK, False):
            setattr(DynamoDBBackend, name, _atomic(method))
