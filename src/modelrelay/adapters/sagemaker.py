"""SageMaker adapter: every SageMaker call ModelRelay makes, and SageMaker's one "not found" check.

Model Registry: read packages, find or create packages by provenance, record status. Real-time endpoints:
describe, create models and endpoint configs, update with a deployment config, delete what lost.

Provenance identity: ``modelrelay:provenance-id`` is the SHA-256 of the canonical provenance JSON. It is written
in the package's ``CustomerMetadataProperties`` and in its description (which ``ListModelPackages`` returns),
so a second run finds the package it created instead of creating another one.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from modelrelay.errors import InvalidEvent, MissingInferenceSpecification, PackageAccessDenied, PackageNotFound
from modelrelay.events import ApprovalStatus
from modelrelay.observability import logger
from modelrelay.steps import SourcePackage

if TYPE_CHECKING:
    from mypy_boto3_sagemaker.client import SageMakerClient
    from mypy_boto3_sagemaker.type_defs import DeploymentConfigTypeDef, InferenceSpecificationUnionTypeDef
else:
    SageMakerClient = Any

PROVENANCE_ID = "modelrelay:provenance-id"
_DESCRIPTION_MARK = "modelrelay-provenance:"


def provenance_id(provenance: dict[str, str]) -> str:
    canonical = json.dumps(provenance, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def metadata_value(value: object) -> str:
    """A value SageMaker accepts in CustomerMetadataProperties: ``^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$``, ≤ 256 chars.

    Letters, separators (spaces, not newlines or tabs), numbers and ``_.:/=+-@`` pass; anything else is ``_``;
    an empty value (SageMaker wants at least one character) is ``-``.
    """
    kept = (ch if unicodedata.category(ch)[0] in "LZN" or ch in "_.:/=+-@" else "_" for ch in str(value))
    return "".join(kept)[:256] or "-"


def is_not_found(error: ClientError) -> bool:
    """SageMaker answers a missing resource with ``ResourceNotFound``, or (Describe* of endpoints, configs, models,
    packages) ``ValidationException`` "Could not find …": only the message tells it from a real validation error."""
    code = error.response.get("Error", {}).get("Code")
    message = str(error.response.get("Error", {}).get("Message", "")).lower()
    if code == "ResourceNotFound":
        return True
    return code == "ValidationException" and any(
        words in message for words in ("could not find", "not found", "does not exist")
    )


def describe(sagemaker: SageMakerClient, package_arn: str) -> dict[str, Any]:
    try:
        response: dict[str, Any] = dict(sagemaker.describe_model_package(ModelPackageName=package_arn))
    except ClientError as error:
        if is_not_found(error):
            raise PackageNotFound(f"model package {package_arn} does not exist") from error
        if error.response.get("Error", {}).get("Code") in ("AccessDeniedException", "AccessDenied"):
            raise PackageAccessDenied(f"not allowed to describe model package {package_arn}") from error
        raise
    return response


def approval_status(sagemaker: SageMakerClient, package_arn: str | None) -> str | None:
    """The package's approval status now, or None when there is no such package (deleted)."""
    if not package_arn:
        return None
    try:
        return str(describe(sagemaker, package_arn).get("ModelApprovalStatus"))
    except PackageNotFound:
        return None


def _iso(value: object) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else (str(value) if value else None)


def source_package(description: dict[str, Any]) -> SourcePackage:
    """The package as described, with its whole inference specification (every container, every field)."""
    arn = description.get("ModelPackageArn", "")
    parts = arn.split(":")
    if len(parts) < 6:
        raise InvalidEvent(f"model package ARN '{arn}' is malformed")
    spec = description.get("InferenceSpecification") or {}
    containers = spec.get("Containers") or []
    if not containers or not all(c.get("ModelDataUrl") or c.get("ModelDataSource") for c in containers):
        raise MissingInferenceSpecification(
            f"model package {arn} has no inference specification whose containers all name their model data "
            "(ModelDataUrl or ModelDataSource); nothing to promote"
        )
    metadata = description.get("CustomerMetadataProperties") or {}
    return SourcePackage(
        arn=arn,
        group=description["ModelPackageGroupName"],
        version=description.get("ModelPackageVersion"),
        account=parts[4],
        region=parts[3],
        approval_status=description.get("ModelApprovalStatus", "PendingManualApproval"),
        inference_specification=json.loads(json.dumps(spec, default=str)),
        creation_time=_iso(description.get("CreationTime")),
        last_modified=_iso(description.get("LastModifiedTime")),
        recorded_sha256=metadata.get("modelrelay:sha256") or metadata.get("sha256"),
    )


