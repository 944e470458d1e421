"""Real-time endpoint rollouts with SageMaker deployment guardrails, reported as they really ended.

Steps (each one action of the ``RolloutStep`` function, driven by ``statemachines/promotion.asl.json``):
``acquire`` a per-endpoint lease (conditional write with expiry) → ``start``: preflight checks, then a model
from the hub package, an endpoint config cloned from the current one with only the model swapped, and
``UpdateEndpoint`` with a blue/green ``DeploymentConfig`` and alarm-driven auto-rollback → ``check`` polls
``DescribeEndpoint`` with backoff and classifies → ``finish`` releases the lease, records the outcome, cleans up.
The outcome comes from what the endpoint says: ``Succeeded`` only when it is ``InService`` on the new config.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from modelrelay import registry
from modelrelay.config import EndpointTarget, RolloutConfig, RoutingConfig, Settings
from modelrelay.errors import EndpointLeaseBusy, NothingToRollBack, PreflightFailed
from modelrelay.models import PromotionPlan
from modelrelay.observability import logger
from modelrelay.state import _conditional_failed, _s, _typed, read_serving

KEEP_WINNERS = 3
LEASE_MARGIN_SECONDS = 900
FIRST_POLL_SECONDS = 15
MAX_POLL_SECONDS = 300
IN_PROGRESS = ("Updating", "RollingBack", "SystemUpdating", "Creating")


@dataclass
class RolloutDeps:
    settings: Settings
    routing: RoutingConfig
    sagemaker: Any
    cloudwatch: Any
    dynamodb: Any
    hub_sagemaker: Callable[[], Any]  # refreshed cross-account credentials when the hub is another account


def _target(plan: PromotionPlan, deps: RolloutDeps) -> EndpointTarget:
    assert plan.group
    target = deps.routing.route_for(plan.group).target
    assert isinstance(target, EndpointTarget)
    return target


def _not_found(error: ClientError) -> bool:
    message = str(error.response.get("Error", {}).get("Message", ""))
    return error.response.get("Error", {}).get("Code") in ("ValidationException", "ResourceNotFound") and (
        "not find" in message.lower() or "not found" in message.lower() or "does not exist" in message.lower())


def _serving(deps: RolloutDeps, endpoint: str) -> dict[str, Any]:
    return read_serving(deps.dynamodb, deps.settings.state_table, endpoint)


def acquire(plan: PromotionPlan, execution: str, deps: RolloutDeps, now: float | None = None) -> dict[str, Any]:
    """Take the endpoint's lease, or raise EndpointLeaseBusy; a newer version already serving supersedes us."""
    now = time.time() if now is None else now
    target = _target(plan, deps)
    endpoint = target.endpoint_name
    expires = int(now + target.rollout.maximum_execution_timeout_seconds + 2 * LEASE_MARGIN_SECONDS)
    try:
        deps.dynamodb.put_item(
            TableName=deps.settings.state_table,
            Item={"pk": _s(f"lease#{endpoint}"), "holder": _s(execution), "expires_at": {"N": str(expires)},
                  "package_arn": _s(plan.package_arn)},
            ConditionExpression="attribute_not_exists(pk) OR expires_at < :now OR holder = :me",
            ExpressionAttributeValues={":now": {"N": str(int(now))}, ":me": _s(execution)},
        )
    except ClientError as error:
        if not _conditional_failed(error):
            raise
        raise EndpointLeaseBusy(f"endpoint {endpoint} is being rolled by another promotion; waiting") from error
    serving = _serving(deps, endpoint)
    version = plan.source.version if plan.source else None
    if (plan.decision != "restore" and serving.get("group") == plan.group and version is not None
            and int(serving.get("version") or 0) > version):
        release(endpoint, execution, deps)
        return {"status": "Superseded", "endpoint_name": endpoint,
                "reason": f"version {serving['version']} of {plan.group}, approved later, already serves "
                          f"{endpoint}; version {version} is not rolled out"}
    return {"status": "Acquired", "endpoint_name": endpoint, "lease_expires_at": expires}


def release(endpoint: str, execution: str, deps: RolloutDeps) -> None:
    try:
        deps.dynamodb.delete_item(TableName=deps.settings.state_table, Key={"pk": _s(f"lease#{endpoint}")},
                                  ConditionExpression="holder = :me", ExpressionAttributeValues={":me": _s(execution)})
    except ClientError as error:
        if not _conditional_failed(error):  # a lease taken over after expiry is not ours to release
            raise


