"""Promotion step 2: server-side copy into the hub bucket and find-or-create the hub package by provenance."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelrelay.domain.hub import register_in_hub
from modelrelay.observability import logger, metrics, tracer
from modelrelay.steps import RegisterRequest
from modelrelay.wiring import promotion_deps

DEPS = promotion_deps()


@logger.inject_lambda_context(correlation_id_path="plan.package_arn")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = RegisterRequest.model_validate(event)
    return register_in_hub(request.plan, request.execution, DEPS).model_dump(mode="json")
