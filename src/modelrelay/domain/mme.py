"""StageOnMme and MovePointerBack: an MME model's immutable artifact key and its current TargetModel pointer.

Artifacts are copied to ``<prefix><model-name>/<version>-<sha256[:12]>.tar.gz`` and never overwritten; what
clients call is the pointer's current target (one ``GetItem`` on the state table). Going back is one pointer move.
"""

from __future__ import annotations

import time
from typing import Any

from modelrelay.adapters import runtime, s3, sagemaker
from modelrelay.config import MmeTarget, SmokeCheck
from modelrelay.domain.deps import PromotionDeps
from modelrelay.domain.hub import pinned_source
from modelrelay.errors import MmeCannotServe, MmeSmokeFailed, NothingToRollBack
from modelrelay.observability import logger
from modelrelay.steps import HubResult, MmeResult, PackageArtifact, PromotionPlan


def target_model(model_name: str, version: int | None, sha256: str) -> str:
    """TargetModel relative to the MME prefix; ``<model-name>/`` stays first for ``sagemaker:TargetModel`` IAM."""
    return f"{model_name}/{version if version is not None else 0}-{sha256[:12]}.tar.gz"


def mme_container(
    endpoint_name: str, artifacts: list[PackageArtifact], spec: dict[str, Any], deps: PromotionDeps
) -> PackageArtifact:
    """The artifact the route's MME serves: the package's container in the endpoint model's ``MultiModel`` slot.

    An MME behind an inference pipeline (e.g. a scikit-learn preprocessor, then a multi-model container) serves a
    package only when the package's other containers are what the endpoint runs there (same image, same artifact
    bytes): a model trained behind another preprocessor must never be served behind this one.
    """
    model = _served_model(endpoint_name, deps)
    served = model.get("Containers") or [model.get("PrimaryContainer") or {}]
    multi = [i for i, container in enumerate(served) if container.get("Mode") == "MultiModel"]
    if len(multi) != 1:
        raise MmeCannotServe(
            f"endpoint {endpoint_name} serves model {model.get('ModelName')}, which has no single MultiModel container",
            reason="mme_not_multi_model",
        )
    containers = spec.get("Containers") or []
    if len(served) == 1 and len(containers) != 1:
        raise MmeCannotServe(
            f"the package has {len(containers)} containers; the MME {endpoint_name} runs one and "
            "cannot tell which one it serves",
            reason="mme_container_ambiguous",
        )
    slot = 0 if len(served) == 1 else multi[0]
    if len(served) > 1:
        _check_pipeline(endpoint_name, served, slot, containers, artifacts, deps)
    chosen = [a for a in artifacts if a.container == slot]
    if len(chosen) != 1 or chosen[0].kind != "object" or chosen[0].location != "ModelDataUrl":
        raise MmeCannotServe(
            f"container {slot} of the package has no single compressed ModelDataUrl artifact; an MME "
            "loads model.tar.gz files only",
            reason="mme_uncompressed_artifact",
        )
    return chosen[0]


def _served_model(endpoint_name: str, deps: PromotionDeps) -> dict[str, Any]:
    endpoint = sagemaker.describe_endpoint(deps.sagemaker, endpoint_name)
    config = sagemaker.describe_endpoint_config(deps.sagemaker, endpoint["EndpointConfigName"]) if endpoint else None
    variants = (config or {}).get("ProductionVariants") or []
    model = sagemaker.describe_model(deps.sagemaker, variants[0]["ModelName"]) if variants else None
    if model is None:
        raise MmeCannotServe(
            f"the route's multi-model endpoint {endpoint_name} (or its config or model) does not exist",
            reason="mme_endpoint_not_found",
        )
    return model


def _check_pipeline(
    endpoint_name: str,
    served: list[dict[str, Any]],
    slot: int,
    containers: list[dict[str, Any]],
    artifacts: list[PackageArtifact],
    deps: PromotionDeps,
) -> None:
    if len(containers) != len(served):
        raise MmeCannotServe(
            f"the package has {len(containers)} containers; the pipeline on {endpoint_name} runs {len(served)}",
            reason="pipeline_mismatch",
        )
    for number, (ours, theirs) in enumerate(zip(containers, served, strict=True)):
        if number == slot:
            continue
        if ours.get("Image") != theirs.get("Image"):
            raise MmeCannotServe(
                f"container {number} of the package runs {ours.get('Image')}; the pipeline on "
                f"{endpoint_name} runs {theirs.get('Image')}",
                reason="pipeline_mismatch",
            )
        mine = [a.sha256 for a in artifacts if a.container == number]
        running = s3.head(deps.s3, *s3.parse_s3_uri(theirs["ModelDataUrl"])) if theirs.get("ModelDataUrl") else None
        digest = s3.sha256_of(deps.s3, running) if running else None
        if mine != ([digest] if digest else []):
            raise MmeCannotServe(
                f"container {number} of the package carries other model data (sha256 "
                f"{', '.join(mine) or 'none'}) than the pipeline on {endpoint_name} runs (sha256 "
                f"{digest or 'none'}): trained behind another preprocessor",
                reason="pipeline_mismatch",
            )


