"""An update in progress and how each DescribeEndpoint poll advances it: completion, alarm rollback, failure.

Imitates https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-configuration.html (auto-rollback:
an alarm of ``AutoRollbackConfiguration`` in ``ALARM`` during the deployment -> ``RollingBack`` -> ``InService``
on the old config with "Alarm <name> was triggered during the deployment."), and the
``PendingDeploymentSummary`` of https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpoint.html
(as on AWS, ``EndpointConfigName`` and ``ProductionVariants`` stay the old ones until the update completes).

A deployment whose new fleet fails to provision or to pass its health checks ends ``InService`` on the OLD
config with a ``FailureReason``, the old fleet having served throughout: "If the status of the endpoint is
``Failed``, or the status is ``InService`` but update operation fails, this provides the reason why it failed"
(``FailureReason`` of https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_EndpointMetadata.html;
blue/green: the old fleet is terminated only after the new one took the traffic,
https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-blue-green.html). Users report the same
on AWS (hashicorp/terraform-provider-aws#48997: after a rollback due to health checks or capacity the endpoint is
``InService`` on its previous config, ``FailureReason`` possibly empty). ``Failed`` is what CreateEndpoint ends
in, not a failed update of a serving endpoint.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from moto.core.utils import utcnow
from moto.sagemaker.models import FakeEndpoint, SageMakerModelBackend

from .stages import Stage

# Guards the endpoints' statuses and DEPLOYMENTS across the server's request threads.
LOCK = threading.RLock()


@dataclass
class Deployment:
    """An update in progress: what to install on success, and how far it has got."""

    endpoint: FakeEndpoint
    kind: str  # "config" (UpdateEndpoint) | "capacity" (UpdateEndpointWeightsAndCapacities)
    new_config: str
    new_variants: list[dict[str, Any]]
    pending_variants: list[dict[str, Any]]
    new_data_capture: dict[str, Any] | None
    new_async: dict[str, Any] | None
    alarms: list[str]
    stages: list[Stage]
    polls: int
    duration: float | None  # seconds, time mode
    failure: str | None  # FailureReason when the new fleet cannot come up (fail-deployment): InService, old config
    rollback_failure: str | None  # why a rollback fails (fail-rollback)
    start_time: datetime = field(default_factory=utcnow)
    started: float = field(default_factory=time.monotonic)
    seen: int = 0
    stage_times: dict[int, datetime] = field(default_factory=dict)
    rolling_back: bool = False
    new_shadow: list[dict[str, Any]] = field(default_factory=list)  # ShadowProductionVariants (:mod:`.shadow`)

    def progress(self) -> float:
        """How far through its stages the update shows itself, 0 (first poll) to 1."""
        if self.duration is not None:
            return 1.0 if self.duration <= 0 else min(1.0, (time.monotonic() - self.started) / self.duration)
        return 0.0 if self.seen <= 1 or self.polls <= 0 else (self.seen - 1) / self.polls

    def done(self) -> bool:
        if self.duration is not None:
            return time.monotonic() - self.started >= self.duration
        return self.seen > self.polls

    def stage_index(self) -> int:
        if self.duration is not None:
            nominal = sum(s.seconds for s in self.stages)
            if nominal > 0:
                elapsed, acc = self.progress() * nominal, 0.0
                for i, stage in enumerate(self.stages):
                    acc += stage.seconds
                    if elapsed < acc:
                        return i
                return len(self.stages) - 1
        # Polls are few: show the launch, then the bakes (each names the traffic it bakes on).
        shown = [i for i, s in enumerate(self.stages) if i == 0 or s.status == "Baking"]
        if len(shown) == 1:
            shown = list(range(len(self.stages)))
        return shown[min(len(shown) - 1, int(self.progress() * len(shown)))]

    def pending_summary(self) -> dict[str, Any]:
        if self.rolling_back:
            total = sum(v.get("DesiredInstanceCount", 1) for v in self.pending_variants)
            stage, index = Stage("Deleting", f"Terminating {total} instance(s).", 0), -1
        else:
            index = self.stage_index()
            stage = self.stages[index]
        started = self.stage_times.setdefault(index, utcnow())
        variants = []
        for variant in self.pending_variants:
            summary = dict(variant)
            if stage.status == "Creating":
                summary["CurrentInstanceCount"] = 0
            summary["VariantStatus"] = [{"Status": stage.status, "StatusMessage": stage.message, "StartTime": started}]
            variants.append(summary)
        return {"EndpointConfigName": self.new_config, "StartTime": self.start_time, "ProductionVariants": variants}


DEPLOYMENTS: dict[str, Deployment] = {}  # by endpoint ARN


def active(endpoint: FakeEndpoint) -> Deployment | None:
    deployment = DEPLOYMENTS.get(endpoint.arn)
    if deployment is not None and deployment.endpoint is not endpoint:  # endpoint recreated or moto reset
        DEPLOYMENTS.pop(endpoint.arn, None)
        return None
    return deployment


def set_failure(endpoint: FakeEndpoint, reason: str | None) -> None:
    endpoint.failure_reason = reason  # type: ignore[assignment]  # moto types it None


def _fired_alarms(backend: SageMakerModelBackend, names: list[str]) -> list[str]:
    if not names:
        return []
    from moto.cloudwatch.models import cloudwatch_backends

    alarms = cloudwatch_backends[backend.account_id][backend.region_name].alarms
    return [name for name in names if name in alarms and alarms[name].state_value == "ALARM"]


def _alarm_reason(names: list[str]) -> str:
    if len(names) == 1:
        return f"Alarm {names[0]} was triggered during the deployment."
    return f"Alarms {', '.join(names)} were triggered during the deployment."


def advance(backend: SageMakerModelBackend, endpoint: FakeEndpoint) -> list[str]:
    """One DescribeEndpoint poll of the endpoint's update. Returns the statuses to emit events for."""
    deployment = active(endpoint)
    if deployment is None or endpoint.endpoint_status not in ("Updating", "RollingBack"):
        return []
    if deployment.rolling_back:  # the poll after RollingBack ends the rollback
        DEPLOYMENTS.pop(endpoint.arn, None)
        endpoint.last_modified_time = utcnow()
        if deployment.rollback_failure:
            endpoint.endpoint_status = "UpdateRollbackFailed"
            set_failure(endpoint, f"{endpoint.failure_reason} {deployment.rollback_failure}")
        else:
            endpoint.endpoint_status = "InService"
            set_failure(endpoint, f"{endpoint.failure_reason} Rolled back to the previous endpoint configuration.")
        return [endpoint.endpoint_status]
    deployment.seen += 1
    fired = _fired_alarms(backend, deployment.alarms)
    if fired:
        deployment.rolling_back = True
        endpoint.endpoint_status = "RollingBack"
        set_failure(endpoint, _alarm_reason(fired))
        endpoint.last_modified_time = utcnow()
        return ["RollingBack"]
    if not deployment.done():
        return []
    DEPLOYMENTS.pop(endpoint.arn, None)
    endpoint.last_modified_time = utcnow()
    if deployment.failure:  # the new fleet never came up: back in service on the OLD config, saying why
        endpoint.endpoint_status = "InService"
        set_failure(endpoint, deployment.failure)
        return ["InService"]
    endpoint.endpoint_config_name = deployment.new_config
    endpoint.production_variants = deployment.new_variants
    if deployment.kind == "config":
        endpoint.data_capture_config = deployment.new_data_capture  # type: ignore[assignment]
        endpoint.async_inference_config = deployment.new_async  # type: ignore[attr-defined]
        endpoint.shadow_production_variants = deployment.new_shadow  # type: ignore[attr-defined]
    endpoint.endpoint_status = "InService"
    set_failure(endpoint, None)
    return ["InService"]


def response_of(endpoint: FakeEndpoint) -> dict[str, Any]:
    response = endpoint.response_object
    if getattr(endpoint, "shadow_production_variants", None):
        response["ShadowProductionVariants"] = endpoint.shadow_production_variants  # type: ignore[attr-defined]
    else:  # a config without a shadow variant: none described (not an empty list)
        response.pop("ShadowProductionVariants", None)
    deployment = active(endpoint)
    if deployment is not None and deployment.kind == "config":
        response["PendingDeploymentSummary"] = deployment.pending_summary()
    elif deployment is not None:  # a capacity change shows on the variants themselves
        message = deployment.stages[0].message
        for variant in response.get("ProductionVariants", []):
            if variant.get("DesiredInstanceCount") != variant.get("CurrentInstanceCount"):
                variant["VariantStatus"] = [
                    {"Status": "Updating", "StatusMessage": message, "StartTime": deployment.start_time}
                ]
    return response
