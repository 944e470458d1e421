"""Typed settings (from the environment) and the routing configuration (data, validated against a schema).

Both are parsed once per process and fail fast with a message naming the bad field.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from modelrelay.artifact import ArtifactLimits
from modelrelay.errors import ConfigError, NoRouteForGroup

# SageMaker's own pattern for model package group names.
GROUP_NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
# MME TargetModel first path element: keep it safe for IAM `sagemaker:TargetModel` conditions and S3 keys.
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
BUCKET_PATTERN = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
ENDPOINT_NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"

ROUTES_FILE_ENV = "MODELRELAY_ROUTES_FILE"
BUNDLED_ROUTES_FILE = Path(__file__).with_name("routes.json")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_DEFAULT_LIMITS = ArtifactLimits()


class LimitsConfig(_Strict):
    """A route's artifact limits; the defaults are the validator's own (``ArtifactLimits``)."""

    max_object_bytes: int = Field(default=_DEFAULT_LIMITS.max_object_bytes, gt=0)
    max_uncompressed_bytes: int = Field(default=_DEFAULT_LIMITS.max_uncompressed_bytes, gt=0)
    max_compression_ratio: float = Field(default=_DEFAULT_LIMITS.max_compression_ratio, gt=1)
    max_members: int = Field(default=_DEFAULT_LIMITS.max_members, gt=0)

    def to_limits(self) -> ArtifactLimits:
        return ArtifactLimits(
            max_object_bytes=self.max_object_bytes,
            max_uncompressed_bytes=self.max_uncompressed_bytes,
            max_compression_ratio=self.max_compression_ratio,
            max_members=self.max_members,
        )


class IngestConfig(_Strict):
    """How a dropped artifact becomes a model package in this group."""

    image: str = Field(min_length=1, max_length=255)
    content_types: list[str] = Field(default_factory=lambda: ["application/json"], min_length=1)
    response_types: list[str] = Field(default_factory=lambda: ["application/json"], min_length=1)
    auto_approve: bool = False


class MmeTarget(_Strict):
    kind: Literal["mme"]
    endpoint_name: str = Field(pattern=ENDPOINT_NAME_PATTERN)
    bucket: str = Field(pattern=BUCKET_PATTERN)
    prefix: str = Field(default="models/", max_length=512)
    # First path element of the TargetModel; defaults to the group name.
    model_name: str | None = Field(default=None, pattern=MODEL_NAME_PATTERN)

    @field_validator("prefix")
    @classmethod
    def _normalise_prefix(cls, value: str) -> str:
        value = value.strip("/")
        if ".." in value.split("/"):
            raise ValueError("must not contain '..'")
        return f"{value}/" if value else ""


class AlarmDefaults(_Strict):
    """Thresholds of the alarms ModelRelay creates when a route names none."""

    invocation_5xx_errors: int = Field(default=1, ge=1)
    model_latency_p99_ms: int = Field(default=1000, ge=1)
    evaluation_periods: int = Field(default=1, ge=1, le=10)
    period_seconds: int = Field(default=60, ge=10)


class BatchSize(_Strict):
    """A rolling step's size (SageMaker ``CapacitySize``): instances, or a percent of the variant's fleet."""

    type: Literal["INSTANCE_COUNT", "CAPACITY_PERCENT"] = "CAPACITY_PERCENT"
    value: int = Field(ge=1)

    def to_api(self) -> dict[str, object]:
        return {"Type": self.type, "Value": self.value}


class RolloutConfig(_Strict):
    """SageMaker deployment guardrails for a real-time endpoint route: blue/green (``CANARY``, ``LINEAR``,
    ``ALL_AT_ONCE``) or ``ROLLING`` (``RollingUpdatePolicy``: the fleet replaced in batches)."""

    strategy: Literal["CANARY", "LINEAR", "ALL_AT_ONCE", "ROLLING"] = "CANARY"
    canary_size_percent: int = Field(default=10, ge=1, le=50)
    linear_step_percent: int = Field(default=20, ge=10, le=50)
    wait_interval_seconds: int = Field(default=300, ge=0, le=3600)
    termination_wait_seconds: int = Field(default=120, ge=0, le=3600)
    maximum_execution_timeout_seconds: int = Field(default=3600, ge=600, le=28800)
    # ROLLING only (API_RollingUpdatePolicy): each batch 5-50 % of the variant's instance count; the rollback
    # batch defaults to SageMaker's 100 % (the whole old fleet at once) when absent.
    maximum_batch_size: BatchSize = Field(default_factory=lambda: BatchSize(type="CAPACITY_PERCENT", value=25))
    rollback_maximum_batch_size: BatchSize | None = None
    alarm_names: list[str] = Field(default_factory=list, max_length=10)
    default_alarms: AlarmDefaults = Field(default_factory=AlarmDefaults)

    @model_validator(mode="after")
    def _batch_sizes_in_range(self) -> RolloutConfig:
        if self.maximum_batch_size.type == "CAPACITY_PERCENT" and not 5 <= self.maximum_batch_size.value <= 50:
            raise ValueError(
                f"maximum_batch_size: a CAPACITY_PERCENT batch must be 5-50 % of the fleet "
                f"(got {self.maximum_batch_size.value})"
            )
        rollback = self.rollback_maximum_batch_size
        if rollback is not None and rollback.type == "CAPACITY_PERCENT" and rollback.value > 100:
            raise ValueError(f"rollback_maximum_batch_size: at most 100 % (got {rollback.value})")
        return self

    def steps(self) -> int | None:
        """Bakes of one deployment (None: a ROLLING batch in instances, known only with the fleet's size)."""
        if self.strategy == "LINEAR":
            return -(-100 // self.linear_step_percent)
        if self.strategy == "ROLLING":
            if self.maximum_batch_size.type == "INSTANCE_COUNT":
                return None
            return -(-100 // self.maximum_batch_size.value)
        return 1

    @model_validator(mode="after")
    def _timeout_covers_bakes(self) -> RolloutConfig:
        steps = self.steps() or 1
        # A rolling deployment has no final termination wait: old instances leave after each batch's bake.
        termination = 0 if self.strategy == "ROLLING" else self.termination_wait_seconds
        needed = self.wait_interval_seconds * steps + termination
        if self.maximum_execution_timeout_seconds <= needed:
            raise ValueError(
                f"maximum_execution_timeout_seconds ({self.maximum_execution_timeout_seconds}) must exceed the sum "
                f"of all waits and bakes ({needed} s)"
            )
        return self


class EndpointTarget(_Strict):
    kind: Literal["endpoint"]
    endpoint_name: str = Field(pattern=ENDPOINT_NAME_PATTERN)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)


Target = Annotated[MmeTarget | EndpointTarget, Field(discriminator="kind")]


class Route(_Strict):
    model_package_group: str = Field(pattern=GROUP_NAME_PATTERN)
    target: Target
    ingest: IngestConfig | None = None
    # Buckets an approved package's ModelDataUrl may point at (the ingest bucket is always allowed).
    allowed_artifact_buckets: list[str] = Field(default_factory=list)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)

    @property
    def model_name(self) -> str:
        if isinstance(self.target, MmeTarget) and self.target.model_name:
            return self.target.model_name
        return self.model_package_group


class RoutingConfig(_Strict):
    version: Literal[1] = 1
    # Accounts and regions whose approval events are accepted; empty means "the stack's own".
    allowed_source_accounts: list[Annotated[str, Field(pattern=r"^\d{12}$")]] = Field(default_factory=list)
    allowed_regions: list[str] = Field(default_factory=list)
    routes: list[Route] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_groups(self) -> RoutingConfig:
        seen: set[str] = set()
        for index, route in enumerate(self.routes):
            if route.model_package_group in seen:
                raise ValueError(f"routes[{index}].model_package_group '{route.model_package_group}' is routed twice")
            seen.add(route.model_package_group)
        return self

    def route_for(self, group: str) -> Route:
        for route in self.routes:
            if route.model_package_group == group:
                return route
        raise NoRouteForGroup(f"model package group '{group}' has no route in the routing configuration")

    def has_route(self, group: str) -> bool:
        return any(route.model_package_group == group for route in self.routes)


def _describe_validation_error(source: str, error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"] if not str(part).startswith("function-"))
        problems.append(f"{location or '(root)'}: {item['msg']}")
    return f"{source} is invalid: " + "; ".join(problems)


def parse_routing_config(raw: str | bytes, source: str = "routing configuration") -> RoutingConfig:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source} is not valid JSON: {exc}") from exc
    try:
        return RoutingConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe_validation_error(source, exc)) from exc


