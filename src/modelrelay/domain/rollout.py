"""Real-time endpoint rollouts with SageMaker deployment guardrails, reported as they really ended.

Steps (each one action of the ``RolloutStep`` function, driven by ``statemachines/promotion.asl.json``):
``acquire`` a per-endpoint lease (conditional write with expiry) → on a route with ``rollout.shadow``,
``shadow_start``/``shadow_check`` (:mod:`modelrelay.domain.shadow`) → ``start``: preflight checks, then a model
from the hub package, an endpoint config cloned from the current one with only the model swapped, and
``UpdateEndpoint`` with a blue/green ``DeploymentConfig`` and alarm-driven auto-rollback → ``check`` polls
``DescribeEndpoint`` with backoff and classifies → ``finish`` releases the lease, records the outcome, cleans up.
The outcome comes from what the endpoint says: ``Succeeded`` only when it is ``InService`` on the new config.
"""

from __future__ import annotations

import math
import time
from typing import Any

from modelrelay.adapters import alarms, sagemaker
from modelrelay.config import EndpointTarget, RolloutConfig
from modelrelay.domain.deps import RolloutDeps
from modelrelay.errors import HubPackageNotReady, NothingToRollBack, PreflightFailed
from modelrelay.observability import logger
from modelrelay.steps import HubResult, PromotionPlan, RolloutRequest, RolloutState, ServingRecord

LEASE_MARGIN_SECONDS = 900
FIRST_POLL_SECONDS = 15
MAX_POLL_SECONDS = 300
KEEP_WINNERS = 3  # the last few winners' configs and models are kept, so a rollback has something to return to


def _target(plan: PromotionPlan, deps: RolloutDeps) -> EndpointTarget:
    assert plan.group
    route = deps.routing.route_for(plan.group)
    target = route.stage(plan.stage).target if plan.stage else route.target
    assert isinstance(target, EndpointTarget)
    return target


def acquire(plan: PromotionPlan, execution: str, deps: RolloutDeps, now: float | None = None) -> RolloutState:
    """Take the endpoint's lease, or raise EndpointLeaseBusy; a newer version already serving supersedes us."""
    now = time.time() if now is None else now
    target = _target(plan, deps)
    endpoint = target.endpoint_name
    shadow = target.rollout.shadow if plan.decision != "restore" else None
    shadow_seconds = shadow.duration_seconds if shadow else 0
    expires = int(now + target.rollout.maximum_execution_timeout_seconds + shadow_seconds + 2 * LEASE_MARGIN_SECONDS)
    deps.store.acquire_lease(endpoint, execution, plan.package_arn, expires, now)
    serving, _ = deps.store.read_serving(endpoint)
    version = plan.source.version if plan.source else None
    if (
        plan.decision != "restore"
        and serving is not None
        and serving.group == plan.group
        and version is not None
        and int(serving.version or 0) > version
    ):
        deps.store.release_lease(endpoint, execution)
        return RolloutState(
            status="Superseded",
            endpoint_name=endpoint,
            reason=f"version {serving.version} of {plan.group}, approved later, already serves "
            f"{endpoint}; version {version} is not rolled out",
        )
    # A route with a shadow phase runs the new model as a shadow variant first (domain/shadow.py).
    status = "ShadowFirst" if shadow else "Acquired"
    return RolloutState(status=status, endpoint_name=endpoint, lease_expires_at=expires)


def traffic_routing(rollout: RolloutConfig) -> dict[str, Any]:
    routing: dict[str, Any] = {"Type": rollout.strategy, "WaitIntervalInSeconds": rollout.wait_interval_seconds}
    if rollout.strategy == "CANARY":
        routing["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": rollout.canary_size_percent}
    elif rollout.strategy == "LINEAR":
        routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": rollout.linear_step_percent}
    return routing


