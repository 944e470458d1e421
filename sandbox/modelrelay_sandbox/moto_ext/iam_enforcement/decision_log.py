"""The decision log: one JSON line per authorised (or refused) request, for "granted vs used" per role.

Written to the file given to :func:`configure` (the sandbox uses ``.sandbox/iam-usage.jsonl``; env
``MODELRELAY_SANDBOX_IAM_LOG`` overrides it), appended by every sandbox process (one ``write`` per line on an
``O_APPEND`` descriptor, so lines of concurrent requests do not interleave). Format, one object per line::

    {"time": "2025-01-01T12:00:00.123Z",          # UTC
     "decision": "Allow",                         # or "Deny"
     "principal": "arn:aws:iam::123456789012:role/modelrelay-IngestFunctionRole-ABC",  # the role ARN for a
                                                  # role session, the user ARN for a user, the service principal
     "session": "arn:aws:sts::123456789012:assumed-role/modelrelay-IngestFunctionRole-ABC/modelrelay-Ingest",
     "action": "s3:GetObject",
     "resource": "arn:aws:s3:::modelrelay-ingestbucket-x/incoming/g/m.tar.gz",
     "operation": "s3.GetObject",                 # the API call (botocore service.operation) it came from
     "reason": ""}                                # for a Deny: the tail of AWS's AccessDenied message

A request needing several authorisations (CopyObject: PutObject on the target, GetObject on the source; any call
passing a role: iam:PassRole) writes one line for each. To compare, per role, the actions granted with the actions
used: group the ``Allow`` lines by ``principal`` and collect ``action``.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

_lock = threading.Lock()
_path: Path | None = None
# An O_APPEND descriptor kept open: each line is one write(2), which the kernel appends whole, so lines of
# concurrent requests and processes never interleave and no lock is held while writing (opening the file for every
# line, under a lock, had requests queueing on it: a tenth of a burst's time).
_fd: int | None = None


def configure(path: Path | str | None) -> None:
    global _path, _fd
    with _lock:
        # The previous descriptor is left open: a request may be writing with it right now, and its number must not
        # be reused by another file meanwhile (one descriptor per sandbox started in a process).
        _fd = None
        _path = Path(path) if path else None
        if _path is not None:
            _path.parent.mkdir(parents=True, exist_ok=True)
            _fd = os.open(_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def path() -> Path | None:
    return _path


def record(
    decision: str, principal: str, session: str, action: str, resource: str, operation: str, reason: str = ""
) -> None:
    if _path is None:
        return
    line = json.dumps(
        {
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "decision": decision,
            "principal": principal,
            "session": session,
            "action": action,
            "resource": resource,
            "operation": operation,
            "reason": reason,
        },
        separators=(",", ":"),
    )
    fd = _fd
    if fd is None:  # turned off meanwhile
        return
    data = (line + "\n").encode("utf-8")
    while data:
        data = data[os.write(fd, data) :]


def read(path: Path | str) -> list[dict[str, str]]:
    """The records of a log file (for tests and the granted-vs-used check)."""
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
