"""The promotion: an approved model package becomes a hub package, an MME artifact and a TargetModel pointer.

Each function here is one step of ``statemachines/promotion.asl.json``. Every step is idempotent (a retried or
re-driven step never duplicates a side effect), and everything a step writes is stamped with the execution that
wrote it, so the failure path removes exactly what this execution created and nothing else.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError

from modelrelay import registry, s3ops, state
from modelrelay.artifact import ArtifactRejected, validate_artifact
from modelrelay.aws import HubClients
from modelrelay.config import MmeTarget, RoutingConfig, Settings
from modelrelay.errors import (
    ArtifactBucketNotAllowed,
    ArtifactChanged,
    ArtifactInvalid,
    ArtifactNotFound,
    NothingToRollBack,
    PackageNotFound,
    SourceNotAllowed,
    split_reason,
)
from modelrelay.models import ArtifactRef, ModelPackageStateChangeEvent, PromotionPlan, parse_event
from modelrelay.observability import logger

ROLLOUT_STEPS = ("RolloutToEndpoint", "StartRollout", "CheckRollout", "FinishRollout")
# Failures at these steps may come after UpdateEndpoint was accepted: the hub package may already serve.
ENDPOINT_CHANGING_STEPS = ("StartRollout", "CheckRollout", "FinishRollout")


@dataclass
class PromotionDeps:
    settings: Settings
    routing: RoutingConfig
    s3: Any
    sagemaker: Any
    dynamodb: Any
    hub: Callable[[], HubClients]


def hub_key(group: str, sha256: str) -> str:
    """Content-addressed, immutable hub key."""
    return f"artifacts/{group}/{sha256}.tar.gz"


def target_model(model_name: str, version: int | None, sha256: str) -> str:
    """TargetModel relative to the MME prefix; ``<model-name>/`` stays first for ``sagemaker:TargetModel`` IAM."""
    return f"{model_name}/{version if version is not None else 0}-{sha256[:12]}.tar.gz"


def _check_source_allowed(deps: PromotionDeps, account: str, region: str) -> None:
    accounts = deps.routing.allowed_source_accounts or [deps.settings.account_id]
    regions = deps.routing.allowed_regions or [deps.settings.region]
    if account not in accounts:
        raise SourceNotAllowed(f"events from account {account} are not accepted (allowed: {', '.join(accounts)})")
    if region not in regions:
        raise SourceNotAllowed(f"events from region {region} are not accepted (allowed: {', '.join(regions)})")


def is_approved(sagemaker: Any, package_arn: str | None) -> bool:
    if not package_arn:
        return False
    try:
        return registry.describe(sagemaker, package_arn).get("ModelApprovalStatus") == "Approved"
    except PackageNotFound:
        return False


def restore_plan(group: str, rejected_arn: str | None, reason: str, deps: PromotionDeps) -> PromotionPlan | None:
    """A plan to return the group's route to its previous approved version, if ``rejected_arn`` is what serves.

    With ``rejected_arn`` None (manual rollback) whatever serves now is rolled back.
    """
    if not deps.routing.has_route(group):
        return None
    route = deps.routing.route_for(group)
    if isinstance(route.target, MmeTarget):
        pointer = state.read_pointer(deps.dynamodb, deps.settings.state_table, route.target.endpoint_name,
                                     route.model_name) or {}
        serving_arn = (pointer.get("current") or {}).get("package_arn")
        kind: Literal["mme", "endpoint"] = "mme"
    else:
        serving_arn = state.read_serving(deps.dynamodb, deps.settings.state_table,
                                         route.target.endpoint_name).get("package_arn")
        kind = "endpoint"
    if not serving_arn or (rejected_arn is not None and serving_arn != rejected_arn):
        return None
    return PromotionPlan(decision="restore", reason=reason, package_arn=serving_arn, group=group, route_kind=kind,
                         endpoint_name=route.target.endpoint_name, model_name=route.model_name,
                         mme_bucket=route.target.bucket if isinstance(route.target, MmeTarget) else None)


def restore_mme(plan: PromotionPlan, execution: str, deps: PromotionDeps) -> dict[str, Any]:
    """Move the MME model's pointer back to the newest previous target whose package is still Approved."""
    assert plan.endpoint_name and plan.model_name
    restored, replaced = state.restore_pointer(
        deps.dynamodb, deps.settings.state_table, plan.endpoint_name, plan.model_name,
        lambda target: is_approved(deps.sagemaker, target.get("package_arn")))
    logger.info("TargetModel pointer moved back", extra={"restored": restored, "replaced": replaced})
    return {"endpoint_name": plan.endpoint_name, "target_model": restored.get("target_model"),
            "mme_uri": restored.get("s3_uri"), "previous_target_model": replaced.get("target_model"),
            "restored_package_arn": restored.get("package_arn"), "pointer_moved": True}


