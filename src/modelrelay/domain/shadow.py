"""Shadow first: the new model runs as the endpoint's shadow variant before the guarded rollout.

SageMaker (model-shadow-deployment.html, shadow-tests-create.html): an endpoint config may carry one
``ShadowProductionVariants`` entry next to at most one production variant; SageMaker copies a share of the
production variant's requests to it and discards its responses, and its ``AWS/SageMaker`` metrics
(``Invocation5XXErrors``, ``ModelLatency``) carry its own ``VariantName``. Serverless and asynchronous endpoints
cannot have one.

Steps (``shadow_start`` and ``shadow_check`` of the ``RolloutStep`` function, between the lease and
``StartRollout``):

* ``shadow_start``: preflight (the rollout's own checks, then one production variant, no serverless, no async
  inference, no shadow variant already), the model from the hub package (the same model the rollout will use), a
  config equal to the serving one plus the new model as its shadow variant, ``UpdateEndpoint`` to it (no
  ``DeploymentConfig``: the production variant and its model are unchanged).
* ``shadow_check`` (polled): ``provisioning`` until ``InService`` on the shadow config (back ``InService`` on the
  original config, or ``Failed``: the shadow fleet did not come up, ``shadow_failed``); ``baking`` for
  ``duration_seconds`` while the shadow alarms stay out of ``ALARM`` (one fires: ``shadow_alarm``); then
  ``UpdateEndpoint`` back to the original config, in both cases, and wait until it is ``InService`` there.
  Passed: ``ShadowPassed``, and the guarded rollout starts from the original config (so an alarm rollback of the
  rollout returns to exactly what served before, not to a config that still mirrors traffic to the new model).
  Failed: ``Failed`` with the reason; production never served the model.
"""

from __future__ import annotations

import time
from typing import Any

from modelrelay.adapters import alarms, sagemaker
from modelrelay.config import RolloutConfig, ShadowConfig
from modelrelay.domain import rollout as rollouts
from modelrelay.domain.deps import RolloutDeps
from modelrelay.errors import PreflightFailed
from modelrelay.observability import logger
from modelrelay.steps import HubResult, PromotionPlan, RolloutState

SHADOW_SUFFIX = "-sh"  # the shadow config's name: the rollout's model/config name (<= 60 chars) + this (<= 63)


def _shadow(rollout: RolloutConfig) -> ShadowConfig:
    assert rollout.shadow is not None
    return rollout.shadow


def preflight_shadow(config: dict[str, Any], shadow: ShadowConfig) -> None:
    """What SageMaker does not allow with a shadow variant, refused before any write, each by name."""
    name = config.get("EndpointConfigName")
    variants = config.get("ProductionVariants") or []
    if len(variants) != 1:
        raise PreflightFailed(
            f"endpoint config {name} has {len(variants)} production variants; SageMaker allows a shadow variant "
            "only next to exactly one production variant",
            reason="shadow_multiple_variants",
        )
    if variants[0].get("ServerlessConfig"):
        raise PreflightFailed(
            f"variant {variants[0]['VariantName']} is serverless; SageMaker's shadow variants exclude serverless "
            "endpoints",
            reason="shadow_serverless",
        )
    if config.get("AsyncInferenceConfig"):
        raise PreflightFailed(
            f"endpoint config {name} is asynchronous; SageMaker's shadow variants exclude asynchronous inference",
            reason="shadow_async",
        )
    if config.get("ShadowProductionVariants"):
        raise PreflightFailed(
            f"endpoint config {name} already has a shadow variant; SageMaker allows one per endpoint",
            reason="shadow_already_present",
        )
    if variants[0]["VariantName"] == shadow.variant_name:
        raise PreflightFailed(
            f"the shadow variant name {shadow.variant_name} is the production variant's", reason="shadow_variant_name"
        )