def traffic_routing(rollout: RolloutConfig) -> dict[str, Any]:
    routing: dict[str, Any] = {"Type": rollout.strategy, "WaitIntervalInSeconds": rollout.wait_interval_seconds}
    if rollout.strategy == "CANARY":
        routing["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": rollout.canary_size_percent}
    elif rollout.strategy == "LINEAR":
        routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": rollout.linear_step_percent}
    return routing


def deployment_config(rollout: RolloutConfig, alarm_names: list[str]) -> dict[str, Any]:
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": traffic_routing(rollout),
            "TerminationWaitInSeconds": rollout.termination_wait_seconds,
            "MaximumExecutionTimeoutInSeconds": rollout.maximum_execution_timeout_seconds,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in alarm_names]},
    }


def preflight(endpoint: dict[str, Any], config: dict[str, Any], rollout: RolloutConfig, deps: RolloutDeps) -> None:
    """Every check before any SageMaker write; each failure names itself."""
    name = endpoint["EndpointName"]
    if endpoint.get("EndpointStatus") != "InService":
        raise PreflightFailed(f"endpoint {name} is {endpoint.get('EndpointStatus')}, not InService",
                              reason="endpoint_not_in_service")
    variants = config.get("ProductionVariants") or []
    if not variants:
        raise PreflightFailed(f"endpoint config {config.get('EndpointConfigName')} has no production variants",
                              reason="no_production_variants")
    for variant in variants:
        count = int(variant.get("InitialInstanceCount") or 0)
        current: dict[str, Any] = next((v for v in endpoint.get("ProductionVariants", [])
                        if v.get("VariantName") == variant["VariantName"]), {})
        count = int(current.get("CurrentInstanceCount") or count)
        shift = {"CANARY": ("canary", rollout.canary_size_percent, "canary_too_large"),
                 "LINEAR": ("linear step", rollout.linear_step_percent, "linear_step_too_large")}.get(rollout.strategy)
        if shift:
            label, percent, reason = shift
            size = math.ceil(count * percent / 100)
            if count < 2 or size * 2 > count:
                raise PreflightFailed(
                    f"variant {variant['VariantName']} has {count} instance(s): a {percent}% {label} is {size} "
                    f"instance(s); {rollout.strategy} needs at least 2 instances and at most 50% of the fleet per "
                    "shift", reason=reason)
    missing = []
    for alarm in rollout.alarm_names:
        found = deps.cloudwatch.describe_alarms(AlarmNames=[alarm]).get("MetricAlarms", [])
        if not found:
            missing.append(alarm)
    if missing:
        raise PreflightFailed(f"alarm(s) {', '.join(missing)} named by the route do not exist",
                              reason="alarm_missing")


