"""Fixtures shared by the emulator's tests; each module starts its own ``server`` (module scope)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from modelrelay_sandbox.server import SandboxServer

REGION = "us-east-1"


@pytest.fixture(scope="module")
def aws(server: SandboxServer) -> Callable[..., Any]:
    """A boto3 client factory for the module's server (moto's default account; keyword arguments override)."""

    def client(service: str, **kwargs: Any) -> Any:
        options: dict[str, Any] = {
            "endpoint_url": server.url,
            "region_name": REGION,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        options.update(kwargs)
        return boto3.client(service, **options)

    return client


@pytest.fixture(scope="module")
def role_arn(aws: Callable[..., Any]) -> str:
    """An execution role for the module's functions (named per module: moto's backends outlive a module's server)."""
    name = f"fn-role-{uuid.uuid4().hex[:8]}"
    arn: str = aws("iam").create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    return arn
