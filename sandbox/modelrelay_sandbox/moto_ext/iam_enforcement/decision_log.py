"""The decision log: one JSON line per authorised (or refused) request, for "granted vs used" per role.

Written to the file given to :func:`configure` (the sandbox uses ``.sandbox/iam-usage.jsonl``; env
``MODELRELAY_SANDBOX_IAM_LOG`` overrides it), appended by every sandbox process (one ``write`` per line, under a
lock, so lines of concurrent requests do not interleave). Format, one object per line::

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
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

_lock = threading.Lock()
_path: Path | None = None
_handle: TextIO | None = None  # kept open: opening the file for every line cost a burst a tenth of its CPU


def configure(path: Path | str | None) -> None:
    global _path, _handle
    with _lock:
        if _handle is not None:
            _handle.close()
            _handle = None
        _path = Path(path) if path else None
        if _path is not None:
            _path.parent.mkdir(parents=True, exist_ok=True)


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
    global _handle
    with _lock:
        if _path is None:  # turned off meanwhile
            return
        if _handle is None or _handle.closed:
            # Line-buffered append: one write(2) per line, so lines of other processes never interleave.
            _handle = _path.open("a", encoding="utf-8", buffering=1)
        _handle.write(line + "\n")


def read(path: Path | str) -> list[dict[str, str]]:
    """The records of a log file (for tests and the granted-vs-used check)."""
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