def deployment_config(rollout: RolloutConfig, alarm_names: list[str]) -> dict[str, Any]:
    if rollout.strategy == "ROLLING":
        return rolling_deployment_config(rollout, alarm_names)
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": traffic_routing(rollout),
            "TerminationWaitInSeconds": rollout.termination_wait_seconds,
            "MaximumExecutionTimeoutInSeconds": rollout.maximum_execution_timeout_seconds,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in alarm_names]},
    }


def rolling_deployment_config(rollout: RolloutConfig, alarm_names: list[str]) -> dict[str, Any]:
    """``RollingUpdatePolicy`` (API_RollingUpdatePolicy): batches of ``MaximumBatchSize``, each baked
    ``WaitIntervalInSeconds`` while the alarms are watched; without ``RollbackMaximumBatchSize`` SageMaker brings
    the whole old fleet back at once on a rollback."""
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


def rolling_batch_instances(rollout: RolloutConfig, count: int) -> int:
    """Instances in one rolling batch of a fleet of ``count`` (a percent rounds up, as a canary's does)."""
    size = rollout.maximum_batch_size
    return size.value if size.type == "INSTANCE_COUNT" else math.ceil(count * size.value / 100)


def preflight_rolling(endpoint: dict[str, Any], config: dict[str, Any], rollout: RolloutConfig) -> None:
    """What SageMaker excludes from a rolling deployment, refused before any write, each by name.

    deployment-guardrails-exclusions.html: not for serverless or multi-variant endpoints (and, for every
    guardrail, not Inf1 instances: SageMaker would silently fall back to all at once without baking).
    API_RollingUpdatePolicy: ``MaximumBatchSize`` must be 5-50 % of the variant's total instance count; the
    bakes of every batch must fit in ``MaximumExecutionTimeoutInSeconds``. The variant names of the new config
    equal the old one's by construction (the config is cloned with only the model swapped).
    """
    variants = config.get("ProductionVariants") or []
    if len(variants) > 1:
        names = ", ".join(v["VariantName"] for v in variants)
        raise PreflightFailed(
            f"endpoint config {config.get('EndpointConfigName')} has {len(variants)} production variants ({names}); "
            "SageMaker excludes multi-variant endpoints from rolling deployments",
            reason="rolling_multiple_variants",
        )
    variant = variants[0]
    if variant.get("ServerlessConfig"):
        raise PreflightFailed(
            f"variant {variant['VariantName']} is serverless; SageMaker excludes serverless endpoints from rolling "
            "deployments",
            reason="rolling_serverless",
        )
    current: dict[str, Any] = next(
        (v for v in endpoint.get("ProductionVariants", []) if v.get("VariantName") == variant["VariantName"]), {}
    )
    count = int(current.get("CurrentInstanceCount") or variant.get("InitialInstanceCount") or 0)
    batch = rolling_batch_instances(rollout, count)
    if count < 2 or batch * 2 > count:
        raise PreflightFailed(
            f"variant {variant['VariantName']} has {count} instance(s): a batch of {batch} is more than 50% of the "
            "fleet; ROLLING needs at least 2 instances and batches of 5-50% of the instance count",
            reason="rolling_batch_too_large",
        )
    if batch * 20 < count:
        raise PreflightFailed(
            f"variant {variant['VariantName']} has {count} instance(s): a batch of {batch} is less than 5% of the "
            "fleet (SageMaker's minimum MaximumBatchSize)",
            reason="rolling_batch_too_small",
        )
    bakes = math.ceil(count / batch) * rollout.wait_interval_seconds
    if bakes >= rollout.maximum_execution_timeout_seconds:
        raise PreflightFailed(
            f"{math.ceil(count / batch)} batch(es) of {batch} instance(s), each baked "
            f"{rollout.wait_interval_seconds} s, need {bakes} s: more than maximum_execution_timeout_seconds "
            f"({rollout.maximum_execution_timeout_seconds})",
            reason="rolling_timeout_too_short",
        )


