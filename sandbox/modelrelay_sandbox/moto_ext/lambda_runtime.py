"""Lambda runs your handler code.

moto's Lambda either runs functions in Docker (absent here) or, with
``use_docker=False`` (``LambdaSimpleBackend``), never runs them at all: every
invoke returns a canned string. This module makes moto run the function's real
Python handler, from the code moto stores, the way Lambda's Python runtime does:

* **Code**: the function's deployment zip (``LambdaFunction.code_bytes``, filled by
  moto for ``ZipFile`` and for ``S3Bucket``/``S3Key`` code) and its layers' zips
  (``LayerVersion.code_bytes``) are extracted once into a cache keyed by the zip's
  SHA-256 (``<repo>/.sandbox/lambda-code/<sha256>/``, see :func:`configure`).
  ``sys.path`` of the handler is: the function's code dir, then the host
  interpreter's own path (stdlib + this venv's site-packages: compiled wheels such
  as ``pydantic_core`` come from the host, as a built layer may carry arm64
  wheels), then each layer's ``python/`` (and ``python/lib/python3.*/site-packages``).
* **Execution environments**: each invocation runs in a warm worker subprocess
  (:mod:`modelrelay_sandbox.lambda_worker`) of that function; a new worker is
  spawned when all of the function's workers are busy, a free one is reused
  (module-level state survives between invocations, as on Lambda), and workers
  are recycled when the function's code or configuration changes (or after
  ``idle_worker_ttl`` unused). ``ReservedConcurrentExecutions`` caps a function's
  workers: a synchronous invoke beyond it gets Lambda's 429
  ``TooManyRequestsException``; asynchronous events wait for a free worker.
* **Environment**: only the function's ``Environment.Variables`` plus what Lambda
  sets (see :func:`_worker_env`), with credentials of the function's execution
  role obtained from moto's STS (so they resolve to the function's account) and
  ``AWS_ENDPOINT_URL`` pointing at the sandbox, so handler code needs no
  emulator awareness. ``POWERTOOLS_TRACE_DISABLED=true`` and
  ``AWS_XRAY_SDK_ENABLED=false`` are set unless the function sets them: there is
  no X-Ray daemon, and these make powertools' ``Tracer`` a silent no-op.
* **Results and errors**, as Lambda returns them: handler exception →
  ``FunctionError: Unhandled`` + ``{"errorMessage", "errorType", "requestId",
  "stackTrace"}``; timeout (the function's ``Timeout``) → the worker is killed and
  ``{"errorType": "Sandbox.Timedout", "errorMessage": "RequestId: <id> Error: Task
  timed out after N.00 seconds"}``; worker exit → ``Runtime.ExitError``;
  non-serialisable result → ``Runtime.MarshalError``; import failures →
  ``Runtime.ImportModuleError`` / ``Runtime.HandlerNotFound`` / ...
* **Logs**: the handler's stdout/stderr plus Lambda's ``START``/``END``/``REPORT``
  lines go to ``<log_dir>/<function-name>.log`` and to moto's CloudWatch Logs group
  ``/aws/lambda/<name>`` (one stream per worker, as one per execution
  environment); ``LogType=Tail`` returns the last 4 KB.
* **Asynchronous invocation** (``InvocationType=Event``, and :func:`invoke_async`
  for event sources such as EventBridge): returns at once (202), runs in a
  background thread, retries a failed invocation ``MaximumRetryAttempts`` times
  (``put_function_event_invoke_config``; default 2) after ``async_retry_delay``
  seconds (0.5 s here instead of Lambda's minutes), then sends the event to the
  function's ``DeadLetterConfig.TargetArn`` (SQS or SNS, with message attributes
  ``RequestID``, ``ErrorCode``, ``ErrorMessage``) and an invocation record to the
  ``OnFailure`` destination (SQS, SNS, Lambda or EventBridge); ``OnSuccess``
  destinations receive the success record. :func:`wait_idle` waits for all of it.
* **DeadLetterConfig** is kept by ``CreateFunction``/``UpdateFunctionConfiguration``
  and returned by ``GetFunctionConfiguration`` (moto drops it).
* **CloudFormation** ``AWS::Lambda::Function`` keeps ``Layers`` and
  ``DeadLetterConfig`` (moto's ``create_from_cloudformation_json`` drops them).

Known limits: settings are per process (one sandbox server per process);
moto's Invoke reads the ``Qualifier`` query parameter under the wrong name, so
select a version or alias with a qualified ``FunctionName``/ARN instead;
``MaximumEventAgeInSeconds`` is not enforced; services moto wires to Lambda
itself (SNS subscriptions, SQS event source mappings) invoke synchronously
inside the triggering request; the worker runs this venv's Python (3.11), not
the function's runtime version; memory size is reported, not enforced.

Public API: :func:`apply`, :func:`configure`, :func:`invoke_async`,
:func:`wait_idle`, :func:`shutdown_workers`, :func:`run_invocation`.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import hashlib
import io
import json
import logging
import math
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda.models import LambdaFunction, LayerVersion
from moto.awslambda.utils import get_backend, split_layer_arn
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.iam.models import iam_backends
from moto.sts.models import sts_backends
from moto.utilities.utils import get_partition

from modelrelay_sandbox.lambda_worker import LOG_END_MARKER

LOG = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[3]
WORKER_SCRIPT = Path(__file__).resolve().parents[1] / "lambda_worker.py"
_PATCH_MARK = "__modelrelay_sandbox_patch__"
_TAIL_BYTES = 4096


# --------------------------------------------------------------------------- config


@dataclass
class RuntimeConfig:
    """Settings of the Lambda runtime; change them with :func:`configure`."""

    endpoint_url: str = "http://127.0.0.1:5000"
    code_cache_dir: Path = REPO_ROOT / ".sandbox" / "lambda-code"
    log_dir: Path = REPO_ROOT / ".sandbox" / "logs"
    home_dir: Path = REPO_ROOT / ".sandbox" / "lambda-home"
    async_retry_delay: float = 0.5
    init_phase_timeout: float = 10.0
    idle_worker_ttl: float = 900.0
    cloudwatch_logs: bool = True


_config = RuntimeConfig()


def configure(
    *,
    endpoint_url: str | None = None,
    code_cache_dir: Path | None = None,
    log_dir: Path | None = None,
    home_dir: Path | None = None,
    async_retry_delay: float | None = None,
    init_phase_timeout: float | None = None,
    idle_worker_ttl: float | None = None,
    cloudwatch_logs: bool | None = None,
) -> RuntimeConfig:
    """Change the runtime's settings (``None`` keeps a setting); returns them.

    ``endpoint_url`` is what handlers get as ``AWS_ENDPOINT_URL`` and where the
    runtime itself sends dead letters / destination records; ``start_server``
    sets it to the server's URL. Workers spawned after the change see it;
    existing ones are recycled because the endpoint is part of their fingerprint.
    """
    updates: dict[str, Any] = {
        "endpoint_url": endpoint_url,
        "code_cache_dir": code_cache_dir,
        "log_dir": log_dir,
        "home_dir": home_dir,
        "async_retry_delay": async_retry_delay,
        "init_phase_timeout": init_phase_timeout,
        "idle_worker_ttl": idle_worker_ttl,
        "cloudwatch_logs": cloudwatch_logs,
    }
    for name, value in updates.items():
        if value is not None:
            setattr(_config, name, Path(value) if name.endswith("_dir") else value)
    return _config


# --------------------------------------------------------------------------- results


@dataclass
class InvocationResult:
    """The outcome of one invocation, as Lambda's Invoke API reports it."""

    request_id: str
    payload: bytes
    function_error: str | None
    logs: str
    executed_version: str

    @property
    def error(self) -> dict[str, Any] | None:
        if not self.function_error:
            return None
        parsed: dict[str, Any] = json.loads(self.payload)
        return parsed


