"""PreparePromotion: what started the promotion, decided into a typed plan.

An approval event: re-read the exact package, claim its transition (exactly once), resolve its route and
validate its artifact. A rejection of what serves, or an operator's rollback: a plan to go back. A re-run:
the approval again, taking over the failed execution's claim.
"""

from __future__ import annotations

from typing import Any

from modelrelay.adapters import s3, sagemaker
from modelrelay.config import InferenceComponentTarget, MmeTarget, Route
from modelrelay.domain.artifacts import plan_artifacts
from modelrelay.domain.deps import PromotionDeps
from modelrelay.domain.mme import mme_container, target_model
from modelrelay.errors import (
    NothingToRollBack,
    PackageAccessDenied,
    SourceNotAllowed,
    SourceNotShared,
    SpokeNotAllowed,
)
from modelrelay.events import ManualRollbackRequest, ModelPackageStateChangeEvent, RerunRequest, parse_start_input
from modelrelay.observability import logger
from modelrelay.steps import ArtifactRef, PromotionPlan, RouteKind


def check_source_allowed(deps: PromotionDeps, account: str, region: str) -> None:
    """The account and region an event (or the package it names) comes from must be on the allow-list: the routes'
    ``allowed_source_accounts`` (default: this account). In pull mode the stack's ``SpokeAccountIds`` bound it as
    well: the bus policy admits only those spokes, and an event that reached the state machine some other way
    (another bus forwarding to this one, a hand-started execution) is refused here, before anything is read or
    written."""
    settings = deps.settings
    accounts = deps.routing.allowed_source_accounts or settings.source_accounts()
    if settings.pull and (account not in settings.source_accounts() or account not in accounts):
        spokes = ", ".join(settings.spoke_account_ids)
        raise SpokeNotAllowed(
            f"events from account {account} are not accepted: it is not a spoke of this hub (SpokeAccountIds: "
            f"{spokes}; this account: {settings.account_id})"
        )
    regions = deps.routing.allowed_regions or [settings.region]
    if account not in accounts:
        raise SourceNotAllowed(f"events from account {account} are not accepted (allowed: {', '.join(accounts)})")
    if region not in regions:
        raise SourceNotAllowed(f"events from region {region} are not accepted (allowed: {', '.join(regions)})")


def _describe_source(arn: str, deps: PromotionDeps) -> dict[str, Any]:
    """The exact package, re-read; in pull mode a spoke's package is read across accounts, which its group's
    resource policy must allow (docs/policies/spoke-group-policy.json)."""
    try:
        return sagemaker.describe(deps.sagemaker, arn)
    except PackageAccessDenied as error:
        if deps.settings.pull and not deps.settings.owns_package(arn):
            raise SourceNotShared(
                f"account {deps.settings.account_id} may not describe {arn}: the spoke's model package group has no "
                "resource policy granting this hub account (apply docs/policies/spoke-group-policy.json to it)"
            ) from error
        raise


def resolved_route(group: str, deps: PromotionDeps, package_arn: str | None = None) -> Route:
    """The group's route with its model name: the route's template, or the group's tag when the route names one."""
    route = deps.routing.route_for(group)
    target = route.target
    # A spoke's group tags are not readable from the hub in pull mode (a group's resource policy shares its
    # packages, not its tags): the route's template names the model.
    spoke_group = bool(package_arn) and deps.settings.pull and not deps.settings.owns_package(str(package_arn))
    if isinstance(target, MmeTarget) and target.model_name_tag and not spoke_group:
        parts = package_arn.split(":") if package_arn else []
        partition, region, account = (parts[1], parts[3], parts[4]) if parts else ("aws", "", "")
        region = region or deps.settings.region
        account = account or deps.settings.account_id
        arn = f"arn:{partition}:sagemaker:{region}:{account}:model-package-group/{group}"
        tagged = sagemaker.group_tag(deps.sagemaker, arn, target.model_name_tag)
        if tagged:
            route = route.with_model_name(tagged)
    return route


def route_kind_of(route: Route) -> RouteKind:
    if isinstance(route.target, MmeTarget):
        return "mme"
    return "inference_component" if isinstance(route.target, InferenceComponentTarget) else "endpoint"


def restore_plan(group: str, rejected_arn: str | None, reason: str, deps: PromotionDeps) -> PromotionPlan | None:
    """A plan to return the group's route to its previous approved version, if ``rejected_arn`` is what serves.

    With ``rejected_arn`` None (manual rollback) whatever serves now is rolled back.
    """
    if not deps.routing.has_route(group):
        return None
    route = resolved_route(group, deps, rejected_arn)
    if route.stages:
        return None  # a staged route's stages are rolled back by a refused gate, not by this plan
    kind: RouteKind
    if isinstance(route.target, MmeTarget):
        serving_arn = deps.store.current_target(route.target.endpoint_name, route.model_name).get("package_arn")
        kind = "mme"
    elif isinstance(route.target, InferenceComponentTarget):
        current, _ = deps.store.read_component_serving(route.target.endpoint_name, route.target.component_name)
        serving_arn = current.package_arn if current else None
        kind = "inference_component"
    else:
        current, _ = deps.store.read_serving(route.target.endpoint_name)
        serving_arn = current.package_arn if current else None
        kind = "endpoint"
    if not serving_arn or (rejected_arn is not None and serving_arn != rejected_arn):
        return None
    return PromotionPlan(
        decision="restore",
        reason=reason,
        restore_kind="manual" if rejected_arn is None else "rejected",
        package_arn=serving_arn,
        group=group,
        route_kind=kind,
        endpoint_name=route.target.endpoint_name,
        model_name=route.model_name,
        mme_bucket=route.target.bucket if isinstance(route.target, MmeTarget) else None,
    )


