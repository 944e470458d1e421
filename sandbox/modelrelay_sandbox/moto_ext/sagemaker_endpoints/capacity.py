"""UpdateEndpointWeightsAndCapacities: the desired weights/instances, ``Updating`` for the polls, then current.

Imitates https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateEndpointWeightsAndCapacities.html
(moto leaves the endpoint ``Updating`` forever, ignores ``DesiredInstanceCount`` and returns no ARN).
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

from .deployment import DEPLOYMENTS, LOCK, Deployment
from .events import emit, event_detail
from .lookup import check_not_in_progress, find_endpoint
from .settings import settings
from .stages import Stage


def update_endpoint_weights_and_capacities(
    self: SageMakerModelBackend, endpoint_name: str, desired_weights_and_capacities: list[dict[str, Any]]
) -> str:
    """UpdateEndpointWeightsAndCapacities: moto's validation, then Updating for N polls (see docstring)."""
    with LOCK:
        endpoint = find_endpoint(self, endpoint_name)
        names = [v.get("VariantName") for v in desired_weights_and_capacities]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ValidationError(f'The variant name "{name}" was non-unique within the request.')
            if not any(v["VariantName"] == name for v in endpoint.production_variants):
                raise ValidationError(
                    f'The variant name(s) "{name}" is/are not present within endpoint configuration '
                    f'"{endpoint.endpoint_config_name}".'
                )
        check_not_in_progress(endpoint)
        target = [dict(v) for v in endpoint.production_variants]
        changes = []
        for desired in desired_weights_and_capacities:
            for variant in endpoint.production_variants + target:
                if variant["VariantName"] != desired.get("VariantName"):
                    continue
                if desired.get("DesiredWeight") is not None:
                    variant["DesiredWeight"] = float(desired["DesiredWeight"])
                if desired.get("DesiredInstanceCount") is not None:
                    variant["DesiredInstanceCount"] = desired["DesiredInstanceCount"]
            if desired.get("DesiredInstanceCount") is not None:
                changes.append(
                    f"Scaling desired instance count of {desired['VariantName']} to {desired['DesiredInstanceCount']}."
                )
        for variant in target:  # on completion current = desired
            if "DesiredWeight" in variant:
                variant["CurrentWeight"] = variant["DesiredWeight"]
            if "DesiredInstanceCount" in variant:
                variant["CurrentInstanceCount"] = variant["DesiredInstanceCount"]
        current = settings()
        stage = Stage("Updating", " ".join(changes) or "Updating variant weights.", 0)
        DEPLOYMENTS[endpoint.arn] = Deployment(
            endpoint=endpoint,
            kind="capacity",
            new_config=endpoint.endpoint_config_name,
            new_variants=target,
            pending_variants=[],
            new_data_capture=None,
            new_async=None,
            alarms=[],
            stages=[stage],
            polls=current.polls,
            duration=None if current.mode == "polls" else (current.bake_seconds or 0.0),
            failure=None,
            rollback_failure=None,
        )
        endpoint.endpoint_status = "Updating"
        endpoint.last_modified_time = utcnow()
        detail = event_detail(endpoint, "Updating")
    emit(self, detail)
    return str(endpoint.arn)


def resp_update_weights(self: SageMakerResponse) -> ActionResult:
    arn = self.sagemaker_backend.update_endpoint_weights_and_capacities(
        endpoint_name=self._get_param("EndpointName"),
        desired_weights_and_capacities=self._get_param("DesiredWeightsAndCapacities"),
    )
    return ActionResult({"EndpointArn": arn})