def start(
    plan: PromotionPlan,
    hub: HubResult | None,
    state: RolloutState,
    execution: str,
    deps: RolloutDeps,
    now: float | None = None,
) -> RolloutState:
    """Preflight, then the model, the shadow config and ``UpdateEndpoint`` to it."""
    assert plan.endpoint_name and plan.artifact and hub
    now = time.time() if now is None else now
    rollout = rollouts._target(plan, deps).rollout
    shadow = _shadow(rollout)
    endpoint = sagemaker.describe_endpoint(deps.sagemaker, plan.endpoint_name)
    if endpoint is None:
        raise PreflightFailed(f"endpoint {plan.endpoint_name} does not exist", reason="endpoint_not_found")
    name = rollouts._names(plan.endpoint_name, plan.artifact.sha256, execution)
    shadow_config = name + SHADOW_SUFFIX
    pending = (endpoint.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
    if shadow_config in (pending, endpoint.get("EndpointConfigName")):  # a retried StartShadow: follow that update
        serving, _ = deps.store.read_serving(plan.endpoint_name)
        original = str((serving.config_name if serving else None) or state.old_config or "")
        return _provisioning(plan.endpoint_name, original, name, shadow_config, shadow, rollout, [], now)
    original = endpoint["EndpointConfigName"]
    config = sagemaker.describe_endpoint_config(deps.sagemaker, original)
    if config is None:
        raise PreflightFailed(
            f"endpoint config {original} of {plan.endpoint_name} does not exist", reason="endpoint_config_not_found"
        )
    rollouts.preflight(endpoint, config, rollout, deps)
    preflight_shadow(config, shadow)
    missing = alarms.missing(deps.cloudwatch, list(shadow.alarm_names))
    if missing:
        raise PreflightFailed(f"shadow alarm(s) {', '.join(missing)} do not exist", reason="alarm_missing")

    production = config["ProductionVariants"][0]
    if sagemaker.describe_model(deps.sagemaker, name) is None:
        rollouts._require_completed(hub.hub_package_arn, deps)
        sagemaker.create_model(
            deps.sagemaker,
            **rollouts.model_request(name, hub.hub_package_arn, production, plan, execution, deps),
        )
    current: dict[str, Any] = next(
        (v for v in endpoint.get("ProductionVariants", []) if v.get("VariantName") == production["VariantName"]), {}
    )
    variant = {
        "VariantName": shadow.variant_name,
        "ModelName": name,
        "InstanceType": production.get("InstanceType"),
        "InitialInstanceCount": shadow.instance_count
        or int(current.get("CurrentInstanceCount") or production.get("InitialInstanceCount") or 1),
        # A shadow variant's weight is the share of production requests SageMaker copies to it.
        "InitialVariantWeight": shadow.sampling_percent / 100,
    }
    alarm_names = list(shadow.alarm_names) or alarms.ensure_endpoint_alarms(
        deps.cloudwatch, plan.endpoint_name, shadow.variant_name, shadow.default_alarms, kind="shadow"
    )
    if sagemaker.describe_endpoint_config(deps.sagemaker, shadow_config) is None:
        tags = sagemaker.carried_tags(
            sagemaker.list_tags(deps.sagemaker, config.get("EndpointConfigArn")),
            {"modelrelay:package": plan.package_arn, "modelrelay:execution": execution},
        )
        sagemaker.create_endpoint_config(
            deps.sagemaker,
            **sagemaker.shadow_config_request(deps.sagemaker, config, shadow_config, variant, tags),
        )
    sagemaker.switch_endpoint_config(deps.sagemaker, plan.endpoint_name, shadow_config)
    logger.info(
        "shadow started",
        extra={"endpoint": plan.endpoint_name, "shadow_config": shadow_config, "original_config": original},
    )
    return _provisioning(plan.endpoint_name, original, name, shadow_config, shadow, rollout, alarm_names, now)


def _provisioning(
    endpoint: str,
    original: str,
    name: str,
    shadow_config: str,
    shadow: ShadowConfig,
    rollout: RolloutConfig,
    alarm_names: list[str],
    now: float,
) -> RolloutState:
    return RolloutState(
        status="ShadowInProgress",
        endpoint_name=endpoint,
        old_config=original,
        new_config=name,
        new_model=name,
        strategy=rollout.strategy,
        shadow_phase="provisioning",
        shadow_config=shadow_config,
        shadow_variant=shadow.variant_name,
        shadow_alarm_names=alarm_names,
        shadow_seconds=shadow.duration_seconds,
        started_at=int(now),
        wait_seconds=first_poll(shadow),
        polls=0,
        # provisioning (bounded like an update), the bake, the return to the original config
        deadline=int(now + shadow.duration_seconds + rollout.maximum_execution_timeout_seconds),
    )


def first_poll(shadow: ShadowConfig) -> int:
    """The first wait of each phase: a quarter of the bake, at most the rollout's first poll (15 s)."""
    return max(1, min(rollouts.FIRST_POLL_SECONDS, shadow.duration_seconds // 4))


def _backoff(state: RolloutState) -> int:
    return min(rollouts.MAX_POLL_SECONDS, max(1, int(state.wait_seconds * 1.5)))


def check(state: RolloutState, execution: str, deps: RolloutDeps, now: float | None = None) -> RolloutState:
    """One poll of the shadow phase (see the module docstring)."""
    now = time.time() if now is None else now
    assert state.deadline is not None and state.old_config and state.shadow_config
    endpoint_name = state.endpoint_name
    if not deps.store.renew_lease(endpoint_name, execution, state.deadline + rollouts.LEASE_MARGIN_SECONDS):
        logger.warning("rollout lease lost during the shadow phase", extra={"endpoint": endpoint_name})
    endpoint = sagemaker.describe_endpoint(deps.sagemaker, endpoint_name)
    polled = state.model_copy(update={"polls": state.polls + 1})
    if endpoint is None:
        return _failed(polled, "endpoint_deleted", f"endpoint {endpoint_name} was deleted during the shadow phase")
    status, config = endpoint.get("EndpointStatus"), endpoint.get("EndpointConfigName")
    said = str(endpoint.get("FailureReason") or "")
    quoted = f'SageMaker: "{said}"' if said else "SageMaker gave no FailureReason"
    polled = polled.model_copy(update={"observed": status, "failure_reason": said or None})
    if now > state.deadline:
        return _failed(polled, "deadline_exceeded", f"no shadow outcome before the deadline; endpoint is {status}")

    if state.shadow_phase == "provisioning":
        if status == "InService" and config == state.shadow_config:
            return polled.model_copy(
                update={
                    "shadow_phase": "baking",
                    "shadow_started_at": int(now),
                    "shadow_until": int(now) + int(state.shadow_seconds or 0),
                    "wait_seconds": max(1, min(rollouts.FIRST_POLL_SECONDS, int(state.shadow_seconds or 0) // 4)),
                }
            )
        if status in ("Failed", "UpdateRollbackFailed") or (status == "InService" and config == state.old_config):
            sagemaker.delete_config_and_model(deps.sagemaker, state.shadow_config, None)
            return _failed(
                polled,
                "shadow_failed",
                f"the shadow variant did not come into service; endpoint is {status} on {config}; {quoted}",
            )
        return polled.model_copy(update={"wait_seconds": _backoff(state)})

    if state.shadow_phase == "baking":
        if status != "InService" or config != state.shadow_config:
            return _failed(polled, "shadow_failed", f"the endpoint left the shadow config: {status} on {config}")
        fired = alarms.fired_since(deps.cloudwatch, state.shadow_alarm_names, float(state.shadow_started_at or 0))
        until = int(state.shadow_until or now)
        if fired or now >= until:
            outcome = "shadow_alarm" if fired else "passed"
            sagemaker.switch_endpoint_config(deps.sagemaker, endpoint_name, state.old_config)
            logger.info("shadow ends", extra={"endpoint": endpoint_name, "outcome": outcome, "alarms": fired})
            return polled.model_copy(
                update={
                    "shadow_phase": "reverting" if fired else "removing",
                    "shadow_outcome": outcome,
                    "fired_alarms": fired,
                    "wait_seconds": max(1, min(rollouts.FIRST_POLL_SECONDS, int(state.shadow_seconds or 0) // 4)),
                }
            )
        return polled.model_copy(update={"wait_seconds": max(1, min(_backoff(state), until - int(now)))})

    # removing (passed) or reverting (failed): back to the original config, the production variant unchanged
    if status == "InService" and config == state.old_config:
        sagemaker.delete_config_and_model(deps.sagemaker, state.shadow_config, None)
        if state.shadow_outcome == "passed":
            return polled.model_copy(update={"status": "ShadowPassed", "shadow_phase": "passed"})
        names = ", ".join(state.fired_alarms)
        return _failed(
            polled,
            "shadow_alarm",
            f"shadow alarm(s) {names} went to ALARM while the shadow variant ran; the endpoint is back on "
            f"{state.old_config} and production never served the model",
        )
    if status == "InService" or status in ("Failed", "UpdateRollbackFailed"):
        # The shadow could not be removed: production still serves its own model, the shadow still gets copies.
        return _failed(
            polled.model_copy(update={"new_model": None}),  # the shadow still uses the model: keep it
            "shadow_revert_failed",
            f"returning to {state.old_config} failed; endpoint is {status} on {config}; {quoted}",
        )
    return polled.model_copy(update={"wait_seconds": _backoff(state)})


def _failed(state: RolloutState, code: str, reason: str) -> RolloutState:
    return state.model_copy(update={"status": "Failed", "reason_code": code, "reason": reason, "shadow_phase": "ended"})
