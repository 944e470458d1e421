"""Promotion step 3 (MME routes): immutable versioned key on the MME prefix, then move the TargetModel pointer."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelrelay.domain.mme import restore_mme, stage_on_mme
from modelrelay.domain.stages import mme_deps
from modelrelay.observability import logger, metrics, tracer
from modelrelay.steps import StageRequest
from modelrelay.wiring import promotion_deps

DEPS = promotion_deps()


@logger.inject_lambda_context(correlation_id_path="plan.package_arn")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = StageRequest.model_validate(event)
    deps = mme_deps(request.plan, DEPS)  # a stage of a staged route acts in the stage's account
    if request.plan.decision == "restore":  # rejected while serving, a manual rollback, a refused gate: move back
        return restore_mme(request.plan, request.execution, deps).model_dump(mode="json")
    return stage_on_mme(request.plan, request.hub, request.execution, deps).model_dump(mode="json")
