"""The promotion state machine, described once in flow order; ``promotion.asl.json`` is generated from it.

Why generated: Amazon States Language has no way to share a Retry policy between states, and the JSON is what
Step Functions (and ``sam deploy``'s DefinitionUri) really reads. This file writes each policy once, keeps the
states in the order they run, and takes every name the Python steps also use from ``modelrelay.steps`` and
``modelrelay.errors``. ``make validate`` (and a unit test) fail when the checked-in JSON differs from what this
produces: run ``python statemachines/promotion.py --write`` after a change and review both in the diff.

Usage: ``python statemachines/promotion.py --check | --write``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from modelrelay.config import MAX_GATE_SECONDS, MAX_STAGES, RolloutConfig
from modelrelay.domain.rollout import LEASE_MARGIN_SECONDS
from modelrelay.errors import EndpointLeaseBusy, GateDenied, HubPackageNotReady, PointerConflict
from modelrelay.steps import StepName

ASL_FILE = Path(__file__).with_name("promotion.asl.json")

# Lambda's transient errors (AWS: "Handle Lambda service exceptions" in the Step Functions developer guide).
LAMBDA_TRANSIENT = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.Unknown",
    "Lambda.ClientExecutionTimeoutException",
]
LAMBDA_RETRY = {
    "ErrorEquals": LAMBDA_TRANSIENT,
    "IntervalSeconds": 2,
    "BackoffRate": 2.0,
    "MaxAttempts": 6,
    "JitterStrategy": "FULL",
}
# The function's process died (crash, out of memory) or hit its timeout: every step is idempotent, so run it
# again, a few times (Lambda's runtime error names: "Runtime.ExitError", "Sandbox.Timedout").
LAMBDA_CRASH_RETRY = {
    "ErrorEquals": ["Runtime.ExitError", "Runtime.Unknown", "Sandbox.Timedout"],
    "IntervalSeconds": 2,
    "BackoffRate": 2.0,
    "MaxAttempts": 3,
    "JitterStrategy": "FULL",
}
SERVICE_RETRY = {
    "ErrorEquals": ["States.ALL"],
    "IntervalSeconds": 2,
    "BackoffRate": 2.0,
    "MaxAttempts": 6,
    "JitterStrategy": "FULL",
}
POINTER_RETRY = {
    "ErrorEquals": [PointerConflict.__name__],
    "IntervalSeconds": 1,
    "BackoffRate": 2.0,
    "MaxAttempts": 5,
    "JitterStrategy": "FULL",
}


def longest_rollout_seconds() -> int:
    """The longest rollout a route may configure: the upper bound of ``maximum_execution_timeout_seconds``."""
    field = RolloutConfig.model_fields["maximum_execution_timeout_seconds"]
    return next(int(rule.le) for rule in field.metadata if getattr(rule, "le", None) is not None)


# How long a busy endpoint's lease can stay held once its holder started: the holder's rollout (at most the longest
# a route allows) plus the lease's margins (the lease expires, or is renewed, up to deadline + margin).
LEASE_HOLD_SECONDS = longest_rollout_seconds() + 2 * LEASE_MARGIN_SECONDS


def retry_wait_seconds(retry: dict[str, Any]) -> int:
    """Total time a Retry waits over all its attempts, without jitter (Step Functions: interval * rate^n, capped)."""
    delays = (
        min(retry["IntervalSeconds"] * retry["BackoffRate"] ** n, retry.get("MaxDelaySeconds", float("inf")))
        for n in range(retry["MaxAttempts"])
    )
    return int(sum(delays))


def _attempts_to_wait(retry: dict[str, Any], seconds: int) -> int:
    attempts = 1
    while retry_wait_seconds({**retry, "MaxAttempts": attempts}) < seconds:
        attempts += 1
    return attempts


# A busy endpoint is waited for, never failed for being busy: the wait covers one whole rollout of the longest
# allowed length (LEASE_HOLD_SECONDS, about 8.5 h), so a second approval waits out the first. No jitter: full
# jitter would make the total wait random (about half of it on average); waiters on one endpoint are few, so there
# is no herd to spread.
_LEASE_BACKOFF = {"IntervalSeconds": 5, "BackoffRate": 2.0, "MaxDelaySeconds": 300}
LEASE_RETRY = {
    "ErrorEquals": [EndpointLeaseBusy.__name__],
    **_LEASE_BACKOFF,
    "MaxAttempts": _attempts_to_wait(_LEASE_BACKOFF, LEASE_HOLD_SECONDS),
    "JitterStrategy": "NONE",
}
# Everything else an execution may spend besides the lease wait and the rollout: the other steps' retries and
# timeouts (each Lambda step ≤ 900 s), RecordOutcome, and waiting out a burst's backlog (LAMBDA_THROTTLE_RETRY).
# The execution's TimeoutSeconds is the sum, in whole hours.
LAMBDA_THROTTLE_BACKLOG_SECONDS = 3600
STEPS_ALLOWANCE_SECONDS = 3600 + LAMBDA_THROTTLE_BACKLOG_SECONDS
# A staged route adds, per stage, a manual gate's longest wait and a stage's rollout (its lease margins included).
STAGES_ALLOWANCE_SECONDS = MAX_STAGES * (MAX_GATE_SECONDS + LEASE_HOLD_SECONDS)
EXECUTION_TIMEOUT_SECONDS = (
    -(
        -(retry_wait_seconds(LEASE_RETRY) + LEASE_HOLD_SECONDS + STEPS_ALLOWANCE_SECONDS + STAGES_ALLOWANCE_SECONDS)
        // 3600
    )
    * 3600
)

# SageMaker finishes a new model package (validation, image scan) before a model can be built from it: a hub
# package still Pending/InProgress is waited for, bounded (~10 min in all), then the rollout fails by name.
# A burst (a nightly retrain approving every model at once) meets the promotion functions' reserved concurrency
# (the PromotionConcurrency parameter) and Lambda answers TooManyRequestsException: that is the queue doing its work,
# not a failure. Throttled steps wait, capped at 30 s between tries, for up to an hour of backlog (a thousand
# promotions at five concurrent invocations per step clear in minutes on AWS), with full jitter so the waiting
# executions spread out instead of returning together. Each retry is a state transition (~120 per waiting step per
# hour at most).
_THROTTLE_BACKOFF = {"IntervalSeconds": 1, "BackoffRate": 2.0, "MaxDelaySeconds": 30}
LAMBDA_THROTTLE_RETRY = {
    "ErrorEquals": ["Lambda.TooManyRequestsException"],
    **_THROTTLE_BACKOFF,
    "MaxAttempts": _attempts_to_wait(_THROTTLE_BACKOFF, LAMBDA_THROTTLE_BACKLOG_SECONDS),
    "JitterStrategy": "FULL",
}

HUB_PACKAGE_RETRY = {
    "ErrorEquals": [HubPackageNotReady.__name__],
    "IntervalSeconds": 2,
    "BackoffRate": 2.0,
    "MaxDelaySeconds": 60,
    "MaxAttempts": 14,
    "JitterStrategy": "FULL",
}


def _failed(step: StepName, then: str) -> dict[str, Any]:
    """The Pass state a step's Catch leads to: it names the failed step for RecordOutcome."""
    return {"Type": "Pass", "Result": step, "ResultPath": "$.failure.step", "Next": then}


