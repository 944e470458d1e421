"""boto3 clients, created once per process and handed to domain code.

Retries use botocore's ``adaptive`` mode: ``standard``'s exponential backoff with full jitter, plus a client-side
rate limiter that slows this process's calls down once a service answers with throttling (SageMaker throttles its
control plane per account). A throttled call is retried by the SDK before Step Functions' own ``Retry`` steps in.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sagemaker.client import SageMakerClient
    from mypy_boto3_sts.client import STSClient
else:
    S3Client = SageMakerClient = STSClient = Any

SDK_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 8},
    connect_timeout=5,
    read_timeout=60,
    user_agent_extra="modelrelay/0.1",
)


def client(service: str, session: boto3.Session | None = None, config: Config | None = None) -> Any:
    return (session or boto3.Session()).client(service, config=config or SDK_CONFIG)


@dataclass
class HubClients:
    """Clients that write to the hub: this account's, or a cross-account role's (push pattern)."""

    s3: S3Client
    sagemaker: SageMakerClient
    account_id: str


class HubSessionProvider:
    """Assumes the hub role (with ExternalId) and refreshes the credentials before they expire."""

    def __init__(
        self, sts: STSClient, role_arn: str, external_id: str | None, session_name: str = "modelrelay"
    ) -> None:
        self._sts = sts
        self._role_arn = role_arn
        self._external_id = external_id
        self._session_name = session_name
        self._lock = threading.Lock()
        self._clients: HubClients | None = None
        self._expires_at = 0.0

    def clients(self) -> HubClients:
        with self._lock:
            if self._clients is None or time.time() > self._expires_at - 300:
                params: dict[str, Any] = {"RoleArn": self._role_arn, "RoleSessionName": self._session_name}
                if self._external_id:
                    params["ExternalId"] = self._external_id
                credentials = self._sts.assume_role(**params)["Credentials"]
                session = boto3.Session(
                    aws_access_key_id=credentials["AccessKeyId"],
                    aws_secret_access_key=credentials["SecretAccessKey"],
                    aws_session_token=credentials["SessionToken"],
                )
                expiration = credentials["Expiration"]
                self._expires_at = expiration.timestamp() if hasattr(expiration, "timestamp") else time.time() + 900
                account = self._role_arn.split(":")[4]
                self._clients = HubClients(
                    s3=client("s3", session), sagemaker=client("sagemaker", session), account_id=account
                )
            return self._clients


class RoleSessions:
    """Sessions in other accounts through their roles (AssumeRole with ExternalId), one per role, refreshed before
    they expire: a staged route's deployment roles (``Stage.role_arn``)."""

    def __init__(self, sts: STSClient, session_name: str = "modelrelay-stage") -> None:
        self._sts = sts
        self._session_name = session_name
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[boto3.Session, float]] = {}

    def session(self, role_arn: str, external_id: str | None) -> boto3.Session:
        with self._lock:
            cached = self._sessions.get(role_arn)
            if cached is None or time.time() > cached[1] - 300:
                params: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": self._session_name}
                if external_id:
                    params["ExternalId"] = external_id
                credentials = self._sts.assume_role(**params)["Credentials"]
                session = boto3.Session(
                    aws_access_key_id=credentials["AccessKeyId"],
                    aws_secret_access_key=credentials["SecretAccessKey"],
                    aws_session_token=credentials["SessionToken"],
                )
                expiration = credentials["Expiration"]
                expires = expiration.timestamp() if hasattr(expiration, "timestamp") else time.time() + 900
                cached = (session, expires)
                self._sessions[role_arn] = cached
            return cached[0]
