"""Inference-component rollouts: one model of a shared real-time endpoint rolled forward (or back) on its own.

AWS pages followed: "Deploy models with inference components" (realtime-endpoints-deploy-models.html: an endpoint
for components has an ``ExecutionRoleArn`` and variants without ``ModelName``, with an instance type and count,
optionally ``ManagedInstanceScaling``), API_CreateInferenceComponent / API_UpdateInferenceComponent
(``Specification.ModelName``, ``ComputeResourceRequirements``, ``RuntimeConfig.CopyCount``, ``DeploymentConfig`` =
``RollingUpdatePolicy`` + ``AutoRollbackConfiguration``), API_DescribeInferenceComponent
(``InferenceComponentStatus`` ``Creating``/``Updating``/``InService``/``Failed``, ``FailureReason``) and
"Update inference components with rolling deployments" (inference-component-rolling-deployment.html: batches of
copies, each baked ``WaitIntervalInSeconds``; an alarm in ``ALARM`` rolls the copies back to the old model).

Same steps as an endpoint rollout (``acquire`` → ``start`` → ``check``… → ``finish``), one lease per component. The
outcome is what the component says: ``Succeeded`` only when it is ``InService`` on the new model.
"""

from __future__ import annotations

import time
from typing import Any

from modelrelay.adapters import alarms, sagemaker
from modelrelay.config import ComputeRequirements, InferenceComponentTarget
from modelrelay.domain.deps import RolloutDeps
from modelrelay.domain.rollout import (
    FIRST_POLL_SECONDS,
    KEEP_WINNERS,
    LEASE_MARGIN_SECONDS,
    _names,
    _require_completed,
    next_poll,
)
from modelrelay.errors import NothingToRollBack, PreflightFailed
from modelrelay.observability import logger
from modelrelay.steps import HubResult, PromotionPlan, RolloutRequest, RolloutState, ServingRecord

STRATEGY = "INFERENCE_COMPONENT_ROLLING"
# What one instance offers (vCPUs, memory MiB, accelerators), for the preflight's room check. SageMaker keeps part
# of each instance for itself, so a fit here is necessary, not sufficient; an unlisted type skips the check.
INSTANCE_RESOURCES: dict[str, tuple[float, int, int]] = {
    "ml.m5.large": (2, 8192, 0),
    "ml.m5.xlarge": (4, 16384, 0),
    "ml.m5.2xlarge": (8, 32768, 0),
    "ml.m5.4xlarge": (16, 65536, 0),
    "ml.c5.xlarge": (4, 8192, 0),
    "ml.c5.2xlarge": (8, 16384, 0),
    "ml.g5.xlarge": (4, 16384, 1),
    "ml.g5.2xlarge": (8, 32768, 1),
    "ml.g5.12xlarge": (48, 196608, 4),
    "ml.g5.48xlarge": (192, 786432, 8),
    "ml.g6.xlarge": (4, 16384, 1),
    "ml.g6.12xlarge": (48, 196608, 4),
    "ml.p4d.24xlarge": (96, 1179648, 8),
}


def lease_key(endpoint: str, component: str) -> str:
    """One rollout per component (endpoint names hold no '/', so this never names an endpoint's own lease)."""
    return f"{endpoint}/{component}"


def _target(plan: PromotionPlan, deps: RolloutDeps) -> InferenceComponentTarget:
    assert plan.group
    target = deps.routing.route_for(plan.group).target
    assert isinstance(target, InferenceComponentTarget)
    return target


def acquire(plan: PromotionPlan, execution: str, deps: RolloutDeps, now: float | None = None) -> RolloutState:
    """Take the component's lease (or raise EndpointLeaseBusy); a newer version already serving supersedes us."""
    now = time.time() if now is None else now
    target = _target(plan, deps)
    key = lease_key(target.endpoint_name, target.component_name)
    expires = int(now + target.rollout.maximum_execution_timeout_seconds + 2 * LEASE_MARGIN_SECONDS)
    deps.store.acquire_lease(key, execution, plan.package_arn, expires, now)
    serving, _ = deps.store.read_component_serving(target.endpoint_name, target.component_name)
    version = plan.source.version if plan.source else None
    if plan.decision != "restore" and serving is not None and version is not None and (serving.version or 0) > version:
        deps.store.release_lease(key, execution)
        return RolloutState(
            status="Superseded",
            endpoint_name=target.endpoint_name,
            component_name=target.component_name,
            reason=f"version {serving.version} of {plan.group}, approved later, already serves inference component "
            f"{target.component_name}; version {version} is not rolled out",
        )
    return RolloutState(
        status="Acquired",
        endpoint_name=target.endpoint_name,
        component_name=target.component_name,
        lease_expires_at=expires,
    )


