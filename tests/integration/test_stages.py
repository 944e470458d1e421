"""Staged routes on the sandbox: staging -> test -> gate -> production, each stage in its own account (reached through
its deployment role), the gate automatic or manual (task token), progress on the package's ModelLifeCycle.

Routes (sandbox/routes.json): ``staged-auto`` (staging MME, automatic gate, production MME), ``staged-manual``
(staging MME, manual gate, production endpoint with a guard alarm, manual acceptance gate), ``staged-expiry``
(staging MME, a manual gate of 3 s, production MME). Accounts: modelrelay_sandbox.stages.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from modelrelay_sandbox import environment, stages
from modelrelay_sandbox.artifact_factory import good_artifact
from modelrelay_sandbox.environment import wait_for

from .conftest import Stack

STAGING, PRODUCTION = stages.STAGING_ACCOUNT_ID, stages.PRODUCTION_ACCOUNT_ID
REPO = Path(__file__).resolve().parents[2]


def approved_package(stack: Stack, group: str) -> tuple[str, str]:
    """A scikit-learn model registered and approved as the SageMaker SDK does (ModelPackage.register)."""
    data = good_artifact({"model.joblib": uuid.uuid4().bytes * 64, "code/inference.py": b"def predict_fn(x, m): ...\n"})
    key = f"{group}/{uuid.uuid4()}/model.tar.gz"
    stack.client("s3").put_object(Bucket=environment.DS_BUCKET, Key=key, Body=data)
    arn = stack.client("sagemaker").create_model_package(
        ModelPackageGroupName=group,
        ModelPackageDescription="sklearn RandomForest, registered by the SageMaker Python SDK",
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [
                {
                    "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
                    "ModelDataUrl": f"s3://{environment.DS_BUCKET}/{key}",
                    "Environment": {
                        "SAGEMAKER_PROGRAM": "inference.py",
                        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                        "SAGEMAKER_REGION": environment.REGION,
                    },
                    "Framework": "SKLEARN",
                    "FrameworkVersion": "1.2-1",
                }
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
            "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large"],
        },
    )["ModelPackageArn"]
    return str(arn), hashlib.sha256(data).hexdigest()


def running_execution(stack: Stack, package_arn: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        running = [e for e in stack.executions_for(package_arn) if e["status"] == "RUNNING"]
        return running[0] if running else None

    return wait_for(found, timeout=60, what=f"a running execution of {package_arn}")  # type: ignore[no-any-return]


def promotion(stack: Stack, package_arn: str, timeout: float = 180) -> dict[str, Any]:
    """The execution that promoted the package (the others, started by ModelRelay's own registry records, end as
    AlreadyHandled), once settled."""
    executions = stack.settled_executions(package_arn, timeout=timeout)
    history_of = stack.client("stepfunctions").get_execution_history
    for execution in executions:
        events = history_of(executionArn=execution["executionArn"], maxResults=1000)["events"]
        if any(e.get("stateEnteredEventDetails", {}).get("name") == "BeginStages" for e in events):
            return execution
    raise AssertionError(f"no execution of {package_arn} went through BeginStages: {executions}")


def lifecycle(stack: Stack, package_arn: str) -> dict[str, Any]:
    return dict(stack.describe(package_arn).get("ModelLifeCycle") or {})


def pointer(stack: Stack, account: str, model: str) -> dict[str, Any]:
    item = stack.client("dynamodb").get_item(
        TableName=stack.out["state_table"],
        Key={"pk": {"S": f"pointer#{account}:{stages.STAGE_MME}#{model}"}},
        ConsistentRead=True,
    )
    current = (item.get("Item") or {}).get("current", {}).get("M", {})
    return {k: next(iter(v.values())) for k, v in current.items()}


def outcome_of(stack: Stack, execution: dict[str, Any]) -> dict[str, Any]:
    """The outcome's event detail, checked against the published schema of its detail-type."""
    outcome: dict[str, Any] | None = None
    if execution.get("output"):
        outcome = json.loads(execution["output"])["outcome"]
    else:
        events = stack.client("stepfunctions").get_execution_history(
            executionArn=execution["executionArn"], maxResults=1000, reverseOrder=True
        )["events"]
        for event in events:
            exited = event.get("stateExitedEventDetails") or {}
            if exited.get("name") == "RecordOutcome":
                outcome = json.loads(exited["output"])["outcome"]
                break
    assert outcome is not None, "no RecordOutcome output"
    name = "modelrelay." + outcome["detail_type"].lower().replace(" ", "-") + ".json"
    schema = json.loads((REPO / "schemas" / name).read_text())
    jsonschema.validate(outcome["detail"], schema["definitions"][outcome["detail_type"].replace(" ", "")])
    detail: dict[str, Any] = outcome["detail"]
    return detail


