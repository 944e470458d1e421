"""How endpoint updates progress in the sandbox: a number of DescribeEndpoint polls, or wall-clock time.

Imitates no AWS page: on AWS an update lasts as long as its instances take to launch plus the deployment
config's waits. Polls mode (default, deterministic for tests) completes after ``polls`` DescribeEndpoint
calls; time mode (demos) after ``time_scale`` x the nominal seconds, or a fixed ``bake_seconds``.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

POLLS_ENV = "MODELRELAY_SANDBOX_ENDPOINT_UPDATE_POLLS"
TIME_SCALE_ENV = "MODELRELAY_SANDBOX_ENDPOINT_UPDATE_TIME_SCALE"
DEFAULT_POLLS = 3


@dataclass(frozen=True)
class Settings:
    """How updates progress: ``polls`` DescribeEndpoint calls (polls mode), or wall-clock time (time mode:
    ``time_scale`` x the DeploymentConfig's nominal seconds, or a fixed ``bake_seconds``)."""

    polls: int = DEFAULT_POLLS
    time_scale: float | None = None
    bake_seconds: float | None = None

    @property
    def mode(self) -> str:
        return "polls" if self.time_scale is None and self.bake_seconds is None else "time"


_settings = Settings()
_lock = threading.Lock()


def configure(
    *, polls: int = DEFAULT_POLLS, time_scale: float | None = None, bake_seconds: float | None = None
) -> Settings:
    """Set how endpoint updates progress, replacing the whole configuration (``configure()`` restores the
    defaults: polls mode, 3 polls). Applies to updates started afterwards. Returns the new settings.

    - ``polls``: DescribeEndpoint calls that still show ``Updating`` before the update completes.
    - ``time_scale``: time mode; an update lasts ``time_scale`` x its nominal seconds.
    - ``bake_seconds``: time mode; every update lasts exactly this long.
    """
    global _settings
    if polls < 0:
        raise ValueError("polls must be >= 0")
    if time_scale is not None and bake_seconds is not None:
        raise ValueError("give time_scale or bake_seconds, not both")
    if (time_scale is not None and time_scale < 0) or (bake_seconds is not None and bake_seconds < 0):
        raise ValueError("time_scale and bake_seconds must be >= 0")
    with _lock:
        _settings = Settings(polls=polls, time_scale=time_scale, bake_seconds=bake_seconds)
        return _settings


def settings() -> Settings:
    """The current settings."""
    return _settings


def configure_from_env() -> None:
    polls, scale = os.environ.get(POLLS_ENV), os.environ.get(TIME_SCALE_ENV)
    if polls or scale:
        configure(polls=int(polls) if polls else DEFAULT_POLLS, time_scale=float(scale) if scale else None)
