"""Promotion step 3 (MME routes): immutable versioned key on the MME prefix, then move the TargetModel pointer."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from modelrelay.models import PromotionPlan
from modelrelay.observability import logger, metrics, tracer
from modelrelay.promotion import restore_mme, stage_on_mme
from modelrelay.wiring import promotion_deps

DEPS = promotion_deps()


@logger.inject_lambda_context(correlation_id_path="plan.package_arn")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(request: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    plan = PromotionPlan.model_validate(request["plan"])
    if plan.decision == "restore":  # rejected while serving, or a manual rollback: move the pointer back
        return restore_mme(plan, request["execution"], DEPS)
    return stage_on_mme(plan, request["hub"], request["execution"], DEPS)