def prepare(event: dict[str, Any], execution: str, deps: PromotionDeps) -> PromotionPlan:
    """Re-read the exact package of the event, claim its transition, resolve its route and validate its artifact."""
    rollback = (event.get("modelrelay") or {}).get("rollback")
    if rollback:
        group = str((rollback or {}).get("group") or "")
        deps.routing.route_for(group)  # NoRouteForGroup names it
        plan = restore_plan(group, None, f"manual rollback of {group} requested", deps)
        if plan is None:
            raise NothingToRollBack(f"nothing ModelRelay promoted serves the route of {group}; nothing to roll back")
        return plan
    force = bool((event.get("modelrelay") or {}).get("force"))
    parsed = parse_event(ModelPackageStateChangeEvent, event, "SageMaker Model Package State Change")
    detail = parsed.detail
    arn = detail.ModelPackageArn
    arn_parts = arn.split(":")
    _check_source_allowed(deps, parsed.account, parsed.region)
    _check_source_allowed(deps, arn_parts[4], arn_parts[3])

    description = registry.describe(deps.sagemaker, arn)
    status = description.get("ModelApprovalStatus", "PendingManualApproval")
    group = description.get("ModelPackageGroupName", detail.ModelPackageGroupName)
    claim = state.claim_transition(deps.dynamodb, deps.settings.state_table, arn, status, execution, force=force)
    if not claim.proceed:
        return PromotionPlan(decision="duplicate", reason=claim.reason, package_arn=arn, group=group)
    if status == "Rejected" and detail.ModelApprovalStatus == "Rejected":
        restore = restore_plan(group, arn, f"{arn} was rejected while serving; restoring the previous approved "
                                           "version", deps)
        if restore is not None:
            return restore
    if status != "Approved":
        reason = f"the package is {status} now (the event said {detail.ModelApprovalStatus}); nothing to promote"
        # A late approval is reported (skipped, with the reason); a non-approval event just ends quietly.
        decision = "skip" if detail.ModelApprovalStatus == "Approved" else "ignore"
        return PromotionPlan(decision=decision, reason=reason, package_arn=arn, group=group)

    route = deps.routing.route_for(group)
    source = registry.source_package(description)
    bucket, key = s3ops.parse_s3_uri(source.model_data_url)
    allowed = [*route.allowed_artifact_buckets, deps.settings.ingest_bucket]
    if bucket not in allowed:
        raise ArtifactBucketNotAllowed(
            f"ModelDataUrl {source.model_data_url} is in bucket '{bucket}', which the route of '{group}' "
            f"does not allow (allowed: {', '.join(allowed)})"
        )
    obj = s3ops.head(deps.s3, bucket, key)
    if obj is None:
        raise ArtifactNotFound(f"the artifact {source.model_data_url} of {arn} does not exist")
    try:
        report = validate_artifact(s3ops.open_stream(deps.s3, obj), route.limits.to_limits(), expected_size=obj.size)
    except ArtifactRejected as rejected:
        raise ArtifactInvalid(f"{source.model_data_url}: {rejected}", reason=rejected.reason) from rejected
    artifact = ArtifactRef(bucket=bucket, key=obj.key, version_id=obj.version_id, size=report.size,
                           sha256=report.sha256, etag=obj.etag)
    plan = PromotionPlan(
        decision="promote", reason="approved", package_arn=arn, group=group, source=source, artifact=artifact,
        hub_key=hub_key(group, report.sha256), model_name=route.model_name,
        route_kind="mme" if isinstance(route.target, MmeTarget) else "endpoint",
        endpoint_name=route.target.endpoint_name,
    )
    if isinstance(route.target, MmeTarget):
        plan.target_model = target_model(route.model_name, source.version, report.sha256)
        plan.mme_bucket = route.target.bucket
        plan.mme_key = route.target.prefix + plan.target_model
    logger.info("promotion planned", extra={"plan": plan.model_dump(mode="json")})
    return plan


