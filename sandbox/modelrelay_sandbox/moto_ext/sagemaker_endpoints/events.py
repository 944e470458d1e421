""" "SageMaker Endpoint Deployment State Change" events on the default bus.

Imitates https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html#eventbridge-endpoint-deployment:
source ``aws.sagemaker``, ``resources`` [endpoint ARN], ``detail`` DescribeEndpoint's output as AWS's sample
shows it (``EndpointStatus`` upper snake case, times in epoch milliseconds, ``Tags`` an object). moto emits no
SageMaker events.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

from moto.sagemaker.models import FakeEndpoint, SageMakerModelBackend

from .. import eventbridge_targets
from .deployment import response_of

LOG = logging.getLogger(__name__)

SOURCE = "aws.sagemaker"
DETAIL_TYPE = "SageMaker Endpoint Deployment State Change"


def _upper_snake(status: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", status).upper()


def _epoch_ms(value: Any) -> Any:
    if isinstance(value, datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp() * 1000)
    if isinstance(value, dict):
        return {k: _epoch_ms(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_epoch_ms(v) for v in value]
    return value


def emit(backend: SageMakerModelBackend, detail: dict[str, Any]) -> None:
    try:
        eventbridge_targets.put_service_event(
            backend.account_id,
            backend.region_name,
            source=SOURCE,
            detail_type=DETAIL_TYPE,
            resources=[detail["EndpointArn"]],
            detail=detail,
        )
    except Exception:  # an event must never fail the SageMaker call
        LOG.exception("Could not emit %s for %s", DETAIL_TYPE, detail.get("EndpointArn"))


def event_detail(endpoint: FakeEndpoint, status: str) -> dict[str, Any]:
    response = response_of(endpoint)
    detail: dict[str, Any] = {
        key: response[key]
        for key in (
            "EndpointName",
            "EndpointArn",
            "EndpointConfigName",
            "ProductionVariants",
            "FailureReason",
            "CreationTime",
            "LastModifiedTime",
            "PendingDeploymentSummary",
        )
        if key in response
    }
    detail["EndpointStatus"] = _upper_snake(status)
    detail["Tags"] = {t["Key"]: t["Value"] for t in endpoint.tags or [] if "Key" in t}
    result: dict[str, Any] = _epoch_ms(detail)
    return result
