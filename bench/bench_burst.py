"""A nightly retrain: every model approved at once (issue 13, "Bursts").

``python bench/bench_burst.py [--packages 1000] [--groups 500] [--sagemaker-rate 20] [--lambda-concurrency 64]``

Starts its own sandbox (the real template, state machine and handlers) with Lambda's account concurrency at
``--lambda-concurrency`` and SageMaker's control plane throttled at ``--sagemaker-rate`` requests per second per
account (``0`` = measure only). Beforehand (not measured) it creates ``--groups`` model package groups matching the
sandbox's pattern route ``housing-city-*`` (an MME) and ``--packages`` packages spread over them, each
``PendingManualApproval`` with its own artifact, shaped as the SageMaker SDK registers them; they are inserted
straight into the emulator's backend so no event fires before the burst. Then it approves them all at once
(``UpdateModelPackage`` from 32 threads) and waits for every outcome.

Prints one JSON document: promoted exactly once (one "Promotion Succeeded" per package, one hub package per package,
one MME object per package, no other outcome), failed executions, dead letters, Lambda throttles (429s answered,
events queued; all absorbed by retries), throughput, p50/p95 from approval to outcome (the outcome event's
``SentTimestamp`` in a capture queue), the peak SageMaker control-plane requests per second ModelRelay made (its own,
the bench's excluded) and how many SageMaker throttled, and the peak number of Lambda worker processes and their
memory. Exit status 1 when anything is not exactly once.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from modelrelay.domain.hub import hub_group_name
from modelrelay_sandbox import environment
from modelrelay_sandbox.artifact_factory import good_artifact
from modelrelay_sandbox.environment import DS_BUCKET, wait_for
from modelrelay_sandbox.moto_ext import sagemaker_rate, wait_idle
from modelrelay_sandbox.moto_ext.lambda_runtime import concurrency
from modelrelay_sandbox.server import LAMBDA_CONCURRENCY_ENV

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_load import Load, percentile
from bench_registry_scale import IMAGE, insert_package


class WorkerSampler:
    """Samples the Lambda worker processes (children of this process): the most alive at once, and their RSS."""

    def __init__(self) -> None:
        self.peak_workers = 0
        self.peak_rss_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _children(self) -> list[int]:
        me, found = os.getpid(), []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == me:
                found.append(int(entry))
        return found

    @staticmethod
    def _rss_mb(pid: int) -> float:
        try:
            for row in Path(f"/proc/{pid}/status").read_text().splitlines():
                if row.startswith("VmRSS:"):
                    return int(row.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            pids = self._children()
            self.peak_workers = max(self.peak_workers, len(pids))
            self.peak_rss_mb = max(self.peak_rss_mb, sum(self._rss_mb(p) for p in pids))

    def __enter__(self) -> WorkerSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


class Burst(Load):
    """The burst, with bench_load's clients (the bench's own, marked: neither counted nor throttled), outcome
    capture queue and dead-letter and execution counts."""

    # -- setup (not measured)
    def prepare(self, packages: int, groups: int) -> dict[str, str]:
        """``packages`` pending packages over ``groups`` new groups; returns package ARN -> group."""
        run = uuid.uuid4().hex[:4]
        names = [f"housing-city-burst{run}-{n:04d}" for n in range(groups)]
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda g: self.c["sagemaker"].create_model_package_group(ModelPackageGroupName=g), names))
        keys = [f"sdk/burst/{uuid.uuid4().hex}/model.tar.gz" for _ in range(packages)]

        def upload(key: str) -> None:
            self.c["s3"].put_object(
                Bucket=DS_BUCKET, Key=key, Body=good_artifact({"model.joblib": uuid.uuid4().bytes * 64})
            )

        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(upload, keys))
        return {insert_pending(names[i % groups], keys[i]): names[i % groups] for i in range(packages)}

    # -- observation
    def hub_packages(self, group: str) -> Counter[str]:
        """Hub packages of ``group``'s hub group, counted per source package ARN (their provenance)."""
        counts: Counter[str] = Counter()
        hub_group = hub_group_name(self.out["hub_model_package_group"], group)
        for page in (
            self.hub["sagemaker"].get_paginator("list_model_packages").paginate(ModelPackageGroupName=hub_group)
        ):
            for summary in page["ModelPackageSummaryList"]:
                described = self.hub["sagemaker"].describe_model_package(ModelPackageName=summary["ModelPackageArn"])
                source = (described.get("CustomerMetadataProperties") or {}).get("modelrelay:source-package-arn")
                counts[str(source)] += 1
        return counts

    def mme_objects(self) -> int:
        prefix = self.out["mme"].get("prefix", "models/")
        return sum(
            sum(1 for o in page.get("Contents", []) if "/City_burst" in "/" + o["Key"].removeprefix(prefix))
            for page in self.c["s3"]
            .get_paginator("list_objects_v2")
            .paginate(Bucket=self.out["mme"]["bucket"], Prefix=prefix)
        )

    # -- the burst
    def run(self, packages: int, groups: int, timeout: float) -> dict[str, Any]:
        pending = self.prepare(packages, groups)
        self.drain()
        self.outcomes.clear()
        failed_before, dead_before = self.failed_executions(), self.dead_letters()
        throttles_before, queued_before = Counter(concurrency.THROTTLES), Counter(concurrency.QUEUED)
        meter = sagemaker_rate.meter(self.env.server)
        assert meter is not None
        meter.reset()
        sent: dict[str, float] = {}

        def approve(arn: str) -> None:
            sent[arn] = time.time()
            self.c["sagemaker"].update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")

        done: dict[str, float] = {}

        def finished() -> bool:
            self.drain()
            for event, when in self.outcomes:
                arn = event["detail"].get("package_arn")
                if event["detail-type"].startswith("Promotion") and arn in pending:
                    done.setdefault(arn, when)
            return len(done) == len(pending)

        with WorkerSampler() as sampler:
            started = time.time()
            with ThreadPoolExecutor(max_workers=32) as pool:
                list(pool.map(approve, pending))
            approvals_sent_s = time.time() - started
            wait_for(finished, timeout=timeout, interval=1.0, what="every outcome")
            wall = max(done.values()) - started
            wait_idle(120)
        outcomes = Counter((e["detail-type"], e["detail"].get("package_arn")) for e, _ in self.outcomes)
        succeeded = Counter(outcomes[("Promotion Succeeded", arn)] for arn in pending)
        other = sum(n for (kind, arn), n in outcomes.items() if arn in pending and kind != "Promotion Succeeded")
        hub: Counter[str] = Counter()
        for group in set(pending.values()):
            hub.update(self.hub_packages(group))
        hub_per_package = Counter(hub[arn] for arn in pending)
        latency = [done[arn] - sent[arn] for arn in pending]
        counts = {
            "succeeded_events_per_package": {str(k): v for k, v in succeeded.items()},
            "other_outcomes": other,
            "hub_packages_per_package": {str(k): v for k, v in hub_per_package.items()},
            "mme_objects": self.mme_objects(),
            "failed_executions": self.failed_executions() - failed_before,
            "dead_letters": self.dead_letters() - dead_before,
        }
        exactly_once = (
            succeeded == Counter({1: packages})
            and other == 0
            and hub_per_package == Counter({1: packages})
            and counts["mme_objects"] == packages
            and counts["failed_executions"] == 0
            and counts["dead_letters"] == 0
        )
        return {
            "packages": packages,
            "groups": groups,
            "exactly_once": exactly_once,
            "counts": counts,
            "approvals_sent_s": round(approvals_sent_s, 2),
            "wall_s": round(wall, 1),
            "throughput_per_s": round(packages / wall, 2),
            "p50_s": round(statistics.median(latency), 1),
            "p95_s": round(percentile(latency, 0.95), 1),
            "lambda_throttles_429": dict(Counter(concurrency.THROTTLES) - throttles_before),
            "lambda_events_queued": dict(Counter(concurrency.QUEUED) - queued_before),
            "sagemaker_requests": meter.count(),
            "sagemaker_peak_per_s": meter.peak(),
            "sagemaker_throttled": meter.throttled,
            "peak_lambda_workers": sampler.peak_workers,
            "peak_lambda_workers_rss_mb": round(sampler.peak_rss_mb),
            "load_average_1m": round(os.getloadavg()[0], 2),
        }