def _pinned_source(deps: PromotionDeps, artifact: ArtifactRef) -> s3ops.ObjectHead:
    obj = s3ops.head(deps.s3, artifact.bucket, artifact.key, artifact.version_id)
    if obj is None or (artifact.etag and obj.etag != artifact.etag):
        raise ArtifactChanged(f"{artifact.uri} changed after it was validated; not promoting unvalidated bytes")
    return obj


def hub_provenance(plan: PromotionPlan) -> dict[str, str]:
    """What identifies a hub package: the exact source package and the exact bytes."""
    assert plan.artifact and plan.source
    version = f"?versionId={plan.artifact.version_id}" if plan.artifact.version_id else ""
    return {
        "source-package-arn": plan.source.arn,
        "source-account": plan.source.account,
        "source-region": plan.source.region,
        "sha256": plan.artifact.sha256,
        "source-artifact": plan.artifact.uri + version,
    }


def register_in_hub(plan: PromotionPlan, execution: str, deps: PromotionDeps) -> dict[str, Any]:
    """Copy the artifact into the hub (content-addressed) and find-or-create the hub package by provenance."""
    assert plan.artifact and plan.source and plan.hub_key
    hub = deps.hub()
    source_obj = _pinned_source(deps, plan.artifact)
    created_object = s3ops.copy_immutable(hub.s3, source_obj, deps.settings.hub_bucket, plan.hub_key,
                                          plan.artifact.sha256, created_by=execution)
    hub_artifact_uri = f"s3://{deps.settings.hub_bucket}/{plan.hub_key}"
    provenance = hub_provenance(plan)
    prov_id = registry.provenance_id(provenance)
    group = deps.settings.hub_model_package_group
    existing = registry.find_by_provenance(hub.sagemaker, group, prov_id)
    if existing:
        logger.info("hub package reused", extra={"hub_package_arn": existing})
        return {"hub_package_arn": existing, "hub_artifact_uri": hub_artifact_uri, "created_hub_package": False,
                "created_hub_object": created_object, "provenance_id": prov_id}
    package_arn = registry.create_package(
        hub.sagemaker, group=group, image=plan.source.image, model_data_url=hub_artifact_uri,
        content_types=plan.source.content_types, response_types=plan.source.response_types,
        approval_status="Approved", provenance=provenance, extra_metadata={"modelrelay:execution": execution},
        idempotency_key=execution,
        description=f"Promoted by ModelRelay from {plan.source.arn} (sha256 {plan.artifact.sha256}).",
    )
    return {"hub_package_arn": package_arn, "hub_artifact_uri": hub_artifact_uri, "created_hub_package": True,
            "created_hub_object": created_object, "provenance_id": prov_id}


def stage_on_mme(
    plan: PromotionPlan, hub_result: dict[str, Any], execution: str, deps: PromotionDeps
) -> dict[str, Any]:
    """Copy to the immutable versioned MME key, then move the model's current TargetModel pointer to it."""
    assert plan.artifact and plan.mme_bucket and plan.mme_key and plan.target_model and plan.model_name
    assert plan.endpoint_name
    source_obj = _pinned_source(deps, plan.artifact)
    created = s3ops.copy_immutable(deps.s3, source_obj, plan.mme_bucket, plan.mme_key, plan.artifact.sha256,
                                   created_by=execution)
    target = {
        "target_model": plan.target_model,
        "s3_uri": f"s3://{plan.mme_bucket}/{plan.mme_key}",
        "sha256": plan.artifact.sha256,
        "version": plan.source.version if plan.source and plan.source.version is not None else 0,
        "package_arn": plan.package_arn,
        "hub_package_arn": hub_result.get("hub_package_arn"),
        "execution": execution,
        "moved_at": int(time.time()),
    }
    moved, previous = state.move_pointer(deps.dynamodb, deps.settings.state_table, plan.endpoint_name,
                                         plan.model_name, target)
    return {
        "endpoint_name": plan.endpoint_name,
        "target_model": plan.target_model,
        "mme_uri": target["s3_uri"],
        "created_mme_object": created,
        "pointer_moved": moved,
        "previous_target_model": (previous or {}).get("target_model"),
    }