def _lambda(
    function: str,
    parameters: dict[str, Any],
    result: str | None,
    then: str,
    *,
    on_error: str,
    error_path: str = "$.failure.error",
    retry: tuple[dict[str, Any], ...] = (),
    comment: str,
    **extra: Any,
) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Task",
        "Comment": comment,
        "Resource": f"${{{function}}}",
        "Parameters": {"execution.$": "$.execution", **parameters},
        "ResultPath": result,
        **extra,
        "Retry": [*retry, LAMBDA_THROTTLE_RETRY, LAMBDA_RETRY, LAMBDA_CRASH_RETRY],
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": error_path, "Next": on_error}],
        "Next": then,
    }
    return state


def _rollout(
    action: str,
    result: str | None,
    then: str,
    on_error: str,
    comment: str,
    plan: str = "$.plan",
    rollout: str = "$.rollout",
    **extra: Any,
) -> dict[str, Any]:
    return _lambda(
        "RolloutStepFunctionArn",
        {"action": action, "plan.$": plan, "hub.$": "$.hub", "rollout.$": rollout},
        result,
        then,
        on_error=on_error,
        comment=comment,
        **extra,
    )


def _choice(variable: str, cases: dict[str, str], default: str, comment: str | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Choice"}
    if comment:
        state["Comment"] = comment
    state["Choices"] = [
        {"Variable": variable, "StringEquals": value, "Next": target} for value, target in cases.items()
    ]
    state["Default"] = default
    return state


def _stage_step(action: str, then: str, on_error: str, comment: str, **extra: Any) -> dict[str, Any]:
    return _lambda(
        "StageStepFunctionArn",
        {
            "action": action,
            "plan.$": "$.plan",
            "hub.$": "$.hub",
            "stage.$": "$.stage",
            "stage_mme.$": "$.stage_mme",
            "stage_rollout.$": "$.stage_rollout",
            "failure.$": "$.failure",
        },
        "$.stage",
        then,
        on_error=on_error,
        comment=comment,
        **extra,
    )


def stage_states() -> dict[str, Any]:
    """A staged route: each stage deployed (in its account) by the steps that deploy a route, then tested, then
    its gate; a refused gate rolls back the stages reached, newest first, with the same steps (restore plans)."""
    stage_rollout = {"plan": "$.stage_plan", "rollout": "$.stage_rollout"}
    return {
        "BeginStages": _stage_step(
            "begin",
            "StagePlan",
            "BeginStagesFailed",
            comment="The route's stages in order; the first stage's plan (the hub copy onto its target).",
        ),
        "StagePlan": {
            "Type": "Pass",
            "Comment": "The current stage's plan, where the deployment steps read it.",
            "InputPath": "$.stage.plan",
            "ResultPath": "$.stage_plan",
            "Next": "StageKind",
        },
        "StageKind": _choice(
            "$.stage_plan.route_kind",
            {"mme": "DeployStageOnMme"},
            default="StageRolloutAcquire",
            comment="The stage's target, in the stage's account (its deployment role): an MME or an endpoint.",
        ),
        "DeployStageOnMme": _lambda(
            "StageOnMmeFunctionArn",
            {"plan.$": "$.stage_plan", "hub.$": "$.hub"},
            "$.stage_mme",
            "StageDeployed",
            on_error="StageDeployFailed",
            retry=(POINTER_RETRY,),
            comment="Deploying: the hub copy under the stage MME's immutable key, its test, its pointer. Restoring: "
            "the pointer back.",
        ),
        "StageRolloutAcquire": _rollout(
            "acquire",
            "$.stage_rollout",
            "StageRolloutStart",
            "StageDeployFailed",
            retry=(LEASE_RETRY,),
            comment="The stage endpoint's lease (records of a stage's account are kept apart).",
            **stage_rollout,
        ),
        "StageRolloutStart": _rollout(
            "start",
            "$.stage_rollout",
            "WaitForStageRollout",
            "StageRolloutFailed",
            retry=(HUB_PACKAGE_RETRY,),
            comment="Preflight, model from the hub package + cloned config + guarded UpdateEndpoint (or, restoring, "
            "back to the previous config).",
            **stage_rollout,
        ),
        "WaitForStageRollout": {
            "Type": "Wait",
            "SecondsPath": "$.stage_rollout.wait_seconds",
            "Next": "StageRolloutCheck",
        },
        "StageRolloutCheck": _rollout(
            "check",
            "$.stage_rollout",
            "StageRolloutSettled",
            "StageRolloutFailed",
            comment="DescribeEndpoint in the stage's account and classify.",
            **stage_rollout,
        ),
        "StageRolloutSettled": _choice(
            "$.stage_rollout.status", {"InProgress": "WaitForStageRollout"}, default="StageRolloutFinish"
        ),
        "StageRolloutFinish": _rollout(
            "finish",
            "$.stage_rollout",
            "StageDeployed",
            "StageRolloutFailed",
            comment="Release the lease, keep the winners, delete the loser.",
            **stage_rollout,
        ),
        "StageDeployed": _choice(
            "$.stage.phase",
            {"rollback": "RollBackStages"},
            default="TestStage",
            comment="A deployment is tested next; a restore goes on to the next stage to roll back.",
        ),
        "TestStage": _stage_step(
            "test",
            "StageTested",
            "TestStageFailed",
            comment="Did it deploy; InService on the new config; the test's sample answered 2xx in time.",
        ),
        "StageTested": _choice(
            "$.stage.phase",
            {"rollback": "RollBackStages", "done": "RecordOutcome"},
            default="GateKind",
            comment="A stage that did not deploy ends here (earlier stages as they are); one that failed its test "
            "is rolled back.",
        ),
        "GateKind": _choice(
            "$.stage.gate",
            {"automatic": "BakeStage", "manual": "WaitForApproval"},
            default="AdvanceStage",
        ),
        "BakeStage": {
            "Type": "Wait",
            "Comment": "Automatic gate: the stage bakes; its alarms must stay OK.",
            "SecondsPath": "$.stage.bake_seconds",
            "Next": "CheckBake",
        },
        "CheckBake": _stage_step(
            "bake_check",
            "BakeChecked",
            "StageGateFailed",
            comment="Alarms that went to ALARM since the stage was deployed refuse the gate.",
        ),
        "BakeChecked": _choice("$.stage.phase", {"rollback": "RollBackStages"}, default="AdvanceStage"),
        "WaitForApproval": {
            "Type": "Task",
            "Comment": "Manual gate: the StageStep function keeps this task's token (state table, by execution) and "
            "tells the approvers; modelrelay approve|deny or the package's registry stage (ModelLifeCycle) answers "
            "it with SendTaskSuccess / SendTaskFailure(GateDenied). No answer by the deadline: gate_expired.",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {
                "FunctionName": "${StageStepFunctionArn}",
                "Payload": {
                    "action": "gate_wait",
                    "execution.$": "$.execution",
                    "token.$": "$$.Task.Token",
                    "plan.$": "$.plan",
                    "hub.$": "$.hub",
                    "stage.$": "$.stage",
                },
            },
            "TimeoutSecondsPath": "$.stage.gate_timeout_seconds",
            "ResultPath": "$.stage.approval",
            "Retry": [LAMBDA_THROTTLE_RETRY, LAMBDA_RETRY],
            "Catch": [
                {"ErrorEquals": [GateDenied.__name__], "ResultPath": "$.stage.approval", "Next": "RefuseGate"},
                {
                    "ErrorEquals": ["States.Timeout", "States.HeartbeatTimeout"],
                    "ResultPath": None,
                    "Next": "ExpireGate",
                },
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure.error", "Next": "StageGateFailed"},
            ],
            "Next": "AdvanceStage",
        },
        "RefuseGate": _stage_step(
            "refuse",
            "RollBackStages",
            "StageGateFailed",
            comment="Denied: every stage reached is rolled back.",
        ),
        "ExpireGate": _stage_step(
            "expire",
            "RecordOutcome",
            "StageGateFailed",
            comment="Nobody answered in time: gate_expired; the stages stay as they are.",
        ),
        "AdvanceStage": _stage_step(
            "advance",
            "MoreStages",
            "StageGateFailed",
            comment="On to the next stage, or done.",
        ),
        "MoreStages": _choice("$.stage.phase", {"done": "RecordOutcome"}, default="StagePlan"),
        "RollBackStages": _stage_step(
            "rollback_next",
            "RollBackKind",
            "RollBackStagesFailed",
            comment="Record the stage just rolled back; plan the next one (newest first), or finish.",
        ),
        "RollBackKind": _choice("$.stage.phase", {"done": "RecordOutcome"}, default="StagePlan"),
        "BeginStagesFailed": _failed("BeginStages", "RecordOutcome"),
        "StageDeployFailed": _failed("DeployStage", "RecordOutcome"),
        "StageRolloutFailed": _failed("DeployStage", "ReleaseStageLease"),
        "TestStageFailed": _failed("TestStage", "RecordOutcome"),
        "StageGateFailed": _failed("StageGate", "RecordOutcome"),
        "RollBackStagesFailed": _failed("RollBackStages", "RecordOutcome"),
        "ReleaseStageLease": _rollout(
            "release",
            None,
            "RecordOutcome",
            "RecordOutcome",
            error_path="$.failure.release_error",
            comment="Never leave a stage's endpoint locked after a failure.",
            **stage_rollout,
        ),
    }


def definition() -> dict[str, Any]:
    states: dict[str, Any] = {
        "Start": {
            "Type": "Pass",
            "Comment": "Keep what started the execution; name the slots each step fills (JSONPath cannot read "
            "absent paths).",
            "Parameters": {
                "event.$": "$",
                "execution.$": "$$.Execution.Name",
                "plan": None,
                "hub": None,
                "mme": None,
                "rollout": None,
                "stage": None,
                "stage_plan": None,
                "stage_mme": None,
                "stage_rollout": None,
                "failure": {"step": None, "error": None},
            },
            "Next": "PreparePromotion",
        },
        "PreparePromotion": _lambda(
            "PreparePromotionFunctionArn",
            {"event.$": "$.event"},
            "$.plan",
            "Decide",
            on_error="PrepareFailed",
            comment="Re-read the exact package, claim its transition, resolve its route, validate its artifact.",
        ),
        "Decide": _choice(
            "$.plan.decision",
            {
                "duplicate": "AlreadyHandled",
                "ignore": "NothingToPromote",
                "restore": "RestoreKind",
                "skip": "RecordOutcome",
            },
            default="RegisterInHub",
        ),
        # ---- promote ----
        "RegisterInHub": _lambda(
            "RegisterInHubFunctionArn",
            {"plan.$": "$.plan"},
            "$.hub",
            "RouteKind",
            on_error="RegisterFailed",
            comment="Server-side copy into the hub bucket; find-or-create the hub package by provenance.",
        ),
        "RouteKind": _choice(
            "$.plan.route_kind",
            {
                "mme": "StageOnMme",
                "endpoint": "RolloutToEndpoint",
                "inference_component": "RolloutToEndpoint",
                "staged": "BeginStages",
            },
            default="RolloutToEndpoint",
            comment="An inference component takes the rollout steps too (one lease per component; the "
            "RolloutStep function acts on the component: CreateInferenceComponent / UpdateInferenceComponent).",
        ),
        "StageOnMme": _lambda(
            "StageOnMmeFunctionArn",
            {"plan.$": "$.plan", "hub.$": "$.hub"},
            "$.mme",
            "RecordOutcome",
            on_error="StageFailed",
            retry=(POINTER_RETRY,),
            comment="Immutable versioned key on the MME prefix, then move the model's TargetModel pointer.",
        ),
        "RolloutToEndpoint": _rollout(
            "acquire",
            "$.rollout",
            "LeaseOutcome",
            "RolloutFailed",
            retry=(LEASE_RETRY,),
            comment="One rollout per endpoint: a lease (conditional write with expiry).",
        ),
        "LeaseOutcome": _choice(
            "$.rollout.status",
            {"Superseded": "RecordOutcome", "ShadowFirst": "StartShadow"},
            default="StartRollout",
            comment="A route with rollout.shadow runs the new model as a shadow variant before the rollout.",
        ),
        "StartShadow": _rollout(
            "shadow_start",
            "$.rollout",
            "WaitForShadow",
            "ShadowStartFailed",
            retry=(HUB_PACKAGE_RETRY,),
            comment="Preflight (one production variant, no serverless/async, no shadow yet), then model + a config "
            "with the new model as ShadowProductionVariants + UpdateEndpoint: production keeps serving.",
        ),
        "WaitForShadow": {
            "Type": "Wait",
            "Comment": "Shadow provisioning polled with backoff; the bake waited in steps that end on time.",
            "SecondsPath": "$.rollout.wait_seconds",
            "Next": "CheckShadow",
        },
        "CheckShadow": _rollout(
            "shadow_check",
            "$.rollout",
            "ShadowSettled",
            "ShadowCheckFailed",
            comment="DescribeEndpoint + the shadow's alarms: bake, then return the endpoint to its original config "
            "(passed, or shadow_alarm / shadow_failed).",
        ),
        "ShadowSettled": _choice(
            "$.rollout.status",
            {"ShadowInProgress": "WaitForShadow", "ShadowPassed": "StartRollout"},
            default="FinishRollout",
        ),
        "StartRollout": _rollout(
            "start",
            "$.rollout",
            "WaitForRollout",
            "RolloutStartFailed",
            retry=(HUB_PACKAGE_RETRY,),
            comment="Preflight (no write on failure), then model + cloned endpoint config + UpdateEndpoint with "
            "guardrails.",
        ),
        "WaitForRollout": {
            "Type": "Wait",
            "Comment": "Polling with backoff (x1.5 per poll, 300 s cap) within an overall deadline.",
            "SecondsPath": "$.rollout.wait_seconds",
            "Next": "CheckRollout",
        },
        "CheckRollout": _rollout(
            "check",
            "$.rollout",
            "RolloutSettled",
            "RolloutCheckFailed",
            comment="DescribeEndpoint and classify: Succeeded / RolledBack / Failed / InProgress.",
        ),
        "RolloutSettled": _choice("$.rollout.status", {"InProgress": "WaitForRollout"}, default="FinishRollout"),
        "FinishRollout": _rollout(
            "finish",
            "$.rollout",
            "RecordOutcome",
            "RolloutFinishFailed",
            comment="Release the lease, record the outcome on both packages, keep winners, delete the loser.",
        ),
        # ---- a staged route: stage by stage, a test and a gate after each ----
        **stage_states(),
        # ---- go back ----
        "RestoreKind": _choice(
            "$.plan.route_kind",
            {"mme": "MovePointerBack", "inference_component": "RolloutToEndpoint"},
            default="RolloutToEndpoint",
            comment="Rejected while serving, or a manual rollback: return to the previous approved version.",
        ),
        "MovePointerBack": _lambda(
            "StageOnMmeFunctionArn",
            {"plan.$": "$.plan", "hub.$": "$.hub"},
            "$.mme",
            "RecordOutcome",
            on_error="MovePointerBackFailed",
            retry=(POINTER_RETRY,),
            comment="One pointer move back to the newest previous target whose package is still Approved.",
        ),
        # ---- failures: name the step, release what may be held, then record ----
        "PrepareFailed": _failed("PreparePromotion", "RecordOutcome"),
        "RegisterFailed": _failed("RegisterInHub", "RecordOutcome"),
        "StageFailed": _failed("StageOnMme", "RecordOutcome"),
        "MovePointerBackFailed": _failed("MovePointerBack", "RecordOutcome"),
        "RolloutFailed": _failed("RolloutToEndpoint", "ReleaseLease"),
        "ShadowStartFailed": _failed("StartShadow", "ReleaseLease"),
        "ShadowCheckFailed": _failed("CheckShadow", "ReleaseLease"),
        "RolloutStartFailed": _failed("StartRollout", "ReleaseLease"),
        "RolloutCheckFailed": _failed("CheckRollout", "ReleaseLease"),
        "RolloutFinishFailed": _failed("FinishRollout", "ReleaseLease"),
        "ReleaseLease": _rollout(
            "release",
            None,
            "RecordOutcome",
            "RecordOutcome",
            error_path="$.failure.release_error",
            comment="Never leave the endpoint locked after a failure (released only if ours).",
        ),
        # ---- every path ends here ----
        "RecordOutcome": _lambda(
            "RecordOutcomeFunctionArn",
            {
                "event.$": "$.event",
                "plan.$": "$.plan",
                "hub.$": "$.hub",
                "mme.$": "$.mme",
                "rollout.$": "$.rollout",
                "stage.$": "$.stage",
                "failure.$": "$.failure",
            },
            "$.outcome",
            "PublishEvent",
            on_error="OutcomeNotRecorded",
            error_path="$.outcome_error",
            comment="On failure undo this execution's writes; record the status on the packages; shape the "
            "notification.",
        ),
        "PublishEvent": {
            "Type": "Task",
            "Comment": "Other systems chain on ModelRelay events (Promotion Succeeded / Failed / Skipped).",
            "Resource": "arn:aws:states:::events:putEvents",
            "Parameters": {
                "Entries": [
                    {
                        "Source": "modelrelay",
                        "DetailType.$": "$.outcome.detail_type",
                        "Detail.$": "$.outcome.detail",
                        "EventBusName": "${EventBusName}",
                    }
                ]
            },
            "ResultPath": None,
            "Retry": [SERVICE_RETRY],
            "Next": "Notify",
        },
        "Notify": {
            "Type": "Task",
            "Comment": "What a person is told.",
            "Resource": "arn:aws:states:::sns:publish",
            "Parameters": {
                "TopicArn": "${NotificationTopicArn}",
                "Subject.$": "$.outcome.subject",
                "Message.$": "$.outcome.message",
                "MessageAttributes": {"detail_type": {"DataType": "String", "StringValue.$": "$.outcome.detail_type"}},
            },
            "ResultPath": None,
            "Retry": [SERVICE_RETRY],
            "Next": "Outcome",
        },
        "Outcome": _choice(
            "$.outcome.outcome",
            {"Succeeded": "Promoted", "Skipped": "Skipped", "RolledBack": "RolloutRolledBack"},
            default="PromotionFailed",
        ),
        "Promoted": {"Type": "Succeed"},
        "Skipped": {
            "Type": "Succeed",
            "Comment": "The package is no longer Approved, or a later version already serves; nothing was touched.",
        },
        "AlreadyHandled": {
            "Type": "Succeed",
            "Comment": "Duplicate or late delivery: another execution owns this transition.",
        },
        "NothingToPromote": {
            "Type": "Succeed",
            "Comment": "Not an approval (the package is pending or rejected): the transition is "
            "recorded, nothing else.",
        },
        "RolloutRolledBack": {
            "Type": "Fail",
            "Error": "RolloutRolledBack",
            "Cause": "SageMaker rolled the endpoint back to its previous config; see the Rollout RolledBack event "
            "for the reason. Nothing else moved.",
        },
        "PromotionFailed": {
            "Type": "Fail",
            "Error": "PromotionFailed",
            "Cause": "The promotion failed; its Promotion Failed event and notification name the step and the "
            "reason, and this execution's writes were removed.",
        },
        "OutcomeNotRecorded": {
            "Type": "Fail",
            "Error": "OutcomeNotRecorded",
            "Cause": "Recording the outcome failed after retries; see the RecordOutcome function's logs.",
        },
    }
    return {
        "Comment": "ModelRelay promotion: the exact approved model package -> hub registry -> MME TargetModel "
        "pointer (or endpoint rollout). Generated by statemachines/promotion.py; do not edit by hand. "
        f"TimeoutSeconds covers the lease wait ({retry_wait_seconds(LEASE_RETRY)} s), the longest rollout "
        f"({longest_rollout_seconds()} s) with its lease margins and the other steps.",
        "StartAt": "Start",
        "TimeoutSeconds": EXECUTION_TIMEOUT_SECONDS,
        "States": states,
    }


def render() -> str:
    return json.dumps(definition(), indent=2) + "\n"


def main(argv: list[str]) -> int:
    if argv == ["--write"]:
        ASL_FILE.write_text(render())
        print(f"wrote {ASL_FILE}")
        return 0
    if argv == ["--check"]:
        if ASL_FILE.read_text() != render():
            print(f"{ASL_FILE} is out of date: run python statemachines/promotion.py --write", file=sys.stderr)
            return 1
        print(f"{ASL_FILE.name} matches statemachines/promotion.py")
        return 0
    print(__doc__.strip().splitlines()[-1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