def insert_pending(group: str, key: str) -> str:
    """A PendingManualApproval package as the SageMaker SDK's ``ModelPackage.register`` creates it, inserted into
    the emulator's backend directly (no event: the bench's burst is the approvals, not the registrations)."""
    with _insert_lock:
        version = _versions.get(group, 0) + 1
        _versions[group] = version
    return insert_package(
        environment.ACCOUNT_ID,
        group,
        version,
        approval_status="PendingManualApproval",
        inference_specification={
            "Containers": [
                {
                    "Image": IMAGE,
                    "ModelDataUrl": f"s3://{DS_BUCKET}/{key}",
                    "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_REGION": environment.REGION},
                }
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["application/json"],
            "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.xlarge"],
        },
    )


_insert_lock = threading.Lock()
_versions: dict[str, int] = {}


def burst(
    env: environment.SandboxEnvironment, packages: int, groups: int, sagemaker_requests_per_s: float, timeout: float
) -> dict[str, Any]:
    """The burst on a running sandbox, with SageMaker throttled at ``sagemaker_requests_per_s`` (0 = measure only)
    for its duration."""
    sagemaker_rate.enable(
        env.server, rate=sagemaker_requests_per_s or None, burst=int(sagemaker_requests_per_s) or None
    )
    try:
        result = Burst(env).run(packages, groups, timeout)
    finally:
        sagemaker_rate.disable(env.server)
    result["assumed_sagemaker_rate_per_s"] = sagemaker_requests_per_s or None
    return result