def endpoint(account: str, stack: Stack) -> dict[str, Any]:
    described: dict[str, Any] = stages.client(account, "sagemaker", stack.env.url).describe_endpoint(
        EndpointName=stages.STAGE_ENDPOINT
    )
    return described


def test_staging_then_an_automatic_gate_then_production(stack: Stack) -> None:
    # Given an approved package of a route through staging (MME, tested, automatic gate) and production (MME)
    arn, sha = approved_package(stack, "staged-auto")

    # When ModelRelay promotes it
    execution = promotion(stack, arn)

    # Then it succeeded through both stages, each in its own account
    assert execution["status"] == "SUCCEEDED", execution
    detail = outcome_of(stack, execution)
    assert [(s["name"], s["account"], s["status"]) for s in detail["stages"]] == [
        ("staging", STAGING, "Deployed"),
        ("production", PRODUCTION, "Deployed"),
    ]
    # And each stage's MME pointer names the version, its object in the stage's own bucket
    for account in (STAGING, PRODUCTION):
        target = pointer(stack, account, "staged-auto")
        assert target["target_model"].endswith(f"-{sha[:12]}.tar.gz")
        assert target["sha256"] == sha
        key = f"models/{target['target_model']}"
        head = stages.client(account, "s3", stack.env.url).head_object(Bucket=stages.mme_bucket(account), Key=key)
        assert head["ContentLength"] > 0
    # And the registry shows where the version is
    assert lifecycle(stack, arn)["Stage"] == "production"
    assert lifecycle(stack, arn)["StageStatus"] == "Deployed"


def approve_gate(stack: Stack, execution_arn: str, approve: bool = True) -> None:
    """What ``modelrelay approve|deny EXECUTION`` does (with the operator's credentials)."""
    from modelrelay.ops import gates

    name = execution_arn.split(":")[-1]
    wait_for(lambda: gates.read(stack.client("dynamodb"), stack.out["state_table"], name), timeout=60, what="a gate")
    gates.answer(
        stack.client("dynamodb"), stack.client("stepfunctions"), stack.out["state_table"], name, approve, "tester"
    )


def waiting_stage(stack: Stack, arn: str, stage: str) -> None:
    wait_for(
        lambda: lifecycle(stack, arn) == lifecycle(stack, arn) | {"Stage": stage, "StageStatus": "PendingApproval"},
        timeout=90,
        what=f"the gate before {stage}",
    )


def test_a_manual_gate_approved_with_the_cli_then_in_the_registry(stack: Stack) -> None:
    # Given a package of the manual route, deployed to staging and waiting at the gate before production
    arn, sha = approved_package(stack, "staged-manual")
    execution = running_execution(stack, arn)
    waiting_stage(stack, arn, "production")
    assert pointer(stack, STAGING, "staged-manual")["sha256"] == sha

    # When an approver approves with the CLI
    approve_gate(stack, execution["executionArn"])
    # Then production is rolled to it, and the acceptance gate after production waits
    waiting_stage(stack, arn, "production")
    wait_for(
        lambda: endpoint(PRODUCTION, stack)["EndpointConfigName"] != f"{stages.STAGE_ENDPOINT}-config",
        timeout=60,
        what="production on the new config",
    )

    # When an approver sets the package's registry stage (what Studio does)
    stack.client("sagemaker").update_model_package(
        ModelPackageArn=arn, ModelLifeCycle={"Stage": "production", "StageStatus": "Approved"}
    )

    # Then the promotion succeeds with both stages deployed
    done = promotion(stack, arn)
    assert done["status"] == "SUCCEEDED", done
    assert [s["status"] for s in outcome_of(stack, done)["stages"]] == ["Deployed", "Deployed"]
    assert lifecycle(stack, arn)["StageStatus"] == "Deployed"