def _failure_details(failure: dict[str, Any] | None) -> tuple[str, str, str]:
    """(step, reason, sentence) from a Step Functions Catch output ({"step", "error": {"Error", "Cause"}})."""
    if not failure:
        return "unknown", "error", "unknown failure"
    error = failure.get("error") or {}
    cause = str(error.get("Cause") or "")
    message = cause
    try:
        parsed = json.loads(cause)
        if isinstance(parsed, dict):
            message = str(parsed.get("errorMessage") or cause)
    except json.JSONDecodeError:
        pass
    reason, sentence = split_reason(message)
    if reason == "error":
        reason = str(error.get("Error") or "error")
    return str(failure.get("step") or "unknown"), reason, sentence or str(error.get("Error"))


def _compensate(plan: PromotionPlan, execution: str, deps: PromotionDeps, keep_hub: bool) -> list[str]:
    """Remove exactly what this execution wrote and nothing still in use; return what was removed.

    ``keep_hub``: the failure came after an endpoint update was submitted, so the endpoint may already use a
    model made from the hub package: the hub package and its artifact stay.
    """
    removed: list[str] = []
    if plan.mme_bucket and plan.mme_key and s3ops.created_by(deps.s3, plan.mme_bucket, plan.mme_key) == execution:
        pointer = state.read_pointer(deps.dynamodb, deps.settings.state_table, plan.endpoint_name or "",
                                     plan.model_name or "")
        if ((pointer or {}).get("current") or {}).get("target_model") != plan.target_model:
            deps.s3.delete_object(Bucket=plan.mme_bucket, Key=plan.mme_key)
            removed.append(f"s3://{plan.mme_bucket}/{plan.mme_key}")
    if keep_hub or not (plan.artifact and plan.source and plan.hub_key):
        return removed
    hub = deps.hub()
    group = deps.settings.hub_model_package_group
    hub_package = registry.find_by_provenance(hub.sagemaker, group, registry.provenance_id(hub_provenance(plan)))
    if hub_package:
        metadata = registry.describe(hub.sagemaker, hub_package).get("CustomerMetadataProperties") or {}
        if metadata.get("modelrelay:execution") == execution:
            registry.delete_package(hub.sagemaker, hub_package)
            removed.append(hub_package)
    # The hub key is content-addressed: another source package with the same bytes may use the same object.
    if (s3ops.created_by(hub.s3, deps.settings.hub_bucket, plan.hub_key) == execution
            and not registry.find_by_metadata(hub.sagemaker, group, "modelrelay:sha256", plan.artifact.sha256)):
        hub.s3.delete_object(Bucket=deps.settings.hub_bucket, Key=plan.hub_key)
        removed.append(f"s3://{deps.settings.hub_bucket}/{plan.hub_key}")
    return removed


def _rollout_outcome(plan: PromotionPlan, rollout: dict[str, Any]) -> str:
    """Succeeded only when the step that ran says so: an MME stage, or a rollout the endpoint confirmed."""
    if plan.route_kind == "mme":
        return "Succeeded"
    status = str(rollout.get("status"))
    return status if status in ("Succeeded", "RolledBack") else "Failed"