def deployment_config(target: InferenceComponentTarget, alarm_names: list[str]) -> dict[str, Any]:
    rollout = target.rollout
    policy: dict[str, Any] = {
        "MaximumBatchSize": rollout.maximum_batch_size.to_api(),
        "WaitIntervalInSeconds": rollout.wait_interval_seconds,
        "MaximumExecutionTimeoutInSeconds": rollout.maximum_execution_timeout_seconds,
    }
    if rollout.rollback_maximum_batch_size is not None:
        policy["RollbackMaximumBatchSize"] = rollout.rollback_maximum_batch_size.to_api()
    return {
        "RollingUpdatePolicy": policy,
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in alarm_names]},
    }


def _need(compute: dict[str, Any], copies: int) -> tuple[float, int, float]:
    return (
        float(compute.get("NumberOfCpuCoresRequired") or 0) * copies,
        int(compute.get("MinMemoryRequiredInMb") or 0) * copies,
        float(compute.get("NumberOfAcceleratorDevicesRequired") or 0) * copies,
    )


def check_room(
    variant: dict[str, Any], others: list[dict[str, Any]], compute: ComputeRequirements, copies: int, extra: int
) -> None:
    """The variant's instances (its ``ManagedInstanceScaling.MaxInstanceCount`` when scaling is on) must hold every
    other component's copies, this component's ``copies`` and the ``extra`` copies a rolling batch adds while old
    and new copies serve side by side; one copy must fit on one instance."""
    instance_type = str(variant.get("InstanceType") or "")
    offer = INSTANCE_RESOURCES.get(instance_type)
    if offer is None:
        logger.warning("room not checked: instance type not known", extra={"instance_type": instance_type})
        return
    scaling = variant.get("ManagedInstanceScaling") or {}
    instances = int(
        (scaling.get("MaxInstanceCount") if scaling.get("Status") == "ENABLED" else None)
        or variant.get("InitialInstanceCount")
        or 0
    )
    own = compute.to_api()
    one = _need(own, 1)
    names = ("vCPUs", "MiB of memory", "accelerators")
    for index, label in enumerate(names):
        if one[index] > offer[index]:
            raise PreflightFailed(
                f"one copy needs {one[index]:g} {label}; an {instance_type} instance has {offer[index]:g}",
                reason="component_does_not_fit_instance",
            )
    used = [0.0, 0.0, 0.0]
    for other in others:
        spec = (other.get("Specification") or {}).get("ComputeResourceRequirements") or {}
        count = int((other.get("RuntimeConfig") or {}).get("DesiredCopyCount") or 0)
        for index, value in enumerate(_need(spec, count)):
            used[index] += value
    wanted = _need(own, copies + extra)
    for index, label in enumerate(names):
        room = offer[index] * instances
        if used[index] + wanted[index] > room:
            raise PreflightFailed(
                f"variant {variant.get('VariantName')} ({instances} x {instance_type}) has {room:g} {label}; the other "
                f"components reserve {used[index]:g} and {copies} copies (+{extra} while a batch rolls) need "
                f"{wanted[index]:g}",
                reason="endpoint_no_room",
            )


