"""SageMaker UpdateEndpoint with deployment guardrails (blue/green, auto-rollback on alarms).

AWS behaviour supplied here, and why moto 5.2.5 lacks it:

* **UpdateEndpoint.** moto has no such action (a request fails with HTTP 500). Supplied with its
  validation, as ``ValidationException``:

  - ``Could not find endpoint "<endpoint arn>".``
  - ``Could not find endpoint configuration "<endpoint config arn>".``
  - ``Cannot update in-progress endpoint "<endpoint arn>".`` while the endpoint is ``Creating``,
    ``Updating``, ``SystemUpdating``, ``RollingBack`` or ``Deleting`` (DeleteEndpoint answers the same,
    as on AWS).
  - ``Could not find model "<model arn>".`` when a variant's model was deleted since the config was made.
  - With a ``DeploymentConfig`` (blue/green or rolling), the new config's variant names must equal the
    current config's (AWS: "Exclusions" of deployment guardrails); the message names both sets.
  - ``CanarySize`` is required for ``CANARY``, ``LinearStepSize`` for ``LINEAR``, and only one of
    ``BlueGreenUpdatePolicy``/``RollingUpdatePolicy`` may be given.

  On success the endpoint is ``Updating``, ``LastModifiedTime`` bumps, ``FailureReason`` clears,
  ``LastDeploymentConfig`` is the deployment config used, and - as on AWS - ``EndpointConfigName`` and
  ``ProductionVariants`` stay the OLD ones until the update completes; the new config is in
  ``PendingDeploymentSummary`` (``EndpointConfigName``, ``StartTime``, ``ProductionVariants`` with
  ``VariantStatus`` ``Creating``/``ActivatingTraffic``/``Baking`` and AWS's status messages, e.g.
  "Baking for 600 seconds (WaitIntervalInSeconds) with traffic enabled on canary capacity of 1
  instance(s)."). ``RetainAllVariantProperties`` (with ``ExcludeRetainedVariantProperties``) and
  ``RetainDeploymentConfig`` are honoured.

* **Progress is driven by DescribeEndpoint polls** (deterministic for tests). Each DescribeEndpoint of an
  ``Updating`` endpoint is one poll; ListEndpoints shows the status without advancing it. With ``N``
  polls (default 3; :func:`configure` or env ``MODELRELAY_SANDBOX_ENDPOINT_UPDATE_POLLS``, read at
  :func:`apply`), the sequences are:

  - success: ``Updating`` x N, then ``InService`` on the new config;
  - alarm fired: ``Updating`` until a poll finds an alarm in ``ALARM``, that poll ``RollingBack``, the
    next ``InService`` on the OLD config with ``FailureReason`` "Alarm <name> was triggered during the
    deployment. Rolled back to the previous endpoint configuration.";
  - failure injected: ``Updating`` x N, then ``Failed`` (see below).

  Time mode (for demos): ``configure(time_scale=0.01)`` makes an update last its DeploymentConfig's
  nominal duration (wait intervals of every canary/linear/rolling step plus ``TerminationWaitInSeconds``)
  times ``time_scale``; ``configure(bake_seconds=2)`` makes every update last exactly 2 s. Env
  ``MODELRELAY_SANDBOX_ENDPOINT_UPDATE_TIME_SCALE`` selects time mode at :func:`apply`. Completion is
  still observed on DescribeEndpoint; a rollback still shows ``RollingBack`` for one poll.
  ``MaximumExecutionTimeoutInSeconds`` is stored, not enforced.

* **Auto-rollback.** While ``Updating``, every poll reads the alarms of
  ``DeploymentConfig.AutoRollbackConfiguration.Alarms`` from moto's CloudWatch backend of the endpoint's
  account and region (``cloudwatch.set_alarm_state(..., StateValue="ALARM")`` trips one). An alarm
  that does not exist is ignored, like an alarm in ``OK``/``INSUFFICIENT_DATA``.

* **Failure injection (sandbox convention).** If the image of a model of the NEW endpoint config
  (``PrimaryContainer.Image`` or any ``Containers[].Image``, or the images of the model package a container
  names by ``ModelPackageName``, in any account) contains ``fail-deployment``, the update ends
  ``Failed`` on the old config with ``FailureReason`` "The primary container for production variant
  <variant> did not pass the ping health check. Please check CloudWatch logs for this endpoint." (AWS's
  health-check wording; on AWS a failed *update* may instead return to ``InService`` on the old config
  with such a reason - ``Failed`` is what this sandbox reports, so a rollout's failure path can be tested;
  the endpoint may be updated again). If the image contains
  ``fail-rollback`` and an alarm fires, the rollback fails: ``RollingBack`` then
  ``UpdateRollbackFailed``, ``FailureReason`` "Alarm <name> was triggered during the deployment. Rolling
  back to the previous endpoint configuration failed: ..."; without an alarm such an image deploys fine.

* **UpdateEndpointWeightsAndCapacities.** moto leaves the endpoint ``Updating`` forever, ignores
  ``DesiredInstanceCount`` and returns no ARN. Here it rejects in-progress endpoints, sets the desired
  values, is ``Updating`` for N polls, then ``InService`` with current = desired.

* **Events.** "SageMaker Endpoint Deployment State Change" on the default bus (source ``aws.sagemaker``,
  ``resources`` [endpoint ARN]) when an update starts (``UPDATING``), rolls back (``ROLLING_BACK``) and
  ends (``IN_SERVICE``, ``FAILED``, ``UPDATE_ROLLBACK_FAILED``); ``detail`` is DescribeEndpoint's output
  as AWS's sample shows it (``EndpointStatus`` upper snake case, times in epoch milliseconds, ``Tags``
  an object, ``PendingDeploymentSummary`` while one is pending). moto emits no SageMaker events.

* **Gaps in moto's endpoint/model APIs, filled:**

  - DescribeEndpoint ``ProductionVariants``: ``CurrentWeight``/``DesiredWeight`` default to 1.0 (moto
    drops them when ``InitialVariantWeight`` is absent or 0) and ``DeployedImages`` are listed;
    ``DataCaptureConfig`` is the summary AWS returns (``CaptureStatus``, ``CurrentSamplingPercentage``);
    ``AsyncInferenceConfig`` and ``LastDeploymentConfig`` are returned.
  - CreateEndpoint / CreateEndpointConfig / CreateModel of an existing name fail as on AWS
    (``Cannot create already existing endpoint "<arn>".`` and likewise); moto silently replaced them.
  - DescribeEndpointConfig omits an unset ``DataCaptureConfig`` as AWS does (moto returns ``{}``, which a
    rollout cloning the config cannot send back: the SDK rejects it).
  - CreateEndpointConfig accepts every instance type of the SageMaker API (moto knows an old subset and
    rejects e.g. ``ml.g5.xlarge``).
  - ListModels honours ``NameContains``, ``CreationTimeBefore/After``, ``SortBy``/``SortOrder`` and
    ``MaxResults``/``NextToken`` (moto returns everything); ListModels and ListEndpointConfigs default to
    ``CreationTime`` ``Descending`` as AWS does (moto: ascending).

Verified already correct in moto, left alone: CreateEndpointConfig/DescribeEndpointConfig keep
``ProductionVariants`` (``VariantName``, ``ModelName``, ``InitialInstanceCount``, ``InstanceType``,
``InitialVariantWeight``), ``DataCaptureConfig``, ``KmsKeyId`` and ``AsyncInferenceConfig``; DeleteModel
and DeleteEndpointConfig (with ``ValidationException`` for unknown names); ListEndpointConfigs'
``NameContains`` and pagination.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig, SageMakerModelBackend, arn_formatter
from moto.sagemaker.responses import SageMakerResponse
from moto.utilities.paginator import paginate

from . import eventbridge_targets

LOG = logging.getLogger(__name__)

POLLS_ENV = "MODELRELAY_SANDBOX_ENDPOINT_UPDATE_POLLS"
TIME_SCALE_ENV = "MODELRELAY_SANDBOX_ENDPOINT_UPDATE_TIME_SCALE"
DEFAULT_POLLS = 3
FAIL_DEPLOYMENT_MARKER = "fail-deployment"
FAIL_ROLLBACK_MARKER = "fail-rollback"
SOURCE = "aws.sagemaker"
DETAIL_TYPE = "SageMaker Endpoint Deployment State Change"
IN_PROGRESS = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})


# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    """How updates progress: ``polls`` DescribeEndpoint calls (polls mode), or wall-clock time (time mode:
    ``time_scale`` x the DeploymentConfig's nominal seconds, or a fixed ``bake_seconds``)."""

    polls: int = DEFAULT_POLLS
    time_scale: float | None = None
    bake_seconds: float | None = None

    @property
    def mode(self) -> str:
        return "polls" if self.time_scale is None and self.bake_seconds is None else "time"


_settings = Settings()
_lock = threading.RLock()
_applied = False


def configure(
    *, polls: int = DEFAULT_POLLS, time_scale: float | None = None, bake_seconds: float | None = None
) -> Settings:
    """Set how endpoint updates progress, replacing the whole configuration (``configure()`` restores the
    defaults: polls mode, 3 polls). Applies to updates started afterwards. Returns the new settings.

    - ``polls``: DescribeEndpoint calls that still show ``Updating`` before the update completes.
    - ``time_scale``: time mode; an update lasts ``time_scale`` x its nominal seconds.
    - ``bake_seconds``: time mode; every update lasts exactly this long.
    """
    global _settings
    if polls < 0:
        raise ValueError("polls must be >= 0")
    if time_scale is not None and bake_seconds is not None:
        raise ValueError("give time_scale or bake_seconds, not both")
    if (time_scale is not None and time_scale < 0) or (bake_seconds is not None and bake_seconds < 0):
        raise ValueError("time_scale and bake_seconds must be >= 0")
    with _lock:
        _settings = Settings(polls=polls, time_scale=time_scale, bake_seconds=bake_seconds)
        return _settings


def settings() -> Settings:
    """The current settings."""
    return _settings


def _configure_from_env() -> None:
    polls, scale = os.environ.get(POLLS_ENV), os.environ.get(TIME_SCALE_ENV)
    if polls or scale:
        configure(polls=int(polls) if polls else DEFAULT_POLLS, time_scale=float(scale) if scale else None)


# ----------------------------------------------------------------------------- helpers


def _endpoint_arn(backend: SageMakerModelBackend, name: str) -> str:
    return FakeEndpoint.arn_formatter(name, backend.account_id, backend.region_name)


def _config_arn(backend: SageMakerModelBackend, name: str) -> str:
    return FakeEndpointConfig.arn_formatter(name, backend.account_id, backend.region_name)


def _model_arn(backend: SageMakerModelBackend, name: str) -> str:
    return arn_formatter("model", name, backend.account_id, backend.region_name)


def _endpoint(backend: SageMakerModelBackend, name: str) -> FakeEndpoint:
    endpoint = backend.endpoints.get(name)
    if endpoint is None:
        raise ValidationError(f'Could not find endpoint "{_endpoint_arn(backend, name)}".')
    return endpoint


def _config(backend: SageMakerModelBackend, name: str) -> FakeEndpointConfig:
    config = backend.endpoint_configs.get(name)
    if config is None:
        raise ValidationError(f'Could not find endpoint configuration "{_config_arn(backend, name)}".')
    return config


def _check_not_in_progress(endpoint: FakeEndpoint) -> None:
    if endpoint.endpoint_status in IN_PROGRESS:
        raise ValidationError(f'Cannot update in-progress endpoint "{endpoint.arn}".')


def _images(backend: SageMakerModelBackend, model_name: str) -> list[str]:
    """The images a model runs: its containers' ``Image``, or those of the model package a container names
    (``ModelPackageName``, an ARN possibly of another account, or a name in this account)."""
    model = backend._models.get(model_name)
    if model is None:
        return []
    images = []
    for container in [model.primary_container or {}, *(model.containers or [])]:
        if container.get("Image"):
            images.append(container["Image"])
        elif container.get("ModelPackageName"):
            package = _model_package(backend, container["ModelPackageName"])
            spec = getattr(package, "inference_specification", None) or {}
            images.extend(c["Image"] for c in spec.get("Containers") or [] if c.get("Image"))
    return images


def _model_package(backend: SageMakerModelBackend, name_or_arn: str) -> Any:
    from moto.sagemaker.models import sagemaker_backends

    owner = backend
    if name_or_arn.startswith("arn:"):
        parts = name_or_arn.split(":")
        owner = sagemaker_backends[parts[4]][parts[3]]
    arn = owner.model_package_name_mapping.get(name_or_arn, name_or_arn)
    return owner.model_packages.get(arn)


def _deployed_images(images: list[str], when: datetime) -> list[dict[str, Any]]:
    deployed = []
    for image in images:
        # A stable fake digest per image (same as sagemaker_events' ImageDigest).
        digest = "sha256:" + hashlib.sha256(image.encode()).hexdigest()
        repo = image.rsplit("@", 1)[0]
        if ":" in repo.rsplit("/", 1)[-1]:
            repo = repo.rsplit(":", 1)[0]
        deployed.append({"SpecifiedImage": image, "ResolvedImage": f"{repo}@{digest}", "ResolutionTime": when})
    return deployed


def _variant_summaries(
    backend: SageMakerModelBackend, config_variants: list[dict[str, Any]], when: datetime
) -> list[dict[str, Any]]:
    """DescribeEndpoint's ProductionVariants for a config's variants, as deployed."""
    summaries = []
    for variant in config_variants:
        summary: dict[str, Any] = {"VariantName": variant["VariantName"]}
        images = _images(backend, variant.get("ModelName", ""))
        if images:
            summary["DeployedImages"] = _deployed_images(images, when)
        weight = variant.get("InitialVariantWeight")
        summary["CurrentWeight"] = summary["DesiredWeight"] = float(1.0 if weight is None else weight)
        if variant.get("InitialInstanceCount") is not None:
            summary["CurrentInstanceCount"] = summary["DesiredInstanceCount"] = variant["InitialInstanceCount"]
        if variant.get("ServerlessConfig"):
            summary["CurrentServerlessConfig"] = summary["DesiredServerlessConfig"] = variant["ServerlessConfig"]
        summaries.append(summary)
    return summaries


def _data_capture_summary(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """DescribeEndpoint's DataCaptureConfig (a DataCaptureConfigSummary) for a config's DataCaptureConfig."""
    if not config:
        return None
    enabled = bool(config.get("EnableCapture", True))
    summary = {
        "EnableCapture": enabled,
        "CaptureStatus": "Started" if enabled else "Stopped",
        "CurrentSamplingPercentage": config.get("InitialSamplingPercentage", 0),
        "DestinationS3Uri": config.get("DestinationS3Uri"),
        "KmsKeyId": config.get("KmsKeyId"),
    }
    return {k: v for k, v in summary.items() if v is not None}


def _size(spec: dict[str, Any] | None, total: int) -> int:
    """Instances of a CapacitySize (INSTANCE_COUNT or CAPACITY_PERCENT) of ``total``, at least 1."""
    if not spec:
        return total
    value = float(spec.get("Value") or 0)
    count = math.ceil(total * value / 100) if spec.get("Type") == "CAPACITY_PERCENT" else int(value)
    return max(1, min(total, count))


@dataclass
class _Stage:
    status: str  # VariantStatus.Status
    message: str
    seconds: float  # nominal duration


def _stages(deployment_config: dict[str, Any] | None, total: int) -> list[_Stage]:
    """The steps of a deployment, with AWS's VariantStatus messages and nominal durations."""
    stages = [_Stage("Creating", f"Launching {total} instance(s).", 0)]
    full = f"full capacity of {total} instance(s)"
    blue_green = (deployment_config or {}).get("BlueGreenUpdatePolicy")
    rolling = (deployment_config or {}).get("RollingUpdatePolicy")
    if rolling:
        wait = float(rolling.get("WaitIntervalInSeconds") or 0)
        batch = _size(rolling.get("MaximumBatchSize"), total)
        done = 0
        while done < total:
            done = min(total, done + batch)
            stages.append(_Stage("Updating", f"Launching {done} of {total} instance(s).", 0))
            stages.append(_Stage("Baking", f"Baking for {wait:g} seconds (WaitIntervalInSeconds) with traffic "
                                 f"enabled on {done} of {total} instance(s).", wait))
        return stages
    if not blue_green:  # AWS's default: blue/green, all at once, no baking
        stages.append(_Stage("ActivatingTraffic", f"Activating traffic on {full}.", 0))
        return stages
    routing = blue_green.get("TrafficRoutingConfiguration") or {}
    wait = float(routing.get("WaitIntervalInSeconds") or 0)
    termination = float(blue_green.get("TerminationWaitInSeconds") or 0)
    kind = routing.get("Type", "ALL_AT_ONCE")
    if kind == "CANARY":
        canary = f"canary capacity of {_size(routing.get('CanarySize'), total)} instance(s)"
        stages.append(_Stage("ActivatingTraffic", f"Activating traffic on {canary}.", 0))
        stages.append(_Stage("Baking", f"Baking for {wait:g} seconds (WaitIntervalInSeconds) with traffic "
                             f"enabled on {canary}.", wait))
        stages.append(_Stage("ActivatingTraffic", f"Activating traffic on {full}.", 0))
    elif kind == "LINEAR":
        step = _size(routing.get("LinearStepSize"), total)
        shifted = 0
        while shifted < total:
            shifted = min(total, shifted + step)
            stages.append(_Stage("ActivatingTraffic", f"Activating traffic on {shifted} of {total} instance(s).", 0))
            stages.append(_Stage("Baking", f"Baking for {wait:g} seconds (WaitIntervalInSeconds) with traffic "
                                 f"enabled on {shifted} of {total} instance(s).", wait))
    else:
        stages.append(_Stage("ActivatingTraffic", f"Activating traffic on {full}.", 0))
        stages.append(_Stage("Baking", f"Baking for {wait:g} seconds (WaitIntervalInSeconds) with traffic "
                             f"enabled on {full}.", wait))
    if termination:
        stages.append(_Stage("Baking", f"Baking for {termination:g} seconds (TerminationWaitInSeconds) with "
                             f"traffic enabled on {full}.", termination))
    return stages


def _validate_deployment_config(deployment_config: dict[str, Any]) -> None:
    blue_green = deployment_config.get("BlueGreenUpdatePolicy")
    if blue_green and deployment_config.get("RollingUpdatePolicy"):
        raise ValidationError("DeploymentConfig must specify only one of BlueGreenUpdatePolicy and "
                              "RollingUpdatePolicy.")
    routing = (blue_green or {}).get("TrafficRoutingConfiguration") or {}
    kind = routing.get("Type")
    if kind == "CANARY" and not routing.get("CanarySize"):
        raise ValidationError("CanarySize must be specified when TrafficRoutingConfiguration Type is CANARY.")
    if kind == "LINEAR" and not routing.get("LinearStepSize"):
        raise ValidationError("LinearStepSize must be specified when TrafficRoutingConfiguration Type is LINEAR.")


def _upper_snake(status: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", status).upper()


def _epoch_ms(value: Any) -> Any:
    if isinstance(value, datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp() * 1000)
    if isinstance(value, dict):
        return {k: _epoch_ms(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_epoch_ms(v) for v in value]
    return value


# ----------------------------------------------------------------------------- deployments


@dataclass
class _Deployment:
    """An update in progress: what to install on success, and how far it has got."""

    endpoint: FakeEndpoint
    kind: str  # "config" (UpdateEndpoint) | "capacity" (UpdateEndpointWeightsAndCapacities)
    new_config: str
    new_variants: list[dict[str, Any]]
    pending_variants: list[dict[str, Any]]
    new_data_capture: dict[str, Any] | None
    new_async: dict[str, Any] | None
    alarms: list[str]
    stages: list[_Stage]
    polls: int
    duration: float | None  # seconds, time mode
    failure: str | None  # FailureReason when the new fleet cannot come up (fail-deployment)
    rollback_failure: str | None  # why a rollback fails (fail-rollback)
    start_time: datetime = field(default_factory=utcnow)
    started: float = field(default_factory=time.monotonic)
    seen: int = 0
    stage_times: dict[int, datetime] = field(default_factory=dict)
    rolling_back: bool = False

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
            stage, index = _Stage("Deleting", f"Terminating {total} instance(s).", 0), -1
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


_deployments: dict[str, _Deployment] = {}  # by endpoint ARN


def _active(endpoint: FakeEndpoint) -> _Deployment | None:
    deployment = _deployments.get(endpoint.arn)
    if deployment is not None and deployment.endpoint is not endpoint:  # endpoint recreated or moto reset
        _deployments.pop(endpoint.arn, None)
        return None
    return deployment


def _set_failure(endpoint: FakeEndpoint, reason: str | None) -> None:
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


def _advance(backend: SageMakerModelBackend, endpoint: FakeEndpoint) -> list[str]:
    """One DescribeEndpoint poll of the endpoint's update. Returns the statuses to emit events for."""
    deployment = _active(endpoint)
    if deployment is None or endpoint.endpoint_status not in ("Updating", "RollingBack"):
        return []
    if deployment.rolling_back:  # the poll after RollingBack ends the rollback
        _deployments.pop(endpoint.arn, None)
        endpoint.last_modified_time = utcnow()
        if deployment.rollback_failure:
            endpoint.endpoint_status = "UpdateRollbackFailed"
            _set_failure(endpoint, f"{endpoint.failure_reason} {deployment.rollback_failure}")
        else:
            endpoint.endpoint_status = "InService"
            _set_failure(endpoint, f"{endpoint.failure_reason} Rolled back to the previous endpoint configuration.")
        return [endpoint.endpoint_status]
    deployment.seen += 1
    fired = _fired_alarms(backend, deployment.alarms)
    if fired:
        deployment.rolling_back = True
        endpoint.endpoint_status = "RollingBack"
        _set_failure(endpoint, _alarm_reason(fired))
        endpoint.last_modified_time = utcnow()
        return ["RollingBack"]
    if not deployment.done():
        return []
    _deployments.pop(endpoint.arn, None)
    endpoint.last_modified_time = utcnow()
    if deployment.failure:
        endpoint.endpoint_status = "Failed"
        _set_failure(endpoint, deployment.failure)
        return ["Failed"]
    endpoint.endpoint_config_name = deployment.new_config
    endpoint.production_variants = deployment.new_variants
    if deployment.kind == "config":
        endpoint.data_capture_config = deployment.new_data_capture  # type: ignore[assignment]
        endpoint.async_inference_config = deployment.new_async  # type: ignore[attr-defined]
    endpoint.endpoint_status = "InService"
    _set_failure(endpoint, None)
    return ["InService"]


def _response(endpoint: FakeEndpoint) -> dict[str, Any]:
    response = endpoint.response_object
    deployment = _active(endpoint)
    if deployment is not None and deployment.kind == "config":
        response["PendingDeploymentSummary"] = deployment.pending_summary()
    elif deployment is not None:  # a capacity change shows on the variants themselves
        message = deployment.stages[0].message
        for variant in response.get("ProductionVariants", []):
            if variant.get("DesiredInstanceCount") != variant.get("CurrentInstanceCount"):
                variant["VariantStatus"] = [{"Status": "Updating", "StatusMessage": message,
                                             "StartTime": deployment.start_time}]
    return response


def _emit(backend: SageMakerModelBackend, detail: dict[str, Any]) -> None:
    try:
        eventbridge_targets.put_service_event(
            backend.account_id,
            backend.region_name,
            source=SOURCE,
            detail_type=DETAIL_TYPE,
            resources=[detail["EndpointArn"]],
            detail=detail,
        )
    except Exception:  # an event must never fail the SageMaker call
        LOG.exception("Could not emit %s for %s", DETAIL_TYPE, detail.get("EndpointArn"))


def _event_detail(endpoint: FakeEndpoint, status: str) -> dict[str, Any]:
    response = _response(endpoint)
    detail: dict[str, Any] = {
        key: response[key]
        for key in ("EndpointName", "EndpointArn", "EndpointConfigName", "ProductionVariants", "FailureReason",
                    "CreationTime", "LastModifiedTime", "PendingDeploymentSummary")
        if key in response
    }
    detail["EndpointStatus"] = _upper_snake(status)
    detail["Tags"] = {t["Key"]: t["Value"] for t in endpoint.tags or [] if "Key" in t}
    result: dict[str, Any] = _epoch_ms(detail)
    return result


# ----------------------------------------------------------------------------- backend methods


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
    with _lock:
        endpoint = _endpoint(self, endpoint_name)
        config = _config(self, endpoint_config_name)
        _check_not_in_progress(endpoint)
        for variant in config.production_variants:
            if variant.get("ModelName") and variant["ModelName"] not in self._models:
                raise ValidationError(f'Could not find model "{_model_arn(self, variant["ModelName"])}".')
        if not deployment_config and retain_deployment_config:
            deployment_config = getattr(endpoint, "last_deployment_config", None)
        if deployment_config:
            _validate_deployment_config(deployment_config)
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
        new_variants = _variant_summaries(self, config.production_variants, now)
        new_data_capture = _data_capture_summary(config.data_capture_config)
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
            summary: dict[str, Any] = {k: variant[k] for k in ("VariantName", "DeployedImages", "DesiredWeight",
                                               "DesiredInstanceCount", "CurrentInstanceCount",
                                               "DesiredServerlessConfig") if k in variant}
            summary["CurrentWeight"] = 0.0
            if instance_types.get(variant["VariantName"]):
                summary["InstanceType"] = instance_types[variant["VariantName"]]
            pending.append(summary)

        failure = rollback_failure = None
        for variant in config.production_variants:
            images = _images(self, variant.get("ModelName", ""))
            health = (f"the primary container for production variant {variant['VariantName']} did not pass the "
                      "ping health check. Please check CloudWatch logs for this endpoint.")
            if failure is None and any(FAIL_DEPLOYMENT_MARKER in image for image in images):
                failure = health[0].upper() + health[1:]
            if rollback_failure is None and any(FAIL_ROLLBACK_MARKER in image for image in images):
                rollback_failure = f"Rolling back to the previous endpoint configuration failed: {health}"

        total = sum(v.get("DesiredInstanceCount", 1) for v in new_variants) or 1
        stages = _stages(deployment_config, total)
        current = _settings
        duration = None
        if current.mode == "time":
            nominal = sum(s.seconds for s in stages)
            duration = current.bake_seconds if current.bake_seconds is not None else nominal * (current.time_scale or 0)
        alarms = [a["AlarmName"] for a in ((deployment_config or {}).get("AutoRollbackConfiguration") or {})
                  .get("Alarms", []) if a.get("AlarmName")]
        _deployments[endpoint.arn] = _Deployment(
            endpoint=endpoint, kind="config", new_config=endpoint_config_name, new_variants=new_variants,
            pending_variants=pending, new_data_capture=new_data_capture, new_async=config.async_inference_config,
            alarms=alarms, stages=stages, polls=current.polls, duration=duration, failure=failure,
            rollback_failure=rollback_failure, start_time=now,
        )
        if deployment_config:
            endpoint.last_deployment_config = deployment_config  # type: ignore[attr-defined]
        endpoint.endpoint_status = "Updating"
        _set_failure(endpoint, None)
        endpoint.last_modified_time = now
        detail = _event_detail(endpoint, "Updating")
    _emit(self, detail)
    return str(endpoint.arn)


def update_endpoint_weights_and_capacities(
    self: SageMakerModelBackend, endpoint_name: str, desired_weights_and_capacities: list[dict[str, Any]]
) -> str:
    """UpdateEndpointWeightsAndCapacities: moto's validation, then Updating for N polls (see docstring)."""
    with _lock:
        endpoint = _endpoint(self, endpoint_name)
        names = [v.get("VariantName") for v in desired_weights_and_capacities]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ValidationError(f'The variant name "{name}" was non-unique within the request.')
            if not any(v["VariantName"] == name for v in endpoint.production_variants):
                raise ValidationError(
                    f'The variant name(s) "{name}" is/are not present within endpoint configuration '
                    f'"{endpoint.endpoint_config_name}".'
                )
        _check_not_in_progress(endpoint)
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
                changes.append(f"Scaling desired instance count of {desired['VariantName']} to "
                               f"{desired['DesiredInstanceCount']}.")
        for variant in target:  # on completion current = desired
            if "DesiredWeight" in variant:
                variant["CurrentWeight"] = variant["DesiredWeight"]
            if "DesiredInstanceCount" in variant:
                variant["CurrentInstanceCount"] = variant["DesiredInstanceCount"]
        current = _settings
        stage = _Stage("Updating", " ".join(changes) or "Updating variant weights.", 0)
        _deployments[endpoint.arn] = _Deployment(
            endpoint=endpoint, kind="capacity", new_config=endpoint.endpoint_config_name, new_variants=target,
            pending_variants=[], new_data_capture=None, new_async=None, alarms=[], stages=[stage],
            polls=current.polls, duration=None if current.mode == "polls" else (current.bake_seconds or 0.0),
            failure=None, rollback_failure=None,
        )
        endpoint.endpoint_status = "Updating"
        endpoint.last_modified_time = utcnow()
        detail = _event_detail(endpoint, "Updating")
    _emit(self, detail)
    return str(endpoint.arn)


def _describe_endpoint(self: SageMakerModelBackend, endpoint_name: str) -> dict[str, Any]:
    with _lock:
        endpoint = _endpoint(self, endpoint_name)
        details = [_event_detail(endpoint, status) for status in _advance(self, endpoint)]
        response = _response(endpoint)
    for detail in details:
        _emit(self, detail)
    return response


def _wrap_create_endpoint(original: Any) -> Any:
    def create_endpoint(
        self: SageMakerModelBackend, endpoint_name: str, endpoint_config_name: str, tags: list[dict[str, str]]
    ) -> FakeEndpoint:
        with _lock:
            if endpoint_name in self.endpoints:
                raise ValidationError(
                    f'Cannot create already existing endpoint "{_endpoint_arn(self, endpoint_name)}".'
                )
            config = _config(self, endpoint_config_name)
            endpoint: FakeEndpoint = original(self, endpoint_name=endpoint_name,
                                              endpoint_config_name=endpoint_config_name, tags=tags)
            _deployments.pop(endpoint.arn, None)
            endpoint.production_variants = _variant_summaries(
                self, config.production_variants, endpoint.creation_time
            )
            endpoint.data_capture_config = _data_capture_summary(config.data_capture_config)  # type: ignore[assignment]
            endpoint.async_inference_config = config.async_inference_config  # type: ignore[attr-defined]
            endpoint.last_deployment_config = None  # type: ignore[attr-defined]
            return endpoint

    return create_endpoint


def _wrap_delete_endpoint(original: Any) -> Any:
    def delete_endpoint(self: SageMakerModelBackend, endpoint_name: str) -> None:
        with _lock:
            endpoint = _endpoint(self, endpoint_name)
            _check_not_in_progress(endpoint)
            original(self, endpoint_name)
            _deployments.pop(endpoint.arn, None)

    return delete_endpoint


def _wrap_create_endpoint_config(original: Any) -> Any:
    def create_endpoint_config(self: SageMakerModelBackend, endpoint_config_name: str, *args: Any,
                               **kwargs: Any) -> FakeEndpointConfig:
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


# ----------------------------------------------------------------------------- response handlers


def _resp_describe_endpoint_config(self: SageMakerResponse) -> ActionResult:
    response = self.sagemaker_backend.describe_endpoint_config(self._get_param("EndpointConfigName"))
    # moto keeps an empty DataCaptureConfig ({}), which AWS omits; echoed back into CreateEndpointConfig it
    # fails the SDK's validation (InitialSamplingPercentage, DestinationS3Uri, CaptureOptions are required).
    return ActionResult({k: v for k, v in response.items() if v not in ({}, [])})


def _resp_update_endpoint(self: SageMakerResponse) -> ActionResult:
    arn = self.sagemaker_backend.update_endpoint(  # type: ignore[attr-defined]
        endpoint_name=self._get_param("EndpointName"),
        endpoint_config_name=self._get_param("EndpointConfigName"),
        retain_all_variant_properties=bool(self._get_param("RetainAllVariantProperties", False)),
        exclude_retained_variant_properties=self._get_param("ExcludeRetainedVariantProperties"),
        deployment_config=self._get_param("DeploymentConfig"),
        retain_deployment_config=bool(self._get_param("RetainDeploymentConfig", False)),
    )
    return ActionResult({"EndpointArn": arn})


def _resp_update_weights(self: SageMakerResponse) -> ActionResult:
    arn = self.sagemaker_backend.update_endpoint_weights_and_capacities(
        endpoint_name=self._get_param("EndpointName"),
        desired_weights_and_capacities=self._get_param("DesiredWeightsAndCapacities"),
    )
    return ActionResult({"EndpointArn": arn})


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


def apply() -> None:
    """Install the SageMaker endpoint patches (idempotent); reads the env settings once."""
    global _applied
    with _lock:
        if _applied:
            return
        eventbridge_targets.apply()
        _configure_from_env()
        backend = SageMakerModelBackend
        backend.update_endpoint = update_endpoint  # type: ignore[attr-defined]
        backend.update_endpoint_weights_and_capacities = update_endpoint_weights_and_capacities  # type: ignore[method-assign]
        backend.describe_endpoint = _describe_endpoint  # type: ignore[method-assign]
        backend.create_endpoint = _wrap_create_endpoint(backend.create_endpoint)  # type: ignore[method-assign]
        backend.delete_endpoint = _wrap_delete_endpoint(backend.delete_endpoint)  # type: ignore[method-assign]
        backend.create_endpoint_config = _wrap_create_endpoint_config(  # type: ignore[method-assign]
            backend.create_endpoint_config
        )
        backend.create_model = _wrap_create_model(backend.create_model)  # type: ignore[method-assign]
        backend.list_endpoint_configs = _wrap_list_endpoint_configs(  # type: ignore[method-assign]
            backend.list_endpoint_configs
        )
        backend.list_models_page = list_models_page  # type: ignore[attr-defined]
        FakeEndpointConfig.validate_instance_type = _validate_instance_type  # type: ignore[method-assign]
        SageMakerResponse.update_endpoint = _resp_update_endpoint  # type: ignore[attr-defined]
        SageMakerResponse.update_endpoint_weights_and_capacities = _resp_update_weights  # type: ignore[method-assign]
        SageMakerResponse.list_models = _resp_list_models  # type: ignore[method-assign]
        SageMakerResponse.describe_endpoint_config = _resp_describe_endpoint_config  # type: ignore[method-assign]
        _applied = True


__all__ = ["DEFAULT_POLLS", "FAIL_DEPLOYMENT_MARKER", "FAIL_ROLLBACK_MARKER", "Settings", "apply", "configure",
           "settings"]
