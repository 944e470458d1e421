"""Typed models of the events ModelRelay consumes and of the payloads its steps exchange."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel, S3EventNotificationEventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelrelay.errors import InvalidEvent

APPROVAL_STATUSES = ("Approved", "Rejected", "PendingManualApproval")


class ModelPackageStateChangeDetail(BaseModel):
    """``detail`` of "SageMaker Model Package State Change": the whole package description (extra fields kept)."""

    model_config = ConfigDict(extra="allow")

    ModelPackageGroupName: str = Field(min_length=1)
    ModelPackageArn: str = Field(pattern=r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/.+")
    ModelApprovalStatus: Literal["Approved", "Rejected", "PendingManualApproval"]
    ModelPackageVersion: int | None = None
    LastModifiedTime: str | None = None


class ModelPackageStateChangeEvent(EventBridgeModel):
    detail: ModelPackageStateChangeDetail


S3ObjectCreatedEvent = S3EventNotificationEventBridgeModel

M = TypeVar("M", bound=BaseModel)


def parse_event(model: type[M], event: Any, what: str) -> M:
    """Parse ``event`` or raise ``InvalidEvent`` naming every bad field."""
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc']) or '(root)'}: {item['msg']}" for item in exc.errors()
        )
        raise InvalidEvent(f"malformed {what} event: {problems}") from exc


class ArtifactRef(BaseModel):
    bucket: str
    key: str
    version_id: str | None = None
    size: int
    sha256: str
    etag: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class SourcePackage(BaseModel):
    arn: str
    group: str
    version: int | None
    account: str
    region: str
    approval_status: str
    model_data_url: str
    image: str
    content_types: list[str] = Field(default_factory=lambda: ["application/json"])
    response_types: list[str] = Field(default_factory=lambda: ["application/json"])
    last_modified: str | None = None


class PromotionPlan(BaseModel):
    """What PreparePromotion decided; the rest of the state machine acts on it."""

    decision: Literal["promote", "skip", "duplicate", "ignore", "restore"]
    reason: str
    package_arn: str
    group: str | None = None
    route_kind: Literal["mme", "endpoint", "none"] = "none"
    source: SourcePackage | None = None
    artifact: ArtifactRef | None = None
    hub_key: str | None = None
    mme_key: str | None = None
    model_name: str | None = None
    target_model: str | None = None
    endpoint_name: str | None = None
    mme_bucket: str | None = None
