"""S3 "Object Created" (via EventBridge) → a model package in the routed group, or a tagged, reported rejection."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelrelay.domain.ingest import handle_drop
from modelrelay.observability import logger, metrics, tracer
from modelrelay.wiring import ingest_deps

DEPS = ingest_deps()


@logger.inject_lambda_context(correlation_id_path="detail.object.key", log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_drop(event, context.aws_request_id, DEPS)