def _error_payload(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


# --------------------------------------------------------------------------- function snapshot


@dataclass(frozen=True)
class _FunctionSpec:
    """What an invocation needs from moto's ``LambdaFunction``, read once."""

    key: str
    name: str
    version: str
    arn: str
    region: str
    account: str
    handler: str
    timeout: float
    memory: int
    role: str
    runtime: str
    env: Mapping[str, str]
    code_digest: str
    layer_digests: tuple[str, ...]
    fingerprint: str
    reserved_concurrency: int | None


def _layer_version(layer_arn: str) -> LayerVersion | None:
    parts = split_layer_arn(layer_arn)
    return get_backend(parts.account, parts.region).layers_versions_by_arn(layer_arn)


def _code_digest(data: bytes, known: str | None) -> str:
    return known or hashlib.sha256(data).hexdigest()


def _spec_for(fn: LambdaFunction) -> _FunctionSpec:
    layer_digests: list[str] = []
    for layer in fn.layers:
        lv = _layer_version(layer["Arn"])
        if lv is not None and lv.code_bytes:
            layer_digests.append(_code_digest(lv.code_bytes, getattr(lv, "code_digest", None)))
    code_digest = _code_digest(fn.code_bytes, getattr(fn, "code_digest", None))
    env = {str(k): str(v) for k, v in (fn.environment_vars or {}).items()}
    fields: dict[str, Any] = {
        "key": fn.function_arn,
        "name": fn.function_name,
        "version": str(fn.version),
        "arn": fn.function_arn,
        "region": fn.region,
        "account": fn.account_id,
        "handler": fn.handler or "",
        "timeout": float(fn.timeout),
        "memory": int(fn.memory_size),
        "role": fn.role,
        "runtime": fn.run_time or "python3.12",
        "env": env,
        "code_digest": code_digest,
        "layer_digests": tuple(layer_digests),
    }
    # id(fn): a function deleted and re-created (or a moto reset) gets new workers.
    identity = json.dumps([id(fn), fields, _config.endpoint_url], sort_keys=True, default=str)
    reserved = fn.reserved_concurrency
    return _FunctionSpec(
        fingerprint=hashlib.sha256(identity.encode()).hexdigest(),
        reserved_concurrency=None if reserved is None else int(reserved),
        **fields,
    )


# --------------------------------------------------------------------------- code cache


def _extract_zip(data: bytes, digest: str) -> Path:
    """Extract a zip once into ``<code_cache_dir>/<sha256>``; concurrent callers are safe."""
    root = _config.code_cache_dir
    target = root / digest
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{digest[:12]}-"))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            archive.extractall(tmp)
    except zipfile.BadZipFile as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        # Lambda's own error for a package it cannot unzip.
        error = LambdaClientError("InvalidZipFileException", f"Lambda was unable to unzip the file: {exc}")
        error.code = 502
        raise error from exc
    try:
        os.rename(tmp, target)
    except OSError:
        # Another thread extracted the same zip first.
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _layer_paths(layer_dir: Path) -> list[Path]:
    python_dir = layer_dir / "python"
    site_dirs = sorted(python_dir.glob("lib/python3*/site-packages"))
    return [*site_dirs, python_dir]


_host_path_lock = threading.Lock()
_host_path: list[str] | None = None


def _host_sys_path() -> list[str]:
    """The host interpreter's own sys.path (stdlib + venv site-packages), without
    this process's PYTHONPATH/cwd additions (they would leak repo sources)."""
    global _host_path
    with _host_path_lock:
        if _host_path is None:
            out = subprocess.run(
                [sys.executable, "-I", "-c", "import json, sys; print(json.dumps(sys.path))"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            _host_path = [p for p in json.loads(out) if p and os.path.exists(p)]
        return list(_host_path)


# --------------------------------------------------------------------------- credentials


_creds_lock = threading.Lock()
# (function account, role ARN) -> (credentials, account the access key belongs to)
_creds_cache: dict[tuple[str, str], tuple[dict[str, str], str]] = {}


def _role_credentials(account: str, region: str, role_arn: str, session: str) -> dict[str, str]:
    """Temporary credentials of the execution role, from moto's STS: moto maps their
    access key to the role's account, as AWS does for the function's credentials."""
    partition = get_partition(region)
    with _creds_lock:
        cached = _creds_cache.get((account, role_arn))
        # A moto reset forgets the key: then assume the role again.
        if cached and cached[0]["AWS_ACCESS_KEY_ID"] in iam_backends[cached[1]][partition].access_keys:
            return cached[0]
        assumed = sts_backends[account][partition].assume_role(
            region_name=region,
            role_session_name=session[:64],
            role_arn=role_arn,
            policy="",
            duration=43200,
            external_id="",
        )
        creds = {
            "AWS_ACCESS_KEY_ID": assumed.access_key_id,
            "AWS_SECRET_ACCESS_KEY": assumed.secret_access_key,
            "AWS_SESSION_TOKEN": assumed.session_token,
        }
        _creds_cache[(account, role_arn)] = (creds, assumed.account_id)
        return creds


def _client(service: str, spec: _FunctionSpec, region: str | None = None) -> Any:
    creds = _role_credentials(spec.account, spec.region, spec.role, spec.name)
    return boto3.client(
        service,
        region_name=region or spec.region,
        endpoint_url=_config.endpoint_url,
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=creds["AWS_SESSION_TOKEN"],
        config=Config(retries={"max_attempts": 2}),
    )


# --------------------------------------------------------------------------- logs


_log_files_lock = threading.Lock()
_log_files: dict[Path, tuple[IO[str], threading.Lock]] = {}


def _write_log(function_name: str, text: str) -> None:
    path = _config.log_dir / f"{function_name}.log"
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


def _close_log_files() -> None:
    with _log_files_lock:
        for handle, _lock in _log_files.values():
            handle.close()
        _log_files.clear()


def _to_cloudwatch(fn: LambdaFunction, stream: str, lines: list[str]) -> None:
    if not _config.cloudwatch_logs or not lines:
        return
    backend = fn.logs_backend
    group = f"/aws/lambda/{fn.function_name}"
    backend.ensure_log_group(group)
    backend.ensure_log_stream(group, stream)
    now = int(time.time() * 1000)
    events = [{"timestamp": now, "message": line.rstrip("\n")} for line in lines]
    backend.put_log_events(group, stream, events)


# --------------------------------------------------------------------------- workers


class _Worker:
    """One execution environment: a ``lambda_worker`` subprocess and its pipes."""

    def __init__(self, spec: _FunctionSpec, code_dir: Path, layer_dirs: list[Path]) -> None:
        self.spec = spec
        self.log_stream = f"{datetime.now(UTC):%Y/%m/%d}/[{spec.version}]{uuid.uuid4().hex}"
        self.busy = True
        self.last_used = time.monotonic()
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._capture: list[str] = []
        self._capture_lock = threading.Lock()
        self._markers: dict[str, threading.Event] = {}
        self.logs_closed = threading.Event()
        env = _worker_env(spec, code_dir, layer_dirs, self.log_stream)
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
        _write_log(self.spec.name, line)
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


def _worker_env(spec: _FunctionSpec, code_dir: Path, layer_dirs: list[Path], log_stream: str) -> dict[str, str]:
    """The worker's whole environment: the function's variables, then what Lambda sets
    (Lambda's reserved variables cannot be overridden by the function's)."""
    creds = _role_credentials(spec.account, spec.region, spec.role, spec.name)
    python_path = [str(code_dir), *_host_sys_path()]
    for layer_dir in reversed(layer_dirs):  # later layers overwrite earlier ones in /opt
        python_path += [str(p) for p in _layer_paths(layer_dir)]
    home = _config.home_dir
    home.mkdir(parents=True, exist_ok=True)
    runtime = spec.runtime if spec.runtime.startswith("python") else "python3.12"
    env = dict(spec.env)
    env.update(
        {
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
            "_HANDLER": spec.handler,
            "LAMBDA_TASK_ROOT": str(code_dir),
            "AWS_ENDPOINT_URL": _config.endpoint_url,
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "TZ": ":UTC",
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
            # An empty HOME: the host's ~/.aws config must not reach the handler.
            "HOME": str(home),
            "PYTHONPATH": os.pathsep.join(python_path),
            **creds,
        }
    )
    # No X-Ray daemon here: make powertools' Tracer (and the X-Ray SDK) no-ops.
    env.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    env.setdefault("AWS_XRAY_SDK_ENABLED", "false")
    return env


class _Pool:
    """The execution environments of every function, keyed by function (version) ARN.

    A function with ``ReservedConcurrentExecutions`` gets at most that many.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._workers: dict[str, list[_Worker]] = {}
        self._starting: dict[str, int] = {}
        self._latest: dict[str, str] = {}

    def checkout(self, spec: _FunctionSpec) -> tuple[_Worker | None, bool]:
        """A free warm worker for ``spec`` (marked busy), else whether one may be started
        (if so, a start is reserved: call :meth:`add` or :meth:`start_failed`). Drops stale ones."""
        doomed: list[_Worker] = []
        found: _Worker | None = None
        may_start = False
        now = time.monotonic()
        with self._cond:
            self._latest[spec.key] = spec.fingerprint
            for key, workers in self._workers.items():
                keep: list[_Worker] = []
                for worker in workers:
                    stale = worker.spec.fingerprint != self._latest.get(key)
                    expired = now - worker.last_used > _config.idle_worker_ttl
                    if not worker.busy and (stale or expired or not worker.alive()):
                        doomed.append(worker)
                    else:
                        keep.append(worker)
                workers[:] = keep
            workers = self._workers.get(spec.key, [])
            for worker in workers:
                if not worker.busy and worker.spec.fingerprint == spec.fingerprint:
                    worker.busy = True
                    found = worker
                    break
            if found is None:
                in_use = len(workers) + self._starting.get(spec.key, 0)
                limit = spec.reserved_concurrency
                may_start = limit is None or in_use < limit
                if may_start:
                    self._starting[spec.key] = self._starting.get(spec.key, 0) + 1
        for worker in doomed:
            worker.kill()
        return found, may_start

    def add(self, worker: _Worker) -> None:
        with self._cond:
            self._starting[worker.spec.key] -= 1
            self._workers.setdefault(worker.spec.key, []).append(worker)

    def start_failed(self, spec: _FunctionSpec) -> None:
        with self._cond:
            self._starting[spec.key] -= 1
            self._cond.notify_all()

    def checkin(self, worker: _Worker, reusable: bool) -> None:
        with self._cond:
            self._cond.notify_all()
            keep = reusable and worker.alive() and worker.spec.fingerprint == self._latest.get(worker.spec.key)
            if keep:
                worker.busy = False
                worker.last_used = time.monotonic()
                return
            workers = self._workers.get(worker.spec.key, [])
            if worker in workers:
                workers.remove(worker)
        worker.kill()

    def wait_for_checkin(self, timeout: float) -> None:
        with self._cond:
            self._cond.wait(timeout)

    def shutdown(self) -> None:
        with self._cond:
            everything = [w for workers in self._workers.values() for w in workers]
            self._workers.clear()
        for worker in everything:
            worker.kill()

    def pids(self, function_arn: str) -> list[int]:
        with self._cond:
            return [w.proc.pid for w in self._workers.get(function_arn, [])]


_pool = _Pool()


# --------------------------------------------------------------------------- one invocation


def _spawn(fn: LambdaFunction, spec: _FunctionSpec) -> _Worker:
    """Start a worker for a start reserved by ``_pool.checkout``."""
    try:
        code_dir = _extract_zip(fn.code_bytes, spec.code_digest) if fn.code_bytes else _empty_code_dir()
        layer_dirs: list[Path] = []
        for layer in fn.layers:
            lv = _layer_version(layer["Arn"])
            if lv is None or not lv.code_bytes:
                LOG.warning("layer %s of %s has no content; skipped", layer["Arn"], spec.name)
                continue
            digest = _code_digest(lv.code_bytes, getattr(lv, "code_digest", None))
            layer_dirs.append(_extract_zip(lv.code_bytes, digest))
        worker = _Worker(spec, code_dir, layer_dirs)
    except BaseException:
        _pool.start_failed(spec)
        raise
    _pool.add(worker)
    return worker


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


def _empty_code_dir() -> Path:
    path = _config.code_cache_dir / "empty"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _exit_error(worker: _Worker, request_id: str) -> bytes:
    try:
        code = worker.proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        worker.kill()
        code = worker.proc.returncode
    worker.logs_closed.wait(timeout=1)  # its last words come before the runtime's
    if code == 0:
        message = f"RequestId: {request_id} Error: Runtime exited without providing a reason"
    elif code is not None and code < 0:
        reason = f"signal: {signal.Signals(-code).name.removeprefix('SIG').lower()}"
        message = f"RequestId: {request_id} Error: Runtime exited with error: {reason}"
    else:
        message = f"RequestId: {request_id} Error: Runtime exited with error: exit status {code}"
    worker.note(f"{message}\nRuntime.ExitError")
    return _error_payload("Runtime.ExitError", message)


def _timeout_error(spec: _FunctionSpec, request_id: str) -> bytes:
    message = f"RequestId: {request_id} Error: Task timed out after {spec.timeout:.2f} seconds"
    return _error_payload("Sandbox.Timedout", message)


def run_invocation(
    fn: LambdaFunction,
    event_text: str,
    request_id: str | None = None,
    *,
    wait_for_capacity: bool = False,
) -> InvocationResult:
    """Run ``fn``'s handler once on ``event_text`` (a JSON document), synchronously.

    When the function's reserved concurrency is all in use, raise :class:`Throttled`
    (a synchronous caller's 429), or with ``wait_for_capacity`` wait for a free
    environment (Lambda's queue for asynchronous events).
    """
    spec = _spec_for(fn)
    request_id = request_id or str(uuid.uuid4())
    while True:
        worker, may_start = _pool.checkout(spec)
        if worker is not None or may_start:
            break
        if not wait_for_capacity or spec.reserved_concurrency == 0:
            raise Throttled()
        _pool.wait_for_checkin(timeout=0.5)
    started = time.monotonic()
    if worker is None:
        worker = _spawn(fn, spec)
        cold = True
    else:
        cold = False
    try:
        result, reusable = _run_on(worker, spec, event_text, request_id, started, cold)
    except BaseException:
        _pool.checkin(worker, reusable=False)  # never leave a worker marked busy
        raise
    _pool.checkin(worker, reusable=reusable)
    _to_cloudwatch(fn, worker.log_stream, result.logs.splitlines())
    return result


def _init_failure(worker: _Worker, spec: _FunctionSpec, request_id: str) -> bytes | None:
    """Wait for a new worker's init phase; its error payload if it failed."""
    try:
        hello = worker.messages.get(timeout=_config.init_phase_timeout + spec.timeout)
    except queue.Empty:
        return _timeout_error(spec, request_id)
    worker.wait_for_logs("init", timeout=1)
    if hello is None:
        return _exit_error(worker, request_id)
    if not hello.get("ok"):
        error = dict(hello["error"])
        error["requestId"] = request_id
        return json.dumps(error).encode()
    return None


def _run_on(
    worker: _Worker,
    spec: _FunctionSpec,
    event_text: str,
    request_id: str,
    started: float,
    cold: bool,
) -> tuple[InvocationResult, bool]:
    """One invocation on a checked-out worker: the result and whether the worker may be reused."""
    init_ms: float | None = None
    if cold:
        failure = _init_failure(worker, spec, request_id)
        init_done = time.monotonic()
        init_ms = (init_done - started) * 1000
        if failure is not None:
            return InvocationResult(request_id, failure, "Unhandled", "".join(worker.take_logs()), spec.version), False
        # An init phase over its 10 s limit is re-run inside the invoke phase on
        # Lambda, so the handler's deadline then counts from the end of that limit.
        over_limit = init_done - started > _config.init_phase_timeout
        deadline = (started + _config.init_phase_timeout if over_limit else init_done) + spec.timeout
    else:
        deadline = time.monotonic() + spec.timeout

    begin = time.monotonic()
    worker.note(f"START RequestId: {request_id} Version: {spec.version}")
    deadline_ms = int((time.time() + (deadline - begin)) * 1000)
    sent = worker.send(
        {
            "type": "invoke",
            "request_id": request_id,
            "deadline_ms": deadline_ms,
            "invoked_function_arn": spec.arn,
            "event": event_text,
        }
    )
    reply: dict[str, Any] | None = None
    timed_out = False
    if sent:
        try:
            reply = worker.messages.get(timeout=max(deadline - time.monotonic(), 0))
        except queue.Empty:
            timed_out = True
    duration_ms = (time.monotonic() - begin) * 1000
    reusable = False
    function_error: str | None = "Unhandled"
    if timed_out:
        worker.kill()
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        worker.note(f"{stamp} {request_id} Task timed out after {spec.timeout:.2f} seconds")
        payload = _timeout_error(spec, request_id)
    elif reply is None:
        payload = _exit_error(worker, request_id)
    else:
        worker.wait_for_logs(request_id, timeout=2)
        reusable = True
        if reply.get("ok"):
            payload = reply["payload"].encode()
            function_error = None
        else:
            payload = json.dumps(reply["error"]).encode()
    memory = worker.max_memory_mb()
    worker.note(f"END RequestId: {request_id}")
    report = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {math.ceil(duration_ms)} ms\tMemory Size: {spec.memory} MB"
    )
    if memory is not None:
        report += f"\tMax Memory Used: {memory} MB"
    if init_ms is not None:
        report += f"\tInit Duration: {init_ms:.2f} ms"
    worker.note(report)
    logs = "".join(worker.take_logs())
    return InvocationResult(request_id, payload, function_error, logs, spec.version), reusable


# --------------------------------------------------------------------------- asynchronous invocation


_async_executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="lambda-async")
_inflight_cond = threading.Condition()
_inflight = 0


def invoke_async(function_arn: str, payload: bytes) -> None:
    """Invoke a function asynchronously, as Lambda does for ``InvocationType=Event``.

    For event sources (EventBridge targets, S3 notifications...): ``function_arn``
    is the function's ARN (a qualified ARN selects a version or alias),
    ``payload`` the event as JSON bytes. Returns at once; the invocation, its
    retries (``MaximumRetryAttempts`` of the function's event invoke config,
    default 2), its dead-letter queue and its destinations run in the
    background. :func:`wait_idle` waits for them. Raises moto's
    ``UnknownFunctionException`` if the function does not exist and
    ``InvalidRequestContentException`` if ``payload`` is not JSON.
    """
    parts = function_arn.split(":")
    if len(parts) < 7:
        raise ValueError(f"not a Lambda function ARN: {function_arn!r}")
    region, account = parts[3], parts[4]
    qualifier = parts[7] if len(parts) > 7 else None
    fn = get_backend(account, region).get_function(function_arn, qualifier)
    _submit_async(fn, _event_text(payload))


def wait_idle(timeout: float) -> bool:
    """Wait until no asynchronous invocation (retries, DLQ, destinations included) is
    in flight; True if idle within ``timeout`` seconds."""
    with _inflight_cond:
        return _inflight_cond.wait_for(lambda: _inflight == 0, timeout=timeout)


def _submit_async(fn: LambdaFunction, event_text: str) -> None:
    global _inflight
    with _inflight_cond:
        _inflight += 1
    try:
        _async_executor.submit(_run_async, fn, event_text)
    except RuntimeError:
        _async_done()
        raise


def _async_done() -> None:
    global _inflight
    with _inflight_cond:
        _inflight -= 1
        _inflight_cond.notify_all()


def _run_async(fn: LambdaFunction, event_text: str) -> None:
    try:
        _run_async_attempts(fn, event_text)
    except (ClientError, BotoCoreError, LambdaClientError, OSError, RuntimeError) as exc:
        # The background thread has no caller to report to: log where a developer looks.
        LOG.exception("asynchronous invocation of %s failed in the sandbox", fn.function_name)
        _write_log(fn.function_name, f"[sandbox] asynchronous invocation failed: {exc!r}\n")
    finally:
        _async_done()


def _async_config(fn: LambdaFunction) -> dict[str, Any]:
    configs = fn.event_invoke_config
    return dict(configs[0].config) if configs else {}


def _run_async_attempts(fn: LambdaFunction, event_text: str) -> None:
    config = _async_config(fn)
    max_retries = int(config.get("MaximumRetryAttempts", 2))
    request_id = str(uuid.uuid4())  # Lambda keeps one request id across retries
    attempts = 0
    while True:
        attempts += 1
        try:
            result = run_invocation(fn, event_text, request_id=request_id, wait_for_capacity=True)
        except Throttled as throttled:
            # Reserved concurrency 0: every event is throttled until it expires.
            _send_dead_letter(fn, event_text, request_id, "429", throttled.message)
            return
        if not result.function_error:
            _send_destination(fn, config, "OnSuccess", event_text, result, attempts)
            return
        if attempts > max_retries:
            break
        time.sleep(_config.async_retry_delay)
    error_message = str((result.error or {}).get("errorMessage", ""))
    _send_dead_letter(fn, event_text, result.request_id, "200", error_message)
    _send_destination(fn, config, "OnFailure", event_text, result, attempts)


def _send_dead_letter(fn: LambdaFunction, event_text: str, request_id: str, error_code: str, message: str) -> None:
    """The event to ``DeadLetterConfig.TargetArn``, with Lambda's three message attributes
    (``ErrorCode``: the invocation's HTTP status; ``ErrorMessage``: first 1 KB)."""
    target = (getattr(fn, "dead_letter_config", None) or {}).get("TargetArn")
    if not target:
        return
    attributes = {
        "RequestID": {"DataType": "String", "StringValue": request_id},
        "ErrorCode": {"DataType": "Number", "StringValue": error_code},
        "ErrorMessage": {"DataType": "String", "StringValue": message[:1024] or "-"},
    }
    _deliver(fn, target, event_text, attributes)


def _send_destination(
    fn: LambdaFunction,
    config: Mapping[str, Any],
    kind: str,
    event_text: str,
    result: InvocationResult,
    attempts: int,
) -> None:
    target = (config.get("DestinationConfig") or {}).get(kind, {}).get("Destination")
    if not target:
        return
    response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": result.executed_version}
    if result.function_error:
        response_context["functionError"] = result.function_error
    try:
        response_payload: Any = json.loads(result.payload) if result.payload else None
    except json.JSONDecodeError:
        response_payload = result.payload.decode("utf-8", errors="replace")
    record = {
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {
            "requestId": result.request_id,
            "functionArn": f"{fn.function_arn}:{result.executed_version}"
            if fn.function_arn.count(":") == 6
            else fn.function_arn,
            "condition": "Success" if kind == "OnSuccess" else "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": json.loads(event_text),
        "responseContext": response_context,
        "responsePayload": response_payload,
    }
    detail_type = (
        "Lambda Function Invocation Result - Success"
        if kind == "OnSuccess"
        else "Lambda Function Invocation Result - Failure"
    )
    _deliver(fn, target, json.dumps(record), None, detail_type=detail_type)


def _deliver(
    fn: LambdaFunction,
    target_arn: str,
    body: str,
    attributes: dict[str, dict[str, str]] | None,
    detail_type: str | None = None,
) -> None:
    """Send ``body`` to an SQS queue, SNS topic, Lambda function or event bus, as the
    function's execution role."""
    spec = _spec_for(fn)
    parts = target_arn.split(":")
    service, region, account = parts[2], parts[3], parts[4]
    if service == "sqs":
        sqs = _client("sqs", spec, region)
        url = sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=account)["QueueUrl"]
        kwargs: dict[str, Any] = {"QueueUrl": url, "MessageBody": body}
        if attributes:
            kwargs["MessageAttributes"] = attributes
        sqs.send_message(**kwargs)
    elif service == "sns":
        sns_kwargs: dict[str, Any] = {"TopicArn": target_arn, "Message": body}
        if attributes:
            sns_kwargs["MessageAttributes"] = attributes
        _client("sns", spec, region).publish(**sns_kwargs)
    elif service == "lambda":
        invoke_async(target_arn, body.encode())
    elif service == "events":
        _client("events", spec, region).put_events(
            Entries=[
                {
                    "Source": "lambda",
                    "DetailType": detail_type or "Lambda Function Invocation Result",
                    "Detail": body,
                    "Resources": [fn.function_arn],
                    "EventBusName": target_arn,
                }
            ]
        )
    else:
        LOG.warning("unsupported destination %s for %s", target_arn, fn.function_name)


# --------------------------------------------------------------------------- moto patches


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is None and isinstance(headers, Mapping):
        lowered = name.lower()
        for key, candidate in headers.items():
            if str(key).lower() == lowered:
                return str(candidate)
    return None if value is None else str(value)


def _event_text(body: Any) -> str:
    """The payload as JSON text; Lambda rejects a payload that is not JSON."""
    if body is None or body == b"" or body == "":
        return "{}"
    text = body.decode("utf-8") if isinstance(body, bytes | bytearray) else body
    if not isinstance(text, str):
        return json.dumps(text)
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise LambdaClientError(
            "InvalidRequestContentException",
            f"Could not parse request body into json: Could not parse payload into json: {exc}",
        ) from exc
    return text


def _function_invoke(self: LambdaFunction, body: Any, request_headers: Any, response_headers: Any) -> bytes:
    """``LambdaFunction.invoke``: run the handler (sync) or queue it (``Event``)."""
    invocation_type = _header(request_headers, "X-Amz-Invocation-Type") or "RequestResponse"
    event_text = _event_text(body)
    if invocation_type == "DryRun":
        return b""
    if invocation_type == "Event":
        _submit_async(self, event_text)
        return b""
    result = run_invocation(self, event_text)
    if result.function_error:
        response_headers["x-amz-function-error"] = result.function_error
    response_headers["x-amz-executed-version"] = result.executed_version
    tail = result.logs.encode("utf-8")[-_TAIL_BYTES:]
    response_headers["x-amz-log-result"] = base64.b64encode(tail).decode()
    return result.payload


def _simple_backend_invoke(
    self: LambdaSimpleBackend,
    function_name: str,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: Any,
) -> bytes:
    """``LambdaSimpleBackend.invoke``: the real function instead of a canned string."""
    fn = self.get_function(function_name, qualifier)
    result = fn.invoke(body, headers, response_headers)
    payload = result if isinstance(result, bytes) else result.encode()
    response_headers["Content-Length"] = str(len(payload))
    return payload


def _patch_dead_letter_config() -> None:
    """Keep ``DeadLetterConfig`` (moto ignores it) so failed async events reach the DLQ."""
    original_init = LambdaFunction.__init__
    original_update = LambdaFunction.update_configuration
    original_get = LambdaFunction.get_configuration

    def __init__(
        self: LambdaFunction,
        account_id: str,
        spec: dict[str, Any],
        region: str,
        version: str | int = 1,
    ) -> None:
        original_init(self, account_id, spec, region, version)
        self.dead_letter_config = dict(spec.get("DeadLetterConfig") or {}) or None  # type: ignore[attr-defined]

    def update_configuration(self: LambdaFunction, config_updates: dict[str, Any]) -> dict[str, Any]:
        if "DeadLetterConfig" in config_updates:
            dlq = config_updates["DeadLetterConfig"] or {}
            self.dead_letter_config = dict(dlq) if dlq.get("TargetArn") else None  # type: ignore[attr-defined]
        return original_update(self, config_updates)

    def get_configuration(self: LambdaFunction, on_create: bool = False) -> dict[str, Any]:
        config = original_get(self, on_create)
        dlq = getattr(self, "dead_letter_config", None)
        if dlq:
            config["DeadLetterConfig"] = dlq
        return config

    LambdaFunction.__init__ = __init__  # type: ignore[method-assign]
    LambdaFunction.update_configuration = update_configuration  # type: ignore[method-assign]
    LambdaFunction.get_configuration = get_configuration  # type: ignore[method-assign]


def _patch_cloudformation_function_properties() -> None:
    """``AWS::Lambda::Function`` keeps ``Layers`` and ``DeadLetterConfig``: moto's
    ``create_from_cloudformation_json`` passes only a few properties on, so a function
    deployed from a template would run without its layers and DLQ."""
    original = LambdaFunction.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_from_cloudformation_json(
        cls: type[LambdaFunction],
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> LambdaFunction:
        fn: LambdaFunction = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        properties = cloudformation_json.get("Properties", {})
        kept = {key: properties[key] for key in ("Layers", "DeadLetterConfig") if properties.get(key)}
        if kept:
            fn.update_configuration(kept)
        return fn

    LambdaFunction.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)  # type: ignore[method-assign,assignment]


_apply_lock = threading.Lock()


def apply() -> None:
    """Install the patches (idempotent)."""
    with _apply_lock:
        if getattr(LambdaFunction.invoke, _PATCH_MARK, False):
            return
        setattr(_function_invoke, _PATCH_MARK, True)
        LambdaFunction.invoke = _function_invoke  # type: ignore[method-assign]
        LambdaSimpleBackend.invoke = _simple_backend_invoke  # type: ignore[method-assign]
        _patch_dead_letter_config()
        _patch_cloudformation_function_properties()
        atexit.register(shutdown_workers)


def shutdown_workers() -> None:
    """Kill every worker process (also run at interpreter exit)."""
    _pool.shutdown()
    _close_log_files()


def worker_pids(function_arn: str) -> list[int]:
    """PIDs of the live workers of a function (diagnostics and tests)."""
    return _pool.pids(function_arn)


__all__ = [
    "InvocationResult",
    "RuntimeConfig",
    "apply",
    "configure",
    "invoke_async",
    "run_invocation",
    "shutdown_workers",
    "wait_idle",
    "worker_pids",
]