def preflight(endpoint: dict[str, Any], config: dict[str, Any], rollout: RolloutConfig, deps: RolloutDeps) -> None:
    """Every check before any SageMaker write; each failure names itself."""
    name = endpoint["EndpointName"]
    if endpoint.get("EndpointStatus") != "InService":
        raise PreflightFailed(
            f"endpoint {name} is {endpoint.get('EndpointStatus')}, not InService", reason="endpoint_not_in_service"
        )
    variants = config.get("ProductionVariants") or []
    if not variants:
        raise PreflightFailed(
            f"endpoint config {config.get('EndpointConfigName')} has no production variants",
            reason="no_production_variants",
        )
    inf1 = [v["VariantName"] for v in variants if str(v.get("InstanceType") or "").startswith("ml.inf1.")]
    if inf1:
        raise PreflightFailed(
            f"variant(s) {', '.join(inf1)} run on Inf1 instances; SageMaker excludes them from deployment guardrails "
            "(it would shift all traffic at once, without baking or alarm rollback)",
            reason="guardrails_unsupported_instance",
        )
    if rollout.strategy == "ROLLING":
        preflight_rolling(endpoint, config, rollout)
    for variant in variants:
        count = int(variant.get("InitialInstanceCount") or 0)
        current: dict[str, Any] = next(
            (v for v in endpoint.get("ProductionVariants", []) if v.get("VariantName") == variant["VariantName"]), {}
        )
        count = int(current.get("CurrentInstanceCount") or count)
        shift = {
            "CANARY": ("canary", rollout.canary_size_percent, "canary_too_large"),
            "LINEAR": ("linear step", rollout.linear_step_percent, "linear_step_too_large"),
        }.get(rollout.strategy)
        if shift:
            label, percent, reason = shift
            size = math.ceil(count * percent / 100)
            if count < 2 or size * 2 > count:
                raise PreflightFailed(
                    f"variant {variant['VariantName']} has {count} instance(s): a {percent}% {label} is {size} "
                    f"instance(s); {rollout.strategy} needs at least 2 instances and at most 50% of the fleet per "
                    "shift",
                    reason=reason,
                )
    missing = alarms.missing(deps.cloudwatch, list(rollout.alarm_names))
    if missing:
        raise PreflightFailed(f"alarm(s) {', '.join(missing)} named by the route do not exist", reason="alarm_missing")


def guardrail_alarms(endpoint: str, variant: str, rollout: RolloutConfig, deps: RolloutDeps) -> list[str]:
    """Guardrails without alarms never roll back: create 5XX and latency alarms when the route names none."""
    if rollout.alarm_names:
        return list(rollout.alarm_names)
    return alarms.ensure_endpoint_alarms(deps.cloudwatch, endpoint, variant, rollout.default_alarms)


def _names(endpoint: str, sha256: str, execution: str) -> str:
    suffix = "".join(ch for ch in execution if ch.isalnum())[-8:]
    return f"{endpoint[:38]}-{sha256[:12]}-{suffix}"


