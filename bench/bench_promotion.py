"""API calls and state transitions of one promotion (``--route mme``), canary rollout (``--route endpoint``) or
rolling update (``--route rolling``).

Measured on the sandbox. For ``--route endpoint``/``rolling`` it also prints what a 30-minute rollout costs per
strategy in state transitions and wait-loop API calls with the rollout's polling backoff (computed with the same
backoff code the rollout uses; ``python bench/bench_promotion.py --modes`` prints only that, without a sandbox).

Counts every AWS API request the sandbox server receives from the moment a package is approved until its
promotion has ended: the approval itself, the handlers' calls and the state machine's integrations (Lambda
invokes, SNS, EventBridge), grouped by operation. Event delivery inside the emulator is not an API request
and is not counted. Copy parts (``UploadPartCopy``) are counted apart. Transitions come from the history.
"""

from __future__ import annotations

import collections
import hashlib
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from botocore.config import Config

from modelrelay_sandbox import environment
from modelrelay_sandbox.artifact_factory import good_artifact
from modelrelay_sandbox.environment import wait_for


def operation(environ: dict[str, Any]) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return str(target).split(".")[-1]
    query = environ.get("QUERY_STRING", "")
    auth = environ.get("HTTP_AUTHORIZATION", "")
    service = auth.split("/")[3] if auth.count("/") >= 4 else "?"
    if "Action=" in query:
        return service + ":" + query.split("Action=")[1].split("&")[0]
    if "partNumber=" in query and environ.get("HTTP_X_AMZ_COPY_SOURCE"):
        return "s3:UploadPartCopy"
    return f"{service}:{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '').split('/')[1][:20] and '/<key>'}"


GROUPS = {
    "mme": "housing-newyork-ny",
    "endpoint": "fraud-realtime",
    "rolling": "fraud-realtime-rolling",
    "shadow": "fraud-realtime-shadow",
}


def canary_cost(bake_seconds: int, termination_wait_seconds: int) -> dict[str, int]:
    """State transitions of the wait loop (Wait + CheckRollout + RolloutSettled per poll) until the rollout ends."""
    from modelrelay.domain.rollout import FIRST_POLL_SECONDS, MAX_POLL_SECONDS

    elapsed, wait, polls = 0, FIRST_POLL_SECONDS, 0
    while elapsed < bake_seconds + termination_wait_seconds:
        elapsed += wait
        polls += 1
        wait = min(MAX_POLL_SECONDS, max(1, int(wait * 1.5)))
    return {
        "bake_seconds": bake_seconds,
        "termination_wait_seconds": termination_wait_seconds,
        "polls": polls,
        "wait_loop_transitions": polls * 3,
    }


# Each CheckRollout poll is 3 state transitions (Wait, CheckRollout, the Choice) and 3 API calls: the Lambda
# invoke, DescribeEndpoint, and the lease renewal (DynamoDB UpdateItem). An alarm rollback adds
# DescribeAlarmHistory/DescribeAlarms once, on the poll that sees the endpoint back on its old config.
CALLS_PER_POLL = 3


