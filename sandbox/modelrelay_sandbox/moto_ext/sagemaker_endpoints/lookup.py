"""Finding an endpoint, endpoint config or model by name, with AWS's ``ValidationException`` messages.

Imitates the errors of https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateEndpoint.html
and API_DeleteEndpoint: ``Could not find endpoint "<arn>".``, ``Could not find endpoint configuration
"<arn>".``, ``Cannot update in-progress endpoint "<arn>".``.
"""

from __future__ import annotations

from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig, SageMakerModelBackend, arn_formatter

IN_PROGRESS = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})


def endpoint_arn(backend: SageMakerModelBackend, name: str) -> str:
    return FakeEndpoint.arn_formatter(name, backend.account_id, backend.region_name)


def config_arn(backend: SageMakerModelBackend, name: str) -> str:
    return FakeEndpointConfig.arn_formatter(name, backend.account_id, backend.region_name)


def model_arn(backend: SageMakerModelBackend, name: str) -> str:
    return arn_formatter("model", name, backend.account_id, backend.region_name)


def find_endpoint(backend: SageMakerModelBackend, name: str) -> FakeEndpoint:
    endpoint = backend.endpoints.get(name)
    if endpoint is None:
        raise ValidationError(f'Could not find endpoint "{endpoint_arn(backend, name)}".')
    return endpoint


def find_config(backend: SageMakerModelBackend, name: str) -> FakeEndpointConfig:
    config = backend.endpoint_configs.get(name)
    if config is None:
        raise ValidationError(f'Could not find endpoint configuration "{config_arn(backend, name)}".')
    return config


def check_not_in_progress(endpoint: FakeEndpoint) -> None:
    if endpoint.endpoint_status in IN_PROGRESS:
        raise ValidationError(f'Cannot update in-progress endpoint "{endpoint.arn}".')
