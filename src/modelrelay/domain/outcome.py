"""RecordOutcome: what really happened, from the steps' typed results; on failure, undo this execution's writes.

``Succeeded`` only when the step that ran says so (an MME stage, or a rollout the endpoint confirmed); a
rollback is never reported as success. The outcome is published as a ModelRelay event and a notification.
"""

from __future__ import annotations

import contextlib
import json
import time
from datetime import datetime
from typing import Any

from modelrelay.adapters import sagemaker
from modelrelay.domain import stages
from modelrelay.domain.deps import PromotionDeps
from modelrelay.domain.hub import remove_own_registration
from modelrelay.domain.mme import remove_own_staging
from modelrelay.errors import split_reason
from modelrelay.observability import logger, metrics
from modelrelay.steps import (
    ENDPOINT_CHANGING_STEPS,
    ROLLOUT_STEPS,
    STAGE_STEPS,
    HubResult,
    Outcome,
    OutcomeRequest,
    OutcomeResult,
    PromotionPlan,
    RolloutState,
    StepFailure,
)


def _failure_details(failure: StepFailure) -> tuple[str, str, str]:
    """(step, reason, sentence) from a Catch output; a ModelRelay error's reason survives Lambda's errorMessage."""
    error = failure.error
    cause = str(error.Cause or "") if error else ""
    message = cause
    try:
        parsed = json.loads(cause)
        if isinstance(parsed, dict):
            message = str(parsed.get("errorMessage") or cause)
    except json.JSONDecodeError:
        pass
    error_name = str(error.Error) if error and error.Error else "error"
    reason, sentence = split_reason(message)
    if reason == "error":
        reason = error_name
    return failure.step or "unknown", reason, sentence or error_name


def _compensate(
    plan: PromotionPlan, hub: HubResult | None, step: str, execution: str, deps: PromotionDeps
) -> list[str]:
    """Remove exactly what this execution wrote and nothing still in use; return what was removed.

    After a failure at a step that may follow an accepted UpdateEndpoint, the endpoint may already use a model
    made from the hub package: the hub package and its artifact stay.
    """
    removed = remove_own_staging(plan, execution, deps)
    if step not in ENDPOINT_CHANGING_STEPS and step not in STAGE_STEPS:
        removed += remove_own_registration(plan, hub, execution, deps)
    return removed


def _what_the_endpoint_serves(plan: PromotionPlan, rollout: RolloutState | None, deps: PromotionDeps) -> dict[str, Any]:
    """After a failure at a step that may follow an accepted UpdateEndpoint, say what the endpoint really serves."""
    if not plan.endpoint_name:
        return {}
    endpoint = sagemaker.describe_endpoint(deps.sagemaker, plan.endpoint_name) or {}
    now = {"endpoint_status": endpoint.get("EndpointStatus"), "endpoint_config": endpoint.get("EndpointConfigName")}
    if rollout is not None and rollout.new_config and endpoint.get("EndpointConfigName") == rollout.new_config:
        now["endpoint_note"] = (
            f"the endpoint is {endpoint.get('EndpointStatus')} on the new configuration {rollout.new_config}: the "
            "update was accepted before the step failed (its hub package is kept)"
        )
    return now


def _failed_stage(
    plan: PromotionPlan, hub: HubResult | None, request: OutcomeRequest, sentence: str, deps: PromotionDeps
) -> dict[str, Any]:
    """A staged promotion failed at a step: name the stage, record it on the registry, say what the earlier stages
    serve (they are left as they are)."""
    stage = request.stage
    assert stage is not None and stage.stages
    current = stage.current
    failed = current.model_copy(update={"status": "Failed", "reason": sentence[:500]})
    records = [*stage.stages[: stage.index], failed, *stage.stages[stage.index + 1 :]]
    earlier = [r.name for r in stage.stages[: stage.index] if r.status in ("Tested", "Deployed")]
    stages.record_lifecycle(plan, hub, current.name, "Failed", sentence, deps)
    note = f"; {', '.join(earlier)} still serve(s) it, as it was" if earlier else ""
    return {
        "stage": current.name,
        "stages": [r.model_dump(exclude_none=True) for r in records],
        "message": f"stage {current.name}: {sentence}{note}",
    }


def _rollout_outcome(plan: PromotionPlan, rollout: RolloutState | None) -> Outcome:
    if plan.route_kind == "mme":
        return "Succeeded"
    status = rollout.status if rollout else None
    if status == "Succeeded" or status == "RolledBack":
        return status
    return "Failed"


