"""Promotion step 3 (MME routes): immutable versioned key on the MME prefix, then move the TargetModel pointer."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelrelay.domain.mme import restore_mme, stage_on_mme
from modelrelay.observability import logger, metrics, tracer
from modelrelay.steps import StageRequest
from modelrelay.wiring import promotion_deps

DEPS = promotion_deps()


@logger.inject_lambda_context(correlation_id_path="plan.package_arn")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = StageRequest.model_validate(event)
    if request.plan.decision == "restore":  # rejected while serving, or a manual rollback: move the pointer back
        return restore_mme(request.plan, request.execution, DEPS).model_dump(mode="json")
    return stage_on_mme(request.plan, request.hub, request.execution, DEPS).model_dump(mode="json")
