"""``DeadLetterConfig`` of a function: kept by CreateFunction/UpdateFunctionConfiguration, returned by its
configuration.

Imitates https://docs.aws.amazon.com/lambda/latest/api/API_DeadLetterConfig.html (moto drops the setting, so
failed asynchronous events would never reach the queue).
"""

from __future__ import annotations

from typing import Any

from moto.awslambda.models import LambdaFunction


def patch_dead_letter_config() -> None:
    """Keep ``DeadLetterConfig`` (moto ignores it) so failed async events reach the DLQ."""
    original_init = LambdaFunction.__init__
    original_update = LambdaFunction.update_configuration
    original_get = LambdaFunction.get_configuration

    def __init__(
        self: LambdaFunction,
        account_id: str,
        spec: dict[str, Any],
        region: str,
        version: str | int = 1,
    ) -> None:
        original_init(self, account_id, spec, region, version)
        self.dead_letter_config = dict(spec.get("DeadLetterConfig") or {}) or None  # type: ignore[attr-defined]

    def update_configuration(self: LambdaFunction, config_updates: dict[str, Any]) -> dict[str, Any]:
        if "DeadLetterConfig" in config_updates:
            dlq = config_updates["DeadLetterConfig"] or {}
            self.dead_letter_config = dict(dlq) if dlq.get("TargetArn") else None  # type: ignore[attr-defined]
        return original_update(self, config_updates)

    def get_configuration(self: LambdaFunction, on_create: bool = False) -> dict[str, Any]:
        config = original_get(self, on_create)
        dlq = getattr(self, "dead_letter_config", None)
        if dlq:
            config["DeadLetterConfig"] = dlq
        return config

    LambdaFunction.__init__ = __init__  # type: ignore[method-assign]
    LambdaFunction.update_configuration = update_configuration  # type: ignore[method-assign]
    LambdaFunction.get_configuration = get_configuration  # type: ignore[method-assign]
