"""RegisterInHub: the approved artifact copied into the hub (content-addressed) and registered there, once.

The hub package is found again by its provenance (the exact source package and the exact bytes), so a retried,
re-driven or re-run step never creates a second one.
"""

from __future__ import annotations

from modelrelay.adapters import s3, sagemaker
from modelrelay.domain.deps import PromotionDeps
from modelrelay.errors import ArtifactChanged
from modelrelay.observability import logger
from modelrelay.steps import ArtifactRef, HubResult, PromotionPlan


def hub_key(group: str, sha256: str) -> str:
    """Content-addressed, immutable hub key."""
    return f"artifacts/{group}/{sha256}.tar.gz"


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


def register_in_hub(plan: PromotionPlan, execution: str, deps: PromotionDeps) -> HubResult:
    """Copy the artifact into the hub (content-addressed) and find-or-create the hub package by provenance."""
    assert plan.artifact and plan.source and plan.hub_key
    hub = deps.hub()
    source_obj = pinned_source(deps, plan.artifact)
    created_object = s3.copy_immutable(
        hub.s3, source_obj, deps.settings.hub_bucket, plan.hub_key, plan.artifact.sha256, created_by=execution
    )
    hub_artifact_uri = f"s3://{deps.settings.hub_bucket}/{plan.hub_key}"
    provenance = hub_provenance(plan)
    prov_id = sagemaker.provenance_id(provenance)
    group = deps.settings.hub_model_package_group
    existing = sagemaker.find_by_provenance(hub.sagemaker, group, prov_id)
    if existing:
        logger.info("hub package reused", extra={"hub_package_arn": existing})
        return HubResult(
            hub_package_arn=existing,
            hub_artifact_uri=hub_artifact_uri,
            created_hub_package=False,
            created_hub_object=created_object,
            provenance_id=prov_id,
        )
    package_arn = sagemaker.create_package(
        hub.sagemaker,
        group=group,
        image=plan.source.image,
        model_data_url=hub_artifact_uri,
        content_types=plan.source.content_types,
        response_types=plan.source.response_types,
        approval_status="Approved",
        provenance=provenance,
        extra_metadata={"modelrelay:execution": execution},
        idempotency_key=execution,
        description=f"Promoted by ModelRelay from {plan.source.arn} (sha256 {plan.artifact.sha256}).",
    )
    return HubResult(
        hub_package_arn=package_arn,
        hub_artifact_uri=hub_artifact_uri,
        created_hub_package=True,
        created_hub_object=created_object,
        provenance_id=prov_id,
    )


def remove_own_registration(plan: PromotionPlan, execution: str, deps: PromotionDeps) -> list[str]:
    """Undo what this execution registered in the hub, and nothing another package uses; return what was removed."""
    if not (plan.artifact and plan.source and plan.hub_key):
        return []
    removed: list[str] = []
    hub = deps.hub()
    group = deps.settings.hub_model_package_group
    hub_package = sagemaker.find_by_provenance(hub.sagemaker, group, sagemaker.provenance_id(hub_provenance(plan)))
    if hub_package:
        metadata = sagemaker.describe(hub.sagemaker, hub_package).get("CustomerMetadataProperties") or {}
        if metadata.get("modelrelay:execution") == execution:
            sagemaker.delete_package(hub.sagemaker, hub_package)
            removed.append(hub_package)
    # The hub key is content-addressed: another source package with the same bytes may use the same object.
    if s3.created_by(hub.s3, deps.settings.hub_bucket, plan.hub_key) == execution and not sagemaker.find_by_metadata(
        hub.sagemaker, group, "modelrelay:sha256", plan.artifact.sha256
    ):
        removed.append(s3.delete(hub.s3, deps.settings.hub_bucket, plan.hub_key))
    return removed
