"""SageMaker model and endpoint-config APIs as AWS answers them (fixes unrelated to endpoint deployments).

Imitates:

* https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html and
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateModel.html: an existing name fails
  (``Cannot create already existing endpoint configuration "<arn>".`` / ``... model "<arn>".``; moto silently
  replaced it), and so does an existing model package group (``Model Package Group already exists: <arn>``,
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateModelPackageGroup.html; moto replaced it,
  dropping its tags); every instance type of the SageMaker API is accepted (moto knows an old subset and rejects
  e.g. ``ml.g5.xlarge``).
* https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpointConfig.html: an unset
  ``DataCaptureConfig`` is omitted (moto returns ``{}``, which a rollout cloning the config cannot send back:
  the SDK rejects it).
* https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ListModels.html: ``NameContains``,
  ``CreationTimeBefore/After``, ``SortBy``/``SortOrder`` and ``MaxResults``/``NextToken`` (moto returns
  everything); ListModels and ListEndpointConfigs
  (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ListEndpointConfigs.html) default to
  ``CreationTime`` ``Descending`` (moto: ascending).

Verified already correct in moto, left alone: CreateEndpointConfig/DescribeEndpointConfig keep
``ProductionVariants`` (``VariantName``, ``ModelName``, ``InitialInstanceCount``, ``InstanceType``,
``InitialVariantWeight``), ``DataCaptureConfig``, ``KmsKeyId`` and ``AsyncInferenceConfig``; DeleteModel
and DeleteEndpointConfig (with ``ValidationException`` for unknown names); ListEndpointConfigs'
``NameContains`` and pagination.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from functools import cache
from typing import Any

from moto.core.responses import ActionResult
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpointConfig, SageMakerModelBackend, arn_formatter
from moto.sagemaker.responses import SageMakerResponse
from moto.utilities.paginator import paginate


def _config_arn(backend: SageMakerModelBackend, name: str) -> str:
    return FakeEndpointConfig.arn_formatter(name, backend.account_id, backend.region_name)


def _model_arn(backend: SageMakerModelBackend, name: str) -> str:
    return arn_formatter("model", name, backend.account_id, backend.region_name)


def _wrap_create_endpoint_config(original: Any) -> Any:
    def create_endpoint_config(
        self: SageMakerModelBackend, endpoint_config_name: str, *args: Any, **kwargs: Any
    ) -> FakeEndpointConfig:
        if endpoint_config_name in self.endpoint_configs:
            arn = _config_arn(self, endpoint_config_name)
            raise ValidationError(f'Cannot create already existing endpoint configuration "{arn}".')
        config: FakeEndpointConfig = original(self, endpoint_config_name, *args, **kwargs)
        return config

    return create_endpoint_config


def _wrap_create_model(original: Any) -> Any:
    def create_model(self: SageMakerModelBackend, model_name: str, *args: Any, **kwargs: Any) -> Any:
        if model_name in self._models:
            raise ValidationError(f'Cannot create already existing model "{_model_arn(self, model_name)}".')
        return original(self, model_name, *args, **kwargs)

    return create_model


def _wrap_create_model_package_group(original: Any) -> Any:
    def create_model_package_group(
        self: SageMakerModelBackend, model_package_group_name: str, *a: Any, **k: Any
    ) -> Any:
        if model_package_group_name in self.model_package_groups:
            existing = self.model_package_groups[model_package_group_name]
            raise ValidationError(f"Model Package Group already exists: {existing.arn}")
        return original(self, model_package_group_name, *a, **k)

    return create_model_package_group


def _wrap_list_endpoint_configs(original: Any) -> Any:
    def list_endpoint_configs(self: SageMakerModelBackend, **kwargs: Any) -> Any:
        kwargs["sort_order"] = kwargs.get("sort_order") or "Descending"  # AWS's default
        return original(self, **kwargs)

    return list_endpoint_configs


@cache
def _instance_types() -> frozenset[str]:
    import botocore.session

    shape = botocore.session.get_session().get_service_model("sagemaker").shape_for("ProductionVariantInstanceType")
    return frozenset(shape.enum)


def _validate_instance_type(self: FakeEndpointConfig, instance_type: str) -> None:
    if instance_type not in _instance_types():
        raise ValidationError(
            f"Value '{instance_type}' at 'instanceType' failed to satisfy constraint: Member must satisfy enum "
            f"value set: {sorted(_instance_types())}"
        )


_LIST_MODELS_PAGINATION = {
    "list_models_page": {
        "input_token": "next_token",
        "limit_key": "max_results",
        "limit_default": 100,
        "unique_attribute": "arn",
    }
}


@paginate(pagination_model=_LIST_MODELS_PAGINATION)
def list_models_page(
    self: SageMakerModelBackend,
    sort_by: str | None = None,
    sort_order: str | None = None,
    name_contains: str | None = None,
    creation_time_before: datetime | None = None,
    creation_time_after: datetime | None = None,
) -> list[Any]:
    """ListModels with AWS's filters and order (default CreationTime, Descending); paginated."""
    models = list(self._models.values())
    if name_contains:
        models = [m for m in models if name_contains in m.model_name]
    if creation_time_before:
        models = [m for m in models if _aware(m.creation_time) < _aware(creation_time_before)]
    if creation_time_after:
        models = [m for m in models if _aware(m.creation_time) > _aware(creation_time_after)]
    reverse = (sort_order or "Descending") == "Descending"
    if sort_by == "Name":
        return sorted(models, key=lambda m: m.model_name, reverse=reverse)
    return sorted(models, key=lambda m: m.creation_time, reverse=reverse)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _resp_describe_endpoint_config(self: SageMakerResponse) -> ActionResult:
    response = self.sagemaker_backend.describe_endpoint_config(self._get_param("EndpointConfigName"))
    # moto keeps an empty DataCaptureConfig ({}), which AWS omits; echoed back into CreateEndpointConfig it
    # fails the SDK's validation (InitialSamplingPercentage, DestinationS3Uri, CaptureOptions are required).
    return ActionResult({k: v for k, v in response.items() if v not in ({}, [])})