def create_package(
    sagemaker: SageMakerClient,
    *,
    group: str,
    inference_specification: dict[str, Any],
    approval_status: ApprovalStatus,
    provenance: dict[str, str],
    description: str,
    idempotency_key: str,
    extra_metadata: dict[str, str] | None = None,
) -> str:
    """Create a package; a retried call of the same attempt (same ``idempotency_key``) creates no second one."""
    prov_id = provenance_id(provenance)
    metadata = {f"modelrelay:{k}": metadata_value(v) for k, v in provenance.items()}
    metadata[PROVENANCE_ID] = prov_id
    metadata |= {key: metadata_value(value) for key, value in (extra_metadata or {}).items()}
    text = f"{description} {_DESCRIPTION_MARK}{prov_id}"[-1024:]
    response = sagemaker.create_model_package(
        # SageMaker's idempotency token: an SDK retry after a lost response returns the same package.
        ClientToken=hashlib.sha256(f"{prov_id}:{idempotency_key}".encode()).hexdigest()[:36],
        ModelPackageGroupName=group,
        ModelPackageDescription=text,
        ModelApprovalStatus=approval_status,
        InferenceSpecification=cast("InferenceSpecificationUnionTypeDef", inference_specification),
        CustomerMetadataProperties=metadata,
    )
    package_arn: str = response["ModelPackageArn"]
    return package_arn


def ensure_group(sagemaker: SageMakerClient, group: str, description: str, tags: dict[str, str]) -> bool:
    """Create a model package group with ``tags``; True if this call created it, False if it already existed.

    CreateModelPackageGroup declares only ``ResourceLimitExceeded``; an existing name is SageMaker's
    ``ValidationException`` ("… already exists"), and a concurrent create may answer ``ConflictException``:
    both mean the group is there (created first by another execution), which is all a promotion needs.
    """
    try:
        sagemaker.create_model_package_group(
            ModelPackageGroupName=group,
            ModelPackageGroupDescription=description[:1024],
            Tags=[{"Key": key, "Value": tag_value(value)} for key, value in tags.items()],
        )
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        message = str(error.response.get("Error", {}).get("Message", "")).lower()
        if code == "ConflictException" or (code in ("ValidationException", "ValidationError") and "exist" in message):
            return False
        raise
    return True


def allow_account_to_describe(
    sagemaker: SageMakerClient, group: str, region: str, owner: str, accounts: Iterable[str]
) -> None:
    """The group's resource policy: each of ``accounts`` may DescribeModelPackage its packages, which is what
    building a model from a package of another account needs (a spoke's endpoint, a stage account's). One
    PutModelPackageGroupPolicy with every account: it replaces the policy, so a repeat is harmless and an account
    left out loses access. No account: nothing is written."""
    principals = [f"arn:{_partition(region)}:iam::{account}:root" for account in sorted(set(accounts))]
    if not principals:
        return
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountsBuildModelsFromHubPackages",
                "Effect": "Allow",
                "Principal": {"AWS": principals[0] if len(principals) == 1 else principals},
                "Action": ["sagemaker:DescribeModelPackage"],
                "Resource": f"arn:{_partition(region)}:sagemaker:{region}:{owner}:model-package/{group}/*",
            }
        ],
    }
    sagemaker.put_model_package_group_policy(ModelPackageGroupName=group, ResourcePolicy=json.dumps(policy))


def _partition(region: str) -> str:
    return "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"


def record_status(
    sagemaker: SageMakerClient, package_arn: str, properties: dict[str, str], *, best_effort: bool = False
) -> bool:
    """Write ModelRelay's status on a package (``modelrelay:*`` CustomerMetadataProperties); True when written.

    A package that does not exist (an event may name a malformed or forged ARN, which SageMaker answers with
    ``ValidationException``) is False, not an error. ``best_effort``: any refusal is logged and False (used where
    the outcome stands whatever the annotation does).
    """
    try:
        sagemaker.update_model_package(
            ModelPackageArn=package_arn,
            CustomerMetadataProperties={key: metadata_value(value) for key, value in properties.items()},
        )
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if not best_effort and code not in ("ValidationException", "ResourceNotFound"):
            raise
        logger.warning("status not recorded on package", extra={"package_arn": package_arn, "error": str(error)})
        return False
    return True


def record_lifecycle(sagemaker: SageMakerClient, package_arn: str, stage: str, status: str, description: str) -> bool:
    """``ModelLifeCycle`` = {Stage, StageStatus, StageDescription} on a package (what the registry shows as the
    version's stage); best effort: a refusal is logged and False."""
    try:
        sagemaker.update_model_package(
            ModelPackageArn=package_arn,
            ModelLifeCycle={"Stage": stage, "StageStatus": status, "StageDescription": description[:1024]},
        )
    except ClientError as error:
        logger.warning("stage not recorded on package", extra={"package_arn": package_arn, "error": str(error)})
        return False
    return True


def delete_package(sagemaker: SageMakerClient, package_arn: str) -> None:
    sagemaker.delete_model_package(ModelPackageName=package_arn)


