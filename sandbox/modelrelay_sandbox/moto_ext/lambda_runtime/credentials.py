"""The execution role's temporary credentials, as Lambda hands them to the function.

Imitates https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html: the handler
(and the runtime's own deliveries to dead-letter queues and destinations) act as the function's
execution role, assumed through moto's STS so the keys resolve to the function's account.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config
from moto.iam.models import iam_backends
from moto.sts.models import sts_backends
from moto.utilities.utils import get_partition

from .config import CONFIG
from .spec import FunctionSpec

_creds_lock = threading.Lock()
# (function account, role ARN) -> (credentials, account the access key belongs to)
_creds_cache: dict[tuple[str, str], tuple[dict[str, str], str]] = {}


def role_credentials(account: str, region: str, role_arn: str, session: str) -> dict[str, str]:
    """Temporary credentials of the execution role, from moto's STS: moto maps their
    access key to the role's account, as AWS does for the function's credentials."""
    partition = get_partition(region)
    with _creds_lock:
        cached = _creds_cache.get((account, role_arn))
        # A moto reset forgets the key: then assume the role again.
        if cached and cached[0]["AWS_ACCESS_KEY_ID"] in iam_backends[cached[1]][partition].access_keys:
            return cached[0]
        assumed = sts_backends[account][partition].assume_role(
            region_name=region,
            role_session_name=session[:64],
            role_arn=role_arn,
            policy="",
            duration=43200,
            external_id="",
        )
        creds = {
            "AWS_ACCESS_KEY_ID": assumed.access_key_id,
            "AWS_SECRET_ACCESS_KEY": assumed.secret_access_key,
            "AWS_SESSION_TOKEN": assumed.session_token,
        }
        _creds_cache[(account, role_arn)] = (creds, assumed.account_id)
        return creds


def role_client(service: str, spec: FunctionSpec, region: str | None = None) -> Any:
    creds = role_credentials(spec.account, spec.region, spec.role, spec.name)
    return boto3.client(
        service,
        region_name=region or spec.region,
        endpoint_url=CONFIG.endpoint_url,
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=creds["AWS_SESSION_TOKEN"],
        config=Config(retries={"max_attempts": 2}),
    )
