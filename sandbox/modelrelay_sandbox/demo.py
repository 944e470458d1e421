"""``make demo``: the main job, locally, as a user would do it, with a readable timeline.

Starts the sandbox (the real template, state machine and handlers on the emulator), acts only through the AWS
APIs (boto3 with ``endpoint_url``) and the ``modelrelay`` command, checks every expectation, stops the sandbox, and
exits 0 only if all held. After the push topology's job: pull mode (``modelrelay_sandbox.pull``: ModelRelay in a
hub account pulling from a spoke), and a staged route (``modelrelay_sandbox.stages``: staging, a manual gate
answered with ``modelrelay approve``, production, an acceptance gate answered in the registry).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from modelrelay.domain.hub import hub_group_name
from modelrelay.ops.cli import main as modelrelay_main
from modelrelay_sandbox import environment, pull, stages
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
    # The SAM translator warns of its own unpublished usage metrics when each deployment's translator is collected.
    logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)
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
    outputs_file = STATE_DIR / "demo-outputs.json"  # what `modelrelay --sandbox` reads (.sandbox/outputs.json)
    outputs_file.write_text(json.dumps(out))

    def modelrelay(*args: str) -> tuple[int, str]:
        """The operator's command, run as a user runs it (its entry point, the sandbox's settings): (rc, stdout)."""
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            rc = modelrelay_main(["--outputs", str(outputs_file), *args])
        return rc, printed.getvalue()

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

    # ---------- pull mode: the hub pulls from a spoke (modelrelay_sandbox.pull, as tests/integration/pull) ----------
    spoke = pull.SPOKE_ACCOUNT_IDS[0]

    def step8() -> str:
        with contextlib.redirect_stdout(io.StringIO()):  # the routes check's "1 route(s) OK" of each deployment
            state["pull"] = topology = pull.deploy(env.url, spokes=(spoke,))
        hub_stack = topology.client(pull.PULL_HUB_ACCOUNT_ID, "cloudformation").describe_stacks(
            StackName=pull.PULL_STACK_NAME
        )["Stacks"][0]
        parameters = {p["ParameterKey"]: p.get("ParameterValue") for p in hub_stack["Parameters"]}
        assert parameters["HubMode"] == "pull" and spoke in parameters["SpokeAccountIds"], parameters
        policy = topology.client(pull.PULL_HUB_ACCOUNT_ID, "events").describe_event_bus(Name="default")["Policy"]
        assert spoke in policy and pull.UNLISTED_SPOKE_ACCOUNT_ID not in policy, policy
        hub_bus = f"arn:aws:events:{environment.REGION}:{pull.PULL_HUB_ACCOUNT_ID}:event-bus/default"
        events = topology.client(spoke, "events")
        forwards = [
            rule["Name"]
            for rule in events.list_rules()["Rules"]
            if any(t["Arn"] == hub_bus for t in events.list_targets_by_rule(Rule=rule["Name"])["Targets"])
        ]
        assert forwards, "no rule of the spoke forwards to the hub's bus"
        group_policy = topology.client(spoke, "sagemaker").get_model_package_group_policy(
            ModelPackageGroupName=pull.spoke_group(spoke)
        )["ResourcePolicy"]
        bucket_policy = topology.client(spoke, "s3").get_bucket_policy(Bucket=pull.spoke_bucket(spoke))["Policy"]
        assert pull.PULL_HUB_ACCOUNT_ID in group_policy and pull.PULL_HUB_ACCOUNT_ID in bucket_policy
        return (
            f"hub {pull.PULL_HUB_ACCOUNT_ID}: stack {pull.PULL_STACK_NAME} HubMode=pull, its default bus admits "
            f"{spoke} only; spoke {spoke}: stack {pull.SPOKE_STACK_NAME} (forwarding rule, group and bucket grants)"
        )

    def step9() -> str:
        topology: pull.PullTopology = state["pull"]
        in_spoke = topology.session(spoke)
        in_hub = topology.session(pull.PULL_HUB_ACCOUNT_ID)
        data = good_artifact({"model.joblib": uuid.uuid4().bytes * 32})
        sha = hashlib.sha256(data).hexdigest()
        key = f"training/churn-{uuid.uuid4().hex[:8]}/output/model.tar.gz"
        in_spoke.client("s3", endpoint_url=env.url).put_object(Bucket=pull.spoke_bucket(spoke), Key=key, Body=data)
        # As the SageMaker SDK registers a model in the spoke's registry, approved by its data scientist.
        arn = in_spoke.client("sagemaker", endpoint_url=env.url).create_model_package(
            ModelPackageGroupName=pull.spoke_group(spoke),
            ModelApprovalStatus="Approved",
            InferenceSpecification={
                "Containers": [
                    {
                        "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
                        "ModelDataUrl": f"s3://{pull.spoke_bucket(spoke)}/{key}",
                    }
                ],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )["ModelPackageArn"]
        hub_sfn = in_hub.client("stepfunctions", endpoint_url=env.url)
        machine = topology.hub.outputs["PromotionStateMachineArn"]

        def settled() -> list[str] | None:
            statuses = [
                described["status"]
                for page in hub_sfn.get_paginator("list_executions").paginate(stateMachineArn=machine)
                for e in page["executions"]
                if arn in (described := hub_sfn.describe_execution(executionArn=e["executionArn"])).get("input", "")
            ]
            return statuses if statuses and "RUNNING" not in statuses else None

        statuses = wait_for(settled, timeout=90, what="the hub's promotion")
        assert statuses == ["SUCCEEDED"], statuses
        hub_sagemaker = in_hub.client("sagemaker", endpoint_url=env.url)
        hub_group = hub_group_name(pull.PULL_HUB_GROUP, f"{spoke}-{pull.spoke_group(spoke)}")
        (summary,) = hub_sagemaker.list_model_packages(ModelPackageGroupName=hub_group)["ModelPackageSummaryList"]
        hub_package = hub_sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
        metadata = hub_package["CustomerMetadataProperties"]
        assert metadata["modelrelay:source-account"] == spoke and metadata["modelrelay:source-package-arn"] == arn
        assert metadata["modelrelay:status"] == "PromotionSucceeded", metadata
        hub_uri = hub_package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
        bucket, hub_key = hub_uri.removeprefix("s3://").split("/", 1)
        assert bucket == topology.hub.outputs["HubBucketName"]
        copied = in_hub.client("s3", endpoint_url=env.url).get_object(Bucket=bucket, Key=hub_key)["Body"].read()
        assert copied == data, "the hub's copy differs from the spoke's bytes"
        source = in_spoke.client("sagemaker", endpoint_url=env.url).describe_model_package(ModelPackageName=arn)
        assert not any(k.startswith("modelrelay:") for k in source.get("CustomerMetadataProperties") or {})
        pointer = in_hub.client("dynamodb", endpoint_url=env.url).get_item(
            TableName=topology.hub.outputs["StateTableName"],
            Key={"pk": {"S": f"pointer#{pull.PULL_MME_ENDPOINT}#{pull.spoke_group(spoke)}"}},
            ConsistentRead=True,
        )["Item"]["current"]["M"]
        assert pointer["package_arn"]["S"] == arn and sha[:12] in pointer["target_model"]["S"], pointer
        return (
            f"hub package {hub_group}/{hub_package['ModelPackageVersion']} (source-account {spoke}), exact bytes in "
            f"s3://{bucket}/{hub_key[:40]}… copied with the hub's credentials;\n           "
            f"{pull.PULL_MME_ENDPOINT}: {pull.spoke_group(spoke)} -> {pointer['target_model']['S']}; "
            f"the spoke's package untouched (read-only to the hub)"
        )

    # ---------- a staged route: staging -> manual gate -> production -> acceptance (modelrelay_sandbox.stages) ----
    staged, staging, production = "staged-manual", stages.STAGING_ACCOUNT_ID, stages.PRODUCTION_ACCOUNT_ID

    def lifecycle(arn: str) -> tuple[str | None, str | None]:
        cycle = sagemaker.describe_model_package(ModelPackageName=arn).get("ModelLifeCycle") or {}
        return cycle.get("Stage"), cycle.get("StageStatus")

    def production_endpoint() -> dict[str, Any]:
        described: dict[str, Any] = stages.client(production, "sagemaker", env.url).describe_endpoint(
            EndpointName=stages.STAGE_ENDPOINT
        )
        return described

    def staged_status() -> dict[str, Any]:
        rc, printed = modelrelay("--json", "status", staged)
        assert rc == 0, (rc, printed)
        (route,) = json.loads(printed)["routes"]
        return {s["stage"]: s for s in route["stages"]}

    def step10() -> str:
        data = good_artifact(
            {"model.joblib": uuid.uuid4().bytes * 32, "code/inference.py": b"def predict_fn(x, m): ..."}
        )
        state["staged_sha"] = sha = hashlib.sha256(data).hexdigest()
        key = f"{staged}/{uuid.uuid4()}/model.tar.gz"
        s3.put_object(Bucket=environment.DS_BUCKET, Key=key, Body=data)
        state["staged_baseline"] = production_endpoint()["EndpointConfigName"]
        state["staged"] = arn = sagemaker.create_model_package(
            ModelPackageGroupName=staged,
            ModelApprovalStatus="Approved",
            InferenceSpecification={
                "Containers": [
                    {
                        "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
                        "ModelDataUrl": f"s3://{environment.DS_BUCKET}/{key}",
                    }
                ],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )["ModelPackageArn"]
        wait_for(lambda: lifecycle(arn) == ("production", "PendingApproval"), timeout=90, what="the staging gate")
        at_staging = staged_status()["staging"]
        assert at_staging["sha256"] == sha and at_staging["package_arn"] == arn, at_staging
        target = at_staging["target_model"]
        # Tested: the stage's test invoked it before its pointer moved; it answers (as the staging account sees it).
        answer = stages.client(staging, "sagemaker-runtime", env.url).invoke_endpoint(
            EndpointName=stages.STAGE_MME, TargetModel=target, ContentType="text/csv", Body=b"8.3,41.0,6.9"
        )
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert production_endpoint()["EndpointConfigName"] == state["staged_baseline"], "production moved early"
        waiting = at_staging["waiting"]
        assert waiting and waiting["waiting_for"] == "production" and waiting["deadline"], at_staging
        state["gate"] = waiting["execution"]
        return (
            f"staging ({staging}) {stages.STAGE_MME} serves {target} and answers; registry stage production: "
            f"PendingApproval;\n           `modelrelay status` shows the gate: {waiting['approve']} "
            f"(deadline {waiting['deadline']}); production still on {state['staged_baseline']}"
        )

    def step11() -> str:
        rc, printed = modelrelay("approve", state["gate"], "--note", "demo: staging looks good")
        assert rc == 0 and printed.startswith("approved:"), (rc, printed)
        arn, sha = state["staged"], state["staged_sha"]
        endpoint = wait_for(
            lambda: (
                (e := production_endpoint())["EndpointStatus"] == "InService"
                and e["EndpointConfigName"] != state["staged_baseline"]
                and e
            ),
            timeout=90,
            what="production on the new config",
        )
        assert sha[:12] in endpoint["EndpointConfigName"], endpoint["EndpointConfigName"]
        wait_for(lambda: lifecycle(arn) == ("production", "PendingApproval"), timeout=60, what="the acceptance gate")
        at_production = wait_for(
            lambda: (p := staged_status()["production"])["package_arn"] == arn and p, what="production's record"
        )
        assert at_production["endpoint_config"] == endpoint["EndpointConfigName"], at_production
        return (
            f"$ modelrelay --sandbox approve {state['gate']}\n           {printed.strip()}\n           "
            f"production ({production}) {stages.STAGE_ENDPOINT} InService on {endpoint['EndpointConfigName']} "
            f"(canary); the acceptance gate waits"
        )

    def step12() -> str:
        arn = state["staged"]
        sagemaker.update_model_package(
            ModelPackageArn=arn, ModelLifeCycle={"Stage": "production", "StageStatus": "Approved"}
        )
        statuses = promotion_outcome(arn)
        assert statuses.count("SUCCEEDED") == len(statuses), statuses
        cycle = wait_for(lambda: (c := lifecycle(arn)) == ("production", "Deployed") and c, what="Deployed")
        by_stage = staged_status()
        assert by_stage["staging"]["package_arn"] == by_stage["production"]["package_arn"] == arn, by_stage
        assert not by_stage["staging"]["waiting"] and not by_stage["production"]["waiting"], by_stage
        description = sagemaker.describe_model_package(ModelPackageName=arn)["ModelLifeCycle"]["StageDescription"]
        return f"Promotion Succeeded; ModelLifeCycle {cycle[0]}/{cycle[1]}: {description}"

    timeline.step("1. drop a tar.gz for housing-newyork-ny (manual approval)", step1)
    timeline.step("2. approve it in the registry -> promotion", step2)
    timeline.step("3. drop a tar.gz for housing-chicago-il (auto-approve)", step3)
    timeline.step("4. drop a malicious tar.gz (member with ../)", step4)
    timeline.step("5. approve a package on the canary route -> guarded rollout", step5)
    timeline.step("6. approve another, with an alarm in ALARM during the bake", step6)
    timeline.step("7. approve a NewYork_NY model its MME container cannot load -> smoke check refuses it", step7)
    timeline.step(
        "8. pull mode: ModelRelay in a hub account (HubMode=pull), the spoke stack in a data-science account", step8
    )
    timeline.step("9. the spoke approves a package -> its event reaches the hub, which pulls it", step9)
    timeline.step("10. approve a package of staged-manual -> deployed and tested in staging, waits at the gate", step10)
    timeline.step("11. the approver runs `modelrelay approve EXECUTION` -> production (canary rollout)", step11)
    timeline.step("12. acceptance in the registry (ModelLifeCycle production/Approved, as Studio sets it)", step12)
    scenario = time.monotonic() - t0
    # What an operator sees afterwards: `modelrelay status` (the same command works on AWS with --stack-name).
    print("\n$ modelrelay --sandbox status", flush=True)
    modelrelay_main(["--outputs", str(outputs_file), "status"])
    env.stop()
    print(f"\nScenario wall time {scenario:.1f} s; {timeline.failures} expectation(s) failed.")
    return 1 if timeline.failures else 0


if __name__ == "__main__":
    sys.exit(main())