def record_outcome(request: OutcomeRequest, deps: PromotionDeps) -> OutcomeResult:
    """Close the promotion: on failure undo this execution's writes; record the status; shape the notification."""
    plan, hub, mme, rollout, execution = request.plan, request.hub, request.mme, request.rollout, request.execution
    failed = request.failure.error is not None
    raw_detail = request.event.get("detail")
    event_detail: dict[str, Any] = raw_detail if isinstance(raw_detail, dict) else {}
    package_arn = plan.package_arn if plan else str(event_detail.get("ModelPackageArn") or "unknown")
    detail: dict[str, Any] = {
        "package_arn": package_arn,
        "group": plan.group if plan else event_detail.get("ModelPackageGroupName"),
        "execution": execution,
    }
    kind = "Rollout" if plan is not None and plan.route_kind in ("endpoint", "inference_component") else "Promotion"
    outcome: Outcome
    if failed:
        step, reason, sentence = _failure_details(request.failure)
        removed = _compensate(plan, hub, step, execution, deps) if plan else []
        outcome = "Failed"
        if plan is not None and plan.decision == "restore":
            kind = "Rollback"
        elif step not in ROLLOUT_STEPS:
            kind = "Promotion"
        detail |= {"failed_step": step, "reason": reason, "message": sentence, "removed": removed}
        if plan is not None and step in ENDPOINT_CHANGING_STEPS:
            detail |= _what_the_endpoint_serves(plan, rollout, deps)
        if plan is not None and request.stage is not None:
            detail |= _failed_stage(plan, hub, request, sentence, deps)
    elif plan and plan.decision == "skip":
        outcome = "Skipped"
        detail |= {"reason": "not_approved", "message": plan.reason}
    elif rollout is not None and rollout.status == "Superseded":
        outcome = "Skipped"
        detail |= {
            "reason": "superseded",
            "message": rollout.reason,
            "endpoint_name": plan.endpoint_name if plan else None,
        }
    elif plan and plan.route_kind == "staged" and request.stage is not None:
        stage = request.stage
        outcome = stage.outcome or "Failed"
        detail |= {
            "route": plan.route_kind,
            "sha256": plan.artifact.sha256 if plan.artifact else None,
            "source_artifact": plan.artifact.uri if plan.artifact else None,
            "hub_package_arn": hub.hub_package_arn if hub else None,
            "hub_artifact_uri": hub.hub_artifact_uri if hub else None,
            **stages.outcome_detail(stage),
        }
        if outcome == "Succeeded":  # the MME fields of a promotion: each stage's are in ``stages``
            detail |= {"mme_uri": None, "target_model": None, "previous_target_model": None}
        elif outcome == "Failed":  # a stage did not deploy, or its gate expired: nothing of it is removed
            step = "StageGate" if stage.reason == "gate_expired" else "DeployStage"
            detail |= {"failed_step": step, "removed": []}
    elif plan and plan.decision == "restore":
        kind = "Rollback"
        outcome = _rollout_outcome(plan, rollout)
        detail |= {
            "route": plan.route_kind,
            "endpoint_name": plan.endpoint_name,
            "reason": plan.reason,
            "replaced_package_arn": plan.package_arn,
            "restored_package_arn": (mme.restored_package_arn if mme else None)
            or (rollout.restore_to.package_arn if rollout and rollout.restore_to else None),
            "target_model": mme.target_model if mme else None,
            "endpoint_config": rollout.new_config if rollout else None,
            "message": (rollout.reason if rollout else None) or plan.reason,
        }
        if rollout is not None and rollout.restore_to is not None and rollout.restore_to.package_arn is None:
            detail |= {
                "withdrawn": True,
                "message": f"{plan.reason}; no earlier approved version: the endpoint is back on "
                f"{rollout.restore_to.config_name}, the configuration that served before ModelRelay",
            }
        if mme is not None and mme.withdrawn:
            detail |= {
                "withdrawn": True,
                "message": f"{plan.reason}; no earlier approved version: the model is "
                "withdrawn (its TargetModel pointer has no current target)",
            }
    else:
        assert plan and plan.artifact
        outcome = _rollout_outcome(plan, rollout)
        detail |= {
            "route": plan.route_kind,
            "endpoint_name": plan.endpoint_name,
            "sha256": plan.artifact.sha256,
            "source_artifact": plan.artifact.uri,
            "hub_package_arn": hub.hub_package_arn if hub else None,
            "hub_artifact_uri": hub.hub_artifact_uri if hub else None,
            "mme_uri": mme.mme_uri if mme else None,
            "target_model": mme.target_model if mme else None,
            "previous_target_model": mme.previous_target_model if mme else None,
        }
        if rollout is not None:
            detail |= {
                "rollout_status": rollout.status,
                # alarm_rollback / deployment_failed / ...: from facts (alarm history), not FailureReason's words
                "reason": rollout.reason_code or rollout.reason,
                "alarms": rollout.fired_alarms,
                "failure_reason": rollout.failure_reason,
                "endpoint_config": rollout.new_config,
                "previous_endpoint_config": rollout.old_config,
                "strategy": rollout.strategy,
                "polls": rollout.polls,
                "inference_component": rollout.component_name,
                "model": rollout.new_model,
                "previous_model": rollout.old_model,
            }
            if outcome != "Succeeded":
                detail["failed_step"] = "CheckRollout"
                detail["message"] = rollout.reason
    _emit_metrics(kind, outcome, request)
    if package_arn != "unknown":
        deps.store.close_claim(package_arn, execution, outcome, str(detail.get("message") or outcome))
    if package_arn != "unknown" and outcome != "Skipped":
        # A rollback is recorded as one (RollbackSucceeded / RollbackFailed), never as a promotion's outcome.
        _record_status_on_package(
            package_arn, execution, "Rollback" if kind == "Rollback" else "Promotion", outcome, failed, detail, deps
        )
    words = {"RolledBack": "rolled back"}.get(outcome, outcome.lower())
    subject = f"ModelRelay: {kind.lower()} {words} for {detail.get('group') or package_arn}"
    lines = [f"{k}: {v}" for k, v in detail.items() if v not in (None, [], "")]
    logger.info("promotion outcome", extra={"outcome": outcome, "detail": detail})
    return OutcomeResult(
        outcome=outcome,
        detail_type=f"{kind} {outcome}",
        detail=detail,
        subject=subject[:99],
        message=subject + "\n\n" + "\n".join(lines),
    )


