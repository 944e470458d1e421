"""Shadow first: the route's limits, SageMaker's exclusions refused by name, and the requests botocore accepts."""

from __future__ import annotations

from typing import Any

import boto3
import botocore.session
import pytest
from botocore.validate import ParamValidator
from pydantic import ValidationError

from modelrelay.adapters import sagemaker
from modelrelay.config import RolloutConfig, ShadowConfig
from modelrelay.domain.shadow import preflight_shadow
from modelrelay.errors import PreflightFailed

VARIANT = {"VariantName": "AllTraffic", "ModelName": "m0", "InstanceType": "ml.m5.large", "InitialInstanceCount": 2}


def config(**extra: Any) -> dict[str, Any]:
    return {"EndpointConfigName": "c0", "ProductionVariants": [VARIANT], **extra}


def test_a_shadow_phase_is_for_blue_green_strategies_only() -> None:
    # Given / When a ROLLING route asks for a shadow phase / Then the route is refused
    with pytest.raises(ValidationError, match="blue/green"):
        RolloutConfig(strategy="ROLLING", shadow=ShadowConfig())


def test_the_shadow_and_the_rollout_fit_the_longest_wait_the_state_machine_allows() -> None:
    with pytest.raises(ValidationError, match="at most 28800"):
        RolloutConfig(maximum_execution_timeout_seconds=28000, shadow=ShadowConfig(duration_seconds=3600))
    assert RolloutConfig(shadow=ShadowConfig(duration_seconds=1800)).shadow is not None


@pytest.mark.parametrize(
    ("described", "reason"),
    [
        ({"ProductionVariants": [VARIANT, {**VARIANT, "VariantName": "B"}]}, "shadow_multiple_variants"),
        ({"ProductionVariants": [{**VARIANT, "ServerlessConfig": {"MemorySizeInMB": 2048}}]}, "shadow_serverless"),
        ({"AsyncInferenceConfig": {"OutputConfig": {"S3OutputPath": "s3://b/o"}}}, "shadow_async"),
        ({"ShadowProductionVariants": [{**VARIANT, "VariantName": "S"}]}, "shadow_already_present"),
    ],
)
def test_what_sagemaker_excludes_from_shadow_variants_is_refused_by_name(
    described: dict[str, Any], reason: str
) -> None:
    with pytest.raises(PreflightFailed) as refused:
        preflight_shadow(config(**described), ShadowConfig())
    assert refused.value.reason == reason


def test_the_shadow_config_is_the_serving_one_plus_one_shadow_variant_as_botocore_accepts() -> None:
    # Given a serving config and the shadow variant ModelRelay builds
    client = boto3.client("sagemaker", region_name="us-east-1")
    shadow = {**VARIANT, "VariantName": "modelrelay-shadow", "ModelName": "new", "InitialVariantWeight": 0.5}
    # When the CreateEndpointConfig request is made
    request = sagemaker.shadow_config_request(client, config(KmsKeyId="k"), "c0-sh", shadow, [])
    # Then production is unchanged, the new model is the one shadow variant, and the request is valid
    assert request["ProductionVariants"] == [VARIANT] and request["KmsKeyId"] == "k"
    assert request["ShadowProductionVariants"] == [shadow]
    model = botocore.session.get_session().get_service_model("sagemaker")
    shape = model.operation_model("CreateEndpointConfig").input_shape
    assert not ParamValidator().validate(request, shape).has_errors()
