"""StageOnMme and MovePointerBack: an MME model's immutable artifact key and its current TargetModel pointer.

Artifacts are copied to ``<prefix><model-name>/<version>-<sha256[:12]>.tar.gz`` and never overwritten; what
clients call is the pointer's current target (one ``GetItem`` on the state table). Going back is one pointer move.
"""

from __future__ import annotations

import time

from modelrelay.adapters import s3, sagemaker
from modelrelay.domain.deps import PromotionDeps
from modelrelay.domain.hub import pinned_source
from modelrelay.observability import logger
from modelrelay.steps import HubResult, MmeResult, PromotionPlan


def target_model(model_name: str, version: int | None, sha256: str) -> str:
    """TargetModel relative to the MME prefix; ``<model-name>/`` stays first for ``sagemaker:TargetModel`` IAM."""
    return f"{model_name}/{version if version is not None else 0}-{sha256[:12]}.tar.gz"


def stage_on_mme(plan: PromotionPlan, hub: HubResult | None, execution: str, deps: PromotionDeps) -> MmeResult:
    """Copy to the immutable versioned MME key, then move the model's current TargetModel pointer to it."""
    assert plan.artifact and plan.mme_bucket and plan.mme_key and plan.target_model and plan.model_name
    assert plan.endpoint_name
    created = s3.copy_immutable(
        deps.s3,
        pinned_source(deps, plan.artifact),
        plan.mme_bucket,
        plan.mme_key,
        plan.artifact.sha256,
        created_by=execution,
    )
    target = {
        "target_model": plan.target_model,
        "s3_uri": f"s3://{plan.mme_bucket}/{plan.mme_key}",
        "sha256": plan.artifact.sha256,
        "version": plan.version,
        "package_arn": plan.package_arn,
        "hub_package_arn": hub.hub_package_arn if hub else None,
        "execution": execution,
        "moved_at": int(time.time()),
    }
    moved, previous = deps.store.move_pointer(plan.endpoint_name, plan.model_name, target)
    return MmeResult(
        endpoint_name=plan.endpoint_name,
        target_model=plan.target_model,
        mme_uri=target["s3_uri"],
        created_mme_object=created,
        pointer_moved=moved,
        previous_target_model=(previous or {}).get("target_model"),
    )


def restore_mme(plan: PromotionPlan, execution: str, deps: PromotionDeps) -> MmeResult:
    """Move the MME model's pointer back to the newest previous target whose package is still Approved."""
    assert plan.endpoint_name and plan.model_name
    restored, replaced = deps.store.restore_pointer(
        plan.endpoint_name,
        plan.model_name,
        lambda target: sagemaker.approval_status(deps.sagemaker, target.get("package_arn")) == "Approved",
    )
    logger.info("TargetModel pointer moved back", extra={"restored": restored, "replaced": replaced})
    return MmeResult(
        endpoint_name=plan.endpoint_name,
        target_model=restored.get("target_model"),
        mme_uri=restored.get("s3_uri"),
        previous_target_model=replaced.get("target_model"),
        restored_package_arn=restored.get("package_arn"),
        pointer_moved=True,
    )


def remove_own_staging(plan: PromotionPlan, execution: str, deps: PromotionDeps) -> list[str]:
    """Delete the MME object this execution wrote, unless the pointer serves it now; return what was removed."""
    if not (plan.mme_bucket and plan.mme_key and plan.endpoint_name and plan.model_name):
        return []
    if s3.created_by(deps.s3, plan.mme_bucket, plan.mme_key) != execution:
        return []
    if deps.store.current_target(plan.endpoint_name, plan.model_name).get("target_model") == plan.target_model:
        return []
    return [s3.delete(deps.s3, plan.mme_bucket, plan.mme_key)]
