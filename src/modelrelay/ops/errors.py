"""Exit codes scripts can rely on, and the one error type the command turns into a message (never a traceback)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # the command ran; what it reports or started did not succeed (failed, rolled back, invalid)
    USAGE = 2  # bad arguments or input (click uses 2 for its own usage errors too)
    NOT_FOUND = 3  # the group, execution, package, object or model does not exist
    TARGET = 4  # the deployment cannot be reached or read: credentials, region, stack, sandbox not running
    TIMEOUT = 5  # still running when --timeout ran out (it goes on; follow it with `why EXECUTION`)


class UserError(Exception):
    """Something the user can fix: printed as ``error: <message>`` and ``hint: <hint>``, exit ``code``."""

    def __init__(self, message: str, hint: str | None = None, code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code
