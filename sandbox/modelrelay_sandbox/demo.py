"""``make demo``: the main job, locally, as a user would do it, with a readable timeline.

Starts the sandbox (the real template, state machine and handlers on the emulator), acts only through the AWS
APIs (boto3 with ``endpoint_url``), checks every expectation, stops the sandbox, and exits 0 only if all held.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from modelrelay.domain.hub import hub_group_name
from modelrelay_sandbox import environment
from modelrelay_sandbox.artifact_factory import good_artifact, malicious_traversal_artifact
from modelrelay_sandbox.cli import BUILD_DIR, STATE_DIR
from modelrelay_sandbox.environment import wait_for
from modelrelay_sandbox.moto_ext.sagemaker_mme_invoke import FAIL_TO_LOAD_MARKER


class Timeline:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.failures = 0

    def step(self, title: str, action: Callable[[], str]) -> None:
        began = time.monotonic()
        try:
            outcome, ok = action(), True
        except Exception as error:  # noqa: BLE001 - the timeline reports any failed expectation and goes on
            outcome, ok = f"FAILED: {type(error).__name__}: {error}", False
            self.failures += 1
        mark = "ok " if ok else "!! "
        print(
            f"[{time.monotonic() - self.started:6.1f}s] {mark}{title} ({time.monotonic() - began:.1f}s)\n"
            f"           {outcome}",
            flush=True,
        )


def main() -> int:
    # moto's interpreter logs every Fail state as an ERROR; the timeline below reports each outcome instead.
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
    print("Starting the ModelRelay sandbox (moto + extensions, real template/ASL/handlers)...", flush=True)
    t0 = time.monotonic()
    env = environment.start(port=None, state_dir=STATE_DIR, build_dir=BUILD_DIR if BUILD_DIR.exists() else None)
    print(f"Sandbox ready at {env.url} in {time.monotonic() - t0:.1f} s\n", flush=True)
    out = env.outputs
    ses = environment.session()

    def client(service: str) -> Any:
        return ses.client(service, endpoint_url=env.url)

    hub = environment.hub_admin_session()  # the hub owner's view of what ModelRelay wrote
    s3, sagemaker, sfn, sqs = client("s3"), client("sagemaker"), client("stepfunctions"), client("sqs")
    timeline = Timeline()
    state: dict[str, Any] = {}

    def notifications() -> list[str]:
        bodies = []
        while batch := sqs.receive_message(QueueUrl=out["notifications_queue_url"], MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for message in batch:
                bodies.append(message["Body"])
                sqs.delete_message(QueueUrl=out["notifications_queue_url"], ReceiptHandle=message["ReceiptHandle"])
        return bodies

    def package_for(group: str, sha: str) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            for page in sagemaker.get_paginator("list_model_packages").paginate(ModelPackageGroupName=group):
                for summary in page["ModelPackageSummaryList"]:
                    described = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
                    if described.get("CustomerMetadataProperties", {}).get("modelrelay:sha256") == sha:
                        return described
            return None

        return wait_for(find, timeout=30, what=f"a package in {group}")

    def promotion_outcome(arn: str, count: int = 1) -> list[str]:
        def settled() -> list[str] | None:
            statuses = []
            for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=out["state_machine_arn"]):
                for execution in page["executions"]:
                    described = sfn.describe_execution(executionArn=execution["executionArn"])
                    if arn in described.get("input", ""):
                        statuses.append(described["status"])
            return statuses if len(statuses) >= count and "RUNNING" not in statuses else None

        return wait_for(settled, timeout=60, what=f"the promotion of {arn}")

    def resolve(model: str) -> str | None:
        item = client("dynamodb").get_item(
            TableName=out["state_table"],
            ConsistentRead=True,
            Key={"pk": {"S": f"pointer#{out['mme']['endpoint_name']}#{model}"}},
        )
        return item.get("Item", {}).get("current", {}).get("M", {}).get("target_model", {}).get("S")

    def drop(group: str, data: bytes) -> str:
        key = f"{out['ingest_prefix']}{group}/model-{uuid.uuid4().hex[:6]}.tar.gz"
        s3.put_object(Bucket=out["ingest_bucket"], Key=key, Body=data)
        return key

    def step1() -> str:
        data = good_artifact({"model.joblib": uuid.uuid4().bytes * 32, "code/inference.py": b"def model_fn(d): ...\n"})
        state["sha"] = sha = hashlib.sha256(data).hexdigest()
        key = drop("housing-newyork-ny", data)
        package = package_for("housing-newyork-ny", sha)
        assert package["ModelApprovalStatus"] == "PendingManualApproval", package["ModelApprovalStatus"]
        assert package["CustomerMetadataProperties"]["modelrelay:source-key"] == key
        state["arn"] = package["ModelPackageArn"]
        return f"{package['ModelPackageArn']} is PendingManualApproval, provenance s3://{out['ingest_bucket']}/{key}"

    def step2() -> str:
        notifications()
        sagemaker.update_model_package(ModelPackageArn=state["arn"], ModelApprovalStatus="Approved")
        statuses = promotion_outcome(state["arn"], count=2)
        assert statuses.count("SUCCEEDED") == len(statuses), statuses
        sha = state["sha"]
        hub_key = f"artifacts/housing-newyork-ny/{sha}.tar.gz"
        hub.client("s3", endpoint_url=env.url).head_object(Bucket=out["hub_bucket"], Key=hub_key)
        hub_packages = hub.client("sagemaker", endpoint_url=env.url).list_model_packages(
            ModelPackageGroupName=hub_group_name(out["hub_model_package_group"], "housing-newyork-ny")
        )["ModelPackageSummaryList"]
        assert hub_packages, "no hub package"
        target = resolve("NewYork_NY")
        assert target and sha[:12] in target, target
        s3.head_object(Bucket=out["mme"]["bucket"], Key=out["mme"]["prefix"] + target)
        told = [b for b in notifications() if "promotion succeeded" in b]
        assert told, "no success notification"
        return (
            f"hub s3://{out['hub_bucket']}/{hub_key} (account {out['hub_account_id']}); "
            f"TargetModel pointer NewYork_NY -> {target}; notified"
        )

    def step3() -> str:
        data = good_artifact({"model.joblib": uuid.uuid4().bytes * 32})
        sha = hashlib.sha256(data).hexdigest()
        drop("housing-chicago-il", data)
        package = package_for("housing-chicago-il", sha)
        assert package["ModelApprovalStatus"] == "Approved"
        statuses = promotion_outcome(package["ModelPackageArn"])
        assert statuses == ["SUCCEEDED"], statuses
        target = wait_for(lambda: (t := resolve("Chicago_IL")) and sha[:12] in t and t, what="Chicago_IL pointer")
        return f"{package['ModelPackageArn']} auto-approved and promoted; Chicago_IL -> {target}"

    def step4() -> str:
        notifications()
        key = drop("housing-newyork-ny", malicious_traversal_artifact())
        tags = wait_for(
            lambda: s3.get_object_tagging(Bucket=out["ingest_bucket"], Key=key)["TagSet"], what="the rejection tags"
        )
        reason = next(t["Value"] for t in tags if t["Key"] == "modelrelay:reason")
        assert reason == "path_traversal", tags
        told = wait_for(lambda: [b for b in notifications() if "Artifact Rejected" in b], what="the notification")
        assert "path_traversal" in told[0]
        return f"rejected: tag modelrelay:reason={reason}; nothing registered; notification says why"

    def approve_on_canary() -> tuple[dict[str, Any], str, list[str]]:
        data = good_artifact({"model.joblib": uuid.uuid4().bytes * 32})
        sha = hashlib.sha256(data).hexdigest()
        drop("fraud-realtime", data)
        package = package_for("fraud-realtime", sha)
        promotion_outcome(package["ModelPackageArn"])  # the quiet execution of the PendingManualApproval event
        sagemaker.update_model_package(ModelPackageArn=package["ModelPackageArn"], ModelApprovalStatus="Approved")
        return package, sha, promotion_outcome(package["ModelPackageArn"], count=2)

    def step5() -> str:
        package, sha, statuses = approve_on_canary()
        endpoint = sagemaker.describe_endpoint(EndpointName=out["canary"]["endpoint_name"])
        assert statuses.count("SUCCEEDED") == 2, statuses
        assert endpoint["EndpointStatus"] == "InService" and sha[:12] in endpoint["EndpointConfigName"], endpoint
        rollout = sagemaker.describe_model_package(ModelPackageName=package["ModelPackageArn"])[
            "CustomerMetadataProperties"
        ]["modelrelay:rollout"]
        assert rollout == "Succeeded", rollout
        return f"rollout Succeeded: {endpoint['EndpointName']} InService on {endpoint['EndpointConfigName']}"

    def step6() -> str:
        before = sagemaker.describe_endpoint(EndpointName=out["canary"]["endpoint_name"])["EndpointConfigName"]
        alarm = out["canary"]["alarm_names"][0]
        notifications()
        client("cloudwatch").set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="demo: 5XX spike")
        try:
            package, _, statuses = approve_on_canary()
        finally:
            client("cloudwatch").set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="demo: recovered")
        assert sorted(statuses) == ["FAILED", "SUCCEEDED"], statuses
        endpoint = sagemaker.describe_endpoint(EndpointName=out["canary"]["endpoint_name"])
        assert endpoint["EndpointConfigName"] == before, endpoint["EndpointConfigName"]
        metadata = sagemaker.describe_model_package(ModelPackageName=package["ModelPackageArn"])[
            "CustomerMetadataProperties"
        ]
        assert metadata["modelrelay:rollout"] == "RolledBack", metadata
        told = [b for b in notifications() if "rollout rolled back" in b]
        assert told, "no rolled-back notification"
        # The package's metadata holds the reason code; SageMaker's own words are on the endpoint.
        reason = metadata["modelrelay:rollout-reason"].split(":", 1)[0]
        return f"RolledBack ({reason}), endpoint back on {before}: {endpoint.get('FailureReason')}"

    def step7() -> str:
        before = resolve("NewYork_NY")
        files = {"model.joblib": uuid.uuid4().bytes * 32, FAIL_TO_LOAD_MARKER: b"model_fn raises\n"}
        data = good_artifact(files)
        sha = hashlib.sha256(data).hexdigest()
        drop("housing-newyork-ny", data)
        package = package_for("housing-newyork-ny", sha)
        promotion_outcome(package["ModelPackageArn"])  # the quiet execution of the PendingManualApproval event
        notifications()
        sagemaker.update_model_package(ModelPackageArn=package["ModelPackageArn"], ModelApprovalStatus="Approved")
        promotion_outcome(package["ModelPackageArn"], count=2)
        metadata = sagemaker.describe_model_package(ModelPackageName=package["ModelPackageArn"])[
            "CustomerMetadataProperties"
        ]
        assert metadata["modelrelay:reason"] == "mme_model_failed_to_load", metadata
        assert resolve("NewYork_NY") == before, resolve("NewYork_NY")
        key = f"{out['mme']['prefix']}NewYork_NY/{package['ModelPackageVersion']}-{sha[:12]}.tar.gz"
        assert "Contents" not in s3.list_objects_v2(Bucket=out["mme"]["bucket"], Prefix=key), key
        told = [b for b in notifications() if "mme_model_failed_to_load" in b]
        assert told and "Failed to load model" in told[0], "no notification quoting the endpoint"
        return f"refused (mme_model_failed_to_load): NewYork_NY still -> {before}; {key} removed; notified"

    timeline.step("1. drop a tar.gz for housing-newyork-ny (manual approval)", step1)
    timeline.step("2. approve it in the registry -> promotion", step2)
    timeline.step("3. drop a tar.gz for housing-chicago-il (auto-approve)", step3)
    timeline.step("4. drop a malicious tar.gz (member with ../)", step4)
    timeline.step("5. approve a package on the canary route -> guarded rollout", step5)
    timeline.step("6. approve another, with an alarm in ALARM during the bake", step6)
    timeline.step("7. approve a NewYork_NY model its MME container cannot load -> smoke check refuses it", step7)
    scenario = time.monotonic() - t0
    # What an operator sees afterwards: `modelrelay status` (the same command works on AWS with --stack-name).
    from modelrelay.ops.cli import main as modelrelay

    outputs_file = STATE_DIR / "demo-outputs.json"
    outputs_file.write_text(json.dumps(out))
    print("\n$ modelrelay --sandbox status", flush=True)
    modelrelay(["--outputs", str(outputs_file), "status"])
    env.stop()
    print(f"\nScenario wall time {scenario:.1f} s; {timeline.failures} expectation(s) failed.")
    return 1 if timeline.failures else 0


if __name__ == "__main__":
    sys.exit(main())
