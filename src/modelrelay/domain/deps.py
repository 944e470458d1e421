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


@dataclass
class RolloutDeps:
    settings: Settings
    routing: RoutingConfig
    sagemaker: SageMakerClient
    cloudwatch: CloudWatchClient
    store: Store
    hub: Callable[[], HubClients]
