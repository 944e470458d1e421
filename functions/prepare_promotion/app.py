"""Promotion step 1: re-read the exact package, claim the transition, resolve the route, validate the artifact."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from modelrelay.observability import logger, metrics, tracer
from modelrelay.promotion import prepare
from modelrelay.wiring import promotion_deps

DEPS = promotion_deps()


@logger.inject_lambda_context(correlation_id_path="event.detail.ModelPackageArn")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(request: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return prepare(request["event"], request["execution"], DEPS).model_dump(mode="json")
