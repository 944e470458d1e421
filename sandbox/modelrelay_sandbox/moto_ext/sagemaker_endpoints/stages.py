"""The steps of a deployment config, with AWS's VariantStatus messages and nominal durations; its validation.

Imitates https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-blue-green.html (all at once,
canary, linear traffic shifting, ``TerminationWaitInSeconds``),
https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-rolling.html and
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DeploymentConfig.html (``CanarySize`` required
for ``CANARY``, ``LinearStepSize`` for ``LINEAR``, one policy only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from moto.sagemaker.exceptions import ValidationError


def _size(spec: dict[str, Any] | None, total: int) -> int:
    """Instances of a CapacitySize (INSTANCE_COUNT or CAPACITY_PERCENT) of ``total``, at least 1."""
    if not spec:
        return total
    value = float(spec.get("Value") or 0)
    count = math.ceil(total * value / 100) if spec.get("Type") == "CAPACITY_PERCENT" else int(value)
    return max(1, min(total, count))


@dataclass
class Stage:
    status: str  # VariantStatus.Status
    message: str
    seconds: float  # nominal duration


def stages_of(deployment_config: dict[str, Any] | None, total: int) -> list[Stage]:
    """The steps of a deployment, with AWS's VariantStatus messages and nominal durations."""
    stages = [Stage("Creating", f"Launching {total} instance(s).", 0)]
    full = f"full capacity of {total} instance(s)"
    blue_green = (deployment_config or {}).get("BlueGreenUpdatePolicy")
    rolling = (deployment_config or {}).get("RollingUpdatePolicy")
    if rolling:
        wait = float(rolling.get("WaitIntervalInSeconds") or 0)
        batch = _size(rolling.get("MaximumBatchSize"), total)
        done = 0
        while done < total:
            done = min(total, done + batch)
            stages.append(Stage("Updating", f"Launching {done} of {total} instance(s).", 0))
            stages.append(
                Stage(
                    "Baking",
                    f"Baking for {wait:g} seconds (WaitIntervalInSeconds) with traffic "
                    f"enabled on {done} of {total} instance(s).",
                    wait,
                )
            )
        return stages
    if not blue_green:  # AWS's default: blue/green, all at once, no baking
        stages.append(Stage("ActivatingTraffic", f"Activating traffic on {full}.", 0))
        return stages
    routing = blue_green.get("TrafficRoutingConfiguration") or {}
    wait = float(routing.get("WaitIntervalInSeconds") or 0)
    termination = float(blue_green.get("TerminationWaitInSeconds") or 0)
    kind = routing.get("Type", "ALL_AT_ONCE")
    if kind == "CANARY":
        canary = f"canary capacity of {_size(routing.get('CanarySize'), total)} instance(s)"
        stages.append(Stage("ActivatingTraffic", f"Activating traffic on {canary}.", 0))
        stages.append(
            Stage(
                "Baking", f"Baking for {wait:g} seconds (WaitIntervalInSeconds) with traffic enabled on {canary}.", wait
            )
        )
        stages.append(Stage("ActivatingTraffic", f"Activating traffic on {full}.", 0))
    elif kind == "LINEAR":
        step = _size(routing.get("LinearStepSize"), total)
        shifted = 0
        while shifted < total:
            shifted = min(total, shifted + step)
            stages.append(Stage("ActivatingTraffic", f"Activating traffic on {shifted} of {total} instance(s).", 0))
            stages.append(
                Stage(
                    "Baking",
                    f"Baking for {wait:g} seconds (WaitIntervalInSeconds) with traffic "
                    f"enabled on {shifted} of {total} instance(s).",
                    wait,
                )
            )
    else:
        stages.append(Stage("ActivatingTraffic", f"Activating traffic on {full}.", 0))
        stages.append(
            Stage(
                "Baking", f"Baking for {wait:g} seconds (WaitIntervalInSeconds) with traffic enabled on {full}.", wait
            )
        )
    if termination:
        stages.append(
            Stage(
                "Baking",
                f"Baking for {termination:g} seconds (TerminationWaitInSeconds) with traffic enabled on {full}.",
                termination,
            )
        )
    return stages


def validate_deployment_config(deployment_config: dict[str, Any]) -> None:
    blue_green = deployment_config.get("BlueGreenUpdatePolicy")
    if blue_green and deployment_config.get("RollingUpdatePolicy"):
        raise ValidationError(
            "DeploymentConfig must specify only one of BlueGreenUpdatePolicy and RollingUpdatePolicy."
        )
    routing = (blue_green or {}).get("TrafficRoutingConfiguration") or {}
    kind = routing.get("Type")
    if kind == "CANARY" and not routing.get("CanarySize"):
        raise ValidationError("CanarySize must be specified when TrafficRoutingConfiguration Type is CANARY.")
    if kind == "LINEAR" and not routing.get("LinearStepSize"):
        raise ValidationError("LinearStepSize must be specified when TrafficRoutingConfiguration Type is LINEAR.")