# ---------- real-time endpoints ----------
def _or_none(call: Any, **params: Any) -> dict[str, Any] | None:
    try:
        return dict(call(**params))
    except ClientError as error:
        if is_not_found(error):
            return None
        raise


def describe_endpoint(sagemaker: SageMakerClient, name: str) -> dict[str, Any] | None:
    return _or_none(sagemaker.describe_endpoint, EndpointName=name)


def describe_endpoint_config(sagemaker: SageMakerClient, name: str) -> dict[str, Any] | None:
    return _or_none(sagemaker.describe_endpoint_config, EndpointConfigName=name)


def describe_model(sagemaker: SageMakerClient, name: str) -> dict[str, Any] | None:
    return _or_none(sagemaker.describe_model, ModelName=name)


def create_model(sagemaker: SageMakerClient, **params: Any) -> None:
    sagemaker.create_model(**params)


def create_endpoint_config(sagemaker: SageMakerClient, **params: Any) -> None:
    sagemaker.create_endpoint_config(**params)


def update_endpoint(
    sagemaker: SageMakerClient, endpoint: str, config_name: str, deployment_config: dict[str, Any]
) -> None:
    sagemaker.update_endpoint(
        EndpointName=endpoint,
        EndpointConfigName=config_name,
        RetainAllVariantProperties=True,
        DeploymentConfig=cast("DeploymentConfigTypeDef", deployment_config),
    )


def switch_endpoint_config(sagemaker: SageMakerClient, endpoint: str, config_name: str) -> None:
    """UpdateEndpoint without a ``DeploymentConfig``: adding or removing a shadow variant (the production variant's
    model is the same on both sides, so there is nothing to guard)."""
    sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=config_name, RetainAllVariantProperties=True)


def shadow_config_request(
    sagemaker: SageMakerClient,
    config: dict[str, Any],
    new_name: str,
    shadow: dict[str, Any],
    tags: list[dict[str, str]],
) -> dict[str, Any]:
    """CreateEndpointConfig parameters equal to ``config`` (production variant, model and every setting unchanged)
    plus ``shadow`` as its one ``ShadowProductionVariants`` entry (model-shadow-deployment.html)."""
    production = config["ProductionVariants"][0]["ModelName"]
    request = clone_endpoint_config_request(sagemaker, config, new_name, production, tags)
    shadow_fields = accepted_members(sagemaker, "CreateEndpointConfig", "ShadowProductionVariants")
    request["ShadowProductionVariants"] = [{k: v for k, v in shadow.items() if k in shadow_fields}]
    return request


def delete_config_and_model(sagemaker: SageMakerClient, config_name: str | None, model_name: str | None) -> None:
    """Delete an endpoint config and its model; an already deleted one is fine."""
    for call, params in (
        (sagemaker.delete_endpoint_config, {"EndpointConfigName": config_name}),
        (sagemaker.delete_model, {"ModelName": model_name}),
    ):
        if next(iter(params.values())):
            _or_none(call, **params)


# ---------- rollout fidelity: what CreateModel / CreateEndpointConfig accept, tags, hub package status ----------
# Read-only or per-resource fields of a Describe* response that its Create* call must not (or cannot) repeat.
_NOT_CLONED = frozenset({"EndpointConfigName", "EndpointConfigArn", "CreationTime", "ResponseMetadata"})
TAG_LIMIT = 50  # TagList max (botocore: sagemaker TagList, max 50)


def tag_value(value: object) -> str:
    """A value SageMaker accepts as a tag value: TagValue ``^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$``, 0-256 chars.

    Same character classes as CustomerMetadataProperties (:func:`metadata_value`), but an empty value is allowed.
    """
    kept = (ch if unicodedata.category(ch)[0] in "LZN" or ch in "_.:/=+-@" else "_" for ch in str(value))
    return "".join(kept)[-256:]


def accepted_members(sagemaker: SageMakerClient, operation: str, member: str | None = None) -> frozenset[str]:
    """The request fields ``operation`` accepts (or those of its list/structure member ``member``), read from the
    client's own service model: a field AWS adds tomorrow is known as soon as the SDK knows it."""
    shape: Any = sagemaker.meta.service_model.operation_model(operation).input_shape
    if member is not None:
        shape = shape.members[member]
        shape = getattr(shape, "member", shape)  # a list's element
    return frozenset(shape.members)


