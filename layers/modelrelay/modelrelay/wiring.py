"""Build each domain's dependencies from the environment, once per process (Lambda init)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelrelay import aws
from modelrelay.config import routing, settings
from modelrelay.ingest import IngestDeps
from modelrelay.promotion import PromotionDeps
from modelrelay.rollout import RolloutDeps


def _hub(s3: Any, sagemaker: Any) -> Callable[[], aws.HubClients]:
    """Hub clients: this account's, or the cross-account role's (credentials refreshed before they expire)."""
    current = settings()
    if current.hub_role_arn:
        return aws.HubSessionProvider(aws.client("sts"), current.hub_role_arn, current.hub_external_id).clients
    local = aws.HubClients(s3=s3, sagemaker=sagemaker, account_id=current.account_id)
    return lambda: local


def promotion_deps() -> PromotionDeps:
    s3, sagemaker = aws.client("s3"), aws.client("sagemaker")
    return PromotionDeps(settings=settings(), routing=routing(), s3=s3, sagemaker=sagemaker,
                         dynamodb=aws.client("dynamodb"), hub=_hub(s3, sagemaker))


def ingest_deps() -> IngestDeps:
    return IngestDeps(settings=settings(), routing=routing(), s3=aws.client("s3"), sagemaker=aws.client("sagemaker"),
                      dynamodb=aws.client("dynamodb"), sns=aws.client("sns"), events=aws.client("events"))


def rollout_deps() -> RolloutDeps:
    sagemaker = aws.client("sagemaker")
    hub = _hub(aws.client("s3"), sagemaker)
    return RolloutDeps(settings=settings(), routing=routing(), sagemaker=sagemaker, cloudwatch=aws.client("cloudwatch"),
                       dynamodb=aws.client("dynamodb"), hub_sagemaker=lambda: hub().sagemaker)
