"""Function logs: the handler's output and the runtime's START/END/REPORT lines.

Imitates https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html (log group
``/aws/lambda/<name>``, one stream per execution environment) and ``LogType=Tail`` of
https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html (the last 4 KB, :data:`TAIL_BYTES`).
Lines also go to ``<log_dir>/<function-name>.log`` where a developer looks first.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import IO

from moto.awslambda.models import LambdaFunction

from .config import CONFIG

TAIL_BYTES = 4096


_log_files_lock = threading.Lock()
_log_files: dict[Path, tuple[IO[str], threading.Lock]] = {}


def write_log(function_name: str, text: str) -> None:
    path = CONFIG.log_dir / f"{function_name}.log"
    with _log_files_lock:
        entry = _log_files.get(path)
        if entry is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            entry = (open(path, "a", encoding="utf-8"), threading.Lock())  # noqa: SIM115
            _log_files[path] = entry
    handle, lock = entry
    with lock:
        handle.write(text)
        handle.flush()


def close_log_files() -> None:
    with _log_files_lock:
        for handle, _lock in _log_files.values():
            handle.close()
        _log_files.clear()


def to_cloudwatch(fn: LambdaFunction, stream: str, lines: list[str]) -> None:
    if not CONFIG.cloudwatch_logs or not lines:
        return
    backend = fn.logs_backend
    group = f"/aws/lambda/{fn.function_name}"
    backend.ensure_log_group(group)
    backend.ensure_log_stream(group, stream)
    now = int(time.time() * 1000)
    events = [{"timestamp": now, "message": line.rstrip("\n")} for line in lines]
    backend.put_log_events(group, stream, events)
