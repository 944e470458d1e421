"""Typed models of what starts ModelRelay's work: the AWS events it consumes and the operator's requests."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel, S3EventNotificationEventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelrelay.errors import InvalidEvent

ApprovalStatus = Literal["Approved", "Rejected", "PendingManualApproval"]


class ModelPackageStateChangeDetail(BaseModel):
    """``detail`` of "SageMaker Model Package State Change": the whole package description (extra fields kept)."""

    model_config = ConfigDict(extra="allow")

    ModelPackageGroupName: str = Field(min_length=1)
    ModelPackageArn: str = Field(pattern=r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/.+")
    ModelApprovalStatus: ApprovalStatus
    ModelPackageVersion: int | None = None
    LastModifiedTime: str | None = None


class ModelPackageStateChangeEvent(EventBridgeModel):
    detail: ModelPackageStateChangeDetail


S3ObjectCreatedEvent = S3EventNotificationEventBridgeModel


class ManualRollbackRequest(BaseModel):
    """Operator input to the promotion state machine: return a group's route to its previous approved version."""

    model_config = ConfigDict(extra="forbid")

    request: Literal["rollback"]
    group: str = Field(min_length=1)
    requested_by: str | None = None


class RerunRequest(BaseModel):
    """Operator input: run a failed promotion again once its cause is fixed (its claim is taken over)."""

    model_config = ConfigDict(extra="forbid")

    request: Literal["rerun"]
    event: ModelPackageStateChangeEvent
    requested_by: str | None = None


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


StartInput = ModelPackageStateChangeEvent | ManualRollbackRequest | RerunRequest


def parse_start_input(raw: Any) -> StartInput:
    """What started the promotion: an approval event (from EventBridge), a manual rollback, or a re-run."""
    kind = raw.get("request") if isinstance(raw, dict) else None
    if kind == "rollback":
        return parse_event(ManualRollbackRequest, raw, "manual rollback request")
    if kind == "rerun":
        return parse_event(RerunRequest, raw, "re-run request")
    return parse_event(ModelPackageStateChangeEvent, raw, "SageMaker Model Package State Change")
