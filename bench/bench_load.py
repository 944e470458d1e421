"""Load on the sandbox: N drops and M approvals arriving at once, each processed exactly once.

``python bench/bench_load.py [--drops 50] [--approvals 20] [--rounds 1] [--fault-rate 0] [--state-dir DIR]``

Starts its own sandbox (``modelrelay_sandbox.environment.start``), registers M pending packages beforehand (not
measured), then releases together, from threads, N drops (``housing-newyork-ny``: each must register exactly one
package) and the M approvals (each must promote exactly once). An event's time is taken when the bench sends it;
its outcome's time is when ModelRelay emitted the outcome event ("Artifact Registered" for a drop, "Promotion
Succeeded" for an approval), i.e. the ``SentTimestamp`` of that event in an SQS queue a capture rule feeds.
Round 2 and later run with warm Lambda workers (round 1 pays a worker per concurrent invocation).

Prints one JSON document per round: throughput, p50/p95 event → outcome (all, drops, approvals), and the exact
counts the reliability test asserts (packages per drop, hub packages / hub object versions / MME objects per
approval, pointer moves, failed executions, dead letters). Exit status 1 when a count is not exactly as expected.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
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

from botocore.config import Config

from modelrelay.domain.hub import hub_group_name
from modelrelay_sandbox import environment
from modelrelay_sandbox.artifact_factory import good_artifact
from modelrelay_sandbox.environment import SandboxEnvironment, wait_for
from modelrelay_sandbox.moto_ext import fault_injection, wait_idle

GROUP = "housing-newyork-ny"
MODEL = "NewYork_NY"
CONFIG = Config(
    user_agent_extra=fault_injection.DEFAULT_EXCLUDE_USER_AGENT,
    retries={"mode": "standard", "max_attempts": 10},
    max_pool_connections=128,
)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


class Load:
    def __init__(self, env: SandboxEnvironment) -> None:
        self.env, self.out = env, env.outputs
        session, hub = environment.session(), environment.hub_admin_session()
        self.c = {
            name: session.client(name, endpoint_url=env.url, config=CONFIG)
            for name in ("s3", "sagemaker", "sqs", "events", "stepfunctions", "dynamodb")
        }
        self.hub = {name: hub.client(name, endpoint_url=env.url, config=CONFIG) for name in ("s3", "sagemaker")}
        self.queue = self.c["sqs"].create_queue(QueueName="bench-load-outcomes")["QueueUrl"]
        arn = self.c["sqs"].get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.c["events"].put_rule(Name="bench-load-outcomes", EventPattern=json.dumps({"source": ["modelrelay"]}))
        self.c["events"].put_targets(Rule="bench-load-outcomes", Targets=[{"Id": "q", "Arn": arn}])
        self.outcomes: list[tuple[dict[str, Any], float]] = []

    def drain(self) -> None:
        while True:
            batch = (
                self.c["sqs"]
                .receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10, AttributeNames=["SentTimestamp"])
                .get("Messages", [])
            )
            if not batch:
                return
            self.outcomes += [(json.loads(m["Body"]), int(m["Attributes"]["SentTimestamp"]) / 1000) for m in batch]
            self.c["sqs"].delete_message_batch(
                QueueUrl=self.queue,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
            )

    def quiesce(self, timeout: float = 300) -> None:
        deadline, calm = time.monotonic() + timeout, 0
        while calm < 2:
            if time.monotonic() > deadline:
                raise TimeoutError("the sandbox did not settle")
            idle = wait_idle(max(deadline - time.monotonic(), 0))
            running = self.c["stepfunctions"].list_executions(
                stateMachineArn=self.out["state_machine_arn"], statusFilter="RUNNING"
            )["executions"]
            calm = calm + 1 if idle and not running else 0
            time.sleep(0.1)

    def packages(self, group: str, sha: str, hub: bool = False) -> int:
        client = self.hub["sagemaker"] if hub else self.c["sagemaker"]
        return sum(
            1
            for page in client.get_paginator("list_model_packages").paginate(ModelPackageGroupName=group)
            for s in page["ModelPackageSummaryList"]
            if sha in (s.get("ModelPackageDescription") or "")
        )

    def pointer_revision(self) -> int:
        item = (
            self.c["dynamodb"]
            .get_item(
                TableName=self.out["state_table"],
                ConsistentRead=True,
                Key={"pk": {"S": f"pointer#{self.out['mme']['endpoint_name']}#{MODEL}"}},
            )
            .get("Item")
        )
        return int(item["revision"]["N"]) if item else 0

    def failed_executions(self) -> int:
        return sum(
            len(p["executions"])
            for p in self.c["stepfunctions"]
            .get_paginator("list_executions")
            .paginate(stateMachineArn=self.out["state_machine_arn"], statusFilter="FAILED")
        )

    def dead_letters(self) -> int:
        total = 0
        for url in self.out["dead_letter_queue_urls"]:
            attributes = self.c["sqs"].get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            )["Attributes"]
            total += sum(int(v) for v in attributes.values())
        return total

    def drop(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        self.c["s3"].put_object(Bucket=self.out["ingest_bucket"], Key=f"incoming/{GROUP}/{sha[:16]}.tar.gz", Body=data)
        return sha

    def package_of(self, sha: str) -> str:
        def find() -> str | None:
            for page in self.c["sagemaker"].get_paginator("list_model_packages").paginate(ModelPackageGroupName=GROUP):
                for summary in page["ModelPackageSummaryList"]:
                    if sha in (summary.get("ModelPackageDescription") or ""):
                        return str(summary["ModelPackageArn"])
            return None

        return str(wait_for(find, timeout=120, what=f"registration of {sha[:12]}"))

    def round(self, drops: int, approvals: int, fault_rate: float, seed: int) -> dict[str, Any]:
        artifact = lambda: good_artifact({"model.joblib": uuid.uuid4().bytes * 64})  # noqa: E731
        with ThreadPoolExecutor(max_workers=max(approvals, 1)) as pool:
            waiting_shas = list(pool.map(lambda _: self.drop(artifact()), range(approvals)))
        waiting = {sha: self.package_of(sha) for sha in waiting_shas}
        self.quiesce()
        self.drain()
        self.outcomes.clear()
        revision, failed, dead = self.pointer_revision(), self.failed_executions(), self.dead_letters()
        bodies = [artifact() for _ in range(drops)]
        sent: dict[str, float] = {}
        barrier = threading.Barrier(drops + approvals)

        def send_drop(data: bytes) -> None:
            barrier.wait(timeout=60)
            sha = hashlib.sha256(data).hexdigest()
            sent[sha] = time.time()
            self.drop(data)

        def send_approval(arn: str) -> None:
            barrier.wait(timeout=60)
            sent[arn] = time.time()
            self.c["sagemaker"].update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")

        injector = fault_injection.enable(self.env.server, fault_rate, seed) if fault_rate else None
        started = time.time()
        try:
            with ThreadPoolExecutor(max_workers=drops + approvals) as pool:
                jobs = [pool.submit(send_drop, data) for data in bodies]
                jobs += [pool.submit(send_approval, arn) for arn in waiting.values()]
                for job in jobs:
                    job.result()
            done: dict[str, float] = {}

            def finished() -> bool:
                self.drain()
                for event, when in self.outcomes:
                    detail = event["detail"]
                    if event["detail-type"] == "Artifact Registered" and detail.get("sha256") in sent:
                        done.setdefault(detail["sha256"], when)
                    elif event["detail-type"] == "Promotion Succeeded" and detail.get("package_arn") in sent:
                        done.setdefault(detail["package_arn"], when)
                return len(done) == len(sent)

            wait_for(finished, timeout=600, interval=0.5, what="every outcome")
            self.quiesce()
        finally:
            if injector is not None:
                fault_injection.disable(self.env.server)
        wall = max(done.values()) - started
        latency = {key: done[key] - sent[key] for key in sent}
        drop_latency = [latency[k] for k in sent if k not in waiting.values()]
        approval_latency = [latency[arn] for arn in waiting.values()]
        all_latency = list(latency.values())
        outcome_counts = Counter(
            (
                e["detail-type"],
                e["detail"].get("sha256" if e["detail-type"] == "Artifact Registered" else "package_arn"),
            )
            for e, _ in self.outcomes
        )
        counts = {
            "packages_per_drop": dict(Counter(self.packages(GROUP, hashlib.sha256(b).hexdigest()) for b in bodies)),
            "registered_events_per_drop": dict(
                Counter(outcome_counts[("Artifact Registered", hashlib.sha256(b).hexdigest())] for b in bodies)
            ),
            "hub_packages_per_approval": dict(
                Counter(
                    self.packages(hub_group_name(self.out["hub_model_package_group"], GROUP), sha, hub=True)
                    for sha in waiting
                )
            ),
            "hub_object_versions_per_approval": dict(
                Counter(
                    len(
                        self.hub["s3"]
                        .list_object_versions(Bucket=self.out["hub_bucket"], Prefix=f"artifacts/{GROUP}/{sha}.tar.gz")
                        .get("Versions", [])
                    )
                    for sha in waiting
                )
            ),
            "mme_objects_per_approval": dict(
                Counter(
                    sum(
                        1
                        for o in self.c["s3"]
                        .list_objects_v2(Bucket=self.out["mme"]["bucket"], Prefix=f"models/{MODEL}/")
                        .get("Contents", [])
                        if sha[:12] in o["Key"]
                    )
                    for sha in waiting
                )
            ),
            "succeeded_events_per_approval": dict(
                Counter(outcome_counts[("Promotion Succeeded", arn)] for arn in waiting.values())
            ),
            "pointer_moves": self.pointer_revision() - revision,
            "failed_executions": self.failed_executions() - failed,
            "dead_letters": self.dead_letters() - dead,
        }
        per_item = [k for k in counts if k.endswith(("_per_drop", "_per_approval"))]
        exactly_once = (
            all(counts[k] == {1: len(bodies) if k.endswith("_per_drop") else approvals} for k in per_item)
            and counts["pointer_moves"] == approvals
            and counts["failed_executions"] == 0
            and counts["dead_letters"] == 0
        )
        result: dict[str, Any] = {
            "drops": drops,
            "approvals": approvals,
            "outcomes": len(done),
            "wall_s": round(wall, 2),
            "throughput_per_s": round(len(done) / wall, 2),
            "p50_s": round(statistics.median(all_latency), 2),
            "p95_s": round(percentile(all_latency, 0.95), 2),
            "drops_p50_s": round(statistics.median(drop_latency), 2) if drop_latency else None,
            "drops_p95_s": round(percentile(drop_latency, 0.95), 2) if drop_latency else None,
            "approvals_p50_s": round(statistics.median(approval_latency), 2) if approval_latency else None,
            "approvals_p95_s": round(percentile(approval_latency, 0.95), 2) if approval_latency else None,
            "counts": {k: ({str(n): c for n, c in v.items()} if isinstance(v, dict) else v) for k, v in counts.items()},
            "exactly_once": exactly_once,
            "load_average_1m": round(os.getloadavg()[0], 2),
        }
        if injector is not None:
            result["faults"] = injector.stats()
        return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--drops", type=int, default=50)
    parser.add_argument("--approvals", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=1, help="round 2 and later run with warm Lambda workers")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="fault injection during the load (0..1)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--state-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    state_dir = args.state_dir or Path(tempfile.mkdtemp(prefix="modelrelay-bench-load-"))
    env = environment.start(port=None, state_dir=state_dir)
    ok = True
    try:
        load = Load(env)
        for number in range(1, args.rounds + 1):
            result = load.round(args.drops, args.approvals, args.fault_rate, args.seed + number)
            print(json.dumps({"round": number, **result}), flush=True)
            ok = ok and bool(result["exactly_once"])
    finally:
        env.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
