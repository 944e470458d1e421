"""SageMaker Model Registry adapter: read packages, find or create packages by provenance, record status.

Provenance identity: ``modelrelay:provenance-id`` is the SHA-256 of the canonical provenance JSON. It is written
in the package's ``CustomerMetadataProperties`` and in its description (which ``ListModelPackages`` returns),
so a second run finds the package it created instead of creating another one.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from modelrelay.errors import InvalidEvent, MissingInferenceSpecification, PackageNotFound
from modelrelay.models import SourcePackage

PROVENANCE_ID = "modelrelay:provenance-id"
_METADATA_VALUE = re.compile(r"[^\w\s.:/=+\-@]", re.UNICODE)
_DESCRIPTION_MARK = "modelrelay-provenance:"


def provenance_id(provenance: dict[str, str]) -> str:
    canonical = json.dumps(provenance, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def metadata_value(value: object) -> str:
    """CustomerMetadataProperties values allow letters, digits, spaces and ``_.:/=+-@``, up to 256 characters."""
    return _METADATA_VALUE.sub("_", str(value))[:256]


def describe(sagemaker: Any, package_arn: str) -> dict[str, Any]:
    try:
        response: dict[str, Any] = sagemaker.describe_model_package(ModelPackageName=package_arn)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("ValidationException", "ResourceNotFound"):
            raise PackageNotFound(f"model package {package_arn} does not exist") from error
        raise
    return response


def source_package(description: dict[str, Any]) -> SourcePackage:
    arn = description.get("ModelPackageArn", "")
    parts = arn.split(":")
    if len(parts) < 6:
        raise InvalidEvent(f"model package ARN '{arn}' is malformed")
    spec = description.get("InferenceSpecification") or {}
    containers = spec.get("Containers") or []
    if not containers or not containers[0].get("ModelDataUrl"):
        raise MissingInferenceSpecification(
            f"model package {arn} has no inference specification with a ModelDataUrl; nothing to promote"
        )
    last_modified = description.get("LastModifiedTime")
    return SourcePackage(
        arn=arn,
        group=description["ModelPackageGroupName"],
        version=description.get("ModelPackageVersion"),
        account=parts[4],
        region=parts[3],
        approval_status=description.get("ModelApprovalStatus", "PendingManualApproval"),
        model_data_url=containers[0]["ModelDataUrl"],
        image=containers[0].get("Image", ""),
        content_types=spec.get("SupportedContentTypes") or ["application/json"],
        response_types=spec.get("SupportedResponseMIMETypes") or ["application/json"],
        last_modified=last_modified.isoformat() if isinstance(last_modified, datetime) else last_modified,
    )


def find_by_provenance(sagemaker: Any, group: str, prov_id: str) -> str | None:
    """The ARN of the package in ``group`` carrying this provenance id, if any (paginates the whole group)."""
    paginator = sagemaker.get_paginator("list_model_packages")
    for page in paginator.paginate(ModelPackageGroupName=group, SortBy="CreationTime", SortOrder="Descending"):
        for summary in page.get("ModelPackageSummaryList", []):
            if prov_id in (summary.get("ModelPackageDescription") or ""):
                package_arn: str = summary["ModelPackageArn"]
                described = describe(sagemaker, package_arn)
                if (described.get("CustomerMetadataProperties") or {}).get(PROVENANCE_ID) == prov_id:
                    return package_arn
    return None


def find_by_metadata(sagemaker: Any, group: str, key: str, value: str) -> list[str]:
    """ARNs of the packages in ``group`` whose CustomerMetadataProperties[key] == value (paginates, describes)."""
    found = []
    for page in sagemaker.get_paginator("list_model_packages").paginate(ModelPackageGroupName=group):
        for summary in page.get("ModelPackageSummaryList", []):
            described = describe(sagemaker, summary["ModelPackageArn"])
            if (described.get("CustomerMetadataProperties") or {}).get(key) == value:
                found.append(summary["ModelPackageArn"])
    return found


def create_package(
    sagemaker: Any,
    *,
    group: str,
    image: str,
    model_data_url: str,
    content_types: list[str],
    response_types: list[str],
    approval_status: str,
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
        InferenceSpecification={
            "Containers": [{"Image": image, "ModelDataUrl": model_data_url}],
            "SupportedContentTypes": content_types,
            "SupportedResponseMIMETypes": response_types,
        },
        CustomerMetadataProperties=metadata,
    )
    package_arn: str = response["ModelPackageArn"]
    return package_arn


def record_status(sagemaker: Any, package_arn: str, properties: dict[str, str]) -> None:
    """Write ModelRelay's status on a package (``modelrelay:*`` CustomerMetadataProperties)."""
    sagemaker.update_model_package(
        ModelPackageArn=package_arn,
        CustomerMetadataProperties={key: metadata_value(value) for key, value in properties.items()},
    )


def delete_package(sagemaker: Any, package_arn: str) -> None:
    sagemaker.delete_model_package(ModelPackageName=package_arn)
