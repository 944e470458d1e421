"""Build each domain's dependencies from the environment, once per process (Lambda init)."""

from __future__ import annotations

from typing import Any

from modelrelay import aws
from modelrelay.config import routing, settings
from modelrelay.ingest import IngestDeps
from modelrelay.promotion import PromotionDeps
from modelrelay.rollout import RolloutDeps


def promotion_deps() -> PromotionDeps:
    current = settings()
    s3 = aws.client("s3")
    sagemaker = aws.client("sagemaker")
    if current.hub_role_arn:
        provider = aws.HubSessionProvider(aws.client("sts"), current.hub_role_arn, current.hub_external_id)
        hub = provider.clients
    else:
        local = aws.HubClients(s3=s3, sagemaker=sagemaker, account_id=current.account_id)

        def hub() -> aws.HubClients:
            return local

    return PromotionDeps(settings=current, routing=routing(), s3=s3, sagemaker=sagemaker,
                         dynamodb=aws.client("dynamodb"), hub=hub)


def ingest_deps() -> IngestDeps:
    return IngestDeps(settings=settings(), routing=routing(), s3=aws.client("s3"), sagemaker=aws.client("sagemaker"),
                      dynamodb=aws.client("dynamodb"), sns=aws.client("sns"), events=aws.client("events"))


def rollout_deps() -> RolloutDeps:
    current = settings()
    sagemaker = aws.client("sagemaker")
    if current.hub_role_arn:
        provider = aws.HubSessionProvider(aws.client("sts"), current.hub_role_arn, current.hub_external_id)

        def hub_sagemaker() -> Any:
            return provider.clients().sagemaker
    else:

        def hub_sagemaker() -> Any:
            return sagemaker

    return RolloutDeps(settings=current, routing=routing(), sagemaker=sagemaker, cloudwatch=aws.client("cloudwatch"),
                       dynamodb=aws.client("dynamodb"), hub_sagemaker=hub_sagemaker)
