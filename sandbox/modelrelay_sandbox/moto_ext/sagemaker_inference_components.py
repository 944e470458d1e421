"""SageMaker inference components (moto 5.2.5 has none of their actions: a request fails with HTTP 500).

Imitates https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateInferenceComponent.html,
API_UpdateInferenceComponent.html, API_DescribeInferenceComponent.html, API_ListInferenceComponents.html,
API_DeleteInferenceComponent.html, and the behaviour of "Deploy models with inference components"
(realtime-endpoints-deploy-models.html) and "Update inference components with rolling deployments"
(inference-component-rolling-deployment.html):

* **Create** checks the endpoint exists (``Could not find endpoint "<arn>".``), is set up for components (its
  config's variant has no ``ModelName``; otherwise ``ValidationException``), the variant and the model exist, the
  name is new, and ``ComputeResourceRequirements.MinMemoryRequiredInMb`` is given. The component is ``Creating``
  for N DescribeInferenceComponent polls, then ``InService`` (``CurrentCopyCount`` = ``DesiredCopyCount``).
* **Update** is refused while the component is not ``InService`` (``Cannot update in-progress inference
  component``); a ``DeploymentConfig`` needs a ``RollingUpdatePolicy`` with ``MaximumBatchSize``
  (``COPY_COUNT``/``CAPACITY_PERCENT``) and ``WaitIntervalInSeconds``. The component is ``Updating`` for N polls
  (``Specification`` stays the OLD one until the update completes, as DescribeEndpoint keeps the old config),
  then ``InService`` on the new specification; ``LastDeploymentConfig`` is the one used.
* **Auto-rollback**: each poll of an updating component reads its ``AutoRollbackConfiguration.Alarms`` in moto's
  CloudWatch; one in ``ALARM`` ends the update ``InService`` on the OLD specification with ``FailureReason``
  "Alarm <name> was triggered during the deployment. Rolled back to the previous inference component
  specification."
* **Failure injection** (sandbox convention, as :mod:`.sagemaker_endpoints.failure_injection`): a model whose image
  (or its model package's) contains ``fail-deployment`` makes a create end ``Failed`` and an update end
  ``InService`` on the old specification, both with the ping health-check ``FailureReason``; ``fail-rollback``
  makes an alarm rollback end ``Failed``.
* Progress follows the endpoint simulator's settings (``sagemaker_endpoints.configure(polls=N)``); time mode
  completes after ``bake_seconds`` (or ``time_scale`` x the batches' bakes).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import SageMakerModelBackend, arn_formatter
from moto.sagemaker.responses import SageMakerResponse

from .sagemaker_endpoints.deployment import _fired_alarms
from .sagemaker_endpoints.failure_injection import FAIL_DEPLOYMENT_MARKER, FAIL_ROLLBACK_MARKER
from .sagemaker_endpoints.lookup import endpoint_arn, find_endpoint, model_arn
from .sagemaker_endpoints.settings import settings
from .sagemaker_endpoints.variants import images_of

LOCK = threading.RLock()


@dataclass
class Component:
    name: str
    arn: str
    endpoint_name: str
    endpoint_arn: str
    variant_name: str
    specification: dict[str, Any]
    copies: int
    status: str = "Creating"
    failure_reason: str | None = None
    created: Any = None
    modified: Any = None
    last_deployment_config: dict[str, Any] | None = None
    # the change in progress
    pending_specification: dict[str, Any] | None = None
    pending_copies: int | None = None
    alarms: list[str] = field(default_factory=list)
    polls_left: int = 0
    ends_at: float | None = None
    failure: str | None = None
    rollback_failure: str | None = None


def _components(backend: SageMakerModelBackend) -> dict[str, Component]:
    store: dict[str, Component] | None = getattr(backend, "_modelrelay_inference_components", None)
    if store is None:
        store = {}
        backend._modelrelay_inference_components = store  # type: ignore[attr-defined]
    return store


def _arn(backend: SageMakerModelBackend, name: str) -> str:
    return arn_formatter("inference-component", name, backend.account_id, backend.region_name)


def _find(backend: SageMakerModelBackend, name: str) -> Component:
    component = _components(backend).get(name)
    if component is None:
        raise ValidationError(f'Could not find inference component "{_arn(backend, name)}".')
    return component


def _health(images: list[str]) -> tuple[str | None, str | None]:
    health = "The primary container for inference component did not pass the ping health check."
    failure = health if any(FAIL_DEPLOYMENT_MARKER in image for image in images) else None
    rollback = health if any(FAIL_ROLLBACK_MARKER in image for image in images) else None
    return failure, rollback


def _schedule(component: Component, deployment: dict[str, Any] | None, copies: int) -> None:
    current = settings()
    component.polls_left = current.polls
    component.ends_at = None
    if current.mode == "time":
        policy = (deployment or {}).get("RollingUpdatePolicy") or {}
        size = policy.get("MaximumBatchSize") or {}
        batch = int(size.get("Value") or copies)
        if size.get("Type") == "CAPACITY_PERCENT":
            batch = math.ceil(copies * batch / 100)
        nominal = math.ceil(copies / max(1, batch)) * float(policy.get("WaitIntervalInSeconds") or 0)
        seconds = current.bake_seconds if current.bake_seconds is not None else nominal * (current.time_scale or 0)
        component.ends_at = time.monotonic() + seconds


def _check_specification(backend: SageMakerModelBackend, specification: dict[str, Any] | None) -> None:
    specification = specification or {}
    model = specification.get("ModelName")
    if not model:
        raise ValidationError("Specification.ModelName is required for an inference component on this endpoint.")
    if model not in backend._models:
        raise ValidationError(f'Could not find model "{model_arn(backend, model)}".')
    if not (specification.get("ComputeResourceRequirements") or {}).get("MinMemoryRequiredInMb"):
        raise ValidationError("ComputeResourceRequirements.MinMemoryRequiredInMb is required.")


def create_inference_component(
    self: SageMakerModelBackend,
    name: str,
    endpoint_name: str,
    variant_name: str | None,
    specification: dict[str, Any],
    runtime_config: dict[str, Any] | None,
) -> str:
    with LOCK:
        endpoint = find_endpoint(self, endpoint_name)
        if name in _components(self):
            raise ValidationError(f'Cannot create already existing inference component "{_arn(self, name)}".')
        config = self.endpoint_configs.get(endpoint.endpoint_config_name)
        variants = config.production_variants if config else []
        variant = next((v for v in variants if v["VariantName"] == (variant_name or v["VariantName"])), None)
        if variant is None:
            raise ValidationError(
                f"Variant {variant_name} does not exist on endpoint {endpoint_arn(self, endpoint_name)}."
            )
        if variant.get("ModelName"):
            raise ValidationError(
                f"Endpoint {endpoint_arn(self, endpoint_name)} is not configured for inference components: its "
                f"variant {variant['VariantName']} names a model."
            )
        _check_specification(self, specification)
        now = utcnow()
        copies = int((runtime_config or {}).get("CopyCount") or 1)
        component = Component(
            name=name,
            arn=_arn(self, name),
            endpoint_name=endpoint_name,
            endpoint_arn=endpoint_arn(self, endpoint_name),
            variant_name=variant["VariantName"],
            specification=specification,
            copies=copies,
            created=now,
            modified=now,
        )
        component.failure, component.rollback_failure = _health(images_of(self, specification["ModelName"]))
        _schedule(component, None, copies)
        _components(self)[name] = component
        return component.arn


def update_inference_component(
    self: SageMakerModelBackend,
    name: str,
    specification: dict[str, Any] | None,
    runtime_config: dict[str, Any] | None,
    deployment_config: dict[str, Any] | None,
) -> str:
    with LOCK:
        component = _find(self, name)
        if component.status != "InService":
            raise ValidationError(f'Cannot update in-progress inference component "{component.arn}".')
        if deployment_config:
            policy = deployment_config.get("RollingUpdatePolicy") or {}
            size = policy.get("MaximumBatchSize") or {}
            if size.get("Type") not in ("COPY_COUNT", "CAPACITY_PERCENT") or "WaitIntervalInSeconds" not in policy:
                raise ValidationError(
                    "DeploymentConfig.RollingUpdatePolicy needs MaximumBatchSize (COPY_COUNT or CAPACITY_PERCENT) "
                    "and WaitIntervalInSeconds."
                )
        new_spec = specification or component.specification
        _check_specification(self, new_spec)
        copies = int((runtime_config or {}).get("CopyCount") or component.copies)
        component.pending_specification = new_spec
        component.pending_copies = copies
        component.alarms = [
            a["AlarmName"]
            for a in ((deployment_config or {}).get("AutoRollbackConfiguration") or {}).get("Alarms", [])
            if a.get("AlarmName")
        ]
        component.failure, component.rollback_failure = _health(images_of(self, new_spec["ModelName"]))
        component.last_deployment_config = deployment_config
        component.status = "Updating"
        component.failure_reason = None
        component.modified = utcnow()
        _schedule(component, deployment_config, copies)
        return component.arn


def _advance(self: SageMakerModelBackend, component: Component) -> None:
    """One DescribeInferenceComponent poll of a component being created or updated."""
    if component.status not in ("Creating", "Updating"):
        return
    if component.status == "Updating":
        fired = _fired_alarms(self, component.alarms)
        if fired:
            component.pending_specification = component.pending_copies = None
            component.modified = utcnow()
            what = f"Alarm {fired[0]} was triggered during the deployment."
            if component.rollback_failure:
                component.status = "Failed"
                component.failure_reason = f"{what} Rolling back failed: {component.rollback_failure}"
            else:
                component.status = "InService"
                component.failure_reason = f"{what} Rolled back to the previous inference component specification."
            return
    if component.ends_at is not None:
        if time.monotonic() < component.ends_at:
            return
    elif component.polls_left > 0:
        component.polls_left -= 1
        return
    component.modified = utcnow()
    if component.status == "Creating":
        component.status = "Failed" if component.failure else "InService"
        component.failure_reason = component.failure
        return
    if component.failure:  # the new copies failed their health check: back on the old specification
        component.status = "InService"
        component.failure_reason = f"{component.failure} Rolled back to the previous inference component specification."
    else:
        assert component.pending_specification is not None
        component.specification = component.pending_specification
        component.copies = component.pending_copies or component.copies
        component.status = "InService"
    component.pending_specification = component.pending_copies = None


def _response(component: Component) -> dict[str, Any]:
    serving = component.status == "InService"
    response: dict[str, Any] = {
        "InferenceComponentName": component.name,
        "InferenceComponentArn": component.arn,
        "EndpointName": component.endpoint_name,
        "EndpointArn": component.endpoint_arn,
        "VariantName": component.variant_name,
        "Specification": component.specification,
        "RuntimeConfig": {
            "DesiredCopyCount": component.pending_copies or component.copies,
            "CurrentCopyCount": component.copies if serving or component.status == "Updating" else 0,
        },
        "CreationTime": component.created,
        "LastModifiedTime": component.modified,
        "InferenceComponentStatus": component.status,
    }
    if component.failure_reason:
        response["FailureReason"] = component.failure_reason
    if component.last_deployment_config:
        response["LastDeploymentConfig"] = component.last_deployment_config
    return response


def describe_inference_component(self: SageMakerModelBackend, name: str) -> dict[str, Any]:
    with LOCK:
        component = _find(self, name)
        _advance(self, component)
        return _response(component)


def delete_inference_component(self: SageMakerModelBackend, name: str) -> None:
    with LOCK:
        _find(self, name)
        del _components(self)[name]


def list_inference_components(
    self: SageMakerModelBackend, endpoint_name: str | None, status: str | None
) -> list[dict[str, Any]]:
    with LOCK:
        found = [
            c
            for c in _components(self).values()
            if (endpoint_name is None or c.endpoint_name == endpoint_name) and (status is None or c.status == status)
        ]
        return [
            {
                "InferenceComponentName": c.name,
                "InferenceComponentArn": c.arn,
                "EndpointName": c.endpoint_name,
                "EndpointArn": c.endpoint_arn,
                "VariantName": c.variant_name,
                "InferenceComponentStatus": c.status,
                "CreationTime": c.created,
                "LastModifiedTime": c.modified,
            }
            for c in sorted(found, key=lambda c: c.created)
        ]


# ---------- the HTTP side ----------
def _resp_create(self: SageMakerResponse) -> ActionResult:
    arn = create_inference_component(
        self.sagemaker_backend,
        name=self._get_param("InferenceComponentName"),
        endpoint_name=self._get_param("EndpointName"),
        variant_name=self._get_param("VariantName"),
        specification=self._get_param("Specification") or {},
        runtime_config=self._get_param("RuntimeConfig"),
    )
    return ActionResult({"InferenceComponentArn": arn})


def _resp_update(self: SageMakerResponse) -> ActionResult:
    arn = update_inference_component(
        self.sagemaker_backend,
        name=self._get_param("InferenceComponentName"),
        specification=self._get_param("Specification"),
        runtime_config=self._get_param("RuntimeConfig"),
        deployment_config=self._get_param("DeploymentConfig"),
    )
    return ActionResult({"InferenceComponentArn": arn})


def _resp_describe(self: SageMakerResponse) -> ActionResult:
    return ActionResult(describe_inference_component(self.sagemaker_backend, self._get_param("InferenceComponentName")))


def _resp_delete(self: SageMakerResponse) -> ActionResult:
    delete_inference_component(self.sagemaker_backend, self._get_param("InferenceComponentName"))
    return ActionResult({})


def _resp_list(self: SageMakerResponse) -> ActionResult:
    items = list_inference_components(
        self.sagemaker_backend, self._get_param("EndpointNameEquals"), self._get_param("StatusEquals")
    )
    return ActionResult({"InferenceComponents": items})


def _validate_production_variants(self: SageMakerModelBackend, production_variants: list[dict[str, Any]]) -> None:
    """An endpoint config for inference components has variants without ``ModelName`` (moto needs one in each);
    AWS then wants the config's ``ExecutionRoleArn`` and each such variant's instance type."""
    for variant in production_variants:
        if "ModelName" not in variant:
            if not variant.get("InstanceType"):
                raise ValidationError("A variant without ModelName (for inference components) needs InstanceType.")
            continue
        if variant["ModelName"] not in self._models:
            raise ValidationError(f"Could not find model '{model_arn(self, variant['ModelName'])}'.")


_applied = False


def apply() -> None:
    """Install the inference-component actions (idempotent)."""
    global _applied
    with LOCK:
        if _applied:
            return
        SageMakerModelBackend.validate_production_variants = _validate_production_variants  # type: ignore[method-assign]
        SageMakerResponse.create_inference_component = _resp_create  # type: ignore[attr-defined]
        SageMakerResponse.update_inference_component = _resp_update  # type: ignore[attr-defined]
        SageMakerResponse.describe_inference_component = _resp_describe  # type: ignore[attr-defined]
        SageMakerResponse.delete_inference_component = _resp_delete  # type: ignore[attr-defined]
        SageMakerResponse.list_inference_components = _resp_list  # type: ignore[attr-defined]
        _applied = True