def record_outcome(request: dict[str, Any], execution: str, deps: PromotionDeps) -> dict[str, Any]:
    """Close the promotion: on failure undo this execution's writes; record the status; shape the notification."""
    plan = PromotionPlan.model_validate(request["plan"]) if request.get("plan") else None
    hub_result = request.get("hub") or {}
    mme_result = request.get("mme") or {}
    # The state machine always carries a failure slot; it holds an error only on the failure path.
    failure = request.get("failure") if (request.get("failure") or {}).get("error") else None
    event_detail = (request.get("event") or {}).get("detail") or {}
    package_arn = plan.package_arn if plan else str(event_detail.get("ModelPackageArn") or "unknown")
    detail: dict[str, Any] = {
        "package_arn": package_arn,
        "group": plan.group if plan else event_detail.get("ModelPackageGroupName"),
        "execution": execution,
    }
    rollout = request.get("rollout") or {}
    detail_type_prefix = "Rollout" if plan is not None and plan.route_kind == "endpoint" else "Promotion"
    if failure:
        step, reason, sentence = _failure_details(failure)
        removed = _compensate(plan, execution, deps, keep_hub=step in ENDPOINT_CHANGING_STEPS) if plan else []
        outcome = "Failed"
        if plan is not None and plan.decision == "restore":
            detail_type_prefix = "Rollback"
        elif step not in ROLLOUT_STEPS:
            detail_type_prefix = "Promotion"
        detail |= {"failed_step": step, "reason": reason, "message": sentence, "removed": removed}
    elif plan and plan.decision == "skip":
        outcome = "Skipped"
        detail |= {"reason": "not_approved", "message": plan.reason}
    elif rollout.get("status") == "Superseded":
        outcome = "Skipped"
        detail |= {"reason": "superseded", "message": rollout.get("reason"), "endpoint_name": plan.endpoint_name
                   if plan else None}
    elif plan and plan.decision == "restore":
        detail_type_prefix = "Rollback"
        outcome = _rollout_outcome(plan, rollout)
        detail |= {"route": plan.route_kind, "endpoint_name": plan.endpoint_name, "reason": plan.reason,
                   "replaced_package_arn": plan.package_arn,
                   "restored_package_arn": mme_result.get("restored_package_arn") or (rollout.get("restore_to") or {})
                   .get("package_arn"),
                   "target_model": mme_result.get("target_model"),
                   "endpoint_config": rollout.get("new_config"), "message": rollout.get("reason") or plan.reason}
    else:
        assert plan and plan.artifact
        outcome = _rollout_outcome(plan, rollout)
        detail |= {
            "route": plan.route_kind, "endpoint_name": plan.endpoint_name, "sha256": plan.artifact.sha256,
            "source_artifact": plan.artifact.uri, "hub_package_arn": hub_result.get("hub_package_arn"),
            "hub_artifact_uri": hub_result.get("hub_artifact_uri"), "mme_uri": mme_result.get("mme_uri"),
            "target_model": mme_result.get("target_model"),
            "previous_target_model": mme_result.get("previous_target_model"),
        }
        if rollout:
            detail |= {"rollout_status": rollout.get("status"), "reason": rollout.get("reason"),
                       "endpoint_config": rollout.get("new_config"), "previous_endpoint_config":
                       rollout.get("old_config"), "strategy": rollout.get("strategy"), "polls": rollout.get("polls")}
            if outcome != "Succeeded":
                detail["failed_step"] = "CheckRollout"
                detail["message"] = rollout.get("reason")
    if package_arn != "unknown":
        state.record_outcome(deps.dynamodb, deps.settings.state_table, package_arn, execution, outcome,
                             str(detail.get("message") or outcome))
    if package_arn != "unknown" and outcome != "Skipped":
        status = {"modelrelay:status": f"Promotion{outcome}", "modelrelay:execution": execution}
        if failure:
            status |= {"modelrelay:failed-step": detail["failed_step"], "modelrelay:reason": detail["reason"],
                       "modelrelay:detail": detail["message"]}
        elif detail.get("hub_package_arn"):
            status |= {"modelrelay:hub-package": str(detail["hub_package_arn"])}
        try:
            registry.record_status(deps.sagemaker, package_arn, status)
        except ClientError as error:
            # The event may name a package that does not exist (malformed or forged): say so, don't crash.
            if error.response.get("Error", {}).get("Code") not in ("ValidationException", "ResourceNotFound"):
                raise
            detail["status_recorded_on_package"] = False
    words = {"RolledBack": "rolled back"}.get(outcome, outcome.lower())
    subject = f"ModelRelay: {detail_type_prefix.lower()} {words} for {detail.get('group') or package_arn}"
    lines = [f"{k}: {v}" for k, v in detail.items() if v not in (None, [], "")]
    logger.info("promotion outcome", extra={"outcome": outcome, "detail": detail})
    return {
        "outcome": outcome,
        "detail_type": f"{detail_type_prefix} {outcome}",
        "detail": detail,
        "subject": subject[:99],
        "message": subject + "\n\n" + "\n".join(lines),
    }