def _resp_list_models(self: SageMakerResponse) -> ActionResult:
    models, next_token = self.sagemaker_backend.list_models_page(  # type: ignore[attr-defined]
        sort_by=self._get_param("SortBy"),
        sort_order=self._get_param("SortOrder"),
        name_contains=self._get_param("NameContains"),
        creation_time_before=self._get_param("CreationTimeBefore"),
        creation_time_after=self._get_param("CreationTimeAfter"),
        max_results=self._get_param("MaxResults"),
        next_token=self._get_param("NextToken"),
    )
    summaries = [{"ModelName": m.model_name, "ModelArn": m.arn, "CreationTime": m.creation_time} for m in models]
    return ActionResult({"Models": summaries, "NextToken": next_token})


_lock = threading.Lock()
_applied = False


def apply() -> None:
    """Install the model / endpoint-config patches (idempotent)."""
    global _applied
    with _lock:
        if _applied:
            return
        backend = SageMakerModelBackend
        backend.create_endpoint_config = _wrap_create_endpoint_config(  # type: ignore[method-assign]
            backend.create_endpoint_config
        )
        backend.create_model = _wrap_create_model(backend.create_model)  # type: ignore[method-assign]
        backend.create_model_package_group = _wrap_create_model_package_group(  # type: ignore[method-assign]
            backend.create_model_package_group
        )
        backend.list_endpoint_configs = _wrap_list_endpoint_configs(  # type: ignore[method-assign]
            backend.list_endpoint_configs
        )
        backend.list_models_page = list_models_page  # type: ignore[attr-defined]
        FakeEndpointConfig.validate_instance_type = _validate_instance_type  # type: ignore[method-assign]
        SageMakerResponse.list_models = _resp_list_models  # type: ignore[method-assign]
        SageMakerResponse.describe_endpoint_config = _resp_describe_endpoint_config  # type: ignore[method-assign]
        _applied = True


__all__ = ["apply", "list_models_page"]
