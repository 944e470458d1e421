"""One execution environment: a warm ``lambda_worker`` subprocess, its pipes and its log capture.

Imitates https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html: module state
survives between invocations in the same environment; the environment is killed on a timeout or a
runtime exit. The child side is :mod:`modelrelay_sandbox.lambda_worker` (Lambda's Python runtime
interface: init phase, context object, error payloads).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelrelay_sandbox.lambda_worker import LOG_END_MARKER

from .environment import worker_env
from .logs import write_log
from .spec import FunctionSpec

LOG = logging.getLogger(__name__)

# sandbox/modelrelay_sandbox/moto_ext/lambda_runtime/worker.py -> sandbox/modelrelay_sandbox/lambda_worker.py
WORKER_SCRIPT = Path(__file__).resolve().parents[2] / "lambda_worker.py"


class Worker:
    """One execution environment: a ``lambda_worker`` subprocess and its pipes."""

    def __init__(self, spec: FunctionSpec, code_dir: Path, layer_dirs: list[Path]) -> None:
        self.spec = spec
        self.log_stream = f"{datetime.now(UTC):%Y/%m/%d}/[{spec.version}]{uuid.uuid4().hex}"
        self.busy = True
        self.last_used = time.monotonic()
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._capture: list[str] = []
        self._capture_lock = threading.Lock()
        self._markers: dict[str, threading.Event] = {}
        self.logs_closed = threading.Event()
        env = worker_env(spec, code_dir, layer_dirs, self.log_stream)
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    str(WORKER_SCRIPT),
                    "--proto-in",
                    str(to_child_r),
                    "--proto-out",
                    str(from_child_w),
                    "--parent-pid",
                    str(os.getpid()),
                ],
                env=env,
                cwd=code_dir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(to_child_r, from_child_w),
                start_new_session=True,
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self._to_child = os.fdopen(to_child_w, "wb")
        self._from_child = os.fdopen(from_child_r, "rb")
        self.marker("init")
        threading.Thread(target=self._read_messages, daemon=True, name=f"lambda-proto-{spec.name}").start()
        threading.Thread(target=self._read_logs, daemon=True, name=f"lambda-logs-{spec.name}").start()

    # -- reader threads
    def _read_messages(self) -> None:
        with self._from_child:
            for line in self._from_child:
                try:
                    self.messages.put(json.loads(line))
                except json.JSONDecodeError:
                    LOG.error("lambda worker %s sent a malformed line: %r", self.spec.name, line[:200])
        self.messages.put(None)

    def _read_logs(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout:
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", errors="replace")
                if not line.endswith("\n"):  # last output of a dying worker
                    line += "\n"
                idx = line.find(LOG_END_MARKER)
                if idx < 0:
                    self._emit(line)
                    continue
                if idx > 0:
                    self._emit(line[:idx] + "\n")
                request_id = line[idx + len(LOG_END_MARKER) :].strip()
                self.marker(request_id).set()
        with self._capture_lock:
            self.logs_closed.set()
            for event in self._markers.values():
                event.set()

    def _emit(self, line: str) -> None:
        write_log(self.spec.name, line)
        with self._capture_lock:
            self._capture.append(line)

    # -- helpers used by the invoking thread
    def marker(self, request_id: str) -> threading.Event:
        with self._capture_lock:
            event = self._markers.setdefault(request_id, threading.Event())
            if self.logs_closed.is_set():  # no more output will come
                event.set()
            return event

    def wait_for_logs(self, request_id: str, timeout: float) -> None:
        """Wait until the worker has flushed the log lines of ``request_id`` (its end marker)."""
        self.marker(request_id).wait(timeout)
        with self._capture_lock:
            self._markers.pop(request_id, None)

    def note(self, line: str) -> None:
        """A line written by the runtime itself (START/END/REPORT...)."""
        self._emit(line + "\n")

    def take_logs(self) -> list[str]:
        with self._capture_lock:
            lines, self._capture = self._capture, []
            return lines

    def send(self, message: dict[str, Any]) -> bool:
        try:
            self._to_child.write(json.dumps(message).encode() + b"\n")
            self._to_child.flush()
        except (BrokenPipeError, ValueError, OSError):
            return False
        return True

    def max_memory_mb(self) -> int | None:
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return None
        for row in status.splitlines():
            if row.startswith("VmHWM:"):
                return math.ceil(int(row.split()[1]) / 1024)
        return None

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # exited meanwhile
                os.killpg(self.proc.pid, signal.SIGKILL)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            LOG.error("lambda worker pid %s did not exit after SIGKILL", self.proc.pid)
        with contextlib.suppress(OSError):  # broken pipe on a dead worker
            self._to_child.close()