def thirty_minute_rollouts(fleet: int = 4) -> dict[str, dict[str, Any]]:
    """Every strategy with 30 minutes of baking on a ``fleet``-instance variant: the timeline SageMaker runs
    (bakes, termination wait), the polls the rollout makes, their state transitions and API calls."""
    bake = 1800
    plans = {
        "CANARY": {"bakes": [bake], "termination_wait_seconds": 300, "extra_instances_at_peak": fleet},
        "LINEAR": {"bakes": [bake // 4] * 4, "termination_wait_seconds": 300, "extra_instances_at_peak": fleet},
        "ALL_AT_ONCE": {"bakes": [bake], "termination_wait_seconds": 300, "extra_instances_at_peak": fleet},
        # blue/green provisions a whole new fleet; ROLLING batches of 1 instance: each provisions 1, bakes 450 s,
        # then 1 old instance leaves; no termination wait
        "ROLLING": {"bakes": [bake // fleet] * fleet, "termination_wait_seconds": 0, "extra_instances_at_peak": 1},
        # an inference component of ``fleet`` copies, batches of 1 copy: the new copy goes where preflight found
        # room (no new instance unless managed instance scaling adds one), bakes 450 s, then 1 old copy leaves
        "INFERENCE_COMPONENT": {
            "bakes": [bake // fleet] * fleet,
            "termination_wait_seconds": 0,
            "extra_instances_at_peak": 0,
        },
    }
    result = {}
    for mode, plan in plans.items():
        cost = canary_cost(sum(plan["bakes"]), plan["termination_wait_seconds"])
        result[mode] = {
            "fleet": fleet,
            "bakes_seconds": plan["bakes"],
            "termination_wait_seconds": plan["termination_wait_seconds"],
            "extra_instances_at_peak": plan["extra_instances_at_peak"],
            "polls": cost["polls"],
            "wait_loop_transitions": cost["wait_loop_transitions"],
            "wait_loop_api_calls": cost["polls"] * CALLS_PER_POLL,
            "endpoint_states": "InService -> Updating (x polls) -> InService on the new config",
            "rollback_states": "Updating -> RollingBack -> InService on the old config (FailureReason names the alarm)",
        }
    result["INFERENCE_COMPONENT"] |= {
        "extra_copies_at_peak": 1,
        "component_states": "InService -> Updating (x polls; Specification stays the old model) -> InService on the "
        "new model (a first promotion: Creating -> InService)",
        "rollback_states": "Updating -> InService on the old model (FailureReason names the alarm)",
        # DescribeEndpoint, DescribeEndpointConfig, DescribeInferenceComponent, ListInferenceComponents (+ one
        # Describe per other component), DescribeAlarms, DescribeModel, DescribeModelPackage, CreateModel,
        # UpdateInferenceComponent
        "start_api_calls": "9 + the other components on the endpoint",
        "wait_loop_api_calls_are": "Lambda Invoke, DescribeInferenceComponent, DynamoDB UpdateItem (lease) per poll",
    }
    del result["INFERENCE_COMPONENT"]["endpoint_states"]
    result["SHADOW_THEN_CANARY"] = shadow_first(fleet, result["CANARY"])
    return result


def shadow_first(fleet: int, canary: dict[str, Any], bake: int = 1800, switch_seconds: int = 600) -> dict[str, Any]:
    """A 30-minute shadow phase, then the 30-minute canary above. Adding and removing the shadow variant are each an
    UpdateEndpoint without a DeploymentConfig, assumed to take ``switch_seconds`` (new instances for the shadow;
    SageMaker publishes no figure); each phase polls with the rollout's backoff (15 s, x1.5, 300 s cap), the bake
    ending on time. Each shadow poll: Wait, CheckShadow, ShadowSettled; Lambda Invoke, DescribeEndpoint, the lease
    renewal, and during the bake DescribeAlarms + DescribeAlarmHistory for each of the 2 default shadow alarms."""
    provisioning = canary_cost(switch_seconds, 0)["polls"]
    baking = canary_cost(bake, 0)["polls"]
    removal = canary_cost(switch_seconds, 0)["polls"]
    polls = provisioning + baking + removal
    return {
        "fleet": fleet,
        "shadow_seconds": bake,
        "shadow_instances": fleet,
        "shadow_polls": {"provisioning": provisioning, "baking": baking, "removing": removal},
        "shadow_wait_loop_transitions": polls * 3,
        "shadow_api_calls": polls * CALLS_PER_POLL + baking * 4 + 2,  # + the two UpdateEndpoint calls
        "shadow_start_api_calls": "DescribeEndpoint, DescribeEndpointConfig, DescribeAlarms (route alarms), "
        "DescribeModel, DescribeModelPackage, CreateModel, PutMetricAlarm x2, DescribeEndpointConfig, ListTags, "
        "CreateEndpointConfig (ShadowProductionVariants), UpdateEndpoint",
        "endpoint_states": "InService (config A) -> Updating (x polls) -> InService on A+shadow (bake, alarms "
        "watched) -> Updating -> InService on A -> the canary: Updating -> InService on the new config",
        "shadow_failure_states": "alarm: InService on A+shadow -> Updating -> InService on A (Failed/shadow_alarm); "
        "fleet: Updating -> InService on A with FailureReason (Failed/shadow_failed)",
        "then": {k: canary[k] for k in ("polls", "wait_loop_transitions", "wait_loop_api_calls")},
        "total_wait_loop_transitions": polls * 3 + canary["wait_loop_transitions"],
        "extra_instances_at_peak": fleet,
    }


def main() -> int:
    if "--modes" in sys.argv:
        print(json.dumps({"thirty_minute_rollouts": thirty_minute_rollouts()}, indent=1))
        return 0
    route = sys.argv[sys.argv.index("--route") + 1] if "--route" in sys.argv else "mme"
    group = GROUPS[route]
    env = environment.start(port=None, state_dir=Path(tempfile.mkdtemp(prefix="modelrelay-bench-")))
    counts: collections.Counter[str] = collections.Counter()
    counting = {"on": False}
    inner = env.server._server.app

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        # The bench's own polling is tagged by its user agent and not counted.
        if counting["on"] and "modelrelay-bench" not in environ.get("HTTP_USER_AGENT", ""):
            counts[operation(environ)] += 1
        return inner(environ, start_response)

    env.server._server.app = app
    try:
        out, ses = env.outputs, environment.session()
        config = Config(user_agent_extra="modelrelay-bench")
        s3, sagemaker, sfn = (
            ses.client(s, endpoint_url=env.url, config=config) for s in ("s3", "sagemaker", "stepfunctions")
        )
        data = good_artifact({"model.joblib": uuid.uuid4().bytes * 64})
        sha = hashlib.sha256(data).hexdigest()
        s3.put_object(Bucket=out["ingest_bucket"], Key=f"incoming/{group}/{sha[:8]}.tar.gz", Body=data)
        arn = wait_for(
            lambda: next(
                (
                    p["ModelPackageArn"]
                    for p in sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
                ),
                None,
            ),
            what="package",
        )

        def executions(status_in_input: str) -> list[dict[str, Any]]:
            found = []
            for execution in sfn.list_executions(stateMachineArn=out["state_machine_arn"])["executions"]:
                described = sfn.describe_execution(executionArn=execution["executionArn"])
                if f'"ModelApprovalStatus": "{status_in_input}"' in described["input"].replace('":"', '": "'):
                    found.append(described)
            return found

        # The drop's PendingManualApproval event runs a quiet execution first: let it end before counting.
        wait_for(
            lambda: [e for e in executions("PendingManualApproval") if e["status"] != "RUNNING"],
            what="the pending execution",
        )
        counting["on"] = True
        started = time.monotonic()
        sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
        execution = wait_for(
            lambda: next((e for e in executions("Approved") if e["status"] != "RUNNING"), None),
            timeout=60,
            what="the promotion",
        )
        elapsed = time.monotonic() - started
        counting["on"] = False
        history = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
        transitions = sum(1 for e in history if e["type"].endswith("StateEntered"))
    finally:
        env.stop()
    copy_parts = counts.pop("s3:UploadPartCopy", 0)
    print(
        json.dumps(
            {
                "route": route,
                "execution_status": execution["status"],
                "seconds_on_sandbox": round(elapsed, 2),
                "state_transitions": transitions,
                "api_calls_excluding_copy_parts": sum(counts.values()),
                "copy_parts": copy_parts,
                "by_operation": dict(sorted(counts.items())),
            },
            indent=1,
        )
    )
    if route == "endpoint":
        print(json.dumps({"thirty_minute_canary": canary_cost(1800, 300)}))
    if route in ("endpoint", "rolling"):
        print(json.dumps({"thirty_minute_rollouts": thirty_minute_rollouts()}, indent=1))
    return 0 if execution["status"] == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
