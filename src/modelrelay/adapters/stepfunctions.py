"""Step Functions adapter: answering a task token (a staged promotion's manual gate)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

# The token's task no longer waits: decided already, timed out, or its execution ended.
GONE = ("TaskDoesNotExist", "TaskTimedOut", "InvalidToken")


def answer(
    stepfunctions: Any, token: str, output: dict[str, Any] | None, error: str = "", cause: str = ""
) -> str | None:
    """``SendTaskSuccess`` with ``output``, or (``output`` None) ``SendTaskFailure`` with ``error``/``cause``.
    Returns None when delivered, or the error code when the task no longer waits (any other error raises)."""
    try:
        if output is not None:
            stepfunctions.send_task_success(taskToken=token, output=json.dumps(output))
        else:
            stepfunctions.send_task_failure(taskToken=token, error=error, cause=cause[:32768])
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code"))
        if code in GONE:
            return code
        raise
    return None
