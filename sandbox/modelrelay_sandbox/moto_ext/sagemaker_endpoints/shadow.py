"""Shadow variants of an endpoint config, as UpdateEndpoint deploys them and DescribeEndpoint shows them.

Imitates https://docs.aws.amazon.com/sagemaker/latest/dg/model-shadow-deployment.html and the
``ShadowProductionVariants`` of
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpoint.html: a config's shadow variant is
deployed with its production variant (a ``ProductionVariantSummary`` of its own, ``DeployedImages`` included) and
disappears when the endpoint moves to a config without one. At most one shadow variant, next to exactly one
production variant, and none on a serverless or asynchronous config (shadow-tests-create.html), else
``ValidationException``, checked by UpdateEndpoint. A shadow model's image containing ``fail-deployment`` makes
the update fail as a production variant's does (the endpoint stays ``InService`` on the OLD config with the
health-check ``FailureReason``: :mod:`.failure_injection`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import SageMakerModelBackend

from .variants import variant_summaries


def shadow_variants(config: Any) -> list[dict[str, Any]]:
    """The config's ``ShadowProductionVariants`` (kept by :mod:`..sagemaker_resource_fields`), or []."""
    return list(getattr(config, "shadow_production_variants", None) or [])


def validate_shadow(config: Any, name: str) -> None:
    shadows = shadow_variants(config)
    if not shadows:
        return
    if len(shadows) > 1:
        raise ValidationError(f"Endpoint configuration {name} can have at most one shadow variant.")
    if len(config.production_variants) != 1:
        raise ValidationError(
            f"Endpoint configuration {name} with a shadow variant must have exactly one production variant."
        )
    if config.production_variants[0].get("ServerlessConfig") or config.async_inference_config:
        raise ValidationError(f"Shadow variants are not supported for the endpoint configuration {name}.")


def shadow_summaries(backend: SageMakerModelBackend, config: Any, when: datetime) -> list[dict[str, Any]]:
    """DescribeEndpoint's ShadowProductionVariants for a config, as deployed."""
    return variant_summaries(backend, shadow_variants(config), when)