def preflight(target: InferenceComponentTarget, component: dict[str, Any] | None, deps: RolloutDeps) -> dict[str, Any]:
    """Every check before any write; returns the endpoint config's variant the component goes on."""
    name = target.endpoint_name
    endpoint = sagemaker.describe_endpoint(deps.sagemaker, name)
    if endpoint is None:
        raise PreflightFailed(f"endpoint {name} does not exist", reason="endpoint_not_found")
    if endpoint.get("EndpointStatus") != "InService":
        raise PreflightFailed(
            f"endpoint {name} is {endpoint.get('EndpointStatus')}, not InService", reason="endpoint_not_in_service"
        )
    config = sagemaker.describe_endpoint_config(deps.sagemaker, endpoint["EndpointConfigName"]) or {}
    variant = next(
        (v for v in config.get("ProductionVariants") or [] if v.get("VariantName") == target.variant_name), None
    )
    if (
        variant is None
        or variant.get("ModelName")
        or not variant.get("InstanceType")
        or not config.get("ExecutionRoleArn")
    ):
        raise PreflightFailed(
            f"endpoint {name} is not set up for inference components: its config {endpoint['EndpointConfigName']} "
            f"needs an ExecutionRoleArn and a variant {target.variant_name} with an instance type and no ModelName",
            reason="endpoint_not_for_inference_components",
        )
    if component is not None:
        if component.get("EndpointName") != name:
            raise PreflightFailed(
                f"inference component {target.component_name} exists on endpoint {component.get('EndpointName')}",
                reason="component_on_other_endpoint",
            )
        if component.get("InferenceComponentStatus") != "InService":
            raise PreflightFailed(
                f"inference component {target.component_name} is {component.get('InferenceComponentStatus')}, not "
                "InService",
                reason="component_not_in_service",
            )
    others = [
        c
        for c in sagemaker.endpoint_inference_components(deps.sagemaker, name)
        if c.get("InferenceComponentName") != target.component_name
    ]
    extra = target.rollout.maximum_batch_size.copies_of(target.copies) if component is not None else 0
    check_room(variant, others, target.compute, target.copies, extra)
    missing = alarms.missing(deps.cloudwatch, list(target.rollout.alarm_names))
    if missing:
        raise PreflightFailed(f"alarm(s) {', '.join(missing)} named by the route do not exist", reason="alarm_missing")
    return {"variant": variant, "config": config}


def _specification(target: InferenceComponentTarget, model: str) -> dict[str, Any]:
    return {"ModelName": model, "ComputeResourceRequirements": target.compute.to_api()}


def _submit(target: InferenceComponentTarget, component: dict[str, Any] | None, model: str, deps: RolloutDeps) -> None:
    """CreateInferenceComponent (a new component) or UpdateInferenceComponent with the rolling policy."""
    if component is None:
        sagemaker.create_inference_component(
            deps.sagemaker,
            InferenceComponentName=target.component_name,
            EndpointName=target.endpoint_name,
            VariantName=target.variant_name,
            Specification=_specification(target, model),
            RuntimeConfig={"CopyCount": target.copies},
        )
    else:
        sagemaker.update_inference_component(
            deps.sagemaker,
            InferenceComponentName=target.component_name,
            Specification=_specification(target, model),
            RuntimeConfig={"CopyCount": target.copies},
            DeploymentConfig=deployment_config(target, list(target.rollout.alarm_names)),
        )


def _model_of(component: dict[str, Any] | None) -> str | None:
    return ((component or {}).get("Specification") or {}).get("ModelName")