def load_routing_config(path: str | Path | None = None) -> RoutingConfig:
    """Load routes from ``path``, ``$MODELRELAY_ROUTES_FILE``, or the copy bundled in the layer at build time."""
    chosen = Path(path or os.environ.get(ROUTES_FILE_ENV) or BUNDLED_ROUTES_FILE)
    try:
        raw = chosen.read_bytes()
    except OSError as exc:
        raise ConfigError(f"routing configuration not readable at {chosen}: {exc.strerror}") from exc
    return parse_routing_config(raw, source=str(chosen))


class Settings(_Strict):
    """What every function reads from its environment (set by template.yaml)."""

    region: str = Field(min_length=1)
    account_id: str = Field(pattern=r"^\d{12}$")
    ingest_bucket: str = Field(pattern=BUCKET_PATTERN)
    ingest_prefix: str = ""
    hub_bucket: str = Field(pattern=BUCKET_PATTERN)
    hub_model_package_group: str = Field(pattern=GROUP_NAME_PATTERN)
    hub_role_arn: str | None = None
    hub_external_id: str | None = None
    state_table: str = Field(min_length=3)
    notification_topic_arn: str = Field(min_length=20)
    event_bus_name: str = Field(min_length=1)

    @field_validator("hub_role_arn", "hub_external_id", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return value or None

    @field_validator("ingest_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip("/")
        return f"{value}/" if value else ""


_SETTINGS_ENV = {
    "region": "AWS_REGION",
    "account_id": "MODELRELAY_ACCOUNT_ID",
    "ingest_bucket": "INGEST_BUCKET",
    "ingest_prefix": "INGEST_PREFIX",
    "hub_bucket": "HUB_BUCKET",
    "hub_model_package_group": "HUB_MODEL_PACKAGE_GROUP",
    "hub_role_arn": "HUB_ROLE_ARN",
    "hub_external_id": "HUB_EXTERNAL_ID",
    "state_table": "STATE_TABLE",
    "notification_topic_arn": "NOTIFICATION_TOPIC_ARN",
    "event_bus_name": "EVENT_BUS_NAME",
}


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    values = {field: environ[name] for field, name in _SETTINGS_ENV.items() if name in environ}
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        message = _describe_validation_error("environment", exc)
        for field, name in _SETTINGS_ENV.items():
            message = re.sub(rf"\b{field}\b", name, message)
        raise ConfigError(message) from exc


@lru_cache(maxsize=1)
def settings() -> Settings:
    return settings_from_env()


@lru_cache(maxsize=1)
def routing() -> RoutingConfig:
    return load_routing_config()
