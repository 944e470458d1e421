"""Model packages that SageMaker has not finished yet (opt-in): ``ModelPackageStatus`` ``InProgress`` for a while.

Imitates https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeModelPackage.html:
``ModelPackageStatus`` is ``Pending | InProgress | Completed | Failed | Deleting`` and ``ModelPackageStatusDetails``
lists ``ValidationStatuses`` and ``ImageScanStatuses`` (``ModelPackageStatusItem``: ``Name``, ``Status``
``NotStarted | InProgress | Completed | Failed``, ``FailureReason``). On AWS a new package is not ``Completed`` at
once (SageMaker validates it and scans its images); a model is built from a package only once it is. moto 5.2.5
makes every package ``Completed`` at creation, so code that must wait for it is never exercised.

Opt-in, for tests: ``configure(describes=N, group="modelrelay-hub")`` makes every package created afterwards in
that group (any account; every group when ``group`` is None) answer its first ``N`` DescribeModelPackage calls
with ``InProgress`` (items ``InProgress``), then ``final`` (``Completed``, or ``Failed`` with a ``FailureReason`` on
the validation item). ListModelPackages shows the current status without advancing it. ``configure()`` (N = 0)
turns it off; packages already created keep their countdown.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from moto.core.responses import ActionResult
from moto.sagemaker.models import ModelPackage, SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

_lock = threading.Lock()
_applied = False


@dataclass(frozen=True)
class Settings:
    describes: int = 0
    group: str | None = None
    final: str = "Completed"  # or "Failed"


_settings = Settings()
# package ARN -> [describes left, final status] (kept here, not on the package: its attributes become response and
# event fields)
_countdown: dict[str, list[Any]] = {}


def configure(describes: int = 0, group: str | None = None, final: str = "Completed") -> Settings:
    """Packages created from now on (in ``group``) are ``InProgress`` for ``describes`` DescribeModelPackage
    calls, then ``final``. ``configure()`` turns it off."""
    global _settings
    if describes < 0 or final not in ("Completed", "Failed"):
        raise ValueError("describes must be >= 0 and final Completed or Failed")
    with _lock:
        _settings = Settings(describes=describes, group=group, final=final)
        return _settings


def _details(package: ModelPackage, status: str, reason: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"Name": package.arn, "Status": status}
    validation = dict(item)
    if reason:
        validation["FailureReason"] = reason
    return {"ValidationStatuses": [validation], "ImageScanStatuses": [item]}


def _set(package: ModelPackage, status: str) -> None:
    package.model_package_status = status
    if status == "Failed":
        reason = "Validation of the model package failed (sandbox: configured to fail)."
        package.model_package_status_details = _details(package, "Failed", reason)
    else:
        package.model_package_status_details = _details(package, status)


def _wrap_create(original: Any) -> Any:
    def create_model_package(self: SageMakerModelBackend, *args: Any, **kwargs: Any) -> str:
        arn: str = original(self, *args, **kwargs)
        current = _settings
        package = self.model_packages.get(arn)
        if package is not None and current.describes and current.group in (None, package.model_package_group_name):
            with _lock:
                _countdown[arn] = [current.describes, current.final]
                _set(package, "InProgress")
        return arn

    return create_model_package


def _wrap_describe(original: Any) -> Any:
    def describe_model_package(self: SageMakerResponse) -> ActionResult:
        name = self._get_param("ModelPackageName")
        backend = self.sagemaker_backend
        package = backend.model_packages.get(backend.model_package_name_mapping.get(name, name))
        if package is not None:
            with _lock:
                countdown = _countdown.get(package.arn)
                if countdown is not None and countdown[0] > 0:
                    countdown[0] -= 1
                elif countdown is not None:
                    _set(package, countdown[1])
                    del _countdown[package.arn]
        result: ActionResult = original(self)
        return result

    return describe_model_package


def apply() -> None:
    """Install the opt-in status countdown (idempotent; after sagemaker_events, whose create it wraps)."""
    global _applied
    with _lock:
        if _applied:
            return
        SageMakerModelBackend.create_model_package = _wrap_create(  # type: ignore[method-assign]
            SageMakerModelBackend.create_model_package
        )
        SageMakerResponse.describe_model_package = _wrap_describe(  # type: ignore[method-assign]
            SageMakerResponse.describe_model_package
        )
        _applied = True


__all__ = ["Settings", "apply", "configure"]
