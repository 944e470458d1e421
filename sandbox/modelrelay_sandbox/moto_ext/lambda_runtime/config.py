"""The sandbox's own settings of the Lambda runtime (paths, endpoint, delays).

Imitates no AWS page: these are the emulator's knobs (AWS's equivalents are fixed
service behaviour, e.g. the async retry delay of minutes, here 0.5 s). Change them
with :func:`configure`; every module of the runtime reads :data:`CONFIG`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

# sandbox/modelrelay_sandbox/moto_ext/lambda_runtime/config.py -> the repository
REPO_ROOT = Path(__file__).resolve().parents[4]


@dataclass
class RuntimeConfig:
    """Settings of the Lambda runtime; change them with :func:`configure`."""

    endpoint_url: str = "http://127.0.0.1:5000"
    code_cache_dir: Path = REPO_ROOT / ".sandbox" / "lambda-code"
    log_dir: Path = REPO_ROOT / ".sandbox" / "logs"
    home_dir: Path = REPO_ROOT / ".sandbox" / "lambda-home"
    async_retry_delay: float = 0.5
    init_phase_timeout: float = 10.0
    idle_worker_ttl: float = 900.0
    cloudwatch_logs: bool = True
    # Lambda's account-level concurrency per Region (AWS's default quota is 1,000; new accounts may get less).
    # Every execution is a ~130 MB worker process here, so the sandbox's default is what this machine holds.
    account_concurrency: int = 64


CONFIG = RuntimeConfig()


def configure(
    *,
    endpoint_url: str | None = None,
    code_cache_dir: Path | None = None,
    log_dir: Path | None = None,
    home_dir: Path | None = None,
    async_retry_delay: float | None = None,
    init_phase_timeout: float | None = None,
    idle_worker_ttl: float | None = None,
    cloudwatch_logs: bool | None = None,
    account_concurrency: int | None = None,
) -> RuntimeConfig:
    """Change the runtime's settings (``None`` keeps a setting); returns them.

    ``endpoint_url`` is what handlers get as ``AWS_ENDPOINT_URL`` and where the
    runtime itself sends dead letters / destination records; ``start_server``
    sets it to the server's URL. Workers spawned after the change see it;
    existing ones are recycled because the endpoint is part of their fingerprint.
    ``account_concurrency`` is the account's concurrent-executions quota (per account and Region), which
    also bounds the worker processes alive at once (see :mod:`.pool`).
    """
    if account_concurrency is not None and account_concurrency < 1:
        raise ValueError("account_concurrency must be at least 1")
    updates: dict[str, Any] = {
        "endpoint_url": endpoint_url,
        "code_cache_dir": code_cache_dir,
        "log_dir": log_dir,
        "home_dir": home_dir,
        "async_retry_delay": async_retry_delay,
        "init_phase_timeout": init_phase_timeout,
        "idle_worker_ttl": idle_worker_ttl,
        "cloudwatch_logs": cloudwatch_logs,
        "account_concurrency": account_concurrency,
    }
    for name, value in updates.items():
        if value is not None:
            setattr(CONFIG, name, Path(value) if name.endswith("_dir") else value)
    return CONFIG