def start(
    plan: PromotionPlan, hub: HubResult | None, execution: str, deps: RolloutDeps, now: float | None = None
) -> RolloutState:
    """Preflight, then model + cloned endpoint config + UpdateEndpoint with guardrails."""
    assert plan.endpoint_name
    now = time.time() if now is None else now
    rollout = _target(plan, deps).rollout
    endpoint = sagemaker.describe_endpoint(deps.sagemaker, plan.endpoint_name)
    if endpoint is None:
        raise PreflightFailed(f"endpoint {plan.endpoint_name} does not exist", reason="endpoint_not_found")
    old_config_name = endpoint["EndpointConfigName"]
    submitted = _already_submitted(endpoint, plan, execution, deps)
    if submitted:  # a retried StartRollout after UpdateEndpoint was accepted: follow that update, don't fail
        return _in_progress(
            plan.endpoint_name, submitted[0], submitted[1], submitted[1], list(rollout.alarm_names), rollout, now
        )
    config = sagemaker.describe_endpoint_config(deps.sagemaker, old_config_name)
    if config is None:
        raise PreflightFailed(
            f"endpoint config {old_config_name} of {plan.endpoint_name} does not exist",
            reason="endpoint_config_not_found",
        )
    preflight(endpoint, config, rollout, deps)

    variants = config["ProductionVariants"]
    alarm_names = guardrail_alarms(plan.endpoint_name, variants[0]["VariantName"], rollout, deps)
    if plan.decision == "restore":
        return _start_restore(plan, endpoint, alarm_names, rollout, now, deps)
    assert plan.artifact and hub
    name = _names(plan.endpoint_name, plan.artifact.sha256, execution)
    if sagemaker.describe_model(deps.sagemaker, name) is None:
        _require_completed(hub.hub_package_arn, deps)
        sagemaker.create_model(
            deps.sagemaker, **model_request(name, hub.hub_package_arn, variants[0], plan, execution, deps)
        )
    if sagemaker.describe_endpoint_config(deps.sagemaker, name) is None:
        config_tags = sagemaker.carried_tags(
            sagemaker.list_tags(deps.sagemaker, config.get("EndpointConfigArn")),
            {"modelrelay:package": plan.package_arn, "modelrelay:execution": execution},
        )
        sagemaker.create_endpoint_config(
            deps.sagemaker, **sagemaker.clone_endpoint_config_request(deps.sagemaker, config, name, name, config_tags)
        )
    sagemaker.update_endpoint(deps.sagemaker, plan.endpoint_name, name, deployment_config(rollout, alarm_names))
    logger.info(
        "rollout started",
        extra={
            "endpoint": plan.endpoint_name,
            "new_config": name,
            "old_config": old_config_name,
            "alarms": alarm_names,
        },
    )
    return _in_progress(plan.endpoint_name, old_config_name, name, name, alarm_names, rollout, now)


def _require_completed(hub_package_arn: str, deps: RolloutDeps) -> None:
    """A model is built from the hub package only once SageMaker has finished it (``ModelPackageStatus``
    ``Completed``): ``Pending``/``InProgress`` is waited for (retryable), ``Failed`` fails the rollout by name."""
    status, details = sagemaker.package_status(deps.hub().sagemaker, hub_package_arn)
    if status in ("Pending", "InProgress"):
        raise HubPackageNotReady(f"hub package {hub_package_arn} is {status}; the rollout waits for Completed")
    if status != "Completed":
        raise PreflightFailed(
            f"hub package {hub_package_arn} is {status}" + (f" ({details})" if details else ""),
            reason="hub_package_failed" if status == "Failed" else "hub_package_not_usable",
        )


def model_request(
    name: str,
    hub_package_arn: str,
    variant: dict[str, Any],
    plan: PromotionPlan,
    execution: str,
    deps: RolloutDeps,
) -> dict[str, Any]:
    """CreateModel for the new fleet: SageMaker builds every container from the hub package; the serving model's
    role, network placement (``VpcConfig``), ``EnableNetworkIsolation`` and tags are kept, so the new fleet runs
    where and as the old one does."""
    serving = sagemaker.describe_model(deps.sagemaker, variant["ModelName"]) or {}
    request: dict[str, Any] = {
        "ModelName": name,
        "Containers": [{"ModelPackageName": hub_package_arn}],
        "Tags": sagemaker.carried_tags(
            sagemaker.list_tags(deps.sagemaker, serving.get("ModelArn")),
            {"modelrelay:package": plan.package_arn, "modelrelay:execution": execution},
        ),
    }
    for key in ("ExecutionRoleArn", "VpcConfig", "EnableNetworkIsolation"):
        if serving.get(key) not in (None, {}):  # an empty VpcConfig means none (and the SDK refuses it)
            request[key] = serving[key]
    return request


