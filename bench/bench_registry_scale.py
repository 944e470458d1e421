"""API calls of one promotion whatever the registries hold (issue 13: "a hub that stays fast").

Promotes one package on the sandbox's pattern route ``housing-city-*`` (an MME) with the source group and its hub
group seeded with N packages each, and prints the AWS API requests the sandbox server received from the approval
until the outcome was recorded, by operation. Find-or-create by provenance, drop deduplication and clean-up read
the state table's index, never a registry listing, so the counts must be equal at every size.

Seeding is direct (packages inserted into the emulator's SageMaker backend, no API calls, no events): 5,000 hub
packages and 1,000 source packages take a second. ``--small`` runs 0 vs 200 (what the test runs).

    python bench/bench_registry_scale.py            # hub 0 / source 0, then hub 5,000 / source 1,000
"""

from __future__ import annotations

import collections
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from botocore.config import Config

from modelrelay.domain.hub import hub_group_name
from modelrelay_sandbox import environment
from modelrelay_sandbox.artifact_factory import good_artifact
from modelrelay_sandbox.environment import DS_BUCKET, HUB_ACCOUNT_ID, wait_for

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_promotion import operation

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/housing-inference:1"
BENCH_AGENT = "modelrelay-bench"


def insert_package(
    account: str,
    group: str,
    version: int,
    *,
    approval_status: str,
    inference_specification: dict[str, Any],
    description: str | None = None,
    metadata: dict[str, str] | None = None,
) -> str:
    """One package inserted straight into the emulator's SageMaker backend (no API call, no event); its ARN."""
    from moto.sagemaker.models import ModelPackage, sagemaker_backends

    backend = sagemaker_backends[account][environment.REGION]
    package = ModelPackage(
        model_package_name=group,
        model_package_group_name=group,
        model_package_version=version,
        model_package_description=description,
        inference_specification=inference_specification,
        source_algorithm_specification=None,
        validation_specification=None,
        certify_for_marketplace=False,
        model_approval_status=approval_status,
        metadata_properties=None,
        model_metrics=None,
        approval_description=None,
        customer_metadata_properties=metadata,
        drift_check_baselines=None,
        domain="",
        task="",
        sample_payload_url="",
        additional_inference_specifications=[],
        client_token=uuid.uuid4().hex,
        region_name=environment.REGION,
        account_id=account,
        model_package_type="Versioned",
    )
    backend.model_packages[package.arn] = package
    backend.model_package_name_mapping[package.arn] = package.arn
    return str(package.arn)


def seed(account: str, group: str, count: int) -> None:
    """``count`` Approved packages in ``group`` (which exists), inserted straight into the emulator's backend."""
    from moto.sagemaker.models import sagemaker_backends

    backend = sagemaker_backends[account][environment.REGION]
    start = sum(1 for p in backend.model_packages.values() if p.model_package_group_name == group)
    for version in range(start + 1, start + count + 1):
        insert_package(
            account,
            group,
            version,
            approval_status="Approved",
            inference_specification={"Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://{DS_BUCKET}/x"}]},
            description=f"seeded {version}",
            metadata={"seeded": "true"},
        )


class Counter:
    """Counts every API request the sandbox server receives while on (the bench's own polling excluded)."""

    def __init__(self, env: environment.SandboxEnvironment) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self.on = False
        inner = env.server._server.app

        def app(environ: dict[str, Any], start_response: Any) -> Any:
            if self.on and BENCH_AGENT not in environ.get("HTTP_USER_AGENT", ""):
                self.counts[operation(environ)] += 1
            return inner(environ, start_response)

        env.server._server.app = app


def promote_with(env: environment.SandboxEnvironment, counter: Counter, hub_n: int, source_n: int) -> dict[str, Any]:
    """One promotion with the source group holding ``source_n`` packages and its hub group ``hub_n``."""
    config = Config(user_agent_extra=BENCH_AGENT)
    ses, hub = environment.session(), environment.hub_admin_session()
    sagemaker, s3, sfn = (
        ses.client(s, endpoint_url=env.url, config=config) for s in ("sagemaker", "s3", "stepfunctions")
    )
    group = f"housing-city-bench-{hub_n}-{source_n}-{uuid.uuid4().hex[:4]}"
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    seed(environment.ACCOUNT_ID, group, source_n)
    hub_group = hub_group_name(env.outputs["hub_model_package_group"], group)
    if hub_n:  # an empty hub has no group yet: the promotion creates it (one call either way)
        hub.client("sagemaker", endpoint_url=env.url, config=config).create_model_package_group(
            ModelPackageGroupName=hub_group
        )
        seed(HUB_ACCOUNT_ID, hub_group, hub_n)
    key = f"sdk/{group}/{uuid.uuid4().hex}/model.tar.gz"
    s3.put_object(Bucket=DS_BUCKET, Key=key, Body=good_artifact({"model.joblib": uuid.uuid4().bytes * 64}))
    arn = sagemaker.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://{DS_BUCKET}/{key}"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )["ModelPackageArn"]

    def executions() -> list[dict[str, Any]]:
        found = []
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=env.outputs["state_machine_arn"]):
            for execution in page["executions"]:
                described = sfn.describe_execution(executionArn=execution["executionArn"])
                if arn in described.get("input", ""):
                    found.append(described)
        return found

    # The PendingManualApproval event runs a quiet execution first: let it end before counting.
    wait_for(lambda: [e for e in executions() if e["status"] != "RUNNING"], timeout=60, what="the pending run")
    counter.counts.clear()
    counter.on = True
    started = time.monotonic()
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    done = wait_for(
        lambda: (runs := executions()) and len(runs) >= 2 and all(e["status"] != "RUNNING" for e in runs) and runs,
        timeout=120,
        what="the promotion",
    )
    counter.on = False
    status = sagemaker.describe_model_package(ModelPackageName=arn)["CustomerMetadataProperties"]
    copy_parts = counter.counts.pop("s3:UploadPartCopy", 0)
    return {
        "hub_packages": hub_n,
        "source_packages": source_n,
        "outcome": status.get("modelrelay:status"),
        "executions": sorted(e["status"] for e in done),
        "seconds_on_sandbox": round(time.monotonic() - started, 2),
        "api_calls": sum(counter.counts.values()),
        "copy_parts": copy_parts,
        "by_operation": dict(sorted(counter.counts.items())),
    }


def run(sizes: list[tuple[int, int]], env: environment.SandboxEnvironment | None = None) -> list[dict[str, Any]]:
    """Promotions at each (hub packages, source packages) size, on ``env`` or a sandbox of its own."""
    own = env is None
    env = env or environment.start(port=None, state_dir=Path(tempfile.mkdtemp(prefix="modelrelay-bench-")))
    try:
        counter = Counter(env)
        promote_with(env, counter, 0, 0)  # warm-up: first invocations of each function, not measured
        return [promote_with(env, counter, hub_n, source_n) for hub_n, source_n in sizes]
    finally:
        if own:
            env.stop()


def main() -> int:
    sizes = [(0, 0), (200, 200)] if "--small" in sys.argv else [(0, 0), (5000, 1000)]
    results = run(sizes)
    print(json.dumps({"promotions": results}, indent=1))
    calls = {(r["hub_packages"], r["source_packages"]): r["api_calls"] for r in results}
    same = len(set(calls.values())) == 1 and all(r["outcome"] == "PromotionSucceeded" for r in results)
    print("API calls per promotion by (hub packages, source packages):", calls, "equal" if same else "NOT EQUAL")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
