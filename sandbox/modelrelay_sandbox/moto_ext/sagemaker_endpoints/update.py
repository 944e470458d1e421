"""UpdateEndpoint: validate, then start a deployment of the new endpoint config (completed by later polls).

Imitates https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateEndpoint.html (moto lacks the
action): ``DeploymentConfig`` (the variant names must match the current config's for blue/green or rolling),
``RetainAllVariantProperties`` with ``ExcludeRetainedVariantProperties``, ``RetainDeploymentConfig``; the
endpoint is ``Updating`` with ``LastModifiedTime`` bumped and ``FailureReason`` cleared.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

from .deployment import DEPLOYMENTS, LOCK, Deployment, set_failure
from .events import emit, event_detail
from .failure_injection import injected_failures
from .lookup import check_not_in_progress, find_config, find_endpoint, model_arn
from .rolling import validate_rolling
from .settings import settings
from .shadow import shadow_summaries, shadow_variants, validate_shadow
from .stages import stages_of, validate_deployment_config
from .variants import data_capture_summary, variant_summaries


def update_endpoint(
    self: SageMakerModelBackend,
    endpoint_name: str,
    endpoint_config_name: str,
    retain_all_variant_properties: bool = False,
    exclude_retained_variant_properties: list[dict[str, str]] | None = None,
    deployment_config: dict[str, Any] | None = None,
    retain_deployment_config: bool = False,
) -> str:
    """UpdateEndpoint: start a deployment of ``endpoint_config_name`` (see the module docstring)."""
    with LOCK:
        endpoint = find_endpoint(self, endpoint_name)
        config = find_config(self, endpoint_config_name)
        check_not_in_progress(endpoint)
        validate_shadow(config, endpoint_config_name)
        for variant in [*config.production_variants, *shadow_variants(config)]:
            if variant.get("ModelName") and variant["ModelName"] not in self._models:
                raise ValidationError(f'Could not find model "{model_arn(self, variant["ModelName"])}".')
        if not deployment_config and retain_deployment_config:
            deployment_config = getattr(endpoint, "last_deployment_config", None)
        if deployment_config:
            validate_deployment_config(deployment_config)
            if deployment_config.get("RollingUpdatePolicy"):
                validate_rolling(
                    deployment_config["RollingUpdatePolicy"], config.production_variants, endpoint_config_name
                )
            old_names = sorted(v["VariantName"] for v in endpoint.production_variants)
            new_names = sorted(v["VariantName"] for v in config.production_variants)
            if old_names != new_names:
                raise ValidationError(
                    f"The variant names of endpoint configuration {endpoint_config_name} "
                    f"({', '.join(new_names)}) must match those of the current endpoint configuration "
                    f"{endpoint.endpoint_config_name} ({', '.join(old_names)}) for a blue/green or rolling "
                    "deployment."
                )

        now = utcnow()
        new_variants = variant_summaries(self, config.production_variants, now)
        new_data_capture = data_capture_summary(config.data_capture_config)
        if retain_all_variant_properties:
            excluded = {p.get("VariantPropertyType") for p in exclude_retained_variant_properties or []}
            retained = {v["VariantName"]: v for v in endpoint.production_variants}
            for variant in new_variants:
                old = retained.get(variant["VariantName"])
                if old is None:
                    continue
                if "DesiredInstanceCount" not in excluded and "DesiredInstanceCount" in old:
                    variant["CurrentInstanceCount"] = variant["DesiredInstanceCount"] = old["DesiredInstanceCount"]
                if "DesiredWeight" not in excluded and "DesiredWeight" in old:
                    variant["CurrentWeight"] = variant["DesiredWeight"] = old["DesiredWeight"]
            if "DataCaptureConfig" not in excluded:
                new_data_capture = endpoint.data_capture_config

        instance_types = {v["VariantName"]: v.get("InstanceType") for v in config.production_variants}
        pending = []
        for variant in new_variants:
            summary: dict[str, Any] = {
                k: variant[k]
                for k in (
                    "VariantName",
                    "DeployedImages",
                    "DesiredWeight",
                    "DesiredInstanceCount",
                    "CurrentInstanceCount",
                    "DesiredServerlessConfig",
                )
                if k in variant
            }
            summary["CurrentWeight"] = 0.0
            if instance_types.get(variant["VariantName"]):
                summary["InstanceType"] = instance_types[variant["VariantName"]]
            pending.append(summary)

        failure, rollback_failure = injected_failures(self, [*config.production_variants, *shadow_variants(config)])

        total = sum(v.get("DesiredInstanceCount", 1) for v in new_variants) or 1
        stages = stages_of(deployment_config, total)
        current = settings()
        duration = None
        if current.mode == "time":
            nominal = sum(s.seconds for s in stages)
            duration = current.bake_seconds if current.bake_seconds is not None else nominal * (current.time_scale or 0)
        alarms = [
            a["AlarmName"]
            for a in ((deployment_config or {}).get("AutoRollbackConfiguration") or {}).get("Alarms", [])
            if a.get("AlarmName")
        ]
        DEPLOYMENTS[endpoint.arn] = Deployment(
            endpoint=endpoint,
            kind="config",
            new_config=endpoint_config_name,
            new_variants=new_variants,
            pending_variants=pending,
            new_data_capture=new_data_capture,
            new_async=config.async_inference_config,
            new_shadow=shadow_summaries(self, config, now),
            alarms=alarms,
            stages=stages,
            polls=current.polls,
            duration=duration,
            failure=failure,
            rollback_failure=rollback_failure,
            start_time=now,
        )
        if deployment_config:
            endpoint.last_deployment_config = deployment_config  # type: ignore[attr-defined]
        endpoint.endpoint_status = "Updating"
        set_failure(endpoint, None)
        endpoint.last_modified_time = now
        detail = event_detail(endpoint, "Updating")
    emit(self, detail)
    return str(endpoint.arn)


def resp_update_endpoint(self: SageMakerResponse) -> ActionResult:
    arn = self.sagemaker_backend.update_endpoint(  # type: ignore[attr-defined]
        endpoint_name=self._get_param("EndpointName"),
        endpoint_config_name=self._get_param("EndpointConfigName"),
        retain_all_variant_properties=bool(self._get_param("RetainAllVariantProperties", False)),
        exclude_retained_variant_properties=self._get_param("ExcludeRetainedVariantProperties"),
        deployment_config=self._get_param("DeploymentConfig"),
        retain_deployment_config=bool(self._get_param("RetainDeploymentConfig", False)),
    )
    return ActionResult({"EndpointArn": arn})