@pytest.mark.parametrize("at", ["staging gate", "after production"])
def test_a_denied_gate_rolls_back_every_stage_it_reached(stack: Stack, at: str) -> None:
    # Given a first version serving everywhere (approved at both gates)
    first, _ = approved_package(stack, "staged-manual")
    running = running_execution(stack, first)
    waiting_stage(stack, first, "production")
    approve_gate(stack, running["executionArn"])
    waiting_stage(stack, first, "production")
    approve_gate(stack, running["executionArn"])
    assert promotion(stack, first)["status"] == "SUCCEEDED"
    first_staging = pointer(stack, STAGING, "staged-manual")
    first_config = endpoint(PRODUCTION, stack)["EndpointConfigName"]

    # And a second version at a gate
    second, sha = approved_package(stack, "staged-manual")
    execution = running_execution(stack, second)
    waiting_stage(stack, second, "production")
    if at == "after production":
        approve_gate(stack, execution["executionArn"])
        wait_for(
            lambda: (
                endpoint(PRODUCTION, stack)["EndpointConfigName"] != first_config
                and endpoint(PRODUCTION, stack)["EndpointStatus"] == "InService"
            ),
            timeout=90,
            what="production on the second version",
        )
        waiting_stage(stack, second, "production")
    assert pointer(stack, STAGING, "staged-manual")["sha256"] == sha

    # When the approver denies
    approve_gate(stack, execution["executionArn"], approve=False)

    # Then every stage it reached is back on the first version, and the promotion says so
    done = promotion(stack, second)
    detail = outcome_of(stack, done)
    assert detail["reason"] == "gate_denied"
    reached = ["staging", "production"] if at == "after production" else ["staging"]
    assert [s["name"] for s in detail["stages"] if s["status"] == "RolledBack"] == reached
    assert pointer(stack, STAGING, "staged-manual")["target_model"] == first_staging["target_model"]
    assert endpoint(PRODUCTION, stack)["EndpointConfigName"] == first_config
    assert lifecycle(stack, second)["StageStatus"] == "RolledBack"


def test_a_manual_gate_nobody_answers_expires(stack: Stack) -> None:
    # Given a package of the route whose gate waits 3 s
    arn, sha = approved_package(stack, "staged-expiry")

    # When nobody answers
    done = promotion(stack, arn)

    # Then the promotion ends as gate_expired; staging keeps serving it, production never got it
    detail = outcome_of(stack, done)
    assert detail["reason"] == "gate_expired", detail
    assert pointer(stack, STAGING, "staged-expiry")["sha256"] == sha
    assert pointer(stack, PRODUCTION, "staged-expiry") == {}
    assert lifecycle(stack, arn)["StageStatus"] == "GateExpired"
    # And the gate can no longer be answered
    from modelrelay.ops import gates

    assert gates.read(stack.client("dynamodb"), stack.out["state_table"], done["executionArn"].split(":")[-1]) is None


def test_a_production_rollback_leaves_staging_serving(stack: Stack) -> None:
    # Given a package approved at the staging gate
    arn, sha = approved_package(stack, "staged-manual")
    execution = running_execution(stack, arn)
    waiting_stage(stack, arn, "production")
    before = endpoint(PRODUCTION, stack)["EndpointConfigName"]
    approve_gate(stack, execution["executionArn"])
    cloudwatch = stages.client(PRODUCTION, "cloudwatch", stack.env.url)
    try:
        # When production's guard alarm fires during the canary
        wait_for(lambda: endpoint(PRODUCTION, stack)["EndpointStatus"] == "Updating", timeout=60, what="the canary")
        cloudwatch.set_alarm_state(AlarmName=stages.STAGE_ALARM, StateValue="ALARM", StateReason="test: 5xx")
        done = promotion(stack, arn)
    finally:
        cloudwatch.set_alarm_state(AlarmName=stages.STAGE_ALARM, StateValue="OK", StateReason="test over")

    # Then production rolled back, staging still serves the version, and the outcome says both
    detail = outcome_of(stack, done)
    assert [(s["name"], s["status"]) for s in detail["stages"]] == [
        ("staging", "Deployed"),
        ("production", "RolledBack"),
    ]
    assert "staging still serves it" in detail["message"]
    assert pointer(stack, STAGING, "staged-manual")["sha256"] == sha
    assert endpoint(PRODUCTION, stack)["EndpointConfigName"] == before
