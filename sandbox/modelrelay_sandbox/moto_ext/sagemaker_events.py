"""SageMaker emits Model Package State Change events.

AWS behaviour supplied here, and why moto 5.2.5 lacks it:

* **The event.** SageMaker puts ``SageMaker Model Package State Change`` on the
  default event bus of the account and region that own the package when a
  package is created with a ``ModelApprovalStatus`` and whenever
  ``UpdateModelPackage`` changes that status.  ``detail`` is the whole
  DescribeModelPackage output (times as ISO-8601 ``Z`` strings,
  ``ModelPackageVersion`` a number); ``resources`` is ``[ModelPackageArn]``.
  moto emits no SageMaker events at all.  Shape reference:
  events/sagemaker/approved.json (a checked copy of AWS's sample).
* **UpdateModelPackage semantics.** moto's ``update_model_package`` overwrites
  every field with whatever the request carried: an update that only touches
  metadata sets ``ModelApprovalStatus`` and ``ApprovalDescription`` to None,
  ``CustomerMetadataProperties`` are replaced instead of merged, and
  ``CustomerMetadataPropertiesToRemove`` crashes when the package has none.
  We change only what the request sets, merge the metadata, then remove keys.
* **LastModifiedTime** is None until the first update in moto; AWS reports it
  from creation on.  It is bumped on every update.
* **ImageDigest.** SageMaker resolves every inference container image to its
  digest and DescribeModelPackage returns ``ImageDigest``; moto does not.  We
  add a stable fake ``sha256:`` digest per image.
* **Model package group resource policies.** moto has no
  Put/Get/DeleteModelPackageGroupPolicy; we store the policy JSON on the group
  and add the three response handlers (moto dispatches an action to the
  ``SageMakerResponse`` method of the same snake_case name).

Verified already correct in moto, left alone: DescribeModelPackage returns
``CustomerMetadataProperties``, ``InferenceSpecification``,
``ModelPackageGroupName`` and ``ModelPackageVersion``; ListModelPackages
honours ``ModelPackageGroupName``, ``ModelApprovalStatus``,
``SortBy``/``SortOrder`` and ``MaxResults``/``NextToken``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from datetime import UTC, datetime
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import ModelPackage, SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

from . import eventbridge_targets

LOG = logging.getLogger(__name__)

SOURCE = "aws.sagemaker"
DETAIL_TYPE = "SageMaker Model Package State Change"

_applied = False
_original_create = SageMakerModelBackend.create_model_package


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return eventbridge_targets.iso_time(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def model_package_detail(package: ModelPackage) -> dict[str, Any]:
    """DescribeModelPackage output as the event's ``detail`` carries it."""
    detail: dict[str, Any] = _jsonable(package.gen_response_object())
    return detail


def _emit(backend: SageMakerModelBackend, package: ModelPackage) -> None:
    try:
        when = package.last_modified_time or package.creation_time
        eventbridge_targets.put_service_event(
            backend.account_id,
            backend.region_name,
            source=SOURCE,
            detail_type=DETAIL_TYPE,
            resources=[package.arn],
            detail=model_package_detail(package),
            event_time=when.replace(tzinfo=when.tzinfo or UTC).timestamp(),
        )
    except Exception:  # an event must never fail the SageMaker call
        LOG.exception("Could not emit %s for %s", DETAIL_TYPE, package.arn)


def _create_model_package(self: SageMakerModelBackend, *args: Any, **kwargs: Any) -> str:
    arn: str = _original_create(self, *args, **kwargs)
    package = self.model_packages[arn]
    package.last_modified_time = package.creation_time  # AWS reports it from creation on
    _add_image_digests(package)
    if package.model_approval_status is not None:
        _emit(self, package)
    return arn


def _add_image_digests(package: ModelPackage) -> None:
    # SageMaker resolves each container image to its digest at creation and
    # DescribeModelPackage returns it; moto does not. A stable fake digest per image.
    spec = copy.deepcopy(package.inference_specification)
    for container in (spec or {}).get("Containers") or []:
        if container.get("Image") and not container.get("ImageDigest"):
            container["ImageDigest"] = "sha256:" + hashlib.sha256(container["Image"].encode()).hexdigest()
    package.inference_specification = spec


