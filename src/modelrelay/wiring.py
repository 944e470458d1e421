"""Build each domain's dependencies from the environment, once per process (Lambda init)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from modelrelay.adapters import clients, runtime
from modelrelay.adapters.store import Store
from modelrelay.config import routing, settings
from modelrelay.domain.deps import PromotionDeps, RolloutDeps
from modelrelay.domain.ingest import IngestDeps


def _store() -> Store:
    return Store(clients.client("dynamodb"), settings().state_table)


def _hub(s3: clients.S3Client, sagemaker: clients.SageMakerClient) -> Callable[[], clients.HubClients]:
    """Hub clients: this account's, or the cross-account role's (credentials refreshed before they expire)."""
    current = settings()
    if current.hub_role_arn:
        return clients.HubSessionProvider(clients.client("sts"), current.hub_role_arn, current.hub_external_id).clients
    local = clients.HubClients(s3=s3, sagemaker=sagemaker, account_id=current.account_id)
    return lambda: local


@cache
def _role_sessions() -> clients.RoleSessions:
    return clients.RoleSessions(clients.client("sts"))


def stage_session(role_arn: str, external_id: str | None) -> Any:
    """A session in a stage's account through its deployment role (created on first use, then cached)."""
    return _role_sessions().session(role_arn, external_id)


def stage_deps() -> PromotionDeps:
    """The StageStep function's: the promotion's, plus what a gate needs (alarms, the gate's decision, a notice)."""
    deps = promotion_deps()
    deps.cloudwatch = clients.client("cloudwatch")
    deps.stepfunctions = clients.client("stepfunctions")
    deps.sns = clients.client("sns")
    return deps


def promotion_deps() -> PromotionDeps:
    s3, sagemaker = clients.client("s3"), clients.client("sagemaker")
    return PromotionDeps(
        settings=settings(),
        routing=routing(),
        s3=s3,
        sagemaker=sagemaker,
        store=_store(),
        hub=_hub(s3, sagemaker),
        runtime=clients.client("sagemaker-runtime", config=runtime.RUNTIME_CONFIG),
        stage_session=stage_session,
    )


def ingest_deps() -> IngestDeps:
    return IngestDeps(
        settings=settings(),
        routing=routing(),
        s3=clients.client("s3"),
        sagemaker=clients.client("sagemaker"),
        store=_store(),
        sns=clients.client("sns"),
        events=clients.client("events"),
    )


def rollout_deps() -> RolloutDeps:
    sagemaker = clients.client("sagemaker")
    return RolloutDeps(
        settings=settings(),
        routing=routing(),
        sagemaker=sagemaker,
        cloudwatch=clients.client("cloudwatch"),
        store=_store(),
        hub=_hub(clients.client("s3"), sagemaker),
        stage_session=stage_session,
    )