def ensure_default_alarms(endpoint: str, variant: str, rollout: RolloutConfig, deps: RolloutDeps) -> list[str]:
    """Guardrails without alarms never roll back: create 5XX and latency alarms when the route names none."""
    if rollout.alarm_names:
        return list(rollout.alarm_names)
    thresholds = rollout.default_alarms
    dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
    errors, latency = f"modelrelay-{endpoint}-5xx", f"modelrelay-{endpoint}-latency-p99"
    deps.cloudwatch.put_metric_alarm(
        AlarmName=errors, AlarmDescription=f"ModelRelay rollout guardrail: 5XX errors on {endpoint}/{variant}",
        Namespace="AWS/SageMaker", MetricName="Invocation5XXErrors", Dimensions=dimensions, Statistic="Sum",
        Period=thresholds.period_seconds, EvaluationPeriods=thresholds.evaluation_periods,
        Threshold=thresholds.invocation_5xx_errors, ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching")
    deps.cloudwatch.put_metric_alarm(
        AlarmName=latency, AlarmDescription=f"ModelRelay rollout guardrail: p99 model latency on {endpoint}/{variant}",
        Namespace="AWS/SageMaker", MetricName="ModelLatency", Dimensions=dimensions, ExtendedStatistic="p99",
        Period=thresholds.period_seconds, EvaluationPeriods=thresholds.evaluation_periods,
        Threshold=thresholds.model_latency_p99_ms * 1000,  # ModelLatency is reported in microseconds
        ComparisonOperator="GreaterThanThreshold", TreatMissingData="notBreaching")
    return [errors, latency]


def _names(endpoint: str, sha256: str, execution: str) -> str:
    suffix = "".join(ch for ch in execution if ch.isalnum())[-8:]
    return f"{endpoint[:38]}-{sha256[:12]}-{suffix}"


def start(plan: PromotionPlan, hub_result: dict[str, Any], execution: str, deps: RolloutDeps,
          now: float | None = None) -> dict[str, Any]:
    """Preflight, then model + cloned endpoint config + UpdateEndpoint with guardrails."""
    assert plan.endpoint_name
    now = time.time() if now is None else now
    rollout = _target(plan, deps).rollout
    try:
        endpoint = deps.sagemaker.describe_endpoint(EndpointName=plan.endpoint_name)
    except ClientError as error:
        if _not_found(error):
            raise PreflightFailed(f"endpoint {plan.endpoint_name} does not exist",
                                  reason="endpoint_not_found") from error
        raise
    old_config_name = endpoint["EndpointConfigName"]
    submitted = _already_submitted(endpoint, plan, execution, deps)
    if submitted:  # a retried StartRollout after UpdateEndpoint was accepted: follow that update, don't fail
        return _in_progress(plan.endpoint_name, submitted["old"], submitted["new"], submitted["new"],
                            list(rollout.alarm_names), rollout, now)
    config = deps.sagemaker.describe_endpoint_config(EndpointConfigName=old_config_name)
    preflight(endpoint, config, rollout, deps)

    variants = config["ProductionVariants"]
    alarms = ensure_default_alarms(plan.endpoint_name, variants[0]["VariantName"], rollout, deps)
    if plan.decision == "restore":
        return _start_restore(plan, endpoint, alarms, rollout, now, deps)
    assert plan.artifact
    role = deps.sagemaker.describe_model(ModelName=variants[0]["ModelName"])["ExecutionRoleArn"]
    name = _names(plan.endpoint_name, plan.artifact.sha256, execution)
    if not _exists(lambda: deps.sagemaker.describe_model(ModelName=name)):
        deps.sagemaker.create_model(
            ModelName=name, ExecutionRoleArn=role,
            Containers=[{"ModelPackageName": hub_result["hub_package_arn"]}],
            Tags=[{"Key": "modelrelay:package", "Value": plan.package_arn[-256:]},
                  {"Key": "modelrelay:execution", "Value": execution[-256:]}],
        )
    if not _exists(lambda: deps.sagemaker.describe_endpoint_config(EndpointConfigName=name)):
        clone = {k: v for k, v in config.items()
                 if k in ("DataCaptureConfig", "KmsKeyId", "AsyncInferenceConfig", "ExplainerConfig",
                          "ShadowProductionVariants", "ExecutionRoleArn", "VpcConfig", "EnableNetworkIsolation")}
        swapped = [{k: v for k, v in variant.items() if k not in ("CurrentInstanceCount",)} | {"ModelName": name}
                   for variant in variants]
        deps.sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=swapped, **clone)
    deps.sagemaker.update_endpoint(
        EndpointName=plan.endpoint_name, EndpointConfigName=name, RetainAllVariantProperties=True,
        DeploymentConfig=deployment_config(rollout, alarms),
    )
    logger.info("rollout started", extra={"endpoint": plan.endpoint_name, "new_config": name,
                                          "old_config": old_config_name, "alarms": alarms})
    return _in_progress(plan.endpoint_name, old_config_name, name, name, alarms, rollout, now)


