"""RegisterInHub: the approved package, whole, registered once in the hub with its artifacts copied there.

Every artifact the package's containers name is copied server-side to a content-addressed hub location (pinned
to the exact version that was validated); the hub package carries the source's inference specification field
for field (every container, ``Environment``, framework, instance types…) with only the artifact locations
rewritten. The package a provenance became, and who uses each hub object, are kept in the state table, so a
retry, re-drive or re-run finds them in one read and a failure removes only what nothing else uses.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from modelrelay.adapters import s3, sagemaker
from modelrelay.config import Settings
from modelrelay.domain.artifacts import hub_key, locations
from modelrelay.domain.deps import PromotionDeps
from modelrelay.errors import ArtifactChanged
from modelrelay.observability import logger
from modelrelay.steps import ArtifactRef, HubResult, PackageArtifact, PromotionPlan

__all__ = [
    "ensure_hub_group",
    "hub_group_for",
    "hub_group_name",
    "hub_group_readers",
    "hub_key",
    "hub_provenance",
    "pinned_source",
    "register_in_hub",
    "remove_own_registration",
    "share_hub_group",
]


HUB_GROUP_NAME_LIMIT = 63  # SageMaker's ModelPackageGroupName: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$


def hub_group_name(prefix: str, source_group: str) -> str:
    """The hub group that mirrors ``source_group``: ``<prefix>-<source group>`` (the prefix is the stack's
    ``HubModelPackageGroupName``; spokes sharing a hub give each its own, e.g. with their account id). A name
    longer than SageMaker allows keeps its start and ends with a digest of the whole, so it stays unique."""
    name = f"{prefix}-{source_group}"
    if len(name) <= HUB_GROUP_NAME_LIMIT:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[: HUB_GROUP_NAME_LIMIT - len(digest) - 1].rstrip('-')}-{digest}"


def hub_group_for(settings: Settings, source_account: str, source_group: str) -> str:
    """The hub group of a source group. Push: ``<prefix>-<group>`` (one spoke per stack). Pull: one hub pulls from
    many spokes, whose group names may be equal, so the spoke's account is part of the name:
    ``<prefix>-<account>-<group>`` (still under ``<prefix>-*``, which the hub's IAM statements name)."""
    prefix = settings.hub_model_package_group
    if settings.pull:
        return hub_group_name(prefix, f"{source_account}-{source_group}")
    return hub_group_name(prefix, source_group)


def ensure_hub_group(plan: PromotionPlan, deps: PromotionDeps) -> str:
    """The source group's hub group, created on first use (idempotent; a concurrent create is tolerated), tagged
    with its origin."""
    assert plan.source
    group = hub_group_for(deps.settings, plan.source.account, plan.source.group)
    created = sagemaker.ensure_group(
        deps.hub().sagemaker,
        group,
        description=f"ModelRelay hub: versions of {plan.source.group} ({plan.source.account}, {plan.source.region})",
        tags={
            "modelrelay:source-group": plan.source.group,
            "modelrelay:source-account": plan.source.account,
            "modelrelay:source-region": plan.source.region,
        },
    )
    if created:
        logger.info("hub group created", extra={"hub_group": group, "source_group": plan.source.group})
    share_hub_group(plan, deps, group)
    return group


def hub_group_readers(plan: PromotionPlan, deps: PromotionDeps) -> set[str]:
    """The accounts other than the hub's that build models from the hub group's packages: the spoke (a
    cross-account hub, push) and the account of each stage of the route (its deployment role's)."""
    readers = {deps.settings.account_id}
    if plan.group:
        readers |= {stage.account for stage in deps.routing.route_for(plan.group).stages}
    return readers - {deps.hub().account_id}


def share_hub_group(plan: PromotionPlan, deps: PromotionDeps, group: str) -> None:
    """The hub group's resource policy, allowing every account of :func:`hub_group_readers` (all of them in one
    policy: a put replaces it); none is written when the hub's own account is the only reader. Put each time a
    package is created or reused, so a crash between a create and the policy, or a route that gained a stage,
    leaves no reader without it."""
    readers = hub_group_readers(plan, deps)
    if readers:
        hub = deps.hub()
        sagemaker.allow_account_to_describe(hub.sagemaker, group, deps.settings.region, hub.account_id, readers)


def pinned_source(deps: PromotionDeps, artifact: ArtifactRef) -> s3.ObjectHead:
    """The exact object version that was validated, or ArtifactChanged."""
    obj = s3.head(deps.s3, artifact.bucket, artifact.key, artifact.version_id)
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


def _copy(artifact: PackageArtifact, execution: str, deps: PromotionDeps) -> bool:
    """Server-side copy of one artifact to its hub location; True when this call wrote anything."""
    hub = deps.hub()
    bucket, key = s3.parse_s3_uri(artifact.hub_uri) if artifact.kind == "object" else (None, None)
    if artifact.kind == "object":
        assert artifact.object and bucket and key
        return s3.copy_immutable(
            hub.s3, pinned_source(deps, artifact.object), bucket, key, artifact.sha256, created_by=execution
        )
    source_bucket, source_prefix = s3.parse_s3_uri(artifact.source_uri)
    hub_bucket, hub_prefix = s3.parse_s3_uri(artifact.hub_uri)
    wrote = False
    for member in artifact.members:
        source = s3.ObjectHead(
            bucket=source_bucket,
            key=source_prefix + member.relative_key,
            version_id=member.version_id,
            size=member.size,
            etag=member.etag,
            metadata={},
        )
        wrote |= s3.copy_immutable(
            hub.s3,
            source,
            hub_bucket,
            hub_prefix + member.relative_key,
            member.etag,
            created_by=execution,
            identity_key=s3.SOURCE_ETAG_METADATA,
        )
    return wrote


def hub_specification(plan: PromotionPlan) -> dict[str, Any]:
    """The source's inference specification with each artifact location rewritten to its hub copy."""
    assert plan.source
    spec = copy.deepcopy(plan.source.inference_specification)
    hub_uris = {(a.container, a.location, a.index): a.hub_uri for a in plan.artifacts}
    for container, location, index, where in locations(spec):
        field = "ModelDataUrl" if location == "ModelDataUrl" else "S3Uri"
        where[field] = hub_uris[(container, location, index)]
        # An ETag recorded for the source object says nothing of the hub copy (a multipart copy has another one).
        where.pop("ModelDataETag" if location == "ModelDataUrl" else "ETag", None)
    return spec


def register_in_hub(plan: PromotionPlan, execution: str, deps: PromotionDeps) -> HubResult:
    """Copy every artifact into the hub (content-addressed) and find-or-create the hub package, once."""
    assert plan.artifact and plan.source and plan.hub_key
    hub = deps.hub()
    registering = f"execution:{execution}"
    created_object = False
    for artifact in plan.artifacts:
        deps.store.use_hub_object(artifact.hub_uri, registering)  # before the copy: compensation sees a user
        created_object |= _copy(artifact, execution, deps)
    provenance = hub_provenance(plan)
    prov_id = sagemaker.provenance_id(provenance)
    record = deps.store.claim_hub_package(prov_id, execution)
    existing = record.get("package_arn")
    if existing and sagemaker.approval_status(hub.sagemaker, existing) is not None:
        logger.info("hub package reused", extra={"hub_package_arn": existing})
        package_arn, created_package = str(existing), False
        share_hub_group(plan, deps, hub_group_for(deps.settings, plan.source.account, plan.source.group))
    else:
        package_arn = sagemaker.create_package(
            hub.sagemaker,
            group=ensure_hub_group(plan, deps),
            inference_specification=hub_specification(plan),
            approval_status="Approved",
            provenance=provenance,
            extra_metadata={"modelrelay:execution": execution},
            # The execution that holds the record: a retried or re-run create returns the same package.
            idempotency_key=str(record.get("execution") or execution),
            description=f"Promoted by ModelRelay from {plan.source.arn} (sha256 {plan.artifact.sha256}).",
        )
        deps.store.record_hub_package(prov_id, package_arn, execution)
        created_package = True
    for artifact in plan.artifacts:
        deps.store.use_hub_object(artifact.hub_uri, package_arn)
        deps.store.release_hub_object(artifact.hub_uri, registering)
        _copy(artifact, execution, deps)  # a concurrent clean-up may have removed it meanwhile: never leave a gap
    return HubResult(
        hub_package_arn=package_arn,
        hub_artifact_uri=f"s3://{deps.settings.hub_bucket}/{plan.hub_key}",
        created_hub_package=created_package,
        created_hub_object=created_object,
        provenance_id=prov_id,
    )


def _in_use(package_arn: str, plan: PromotionPlan, deps: PromotionDeps) -> bool:
    """Does anything current serve from this hub package (the MME pointer, or the endpoint's serving record)?"""
    mme = plan.route_kind == "mme" and plan.endpoint_name and plan.model_name
    if (
        mme
        and deps.store.current_target(plan.endpoint_name or "", plan.model_name or "").get("hub_package_arn")
        == package_arn
    ):
        return True
    if plan.endpoint_name and plan.model_name and plan.route_kind == "inference_component":
        serving, _ = deps.store.read_component_serving(plan.endpoint_name, plan.model_name)
        return serving is not None and serving.hub_package_arn == package_arn
    if plan.endpoint_name and plan.route_kind == "endpoint":
        serving, _ = deps.store.read_serving(plan.endpoint_name)
        return serving is not None and serving.hub_package_arn == package_arn
    return False


def remove_own_registration(
    plan: PromotionPlan, hub: HubResult | None, execution: str, deps: PromotionDeps
) -> list[str]:
    """Undo what this execution registered in the hub, from what it recorded (no registry listing), and nothing
    that anything else uses; return what was removed."""
    if not (plan.artifact and plan.source and plan.artifacts):
        return []
    hub_clients = deps.hub()
    removed: list[str] = []
    prov_id = hub.provenance_id if hub else sagemaker.provenance_id(hub_provenance(plan))
    record = deps.store.claim_hub_package(prov_id, execution)
    package_arn = record.get("package_arn") if record.get("execution") == execution else None
    if package_arn and not _in_use(str(package_arn), plan, deps):
        sagemaker.delete_package(hub_clients.sagemaker, str(package_arn))
        deps.store.forget_hub_package(prov_id, execution)
        removed.append(str(package_arn))
    elif record.get("execution") == execution and not package_arn:
        deps.store.forget_hub_package(prov_id, execution)  # held, never created
    users = [f"execution:{execution}"] + ([str(package_arn)] if package_arn in removed else [])
    for artifact in plan.artifacts:
        unused = False
        for user in users:
            unused = deps.store.release_hub_object(artifact.hub_uri, user)
        if unused:
            removed += _delete_own_copies(artifact, execution, deps)
    return removed


def _delete_own_copies(artifact: PackageArtifact, execution: str, deps: PromotionDeps) -> list[str]:
    hub = deps.hub()
    bucket, key = s3.parse_s3_uri(artifact.hub_uri)
    keys = [key] if artifact.kind == "object" else [key + m.relative_key for m in artifact.members]
    return [s3.delete(hub.s3, bucket, k) for k in keys if s3.created_by(hub.s3, bucket, k) == execution]
