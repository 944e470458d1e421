"""The execution environments of every function: reuse a free one, start one when all are busy, recycle.

Imitates https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html (one environment per
concurrent request; a free warm one is reused; the account's concurrency quota shared by the functions
without reserved concurrency, https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html)
and the recycling of https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html (new
environments after a code or configuration change, idle ones reclaimed after ``idle_worker_ttl``). The pool
counts executions in flight against the limits; :mod:`.concurrency` decides what happens at a limit.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from moto.awslambda.models import LambdaFunction

from .code import empty_code_dir, extract_zip
from .config import CONFIG
from .spec import FunctionSpec, layer_version, reserved_in_account, zip_digest
from .worker import Worker

LOG = logging.getLogger(__name__)

# Lambda's throttle reasons (the ``Reason`` of TooManyRequestsException, API_Invoke).
ACCOUNT_LIMIT = "ConcurrentInvocationLimitExceeded"
RESERVED_LIMIT = "ReservedFunctionConcurrentInvocationLimitExceeded"


class Pool:
    """The execution environments of every function, keyed by function (version) ARN.

    Concurrency is counted as Lambda counts it: executions in flight (busy environments and environments being
    started), per function and per account and Region. A function with ``ReservedConcurrentExecutions`` runs at
    most that many at once; the other functions of the account share what the reservations leave of
    ``CONFIG.account_concurrency``. Idle environments do not count, but they are processes: the pool keeps at
    most ``account_concurrency`` processes per account and Region, reclaiming the least recently used idle one
    (of any function) before starting another.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._workers: dict[str, list[Worker]] = {}
        self._starting: dict[str, int] = {}
        self._latest: dict[str, str] = {}
        self._scope: dict[str, tuple[str, str]] = {}  # function key -> (account, Region)
        self._reserved: dict[str, int | None] = {}

    def checkout(self, spec: FunctionSpec) -> tuple[Worker | None, str | None]:
        """A free warm worker for ``spec`` (marked busy) and ``None``; or ``(None, None)`` when a new one may be
        started (the start is reserved: call :meth:`add` or :meth:`start_failed`); or ``(None, reason)`` at a
        concurrency limit, ``reason`` being Lambda's throttle reason. Drops stale and expired workers."""
        doomed: list[Worker] = []
        found: Worker | None = None
        refusal: str | None = None
        now = time.monotonic()
        with self._cond:
            self._latest[spec.key] = spec.fingerprint
            self._scope[spec.key] = (spec.account, spec.region)
            self._reserved[spec.key] = spec.reserved_concurrency
            for key, workers in self._workers.items():
                keep: list[Worker] = []
                for worker in workers:
                    stale = worker.spec.fingerprint != self._latest.get(key)
                    expired = now - worker.last_used > CONFIG.idle_worker_ttl
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
                refusal = self._refusal(spec)
                if refusal is None:
                    self._starting[spec.key] = self._starting.get(spec.key, 0) + 1
                    doomed.extend(self._make_room(spec))
        for worker in doomed:
            worker.kill()
        return found, refusal

    def _in_flight(self, key: str) -> int:
        return sum(1 for w in self._workers.get(key, []) if w.busy) + self._starting.get(key, 0)

    def _refusal(self, spec: FunctionSpec) -> str | None:
        """Why a new execution of ``spec`` may not start now (Lambda's throttle reason), or None."""
        if spec.reserved_concurrency is not None:
            if self._in_flight(spec.key) >= spec.reserved_concurrency:
                return RESERVED_LIMIT
            return None
        scope = (spec.account, spec.region)
        unreserved = CONFIG.account_concurrency - reserved_in_account(spec.account, spec.region)
        in_flight = sum(
            self._in_flight(key)
            for key, where in self._scope.items()
            if where == scope and self._reserved.get(key) is None
        )
        return ACCOUNT_LIMIT if in_flight >= unreserved else None

    def _make_room(self, spec: FunctionSpec) -> list[Worker]:
        """Idle workers to reclaim (least recently used first) so that the account's processes, with the one
        about to start, stay within ``account_concurrency``."""
        scope = (spec.account, spec.region)
        mine = [w for key, ws in self._workers.items() if self._scope.get(key) == scope for w in ws]
        starting = sum(n for key, n in self._starting.items() if self._scope.get(key) == scope)
        excess = len(mine) + starting - CONFIG.account_concurrency
        if excess <= 0:
            return []
        idle = sorted((w for w in mine if not w.busy), key=lambda w: w.last_used)[:excess]
        for worker in idle:
            self._workers[worker.spec.key].remove(worker)
        return idle

    def add(self, worker: Worker) -> None:
        with self._cond:
            self._starting[worker.spec.key] -= 1
            self._workers.setdefault(worker.spec.key, []).append(worker)

    def start_failed(self, spec: FunctionSpec) -> None:
        with self._cond:
            self._starting[spec.key] -= 1
            self._cond.notify_all()

    def checkin(self, worker: Worker, reusable: bool) -> None:
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


POOL = Pool()


def spawn(fn: LambdaFunction, spec: FunctionSpec) -> Worker:
    """Start a worker for a start reserved by ``POOL.checkout``."""
    try:
        code_dir = extract_zip(fn.code_bytes, spec.code_digest) if fn.code_bytes else empty_code_dir()
        layer_dirs: list[Path] = []
        for layer in fn.layers:
            lv = layer_version(layer["Arn"])
            if lv is None or not lv.code_bytes:
                LOG.warning("layer %s of %s has no content; skipped", layer["Arn"], spec.name)
                continue
            digest = zip_digest(lv.code_bytes, getattr(lv, "code_digest", None))
            layer_dirs.append(extract_zip(lv.code_bytes, digest))
        worker = Worker(spec, code_dir, layer_dirs)
    except BaseException:
        POOL.start_failed(spec)
        raise
    POOL.add(worker)
    return worker
