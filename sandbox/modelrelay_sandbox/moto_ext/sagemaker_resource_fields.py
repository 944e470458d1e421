"""CreateModel and CreateEndpointConfig keep every field they are given that their Describe* returns.

Imitates https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeModel.html and
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpointConfig.html: what was created is
described back (``EnableNetworkIsolation``, ``InferenceExecutionConfig``; ``ExecutionRoleArn``, ``VpcConfig``,
``EnableNetworkIsolation``, ``ShadowProductionVariants``, ``ExplainerConfig``, ``MetricsConfig``,
``CrossRegionTrafficConfig`` of an endpoint config). moto 5.2.5 keeps only a handful (a model's network isolation
is always ``False``; an endpoint config keeps its variants, data capture, KMS key and async config), so a rollout
that drops a setting could not be caught. A model's field that was not given is omitted, as AWS omits it (moto
describes a model without a VPC with ``VpcConfig: {}``, which the SDK refuses when it is sent back; an endpoint
config's empty ``DataCaptureConfig`` is omitted by :mod:`.sagemaker_model_apis`). The fields are computed from
botocore's shapes (the request members that the Describe* output also has), so a field AWS adds is kept as soon as
botocore knows it.
"""

from __future__ import annotations

import re
import threading
from functools import cache
from typing import Any

import botocore.session
from moto.core.responses import ActionResult
from moto.sagemaker.responses import SageMakerResponse

_lock = threading.Lock()
_applied = False

# operation -> (describe operation, the backend collection holding the resource by name, the name parameter)
_RESOURCES = {
    "CreateModel": ("DescribeModel", "_models", "ModelName"),
    "CreateEndpointConfig": ("DescribeEndpointConfig", "endpoint_configs", "EndpointConfigName"),
}


@cache
def kept_fields(operation: str) -> frozenset[str]:
    """Request members of ``operation`` that its Describe* output also returns (names and tags excluded)."""
    model = botocore.session.get_session().get_service_model("sagemaker")
    describe, _, name = _RESOURCES[operation]
    given = set(model.operation_model(operation).input_shape.members)
    described = set(model.operation_model(describe).output_shape.members)
    return frozenset((given & described) - {name, "Tags"})


def _snake(name: str) -> str:
    # moto's BaseObject.gen_response_object turns attribute "vpc_config" back into "VpcConfig".
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _wrap(operation: str, original: Any) -> Any:
    _, collection, name_param = _RESOURCES[operation]

    def create(self: SageMakerResponse) -> ActionResult:
        result: ActionResult = original(self)
        resource = getattr(self.sagemaker_backend, collection).get(self._get_param(name_param))
        if resource is not None:
            for field in kept_fields(operation):
                value = self._get_param(field)
                if value is not None:
                    setattr(resource, _snake(field), value)
                elif operation == "CreateModel" and getattr(resource, _snake(field), None) == {}:
                    setattr(resource, _snake(field), None)  # unset is omitted (moto: VpcConfig {})
        return result

    return create


def apply() -> None:
    """Install the patches (idempotent)."""
    global _applied
    with _lock:
        if _applied:
            return
        SageMakerResponse.create_model = _wrap("CreateModel", SageMakerResponse.create_model)  # type: ignore[method-assign]
        SageMakerResponse.create_endpoint_config = _wrap(  # type: ignore[method-assign]
            "CreateEndpointConfig", SageMakerResponse.create_endpoint_config
        )
        _applied = True


__all__ = ["apply", "kept_fields"]