def _already_submitted(
    endpoint: dict[str, Any], plan: PromotionPlan, execution: str, deps: RolloutDeps
) -> tuple[str, str] | None:
    """(old config, new config) of the update this execution already submitted, if the endpoint is on it or
    moving to it."""
    if plan.decision == "restore" or not plan.artifact:
        return None
    name = _names(endpoint["EndpointName"], plan.artifact.sha256, execution)
    pending = (endpoint.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
    if pending == name:
        return endpoint["EndpointConfigName"], name
    if endpoint.get("EndpointConfigName") == name:
        serving, _ = deps.store.read_serving(endpoint["EndpointName"])
        return (serving.config_name if serving else name), name
    return None


def _in_progress(
    endpoint: str,
    old_config: str,
    new_config: str,
    new_model: str,
    alarm_names: list[str],
    rollout: RolloutConfig,
    now: float,
) -> RolloutState:
    return RolloutState(
        status="InProgress",
        endpoint_name=endpoint,
        old_config=old_config,
        new_config=new_config,
        new_model=new_model,
        alarm_names=alarm_names,
        strategy=rollout.strategy,
        started_at=int(now),
        wait_seconds=max(1, min(FIRST_POLL_SECONDS, rollout.wait_interval_seconds // 4 or 1)),
        polls=0,
        # SageMaker's MaximumExecutionTimeout bounds the whole deployment (bakes and termination wait included).
        deadline=int(now + rollout.maximum_execution_timeout_seconds + LEASE_MARGIN_SECONDS),
    )


def _start_restore(
    plan: PromotionPlan,
    endpoint: dict[str, Any],
    alarm_names: list[str],
    rollout: RolloutConfig,
    now: float,
    deps: RolloutDeps,
) -> RolloutState:
    """Roll back to the newest previous winner whose package is still Approved, with the same guardrails."""
    _, history = deps.store.read_serving(endpoint["EndpointName"])
    candidate = next(
        (
            old
            for old in history
            if sagemaker.approval_status(deps.packages or deps.sagemaker, old.package_arn) == "Approved"
            and sagemaker.describe_endpoint_config(deps.sagemaker, old.config_name) is not None
        ),
        None,
    )
    if candidate is None and plan.restore_kind == "rejected":
        # A rejected model with nothing approved before it is withdrawn: back to what served before ModelRelay.
        baseline = deps.store.read_serving_baseline(endpoint["EndpointName"])
        if baseline is not None and sagemaker.describe_endpoint_config(deps.sagemaker, baseline.config_name):
            candidate = baseline
    if candidate is None:
        raise NothingToRollBack(
            f"endpoint {endpoint['EndpointName']} has no earlier approved version whose endpoint config still exists"
        )
    sagemaker.update_endpoint(
        deps.sagemaker, endpoint["EndpointName"], candidate.config_name, deployment_config(rollout, alarm_names)
    )
    state = _in_progress(
        endpoint["EndpointName"],
        endpoint["EndpointConfigName"],
        candidate.config_name,
        candidate.model_name or "",
        alarm_names,
        rollout,
        now,
    )
    return state.model_copy(update={"restore_to": candidate})


def classify(
    endpoint: dict[str, Any], rollout: RolloutState, fired_alarms: list[str] | None = None
) -> tuple[str, str, str]:
    """(status, reason code, sentence) from what the endpoint says, never from the absence of an error.

    ``InService`` on the OLD config is how AWS ends both an alarm rollback and a deployment whose new fleet failed
    to provision or pass its health checks (``FailureReason`` then says why, or may be empty). Which one it was
    comes from a fact, ``fired_alarms`` (the rollout's guard alarms that went to ``ALARM`` since it started), not
    from the wording of ``FailureReason``: an alarm rollback is ``RolledBack``/``alarm_rollback``, anything else
    ``Failed``/``deployment_failed``. Neither is ever success.
    """
    status = endpoint.get("EndpointStatus")
    config = endpoint.get("EndpointConfigName")
    said = str(endpoint.get("FailureReason") or "")
    quoted = f'SageMaker: "{said}"' if said else "SageMaker gave no FailureReason"
    if status == "Failed":
        return "Failed", "deployment_failed", f"endpoint is Failed; {quoted}"
    if status == "UpdateRollbackFailed":
        return "Failed", "rollback_failed", f"the deployment and its rollback failed; {quoted}"
    if status == "InService" and config == rollout.new_config:
        return "Succeeded", "in_service", "InService on the new endpoint config"
    if status == "InService" and config == rollout.old_config:
        if fired_alarms:
            names = ", ".join(fired_alarms)
            return "RolledBack", "alarm_rollback", f"alarm(s) {names} went to ALARM during the deployment; {quoted}"
        return (
            "Failed",
            "deployment_failed",
            f"the new fleet did not come into service and the endpoint is back on {config}; {quoted}",
        )
    if status == "InService":
        return "Failed", "unexpected_endpoint_config", f"InService on an unexpected endpoint config {config}"
    return "InProgress", "in_progress", f"endpoint is {status}"


def check(rollout: RolloutState, execution: str, deps: RolloutDeps, now: float | None = None) -> RolloutState:
    now = time.time() if now is None else now
    assert rollout.deadline is not None
    if not deps.store.renew_lease(rollout.endpoint_name, execution, rollout.deadline + LEASE_MARGIN_SECONDS):
        logger.warning("rollout lease lost while the update runs", extra={"endpoint": rollout.endpoint_name})
    endpoint = sagemaker.describe_endpoint(deps.sagemaker, rollout.endpoint_name)
    if endpoint is None:
        return rollout.model_copy(
            update={
                "status": "Failed",
                "reason": f"endpoint {rollout.endpoint_name} was deleted during the rollout",
                "reason_code": "endpoint_deleted",
                "polls": rollout.polls + 1,
            }
        )
    fired: list[str] = []
    if endpoint.get("EndpointStatus") == "InService" and endpoint.get("EndpointConfigName") == rollout.old_config:
        fired = alarms.fired_since(deps.cloudwatch, rollout.alarm_names, float(rollout.started_at or 0))
    status, code, reason = classify(endpoint, rollout, fired)
    result = rollout.model_copy(
        update={
            "status": status,
            "reason": reason,
            "reason_code": code,
            "fired_alarms": fired,
            "failure_reason": endpoint.get("FailureReason") or None,
            "polls": rollout.polls + 1,
            "observed": endpoint.get("EndpointStatus"),
        }
    )
    return next_poll(result, rollout, now, f"endpoint is {endpoint.get('EndpointStatus')}")


def next_poll(result: RolloutState, rollout: RolloutState, now: float, observed: str) -> RolloutState:
    """A poll still InProgress: Failed (deadline_exceeded) past the deadline, else the next wait (x1.5, capped)."""
    if result.status != "InProgress":
        return result
    assert rollout.deadline is not None
    if now > rollout.deadline:
        return result.model_copy(
            update={
                "status": "Failed",
                "reason": f"no outcome before the deadline; {observed}",
                "reason_code": "deadline_exceeded",
            }
        )
    result.wait_seconds = min(MAX_POLL_SECONDS, max(1, int(rollout.wait_seconds * 1.5)))
    return result


def finish(
    plan: PromotionPlan, hub: HubResult | None, rollout: RolloutState, execution: str, deps: RolloutDeps
) -> RolloutState:
    """Release the lease, record the outcome on both packages, keep the winners, remove the loser."""
    endpoint = rollout.endpoint_name
    if rollout.status == "Succeeded" and plan.decision == "restore":
        _record_restored(rollout, deps)
    elif rollout.status == "Succeeded":
        _record_serving(plan, hub, rollout, execution, deps)
    elif rollout.new_config:
        _delete_loser(rollout, deps)
    deps.store.release_lease(endpoint, execution)
    properties = {
        "modelrelay:rollout": rollout.status,
        "modelrelay:rollout-endpoint": endpoint,
        "modelrelay:rollout-reason": ": ".join(filter(None, (rollout.reason_code, rollout.reason))) or rollout.status,
    }
    # The outcome is what the endpoint says; failing to annotate a package must not turn it into a failure.
    not_recorded = []
    # Pull mode: a spoke's package is read-only to the hub (its group policy grants Describe); the hub package
    # carries the record.
    packages = deps.packages or deps.sagemaker  # a stage's deps act in its account; the package is the stack's
    targets = [(packages, plan.package_arn)] if deps.settings.may_write_source(plan.package_arn) else []
    if hub is not None:
        targets.append((deps.hub().sagemaker, hub.hub_package_arn))
    for client, package_arn in targets:
        if not sagemaker.record_status(client, package_arn, properties, best_effort=True):
            not_recorded.append(package_arn)
    return rollout.model_copy(update={"finished": True, "status_not_recorded_on": not_recorded})


def _record_serving(
    plan: PromotionPlan, hub: HubResult | None, rollout: RolloutState, execution: str, deps: RolloutDeps
) -> None:
    serving, history = deps.store.read_serving(rollout.endpoint_name)
    history = ([serving] if serving else []) + history
    assert rollout.new_config
    current = ServingRecord(
        package_arn=plan.package_arn,
        group=plan.group,
        version=plan.version,
        config_name=rollout.new_config,
        model_name=rollout.new_model,
        hub_package_arn=hub.hub_package_arn if hub else None,
        execution=execution,
    )
    for old in history[KEEP_WINNERS - 1 :]:  # keep the last few winners so a rollback has something to return to
        if old.package_arn is not None:  # the baseline (the user's own config from before ModelRelay) is never deleted
            sagemaker.delete_config_and_model(deps.sagemaker, old.config_name, old.model_name)
    # The first rollout records what served before it: a rejection with nothing approved before returns there.
    baseline = ServingRecord(config_name=rollout.old_config) if serving is None and rollout.old_config else None
    deps.store.write_serving(rollout.endpoint_name, current, history[: KEEP_WINNERS - 1], baseline)


def _record_restored(rollout: RolloutState, deps: RolloutDeps) -> None:
    """The restored winner serves again; the rejected one leaves (its config and model are deleted)."""
    serving, history = deps.store.read_serving(rollout.endpoint_name)
    restored = rollout.restore_to
    assert restored is not None
    remaining = history[history.index(restored) + 1 :] if restored in history else history
    deps.store.write_serving(rollout.endpoint_name, restored, remaining)
    if serving is not None:
        sagemaker.delete_config_and_model(deps.sagemaker, serving.config_name, serving.model_name)


def _delete_loser(rollout: RolloutState, deps: RolloutDeps) -> None:
    endpoint = sagemaker.describe_endpoint(deps.sagemaker, rollout.endpoint_name) or {}
    if endpoint.get("EndpointConfigName") != rollout.new_config:
        sagemaker.delete_config_and_model(deps.sagemaker, rollout.new_config, rollout.new_model)


def run(request: RolloutRequest, deps: RolloutDeps) -> RolloutState:
    """One step of the rollout, as named by the state machine's ``action``."""
    plan, execution = request.plan, request.execution
    if plan.stage:  # a stage of a staged route: the same steps, in the stage's account
        from modelrelay.domain.stages import rollout_deps

        deps = rollout_deps(plan, deps)
    if plan.route_kind == "inference_component":  # the same steps, for one component of a shared endpoint
        from modelrelay.domain import inference_component

        return inference_component.run(request, deps)
    if request.action == "acquire":
        return acquire(plan, execution, deps)
    if request.action == "release":
        endpoint = _target(plan, deps).endpoint_name
        deps.store.release_lease(endpoint, execution)
        return request.rollout or RolloutState(status="Failed", endpoint_name=endpoint)
    assert request.rollout is not None, f"action {request.action} needs the rollout slot"
    if request.action in ("shadow_start", "shadow_check"):
        from modelrelay.domain import shadow

        if request.action == "shadow_start":
            return shadow.start(plan, request.hub, request.rollout, execution, deps)
        return shadow.check(request.rollout, execution, deps)
    if request.action == "start":
        return start(plan, request.hub, execution, deps)
    if request.action == "check":
        return check(request.rollout, execution, deps)
    return finish(plan, request.hub, request.rollout, execution, deps)
