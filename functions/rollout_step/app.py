"""Promotion step (endpoint routes): acquire the lease, start the guarded rollout, check it, finish it."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from modelrelay.models import PromotionPlan
from modelrelay.observability import logger, metrics, tracer
from modelrelay.rollout import run_action
from modelrelay.wiring import rollout_deps

DEPS = rollout_deps()


@logger.inject_lambda_context(correlation_id_path="plan.package_arn")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(request: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    plan = PromotionPlan.model_validate(request["plan"])
    return run_action(request["action"], plan, request.get("hub") or {}, request.get("rollout") or {},
                      request["execution"], DEPS)