def prepare(raw_input: dict[str, Any], execution: str, deps: PromotionDeps) -> PromotionPlan:
    started_by = parse_start_input(raw_input)
    if isinstance(started_by, ManualRollbackRequest):
        return _manual_rollback(started_by, deps)
    if isinstance(started_by, RerunRequest):
        return _approval(started_by.event, execution, deps, force=True)
    return _approval(started_by, execution, deps, force=False)


def _manual_rollback(request: ManualRollbackRequest, deps: PromotionDeps) -> PromotionPlan:
    deps.routing.route_for(request.group)  # NoRouteForGroup names it
    by = f" by {request.requested_by}" if request.requested_by else ""
    plan = restore_plan(request.group, None, f"manual rollback of {request.group} requested{by}", deps)
    if plan is None:
        raise NothingToRollBack(
            f"nothing ModelRelay promoted serves the route of {request.group}; nothing to roll back"
        )
    return plan


def _approval(
    event: ModelPackageStateChangeEvent, execution: str, deps: PromotionDeps, *, force: bool
) -> PromotionPlan:
    detail = event.detail
    arn = detail.ModelPackageArn
    arn_parts = arn.split(":")
    check_source_allowed(deps, event.account, event.region)
    check_source_allowed(deps, arn_parts[4], arn_parts[3])

    description = _describe_source(arn, deps)
    status = description.get("ModelApprovalStatus", "PendingManualApproval")
    group = description.get("ModelPackageGroupName", detail.ModelPackageGroupName)
    if not deps.routing.has_route(group):
        # The approval rule matches routes by prefix (a rule pattern stays small with thousands of groups), so a
        # group that shares a prefix but matches no route arrives here: not ModelRelay's, nothing is touched.
        reason = f"model package group '{group}' matches no route; not ModelRelay's to promote"
        logger.info("no route", extra={"group": group, "package": arn})
        return PromotionPlan(decision="ignore", reason=reason, package_arn=arn, group=group)
    claim = deps.store.claim_transition(arn, status, execution, force=force)
    if not claim.proceed:
        return PromotionPlan(decision="duplicate", reason=claim.reason, package_arn=arn, group=group)
    if status == "Rejected" and detail.ModelApprovalStatus == "Rejected":
        restore = restore_plan(
            group, arn, f"{arn} was rejected while serving; restoring the previous approved version", deps
        )
        if restore is not None:
            return restore
    if status != "Approved":
        reason = f"the package is {status} now (the event said {detail.ModelApprovalStatus}); nothing to promote"
        # A late approval is reported (skipped, with the reason); a non-approval event just ends quietly.
        decision = "skip" if detail.ModelApprovalStatus == "Approved" else "ignore"
        return PromotionPlan(decision=decision, reason=reason, package_arn=arn, group=group)
    return _promotion(arn, group, description, deps)


def _promotion(arn: str, group: str, description: dict[str, Any], deps: PromotionDeps) -> PromotionPlan:
    route = resolved_route(group, deps, arn)
    source = sagemaker.source_package(description)
    artifacts = plan_artifacts(source, route, deps.settings.hub_bucket, deps)
    if route.stages:
        # A staged route: each stage (another account) serves the hub copy of the package's first compressed
        # artifact; the stages' own endpoints are described by the steps that deploy them.
        serving = next((a for a in artifacts if a.kind == "object"), artifacts[0])
    elif isinstance(route.target, MmeTarget):
        serving = mme_container(route.target.endpoint_name, artifacts, source.inference_specification, deps)
    else:
        serving = next((a for a in artifacts if a.kind == "object"), artifacts[0])
    # What serves: a model.tar.gz, or an uncompressed model's prefix (its digest is the manifest's).
    bucket, key = s3.parse_s3_uri(serving.source_uri)
    served = serving.object or ArtifactRef(
        bucket=bucket, key=key, size=sum(m.size for m in serving.members), sha256=serving.sha256
    )
    plan = PromotionPlan(
        decision="promote",
        reason="approved",
        package_arn=arn,
        group=group,
        source=source,
        artifacts=artifacts,
        artifact=served,
        hub_key=s3.parse_s3_uri(serving.hub_uri)[1],
        model_name=route.model_name,
        route_kind="staged" if route.stages else route_kind_of(route),
        endpoint_name=None if route.stages else route.target.endpoint_name,
    )
    if isinstance(route.target, MmeTarget) and not route.stages:
        plan.target_model = target_model(route.model_name, source.version, serving.sha256)
        plan.mme_bucket = route.target.bucket
        plan.mme_key = route.target.prefix + plan.target_model
    logger.info("promotion planned", extra={"plan": plan.model_dump(mode="json")})
    return plan