def clone_endpoint_config_request(
    sagemaker: SageMakerClient, config: dict[str, Any], new_name: str, model_name: str, tags: list[dict[str, str]]
) -> dict[str, Any]:
    """CreateEndpointConfig parameters equal to a DescribeEndpointConfig response except the name and the model.

    Every field CreateEndpointConfig accepts is carried (``KmsKeyId``, ``DataCaptureConfig``, ``VpcConfig``,
    ``MetricsConfig``, ... and whatever AWS adds next); read-only ones (ARN, creation time) are not. Production
    variants get ``model_name``; shadow variants keep their own models (they are not what is promoted).
    """
    top = accepted_members(sagemaker, "CreateEndpointConfig") - _NOT_CLONED
    request = {k: v for k, v in config.items() if k in top}
    variant_fields = accepted_members(sagemaker, "CreateEndpointConfig", "ProductionVariants")
    request["ProductionVariants"] = [
        {k: v for k, v in variant.items() if k in variant_fields} | {"ModelName": model_name}
        for variant in config.get("ProductionVariants") or []
    ]
    if config.get("ShadowProductionVariants"):
        shadow_fields = accepted_members(sagemaker, "CreateEndpointConfig", "ShadowProductionVariants")
        request["ShadowProductionVariants"] = [
            {k: v for k, v in variant.items() if k in shadow_fields} for variant in config["ShadowProductionVariants"]
        ]
    request["EndpointConfigName"] = new_name
    if tags:
        request["Tags"] = tags
    return request


def list_tags(sagemaker: SageMakerClient, arn: str | None) -> list[dict[str, str]]:
    """A resource's tags (paginated); none for a resource that no longer exists."""
    if not arn:
        return []
    tags: list[dict[str, str]] = []
    try:
        for page in sagemaker.get_paginator("list_tags").paginate(ResourceArn=arn):
            tags.extend({"Key": t["Key"], "Value": t.get("Value", "")} for t in page.get("Tags", []))
    except ClientError as error:
        if is_not_found(error):
            return []
        raise
    return tags


def group_tag(sagemaker: SageMakerClient, group_arn: str, key: str) -> str | None:
    """The value of tag ``key`` on a model package group (None without it, or without the group)."""
    return next((t["Value"] for t in list_tags(sagemaker, group_arn) if t["Key"] == key), None)


def carried_tags(existing: list[dict[str, str]], own: dict[str, object]) -> list[dict[str, str]]:
    """A resource's tags plus ModelRelay's own ``modelrelay:*`` ones (values made valid), within SageMaker's limit.

    ``aws:*`` keys are AWS's (a request may not set them); an existing ``modelrelay:*`` tag is replaced by ours.
    """
    ours = [{"Key": key, "Value": tag_value(value)} for key, value in own.items()]
    kept = [t for t in existing if not t["Key"].startswith(("aws:", "modelrelay:"))]
    if len(kept) + len(ours) > TAG_LIMIT:
        logger.warning("tags beyond SageMaker's limit not carried", extra={"dropped": kept[TAG_LIMIT - len(ours) :]})
        kept = kept[: TAG_LIMIT - len(ours)]
    return kept + ours


def package_status(sagemaker: SageMakerClient, package_arn: str) -> tuple[str, str]:
    """(``ModelPackageStatus``, a sentence from ``ModelPackageStatusDetails``) of a package."""
    described = describe(sagemaker, package_arn)
    details = described.get("ModelPackageStatusDetails") or {}
    problems = [
        f"{item.get('Name')}: {item.get('Status')} {item.get('FailureReason') or ''}".strip()
        for key in ("ValidationStatuses", "ImageScanStatuses")
        for item in details.get(key) or []
        if item.get("Status") != "Completed"
    ]
    return str(described.get("ModelPackageStatus") or "Completed"), "; ".join(problems)


# ---------- inference components (API_CreateInferenceComponent, API_UpdateInferenceComponent) ----------
def describe_inference_component(sagemaker: SageMakerClient, name: str) -> dict[str, Any] | None:
    return _or_none(sagemaker.describe_inference_component, InferenceComponentName=name)


def endpoint_inference_components(sagemaker: SageMakerClient, endpoint: str) -> list[dict[str, Any]]:
    """Every inference component on ``endpoint``, described (their reservations and copy counts)."""
    found: list[dict[str, Any]] = []
    for page in sagemaker.get_paginator("list_inference_components").paginate(EndpointNameEquals=endpoint):
        for summary in page.get("InferenceComponents", []):
            described = describe_inference_component(sagemaker, summary["InferenceComponentName"])
            if described is not None:
                found.append(described)
    return found


def create_inference_component(sagemaker: SageMakerClient, **params: Any) -> None:
    sagemaker.create_inference_component(**params)


def update_inference_component(sagemaker: SageMakerClient, **params: Any) -> None:
    sagemaker.update_inference_component(**params)


def delete_inference_component(sagemaker: SageMakerClient, name: str) -> None:
    """Delete a component; an already deleted one is fine."""
    _or_none(sagemaker.delete_inference_component, InferenceComponentName=name)


def delete_model(sagemaker: SageMakerClient, name: str | None) -> None:
    if name:
        _or_none(sagemaker.delete_model, ModelName=name)
