"""What an invocation needs from a function's configuration, read once from moto's ``LambdaFunction``.

Imitates the function configuration of
https://docs.aws.amazon.com/lambda/latest/api/API_FunctionConfiguration.html (handler, timeout,
memory, role, runtime, environment, layers, reserved concurrency). The snapshot's fingerprint changes
with any of them, which is what recycles execution environments on a code or configuration change
(https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from moto.awslambda.models import LambdaFunction, LayerVersion
from moto.awslambda.utils import get_backend, split_layer_arn

from .config import CONFIG


@dataclass(frozen=True)
class FunctionSpec:
    """What an invocation needs from moto's ``LambdaFunction``, read once."""

    key: str
    name: str
    version: str
    arn: str
    region: str
    account: str
    handler: str
    timeout: float
    memory: int
    role: str
    runtime: str
    env: Mapping[str, str]
    code_digest: str
    layer_digests: tuple[str, ...]
    fingerprint: str
    reserved_concurrency: int | None


def layer_version(layer_arn: str) -> LayerVersion | None:
    parts = split_layer_arn(layer_arn)
    return get_backend(parts.account, parts.region).layers_versions_by_arn(layer_arn)


def zip_digest(data: bytes, known: str | None) -> str:
    return known or hashlib.sha256(data).hexdigest()


def spec_for(fn: LambdaFunction) -> FunctionSpec:
    layer_digests: list[str] = []
    for layer in fn.layers:
        lv = layer_version(layer["Arn"])
        if lv is not None and lv.code_bytes:
            layer_digests.append(zip_digest(lv.code_bytes, getattr(lv, "code_digest", None)))
    code_digest = zip_digest(fn.code_bytes, getattr(fn, "code_digest", None))
    env = {str(k): str(v) for k, v in (fn.environment_vars or {}).items()}
    fields: dict[str, Any] = {
        "key": fn.function_arn,
        "name": fn.function_name,
        "version": str(fn.version),
        "arn": fn.function_arn,
        "region": fn.region,
        "account": fn.account_id,
        "handler": fn.handler or "",
        "timeout": float(fn.timeout),
        "memory": int(fn.memory_size),
        "role": fn.role,
        "runtime": fn.run_time or "python3.12",
        "env": env,
        "code_digest": code_digest,
        "layer_digests": tuple(layer_digests),
    }
    # id(fn): a function deleted and re-created (or a moto reset) gets new workers.
    identity = json.dumps([id(fn), fields, CONFIG.endpoint_url], sort_keys=True, default=str)
    reserved = fn.reserved_concurrency
    return FunctionSpec(
        fingerprint=hashlib.sha256(identity.encode()).hexdigest(),
        reserved_concurrency=None if reserved is None else int(reserved),
        **fields,
    )


def reserved_in_account(account: str, region: str) -> int:
    """The concurrency reserved by the account's functions in ``region`` (what the others cannot use)."""
    total = 0
    for fn in get_backend(account, region).list_functions():
        if fn.reserved_concurrency is not None:
            total += int(fn.reserved_concurrency)
    return total
