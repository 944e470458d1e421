"""Promotion end: undo this execution's writes on failure, record the status, shape the notification."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelrelay.domain.outcome import record_outcome
from modelrelay.observability import logger, metrics, tracer
from modelrelay.steps import OutcomeRequest
from modelrelay.wiring import promotion_deps

DEPS = promotion_deps()


@logger.inject_lambda_context(correlation_id_path="event.detail.ModelPackageArn")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = record_outcome(OutcomeRequest.model_validate(event), DEPS)
    metrics.add_metric(name=f"Promotions{result.outcome}", unit="Count", value=1)
    return result.model_dump(mode="json")
