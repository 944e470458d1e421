"""The execution environments of every function: reuse a free one, start one when all are busy, recycle.

Imitates https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html (one environment per
concurrent request; a free warm one is reused) and the recycling of
https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html (new environments after a
code or configuration change, idle ones reclaimed after ``idle_worker_ttl``). The pool counts a function's
environments against its reserved concurrency; :mod:`.concurrency` decides what happens at the limit.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from moto.awslambda.models import LambdaFunction

from .code import empty_code_dir, extract_zip
from .config import CONFIG
from .spec import FunctionSpec, layer_version, zip_digest
from .worker import Worker

LOG = logging.getLogger(__name__)


class Pool:
    """The execution environments of every function, keyed by function (version) ARN.

    A function with ``ReservedConcurrentExecutions`` gets at most that many.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._workers: dict[str, list[Worker]] = {}
        self._starting: dict[str, int] = {}
        self._latest: dict[str, str] = {}

    def checkout(self, spec: FunctionSpec) -> tuple[Worker | None, bool]:
        """A free warm worker for ``spec`` (marked busy), else whether one may be started
        (if so, a start is reserved: call :meth:`add` or :meth:`start_failed`). Drops stale ones."""
        doomed: list[Worker] = []
        found: Worker | None = None
        may_start = False
        now = time.monotonic()
        with self._cond:
            self._latest[spec.key] = spec.fingerprint
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
                in_use = len(workers) + self._starting.get(spec.key, 0)
                limit = spec.reserved_concurrency
                may_start = limit is None or in_use < limit
                if may_start:
                    self._starting[spec.key] = self._starting.get(spec.key, 0) + 1
        for worker in doomed:
            worker.kill()
        return found, may_start

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
