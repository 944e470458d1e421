"""Promotion step (staged routes): begin, test a stage, check an automatic gate, keep a manual gate's task token,
go on, refuse, expire, roll the reached stages back; and a registry stage an approver set (EventBridge)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelrelay.domain.stages import on_registry_stage, run
from modelrelay.observability import logger, metrics, tracer
from modelrelay.steps import StagesRequest
from modelrelay.wiring import stage_deps

DEPS = stage_deps()


@logger.inject_lambda_context(correlation_id_path="plan.package_arn")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "detail-type" in event:  # the GateDecision rule: a Model Package State Change with a ModelLifeCycle
        return on_registry_stage(event, DEPS)
    result = run(StagesRequest.model_validate(event), DEPS)
    return result if isinstance(result, dict) else result.model_dump(mode="json")