def stage_on_mme(plan: PromotionPlan, hub: HubResult | None, execution: str, deps: PromotionDeps) -> MmeResult:
    """Copy to the immutable versioned MME key; on a route with a smoke check, invoke the MME with the new
    TargetModel; then move the model's current TargetModel pointer to it."""
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
    _smoke_check(plan, deps)
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


# SageMaker Runtime's own signs that the container could not load the model (not that it answered badly):
# ValidationError "Failed to download model data(bucket: …, key: …)", or a ModelError whose original status is
# 507 (the container is out of memory or other resources for the model) or whose message says it failed to load.
_LOAD_WORDS = ("download model data", "failed to load", "load model", "loading the model", "unable to load")


def _failed_to_load(answer: runtime.Invocation) -> bool:
    text = f"{answer.message} {answer.original_message or ''}".lower()
    if answer.error_code == "ValidationError":
        return "model data" in text or any(word in text for word in _LOAD_WORDS)
    if answer.error_code in ("ModelError", "ModelNotReadyException"):
        return answer.original_status == 507 or any(word in text for word in _LOAD_WORDS)
    return False


def smoke_body(check: SmokeCheck, plan: PromotionPlan, deps: PromotionDeps) -> bytes:
    if check.payload is not None:
        return check.payload.encode()
    url = sagemaker.describe(deps.sagemaker, plan.package_arn).get("SamplePayloadUrl")
    source_s3 = deps.source_s3 or deps.s3  # a stage's deps act in the stage's account; the sample is the source's
    found = s3.head(source_s3, *s3.parse_s3_uri(url)) if url else None
    if found is None:
        raise MmeSmokeFailed(
            f"the route's smoke check uses the package's SamplePayloadUrl, which is {url or 'not set'}"
            + (" and does not exist" if url else ""),
            reason="mme_smoke_failed",
        )
    return bytes(s3.open_stream(source_s3, found).read())


def _smoke_check(plan: PromotionPlan, deps: PromotionDeps) -> None:
    """Invoke the MME with the new TargetModel (loading and warming it); return only on a 2xx within the limit.

    ``ModelNotReadyException`` (the MME is still downloading or loading the model) is tried again until the
    limit; every other error ends the promotion with the endpoint's own words.
    """
    assert plan.group and plan.endpoint_name and plan.target_model
    route = deps.routing.route_for(plan.group)
    # A stage of a staged route: the stage's test, or the stage's MME smoke check, before its pointer moves.
    stage = route.stage(plan.stage) if plan.stage else None
    target = stage.target if stage else route.target
    check = target.smoke if isinstance(target, MmeTarget) else None
    if stage is not None and stage.test is not None:
        check = stage.test
    if check is None:
        return
    body = smoke_body(check, plan, deps)
    deadline = time.monotonic() + check.timeout_seconds
    pause = 0.2
    while True:
        answer = runtime.invoke(deps.runtime, plan.endpoint_name, plan.target_model, body, check.content_type)
        late = time.monotonic() > deadline
        if answer.ok and not late:
            logger.info("smoke check passed", extra={"target_model": plan.target_model, "seconds": answer.seconds})
            return
        if answer.error_code == "ModelNotReadyException" and not late:
            time.sleep(min(pause, max(deadline - time.monotonic(), 0)))
            pause = min(pause * 2, 5.0)
            continue
        break
    said = answer.message + (f" (original status {answer.original_status})" if answer.original_status else "")
    said += f"; log stream {answer.log_stream_arn}" if answer.log_stream_arn else ""
    where = f"{plan.endpoint_name} (TargetModel {plan.target_model})"
    if answer.error_code == "ModelNotReadyException" or _failed_to_load(answer):
        raise MmeSmokeFailed(
            f"the MME {where} could not load the model: {answer.error_code}: {said}; the pointer did not move",
            reason="mme_model_failed_to_load",
        )
    if answer.ok or answer.timed_out:
        raise MmeSmokeFailed(
            f"the MME {where} did not answer the smoke check within {check.timeout_seconds:g} s "
            f"({answer.seconds:.1f} s); the pointer did not move",
            reason="mme_smoke_failed",
        )
    raise MmeSmokeFailed(
        f"the MME {where} answered the smoke check with {answer.error_code} ({answer.status}): {said}; "
        "the pointer did not move",
        reason="mme_smoke_failed",
    )


def restore_mme(plan: PromotionPlan, execution: str, deps: PromotionDeps) -> MmeResult:
    """Move the MME model's pointer back to the newest previous target whose package is still Approved.

    A rejected model with nothing approved before it is withdrawn: the pointer's current target is cleared (it
    stays in the history), so clients see no current model instead of the rejected one.
    """
    assert plan.endpoint_name and plan.model_name
    try:
        restored, replaced = deps.store.restore_pointer(
            plan.endpoint_name,
            plan.model_name,
            lambda target: sagemaker.approval_status(deps.sagemaker, target.get("package_arn")) == "Approved",
        )
    except NothingToRollBack:
        if plan.restore_kind != "rejected":
            raise
        withdrawn = deps.store.withdraw_pointer(plan.endpoint_name, plan.model_name)
        logger.info("TargetModel pointer withdrawn", extra={"withdrawn": withdrawn})
        return MmeResult(
            endpoint_name=plan.endpoint_name,
            target_model=None,
            mme_uri=None,
            pointer_moved=True,
            previous_target_model=withdrawn.get("target_model"),
            withdrawn=True,
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
