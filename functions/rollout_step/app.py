"""Promotion step (endpoint routes): acquire the lease, start the guarded rollout, check it, finish it."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelrelay.domain.rollout import run
from modelrelay.observability import logger, metrics, tracer
from modelrelay.steps import RolloutRequest
from modelrelay.wiring import rollout_deps

DEPS = rollout_deps()


@logger.inject_lambda_context(correlation_id_path="plan.package_arn")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run(RolloutRequest.model_validate(event), DEPS).model_dump(mode="json")