def run(
    packages: int,
    groups: int,
    sagemaker_requests_per_s: float,
    lambda_concurrency: int,
    timeout: float,
    promotion_concurrency: int | None = None,
) -> dict[str, Any]:
    """The burst on a sandbox of its own, with Lambda's account quota and the template's PromotionConcurrency."""
    os.environ[LAMBDA_CONCURRENCY_ENV] = str(lambda_concurrency)
    overrides = {} if promotion_concurrency is None else {"PromotionConcurrency": str(promotion_concurrency)}
    env = environment.start(
        port=None,
        state_dir=Path(tempfile.mkdtemp(prefix="modelrelay-bench-burst-")),
        parameter_overrides=overrides,
    )
    try:
        result = burst(env, packages, groups, sagemaker_requests_per_s, timeout)
        result["lambda_account_concurrency"] = lambda_concurrency
        result["promotion_concurrency"] = promotion_concurrency if promotion_concurrency is not None else "default"
        return result
    finally:
        env.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--packages", type=int, default=1000)
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument("--sagemaker-rate", type=float, default=20.0, help="requests/s per account; 0 = no throttle")
    parser.add_argument("--lambda-concurrency", type=int, default=64, help="Lambda's account concurrency quota")
    parser.add_argument("--promotion-concurrency", type=int, default=None, help="the template parameter (0 = none)")
    parser.add_argument("--timeout", type=float, default=3600.0)
    args = parser.parse_args(argv)
    result = run(
        args.packages,
        args.groups,
        args.sagemaker_rate,
        args.lambda_concurrency,
        args.timeout,
        args.promotion_concurrency,
    )
    print(json.dumps(result, indent=1), flush=True)
    return 0 if result["exactly_once"] else 1


if __name__ == "__main__":
    sys.exit(main())