def _already_submitted(endpoint: dict[str, Any], plan: PromotionPlan, execution: str,
                       deps: RolloutDeps) -> dict[str, str] | None:
    """The update this execution already submitted, if the endpoint is on it or moving to it."""
    if plan.decision == "restore" or not plan.artifact:
        return None
    name = _names(endpoint["EndpointName"], plan.artifact.sha256, execution)
    pending = (endpoint.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
    if pending == name:
        return {"old": endpoint["EndpointConfigName"], "new": name}
    if endpoint.get("EndpointConfigName") == name:
        previous = _serving(deps, endpoint["EndpointName"]).get("config_name") or name
        return {"old": str(previous), "new": name}
    return None


def _in_progress(endpoint: str, old_config: str, new_config: str, new_model: str, alarms: list[str],
                 rollout: RolloutConfig, now: float) -> dict[str, Any]:
    return {
        "status": "InProgress", "endpoint_name": endpoint, "old_config": old_config, "new_config": new_config,
        "new_model": new_model, "alarm_names": alarms, "strategy": rollout.strategy, "started_at": int(now),
        "wait_seconds": max(1, min(FIRST_POLL_SECONDS, rollout.wait_interval_seconds // 4 or 1)), "polls": 0,
        # SageMaker's MaximumExecutionTimeout bounds the whole deployment (bakes and termination wait included).
        "deadline": int(now + rollout.maximum_execution_timeout_seconds + LEASE_MARGIN_SECONDS),
    }


def _still_approved(deps: RolloutDeps, package_arn: str | None) -> bool:
    """A rollback target must still be Approved; a deleted package is skipped, not an error."""
    if not package_arn:
        return False
    try:
        status = deps.sagemaker.describe_model_package(ModelPackageName=package_arn).get("ModelApprovalStatus")
    except ClientError as error:
        if _not_found(error):
            return False
        raise
    return bool(status == "Approved")


def _start_restore(plan: PromotionPlan, endpoint: dict[str, Any], alarms: list[str], rollout: RolloutConfig,
                   now: float, deps: RolloutDeps) -> dict[str, Any]:
    """Roll back to the newest previous winner whose package is still Approved, with the same guardrails."""
    serving = _serving(deps, endpoint["EndpointName"])
    for candidate in serving.get("history", []):
        if _still_approved(deps, candidate.get("package_arn")) and _exists(
                lambda c=candidate: deps.sagemaker.describe_endpoint_config(EndpointConfigName=c["config_name"])):
            break
    else:
        raise NothingToRollBack(f"endpoint {endpoint['EndpointName']} has no earlier approved version whose "
                                "endpoint config still exists")
    deps.sagemaker.update_endpoint(EndpointName=endpoint["EndpointName"], EndpointConfigName=candidate["config_name"],
                                   RetainAllVariantProperties=True, DeploymentConfig=deployment_config(rollout, alarms))
    result = _in_progress(endpoint["EndpointName"], endpoint["EndpointConfigName"], candidate["config_name"],
                          candidate["model_name"], alarms, rollout, now)
    return result | {"restore_to": candidate}


def _exists(describe: Any) -> bool:
    try:
        describe()
    except ClientError as error:
        if _not_found(error):
            return False
        raise
    return True


def classify(endpoint: dict[str, Any], rollout: dict[str, Any]) -> tuple[str, str]:
    """(status, reason) from what the endpoint says, never from the absence of an error."""
    status = endpoint.get("EndpointStatus")
    config = endpoint.get("EndpointConfigName")
    reason = str(endpoint.get("FailureReason") or "")
    if status in ("Failed", "UpdateRollbackFailed"):
        return "Failed", reason or f"endpoint is {status}"
    if status == "InService" and config == rollout["new_config"]:
        return "Succeeded", "InService on the new endpoint config"
    if status == "InService" and config == rollout["old_config"]:
        return "RolledBack", reason or "back on the previous endpoint config (SageMaker gave no reason)"
    if status == "InService":
        return "Failed", f"InService on an unexpected endpoint config {config}"
    return "InProgress", f"endpoint is {status}"


def renew_lease(endpoint: str, execution: str, deadline: int, deps: RolloutDeps) -> bool:
    """Keep the lease past the rollout's deadline; False if another execution holds it (ours expired)."""
    try:
        deps.dynamodb.update_item(
            TableName=deps.settings.state_table, Key={"pk": _s(f"lease#{endpoint}")},
            UpdateExpression="SET expires_at = :expires", ConditionExpression="holder = :me",
            ExpressionAttributeValues={":expires": {"N": str(deadline + LEASE_MARGIN_SECONDS)}, ":me": _s(execution)})
    except ClientError as error:
        if not _conditional_failed(error):
            raise
        logger.warning("rollout lease lost while the update runs", extra={"endpoint": endpoint})
        return False
    return True


def check(rollout: dict[str, Any], execution: str, deps: RolloutDeps, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    renew_lease(rollout["endpoint_name"], execution, int(rollout["deadline"]), deps)
    endpoint = deps.sagemaker.describe_endpoint(EndpointName=rollout["endpoint_name"])
    status, reason = classify(endpoint, rollout)
    result = dict(rollout, status=status, reason=reason, polls=int(rollout.get("polls", 0)) + 1,
                  observed=endpoint.get("EndpointStatus"))
    if status == "InProgress":
        if now > rollout["deadline"]:
            return dict(result, status="Failed", reason=f"no outcome before the deadline; endpoint is "
                                                        f"{endpoint.get('EndpointStatus')}")
        result["wait_seconds"] = min(MAX_POLL_SECONDS, max(1, int(rollout["wait_seconds"] * 1.5)))
    return result


def finish(plan: PromotionPlan, hub_result: dict[str, Any], rollout: dict[str, Any], execution: str,
           deps: RolloutDeps) -> dict[str, Any]:
    """Release the lease, record the outcome on both packages, keep the winners, remove the loser."""
    endpoint = rollout.get("endpoint_name") or plan.endpoint_name or ""
    status = rollout.get("status", "Failed")
    if status == "Succeeded" and plan.decision == "restore":
        _record_restored(rollout, deps)
    elif status == "Succeeded":
        _record_serving(plan, hub_result, rollout, execution, deps)
    elif rollout.get("new_config"):
        _delete_loser(rollout, deps)
    release(endpoint, execution, deps)
    properties = {"modelrelay:rollout": status, "modelrelay:rollout-endpoint": endpoint,
                  "modelrelay:rollout-reason": str(rollout.get("reason") or status)}
    # The outcome is what the endpoint says; failing to annotate a package must not turn it into a failure.
    not_recorded = []
    targets = [(deps.sagemaker, plan.package_arn)]
    if hub_result.get("hub_package_arn"):
        targets.append((deps.hub_sagemaker(), hub_result["hub_package_arn"]))
    for client, package_arn in targets:
        try:
            registry.record_status(client, package_arn, properties)
        except ClientError as error:
            logger.warning("rollout status not recorded on package",
                           extra={"package_arn": package_arn, "error": str(error)})
            not_recorded.append(package_arn)
    return dict(rollout, finished=True, status_not_recorded_on=not_recorded)


def _record_serving(plan: PromotionPlan, hub_result: dict[str, Any], rollout: dict[str, Any], execution: str,
                    deps: RolloutDeps) -> None:
    serving = _serving(deps, rollout["endpoint_name"])
    previous = {k: serving[k] for k in ("package_arn", "version", "config_name", "model_name", "group")
                if k in serving}
    history = ([previous] if previous else []) + list(serving.get("history", []))
    current = {"package_arn": plan.package_arn, "group": plan.group,
               "version": plan.source.version if plan.source and plan.source.version is not None else 0,
               "config_name": rollout["new_config"], "model_name": rollout["new_model"],
               "hub_package_arn": hub_result.get("hub_package_arn"), "execution": execution}
    for old in history[KEEP_WINNERS - 1:]:  # keep the last few winners so a rollback has something to return to
        _delete_quietly(deps, old.get("config_name"), old.get("model_name"))
    item = {"pk": _s(f"serving#{rollout['endpoint_name']}")} | {k: _typed(v) for k, v in current.items()}
    item["history"] = _typed(history[: KEEP_WINNERS - 1])
    deps.dynamodb.put_item(TableName=deps.settings.state_table, Item=item)


def _record_restored(rollout: dict[str, Any], deps: RolloutDeps) -> None:
    """The restored winner serves again; the rejected one leaves (its config and model are deleted)."""
    serving = _serving(deps, rollout["endpoint_name"])
    restored = rollout["restore_to"]
    history = list(serving.get("history", []))
    remaining = history[history.index(restored) + 1:] if restored in history else history
    item = {"pk": _s(f"serving#{rollout['endpoint_name']}")} | {k: _typed(v) for k, v in restored.items()}
    item["history"] = _typed(remaining)
    deps.dynamodb.put_item(TableName=deps.settings.state_table, Item=item)
    _delete_quietly(deps, serving.get("config_name"), serving.get("model_name"))


def _delete_loser(rollout: dict[str, Any], deps: RolloutDeps) -> None:
    endpoint = deps.sagemaker.describe_endpoint(EndpointName=rollout["endpoint_name"])
    if endpoint.get("EndpointConfigName") != rollout["new_config"]:
        _delete_quietly(deps, rollout["new_config"], rollout["new_model"])


def _delete_quietly(deps: RolloutDeps, config_name: str | None, model_name: str | None) -> None:
    for call, name in ((deps.sagemaker.delete_endpoint_config, {"EndpointConfigName": config_name}),
                       (deps.sagemaker.delete_model, {"ModelName": model_name})):
        if not next(iter(name.values())):
            continue
        try:
            call(**name)
        except ClientError as error:
            if not _not_found(error):
                raise


def run_action(action: str, plan: PromotionPlan, hub_result: dict[str, Any], rollout: dict[str, Any],
               execution: str, deps: RolloutDeps) -> dict[str, Any]:
    """One step of the rollout, as named by the state machine."""
    if action == "acquire":
        return acquire(plan, execution, deps)
    if action == "start":
        return start(plan, hub_result, execution, deps)
    if action == "check":
        return check(rollout, execution, deps)
    if action == "finish":
        return finish(plan, hub_result, rollout, execution, deps)
    if action == "release":
        release(_target(plan, deps).endpoint_name, execution, deps)
        return dict(rollout, released=True)
    raise ValueError(f"unknown rollout action '{action}'")
