"""What the promotion's domain code is handed: settings, routes, clients and the state store (built by wiring)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelrelay.adapters.clients import HubClients
from modelrelay.adapters.store import Store
from modelrelay.config import RoutingConfig, Settings

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.client import CloudWatchClient
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sagemaker.client import SageMakerClient
else:
    S3Client = SageMakerClient = CloudWatchClient = Any


@dataclass
class PromotionDeps:
    settings: Settings
    routing: RoutingConfig
    s3: S3Client
    sagemaker: SageMakerClient
    store: Store
    hub: Callable[[], HubClients]  # this account's clients, or the hub role's (refreshed before they expire)
    runtime: Any = None  # sagemaker-runtime (the MME smoke check's InvokeEndpoint)
    # Staged routes: a session in a stage's account through its deployment role (clients.RoleSessions.session).
    stage_session: Callable[[str, str | None], Any] | None = None
    cloudwatch: Any = None  # staged routes: the automatic gate watches the stage's alarms
    stepfunctions: Any = None  # staged routes: a manual gate's decision (SendTaskSuccess / SendTaskFailure)
    sns: Any = None  # staged routes: an approver is told a gate waits
    source_s3: S3Client | None = None  # staged routes: the stack's own S3 (``s3`` is then the stage account's)


@dataclass
class RolloutDeps:
    settings: Settings
    routing: RoutingConfig
    sagemaker: SageMakerClient
    cloudwatch: CloudWatchClient
    store: Store
    hub: Callable[[], HubClients]
    # Staged routes: the stack's own SageMaker client for package reads and records (``sagemaker`` is then the stage
    # account's), and a session in a stage's account.
    packages: SageMakerClient | None = None
    stage_session: Callable[[str, str | None], Any] | None = None