def _record_status_on_package(
    package_arn: str,
    execution: str,
    kind: str,
    outcome: Outcome,
    failed: bool,
    detail: dict[str, Any],
    deps: PromotionDeps,
) -> None:
    status = {"modelrelay:status": f"{kind}{outcome}", "modelrelay:execution": execution}
    if failed:
        status |= {
            "modelrelay:failed-step": detail["failed_step"],
            "modelrelay:reason": detail["reason"],
            "modelrelay:detail": detail["message"],
        }
    elif detail.get("hub_package_arn"):
        status |= {"modelrelay:hub-package": str(detail["hub_package_arn"])}
    if not deps.settings.may_write_source(package_arn):
        # Pull mode: the spoke's package is read-only to the hub (its group policy grants Describe, not Update). The
        # status goes on the hub package when there is one (it names its source: modelrelay:source-package-arn);
        # after a failure nothing of this execution is left in the hub, and the event and notification say it all.
        hub_package = detail.get("hub_package_arn")
        if hub_package:
            sagemaker.record_status(deps.hub().sagemaker, str(hub_package), status, best_effort=True)
        detail["status_recorded_on_package"] = False
        return
    if not sagemaker.record_status(deps.sagemaker, package_arn, status):
        # The event may name a package that does not exist (malformed or forged): say so, don't crash.
        detail["status_recorded_on_package"] = False


def _emit_metrics(kind: str, outcome: Outcome, request: OutcomeRequest) -> None:
    """What the dashboard plots besides Promotions<Outcome>: rollouts/rollbacks by outcome and durations, bytes."""
    if kind != "Promotion":
        metrics.add_metric(name=f"{kind}s{outcome}", unit="Count", value=1)
    started = (request.event.get("time") or "") if isinstance(request.event, dict) else ""
    if started:
        with contextlib.suppress(ValueError):
            elapsed = time.time() - datetime.fromisoformat(str(started).replace("Z", "+00:00")).timestamp()
            metrics.add_metric(name="EventToOutcomeSeconds", unit="Seconds", value=max(elapsed, 0.0))
    rollout = request.rollout
    if rollout is not None and rollout.started_at:
        metrics.add_metric(name="RolloutSeconds", unit="Seconds", value=max(time.time() - rollout.started_at, 0))
    artifact = request.plan.artifact if request.plan else None
    copies = int(bool(request.hub and request.hub.created_hub_object)) + int(
        bool(request.mme and request.mme.created_mme_object)
    )
    if artifact is not None and copies and request.failure.error is None:
        metrics.add_metric(name="BytesCopied", unit="Bytes", value=artifact.size * copies)
