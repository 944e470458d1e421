"""CreateEndpoint, DescribeEndpoint and DeleteEndpoint of endpoints the simulator tracks.

Imitates https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpoint.html (an existing name is
``Cannot create already existing endpoint "<arn>".``; moto silently replaced it),
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpoint.html (each call of an updating
endpoint is one poll of its deployment; ``AsyncInferenceConfig`` and ``LastDeploymentConfig`` are returned) and
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DeleteEndpoint.html (refused while in progress).
"""

from __future__ import annotations

from typing import Any

from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpoint, SageMakerModelBackend

from .deployment import DEPLOYMENTS, LOCK, advance, response_of
from .events import emit, event_detail
from .lookup import check_not_in_progress, endpoint_arn, find_config, find_endpoint
from .variants import data_capture_summary, variant_summaries


def describe_endpoint(self: SageMakerModelBackend, endpoint_name: str) -> dict[str, Any]:
    with LOCK:
        endpoint = find_endpoint(self, endpoint_name)
        details = [event_detail(endpoint, status) for status in advance(self, endpoint)]
        response = response_of(endpoint)
    for detail in details:
        emit(self, detail)
    return response


def wrap_create_endpoint(original: Any) -> Any:
    def create_endpoint(
        self: SageMakerModelBackend, endpoint_name: str, endpoint_config_name: str, tags: list[dict[str, str]]
    ) -> FakeEndpoint:
        with LOCK:
            if endpoint_name in self.endpoints:
                raise ValidationError(f'Cannot create already existing endpoint "{endpoint_arn(self, endpoint_name)}".')
            config = find_config(self, endpoint_config_name)
            endpoint: FakeEndpoint = original(
                self, endpoint_name=endpoint_name, endpoint_config_name=endpoint_config_name, tags=tags
            )
            DEPLOYMENTS.pop(endpoint.arn, None)
            endpoint.production_variants = variant_summaries(self, config.production_variants, endpoint.creation_time)
            endpoint.data_capture_config = data_capture_summary(config.data_capture_config)  # type: ignore[assignment]
            endpoint.async_inference_config = config.async_inference_config  # type: ignore[attr-defined]
            endpoint.last_deployment_config = None  # type: ignore[attr-defined]
            return endpoint

    return create_endpoint


def wrap_delete_endpoint(original: Any) -> Any:
    def delete_endpoint(self: SageMakerModelBackend, endpoint_name: str) -> None:
        with LOCK:
            endpoint = find_endpoint(self, endpoint_name)
            check_not_in_progress(endpoint)
            original(self, endpoint_name)
            DEPLOYMENTS.pop(endpoint.arn, None)

    return delete_endpoint
