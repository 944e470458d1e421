"""Promotion step 1: what started it (approval, rejection, manual rollback, re-run) decided into a typed plan."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelrelay.domain.prepare import prepare
from modelrelay.observability import logger, metrics, tracer
from modelrelay.steps import PrepareRequest
from modelrelay.wiring import promotion_deps

DEPS = promotion_deps()


@logger.inject_lambda_context(correlation_id_path="event.detail.ModelPackageArn")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = PrepareRequest.model_validate(event)
    return prepare(request.event, request.execution, DEPS).model_dump(mode="json")