def _update_model_package(
    self: SageMakerModelBackend,
    model_package_arn: str,
    model_approval_status: str | None,
    approval_description: str | None,
    customer_metadata_properties: dict[str, str] | None,
    customer_metadata_properties_to_remove: list[str],
    additional_inference_specifications_to_add: list[Any] | None,
) -> str:
    arn = self.model_package_name_mapping.get(model_package_arn, model_package_arn)
    package = self.model_packages.get(arn)
    if package is None:
        raise ValidationError(f"Model package {model_package_arn} not found")
    previous_status = package.model_approval_status

    # Only what the request carries changes (moto overwrote everything).
    if model_approval_status is not None:
        package.set_model_approval_status(model_approval_status)
    if approval_description is not None:
        package.approval_description = approval_description
    if customer_metadata_properties or customer_metadata_properties_to_remove:
        merged = dict(package.customer_metadata_properties or {})
        merged.update(customer_metadata_properties or {})
        for key in customer_metadata_properties_to_remove or []:
            merged.pop(key, None)
        package.customer_metadata_properties = merged or None
    if additional_inference_specifications_to_add:
        package.add_additional_inference_specifications(additional_inference_specifications_to_add)
    package.modifications_done()  # bumps LastModifiedTime / LastModifiedBy

    if package.model_approval_status != previous_status:
        _emit(self, package)
    return package.arn


# ---------------------------------------------------------- group resource policy


def _group(backend: SageMakerModelBackend, name_or_arn: str) -> Any:
    return backend.describe_model_package_group(name_or_arn.split("/")[-1])  # raises ValidationError


def put_model_package_group_policy(
    self: SageMakerModelBackend, model_package_group_name: str, resource_policy: str
) -> str:
    group = _group(self, model_package_group_name)
    try:
        json.loads(resource_policy)
    except (TypeError, ValueError) as exc:
        raise ValidationError("ResourcePolicy is not valid JSON") from exc
    group.resource_policy = resource_policy
    return str(group.arn)


def get_model_package_group_policy(self: SageMakerModelBackend, model_package_group_name: str) -> str:
    group = _group(self, model_package_group_name)
    policy = getattr(group, "resource_policy", None)
    if policy is None:
        raise ValidationError(f"Cannot find resource policy for model package group {group.arn}")
    return str(policy)


def delete_model_package_group_policy(self: SageMakerModelBackend, model_package_group_name: str) -> None:
    group = _group(self, model_package_group_name)
    if getattr(group, "resource_policy", None) is None:
        raise ValidationError(f"Cannot find resource policy for model package group {group.arn}")
    group.resource_policy = None


def _resp_put_policy(self: SageMakerResponse) -> ActionResult:
    arn = self.sagemaker_backend.put_model_package_group_policy(  # type: ignore[attr-defined]
        self._get_param("ModelPackageGroupName"), self._get_param("ResourcePolicy")
    )
    return ActionResult({"ModelPackageGroupArn": arn})


def _resp_get_policy(self: SageMakerResponse) -> ActionResult:
    policy = self.sagemaker_backend.get_model_package_group_policy(  # type: ignore[attr-defined]
        self._get_param("ModelPackageGroupName")
    )
    return ActionResult({"ResourcePolicy": policy})


def _resp_delete_policy(self: SageMakerResponse) -> ActionResult:
    self.sagemaker_backend.delete_model_package_group_policy(  # type: ignore[attr-defined]
        self._get_param("ModelPackageGroupName")
    )
    return EmptyResult()


def delete_model_package(self: SageMakerModelBackend, model_package_name: str) -> None:
    """DeleteModelPackage (moto lacks it): ModelRelay's failure path removes a hub package it created."""
    package = self.describe_model_package(model_package_name)  # raises ValidationError when absent
    self.model_packages.pop(package.arn, None)
    for alias, target in list(self.model_package_name_mapping.items()):
        if target == package.arn:
            del self.model_package_name_mapping[alias]


def _resp_delete_model_package(self: SageMakerResponse) -> ActionResult:
    self.sagemaker_backend.delete_model_package(self._get_param("ModelPackageName"))  # type: ignore[attr-defined]
    return EmptyResult()


def apply() -> None:
    """Install the SageMaker patches (idempotent)."""
    global _applied
    if _applied:
        return
    eventbridge_targets.apply()
    SageMakerModelBackend.create_model_package = _create_model_package  # type: ignore[method-assign]
    SageMakerModelBackend.update_model_package = _update_model_package  # type: ignore[method-assign]
    SageMakerModelBackend.put_model_package_group_policy = put_model_package_group_policy  # type: ignore[attr-defined]
    SageMakerModelBackend.get_model_package_group_policy = get_model_package_group_policy  # type: ignore[attr-defined]
    SageMakerModelBackend.delete_model_package_group_policy = delete_model_package_group_policy  # type: ignore[attr-defined]
    SageMakerModelBackend.delete_model_package = delete_model_package  # type: ignore[attr-defined]
    SageMakerResponse.delete_model_package = _resp_delete_model_package  # type: ignore[attr-defined]
    SageMakerResponse.put_model_package_group_policy = _resp_put_policy  # type: ignore[attr-defined]
    SageMakerResponse.get_model_package_group_policy = _resp_get_policy  # type: ignore[attr-defined]
    SageMakerResponse.delete_model_package_group_policy = _resp_delete_policy  # type: ignore[attr-defined]
    _applied = True