def _in_progress(target: InferenceComponentTarget, old_model: str | None, new_model: str, now: float) -> RolloutState:
    rollout = target.rollout
    return RolloutState(
        status="InProgress",
        endpoint_name=target.endpoint_name,
        component_name=target.component_name,
        old_model=old_model,
        new_model=new_model,
        alarm_names=list(rollout.alarm_names),
        strategy=STRATEGY,
        started_at=int(now),
        wait_seconds=max(1, min(FIRST_POLL_SECONDS, rollout.wait_interval_seconds // 4 or 1)),
        deadline=int(now + rollout.maximum_execution_timeout_seconds + LEASE_MARGIN_SECONDS),
    )


def start(
    plan: PromotionPlan, hub: HubResult | None, execution: str, deps: RolloutDeps, now: float | None = None
) -> RolloutState:
    """Preflight, then a model from the hub package and CreateInferenceComponent / UpdateInferenceComponent."""
    now = time.time() if now is None else now
    target = _target(plan, deps)
    component = sagemaker.describe_inference_component(deps.sagemaker, target.component_name)
    if plan.decision == "restore":
        return _start_restore(plan, target, component, deps, now)
    assert plan.artifact and hub
    name = _names(target.component_name, plan.artifact.sha256, execution)
    if component is not None and _model_of(component) == name:  # a retried start after the request was accepted
        serving, _ = deps.store.read_component_serving(target.endpoint_name, target.component_name)
        return _in_progress(target, serving.model_name if serving else None, name, now)
    found = preflight(target, component, deps)
    if sagemaker.describe_model(deps.sagemaker, name) is None:
        _require_completed(hub.hub_package_arn, deps)
        request: dict[str, Any] = {
            "ModelName": name,
            "Containers": [{"ModelPackageName": hub.hub_package_arn}],
            "ExecutionRoleArn": found["config"]["ExecutionRoleArn"],
            "Tags": [
                {"Key": "modelrelay:package", "Value": sagemaker.tag_value(plan.package_arn)},
                {"Key": "modelrelay:execution", "Value": sagemaker.tag_value(execution)},
            ],
        }
        for key in ("VpcConfig", "EnableNetworkIsolation"):
            if found["config"].get(key) not in (None, {}):
                request[key] = found["config"][key]
        sagemaker.create_model(deps.sagemaker, **request)
    _submit(target, component, name, deps)
    logger.info(
        "inference component rollout started",
        extra={"component": target.component_name, "endpoint": target.endpoint_name, "model": name},
    )
    return _in_progress(target, _model_of(component), name, now)


def _start_restore(
    plan: PromotionPlan,
    target: InferenceComponentTarget,
    component: dict[str, Any] | None,
    deps: RolloutDeps,
    now: float,
) -> RolloutState:
    """Move the component back to the newest previous winner whose package is still Approved and model exists."""
    _, history = deps.store.read_component_serving(target.endpoint_name, target.component_name)
    candidate = next(
        (
            old
            for old in history
            if old.model_name
            and sagemaker.approval_status(deps.sagemaker, old.package_arn) == "Approved"
            and sagemaker.describe_model(deps.sagemaker, old.model_name) is not None
        ),
        None,
    )
    if candidate is None or component is None:
        raise NothingToRollBack(
            f"inference component {target.component_name} has no earlier approved version whose model still exists"
        )
    preflight(target, component, deps)
    assert candidate.model_name
    _submit(target, component, candidate.model_name, deps)
    state = _in_progress(target, _model_of(component), candidate.model_name, now)
    return state.model_copy(update={"restore_to": candidate})


def classify(component: dict[str, Any] | None, rollout: RolloutState, fired: list[str]) -> tuple[str, str, str]:
    """(status, reason code, sentence) from what DescribeInferenceComponent says, never from a missing error."""
    if component is None:
        return "Failed", "component_deleted", f"inference component {rollout.component_name} was deleted"
    status = component.get("InferenceComponentStatus")
    model = _model_of(component)
    said = str(component.get("FailureReason") or "")
    quoted = f'SageMaker: "{said}"' if said else "SageMaker gave no FailureReason"
    if status == "Failed":
        return "Failed", "deployment_failed", f"inference component is Failed; {quoted}"
    if status == "InService" and model == rollout.new_model:
        return "Succeeded", "in_service", f"InService on model {model}"
    if status == "InService" and rollout.old_model and model == rollout.old_model:
        if fired:
            return "RolledBack", "alarm_rollback", f"alarm(s) {', '.join(fired)} went to ALARM; {quoted}"
        return "Failed", "deployment_failed", f"the new copies did not come into service, back on {model}; {quoted}"
    if status == "InService":
        return "Failed", "unexpected_model", f"InService on an unexpected model {model}"
    return "InProgress", "in_progress", f"inference component is {status}"


def check(rollout: RolloutState, execution: str, deps: RolloutDeps, now: float | None = None) -> RolloutState:
    now = time.time() if now is None else now
    assert rollout.deadline is not None and rollout.component_name
    key = lease_key(rollout.endpoint_name, rollout.component_name)
    if not deps.store.renew_lease(key, execution, rollout.deadline + LEASE_MARGIN_SECONDS):
        logger.warning("rollout lease lost while the update runs", extra={"component": rollout.component_name})
    component = sagemaker.describe_inference_component(deps.sagemaker, rollout.component_name)
    fired: list[str] = []
    if component is not None and component.get("InferenceComponentStatus") == "InService":
        fired = alarms.fired_since(deps.cloudwatch, rollout.alarm_names, float(rollout.started_at or 0))
    status, code, reason = classify(component, rollout, fired)
    result = rollout.model_copy(
        update={
            "status": status,
            "reason": reason,
            "reason_code": code,
            "fired_alarms": fired if status == "RolledBack" else [],
            "failure_reason": (component or {}).get("FailureReason") or None,
            "polls": rollout.polls + 1,
            "observed": (component or {}).get("InferenceComponentStatus"),
        }
    )
    return next_poll(result, rollout, now, reason)


def finish(
    plan: PromotionPlan, hub: HubResult | None, rollout: RolloutState, execution: str, deps: RolloutDeps
) -> RolloutState:
    """Record the winner (keep a few, delete older models), or remove what lost; release; annotate packages."""
    assert rollout.component_name
    endpoint, name = rollout.endpoint_name, rollout.component_name
    serving, history = deps.store.read_component_serving(endpoint, name)
    if rollout.status == "Succeeded" and plan.decision == "restore":
        restored = rollout.restore_to
        assert restored is not None
        remaining = history[history.index(restored) + 1 :] if restored in history else history
        deps.store.write_component_serving(endpoint, name, restored, remaining)
        if serving is not None and serving.model_name != restored.model_name:
            sagemaker.delete_model(deps.sagemaker, serving.model_name)
    elif rollout.status == "Succeeded":
        older = ([serving] if serving else []) + history
        current = ServingRecord(
            package_arn=plan.package_arn,
            group=plan.group,
            version=plan.version,
            config_name=name,
            model_name=rollout.new_model,
            hub_package_arn=hub.hub_package_arn if hub else None,
            execution=execution,
        )
        for old in older[KEEP_WINNERS - 1 :]:
            sagemaker.delete_model(deps.sagemaker, old.model_name)
        deps.store.write_component_serving(endpoint, name, current, older[: KEEP_WINNERS - 1])
    elif plan.decision != "restore":
        _remove_loser(rollout, deps)
    deps.store.release_lease(lease_key(endpoint, name), execution)
    properties = {
        "modelrelay:rollout": rollout.status,
        "modelrelay:rollout-endpoint": endpoint,
        "modelrelay:rollout-component": name,
        "modelrelay:rollout-reason": ": ".join(filter(None, (rollout.reason_code, rollout.reason))) or rollout.status,
    }
    not_recorded = []
    # Pull mode: a spoke's package is read-only to the hub (its group policy grants Describe); the hub package
    # carries the record.
    targets = [(deps.sagemaker, plan.package_arn)] if deps.settings.may_write_source(plan.package_arn) else []
    if hub is not None:
        targets.append((deps.hub().sagemaker, hub.hub_package_arn))
    for client, package_arn in targets:
        if not sagemaker.record_status(client, package_arn, properties, best_effort=True):
            not_recorded.append(package_arn)
    return rollout.model_copy(update={"finished": True, "status_not_recorded_on": not_recorded})


def _remove_loser(rollout: RolloutState, deps: RolloutDeps) -> None:
    """Nothing half-written: a component this rollout created that did not come into service is deleted; the new
    model goes unless the component still runs it."""
    assert rollout.component_name
    component = sagemaker.describe_inference_component(deps.sagemaker, rollout.component_name)
    if component is not None and rollout.old_model is None and _model_of(component) == rollout.new_model:
        sagemaker.delete_inference_component(deps.sagemaker, rollout.component_name)
        component = None
    if component is None or _model_of(component) != rollout.new_model:
        sagemaker.delete_model(deps.sagemaker, rollout.new_model)


def release(plan: PromotionPlan, request: RolloutRequest, deps: RolloutDeps) -> RolloutState:
    target = _target(plan, deps)
    deps.store.release_lease(lease_key(target.endpoint_name, target.component_name), request.execution)
    return request.rollout or RolloutState(
        status="Failed", endpoint_name=target.endpoint_name, component_name=target.component_name
    )


def run(request: RolloutRequest, deps: RolloutDeps) -> RolloutState:
    """One step of an inference component's rollout, as named by the state machine's ``action``."""
    plan, execution = request.plan, request.execution
    if request.action == "acquire":
        return acquire(plan, execution, deps)
    if request.action == "release":
        return release(plan, request, deps)
    assert request.rollout is not None, f"action {request.action} needs the rollout slot"
    if request.action == "start":
        return start(plan, request.hub, execution, deps)
    if request.action == "check":
        return check(request.rollout, execution, deps)
    return finish(plan, request.hub, request.rollout, execution, deps)


__all__ = ["check_room", "classify", "deployment_config", "run"]
