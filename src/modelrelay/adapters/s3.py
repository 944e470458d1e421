"""S3 adapter, every S3 call ModelRelay makes: resolve event keys, stream objects, server-side copies, tags.

Bytes never pass through the function: copies are ``CopyObject`` (≤ 5 GiB) or multipart ``UploadPartCopy``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus, urlencode

from botocore.exceptions import ClientError

from modelrelay.errors import ArtifactChanged, ArtifactNotFound, InvalidEvent, MmeKeyConflict
from modelrelay.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef, CopySourceTypeDef
else:
    S3Client = CopySourceTypeDef = CompletedPartTypeDef = Any

COPY_OBJECT_LIMIT = 5 * 1024**3
PART_SIZE = 512 * 1024**2  # 512 MiB parts: a 5 TiB object stays under the 10,000-part limit
SHA256_METADATA = "modelrelay-sha256"
SOURCE_ETAG_METADATA = "modelrelay-source-etag"  # identity of an uncompressed model's member (not hashed)
CREATED_BY_TAG = "modelrelay-execution"
_NOT_FOUND = {"404", "NoSuchKey", "NotFound", "NoSuchVersion", "NoSuchBucket"}


@dataclass(frozen=True)
class ObjectHead:
    bucket: str
    key: str
    version_id: str | None
    size: int
    etag: str
    metadata: dict[str, str]
    last_modified: datetime | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise InvalidEvent(f"'{uri}' is not an s3://bucket/key URI")
    bucket, key = uri[5:].split("/", 1)
    if not bucket or not key:
        raise InvalidEvent(f"'{uri}' is not an s3://bucket/key URI")
    return bucket, key


def is_not_found(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code")) in _NOT_FOUND


def head(s3: S3Client, bucket: str, key: str, version_id: str | None = None) -> ObjectHead | None:
    params: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        params["VersionId"] = version_id
    try:
        response = s3.head_object(**params)
    except ClientError as error:
        if is_not_found(error) or (error.response.get("Error", {}).get("Code") == "400" and version_id):
            return None
        raise
    return ObjectHead(
        bucket=bucket,
        key=key,
        version_id=response.get("VersionId") or version_id,
        size=int(response["ContentLength"]),
        etag=str(response.get("ETag", "")).strip('"'),
        metadata={k.lower(): v for k, v in response.get("Metadata", {}).items()},
        last_modified=response.get("LastModified"),
    )


def _versions(s3: S3Client, bucket: str, prefix: str) -> list[dict[str, Any]]:
    """Every version and delete marker under ``prefix`` (paginated), newest first per key, as S3 lists them."""
    entries: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        entries += [dict(v, DeleteMarker=False) for v in page.get("Versions", [])]
        entries += [dict(m, DeleteMarker=True) for m in page.get("DeleteMarkers", [])]
    return entries


def version_at(s3: S3Client, bucket: str, key: str, when: datetime) -> ObjectHead | None:
    """The version of ``bucket/key`` that was current at ``when`` (None if there was none, or it was deleted).

    S3 reports ``LastModified`` in whole seconds, so a version stamped with the second of ``when`` may have been
    written just after it: it is taken only when it is the only version there is; otherwise which bytes were
    current cannot be told, and that is an error. Unversioned buckets list one version, ``null``.
    """
    second = when.replace(microsecond=0)
    versions = [v for v in _versions(s3, bucket, key) if v["Key"] == key]
    before = [v for v in versions if v["LastModified"] < second]
    uncertain = [v for v in versions if second <= v["LastModified"] <= when]
    if uncertain and (before or len(uncertain) > 1):
        raise ArtifactChanged(
            f"s3://{bucket}/{key} was written in the same second as {when} and has other versions: which one was "
            "registered cannot be told",
            reason="artifact_modified_after_registration",
        )
    candidates = uncertain or before
    if not candidates:
        return None
    current = max(candidates, key=lambda v: v["LastModified"])
    if current["DeleteMarker"]:
        return None
    return head(s3, bucket, key, current.get("VersionId") if current.get("VersionId") != "null" else None)


def objects_at(s3: S3Client, bucket: str, prefix: str, when: datetime | None, limit: int) -> list[ObjectHead]:
    """Every object under ``prefix`` as it was at ``when`` (the current ones when None), pinned to its version.

    One paginated ``ListObjectVersions``; more than ``limit`` objects is an error. In an unversioned bucket an
    object written after ``when`` has no earlier version: it is left out here, and the caller compares counts.
    """
    latest: dict[str, dict[str, Any]] = {}
    for version in _versions(s3, bucket, prefix):
        if version["Key"].endswith("/") or (when is not None and version["LastModified"] > when):
            continue
        known = latest.get(version["Key"])
        if known is None or version["LastModified"] > known["LastModified"]:
            latest[version["Key"]] = version
    found = [
        ObjectHead(
            bucket=bucket,
            key=v["Key"],
            version_id=v.get("VersionId"),
            size=int(v["Size"]),
            etag=str(v.get("ETag", "")).strip('"'),
            metadata={},
            last_modified=v.get("LastModified"),
        )
        for v in latest.values()
        if not v["DeleteMarker"]
    ]
    if len(found) > limit:
        raise InvalidEvent(f"s3://{bucket}/{prefix} holds {len(found)} objects, more than the route allows ({limit})")
    return sorted(found, key=lambda obj: obj.key)


def sha256_of(s3: S3Client, obj: ObjectHead) -> str:
    """SHA-256 of exactly this object version, streamed."""
    digest = hashlib.sha256()
    body = open_stream(s3, obj)
    for chunk in iter(lambda: body.read(1024 * 1024), b""):
        digest.update(chunk)
    return digest.hexdigest()


def resolve_event_object(
    s3: S3Client, bucket: str, raw_key: str, version_id: str | None, etag: str | None
) -> ObjectHead:
    """Find the exact object an S3 event names.

    Keys may arrive URL-encoded ('red flower.jpg' as 'red+flower.jpg') depending on the notification format, so
    both spellings are tried; exactly one must resolve. With a version id the match is exact; without one the ETag
    must still match, otherwise the object was overwritten after the event.
    """
    candidates = [raw_key]
    decoded = unquote_plus(raw_key)
    if decoded != raw_key:
        candidates.append(decoded)
    found = [h for h in (head(s3, bucket, key, version_id) for key in candidates) if h is not None]
    if len(found) > 1:
        raise InvalidEvent(f"key '{raw_key}' is ambiguous in bucket '{bucket}': both the raw and decoded keys exist")
    if not found:
        if version_id and any(head(s3, bucket, key) for key in candidates):
            raise ArtifactChanged(
                f"s3://{bucket}/{raw_key} version {version_id} no longer exists "
                "(deleted or overwritten after the event)"
            )
        raise ArtifactNotFound(f"s3://{bucket}/{raw_key} does not exist (deleted after the event?)")
    obj = found[0]
    if etag and obj.etag and etag.strip('"') != obj.etag:
        raise ArtifactChanged(f"s3://{bucket}/{obj.key} was overwritten after the event (ETag {obj.etag} != {etag})")
    return obj


def open_stream(s3: S3Client, obj: ObjectHead) -> Any:
    """A streaming body of exactly the object version that was checked (IfMatch guards unversioned buckets)."""
    params: dict[str, Any] = {"Bucket": obj.bucket, "Key": obj.key}
    if obj.version_id and obj.version_id != "null":
        params["VersionId"] = obj.version_id
    elif obj.etag:
        params["IfMatch"] = f'"{obj.etag}"'
    try:
        return s3.get_object(**params)["Body"]
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code in ("PreconditionFailed", "412"):
            raise ArtifactChanged(f"s3://{obj.bucket}/{obj.key} changed while being validated") from error
        if is_not_found(error):
            raise ArtifactNotFound(f"s3://{obj.bucket}/{obj.key} disappeared before it could be read") from error
        raise


def copy_immutable(
    dest_s3: S3Client,
    source: ObjectHead,
    dest_bucket: str,
    dest_key: str,
    sha256: str,
    created_by: str,
    identity_key: str = SHA256_METADATA,
) -> bool:
    """Server-side copy to a key that must never change once written, tagged with the execution that wrote it.

    The copy is pinned to the validated bytes (version id, and ``CopySourceIfMatch`` on the ETag for unversioned
    buckets) and carries its tag in the same request (no window where an untagged object exists).
    Returns True when this call created the object, False when the identical object was already there.
    Raises MmeKeyConflict when the key holds different content: it is never overwritten.
    """
    existing = head(dest_s3, dest_bucket, dest_key)
    if existing is not None:
        if existing.metadata.get(identity_key) == sha256 and existing.size == source.size:
            return False
        raise MmeKeyConflict(
            f"s3://{dest_bucket}/{dest_key} already exists with different content "
            f"({identity_key} {existing.metadata.get(identity_key, 'unknown')}, not {sha256}); it is never "
            "overwritten"
        )
    copy_source: CopySourceTypeDef = {"Bucket": source.bucket, "Key": source.key}
    if source.version_id and source.version_id != "null":
        copy_source["VersionId"] = source.version_id
    metadata = {identity_key: sha256}
    tagging = urlencode({CREATED_BY_TAG: created_by})
    if_match = f'"{source.etag}"' if source.etag else None
    try:
        if source.size <= COPY_OBJECT_LIMIT:
            params: dict[str, Any] = {"CopySourceIfMatch": if_match} if if_match else {}
            dest_s3.copy_object(
                Bucket=dest_bucket,
                Key=dest_key,
                CopySource=copy_source,
                MetadataDirective="REPLACE",
                Metadata=metadata,
                ContentType="application/x-gzip",
                TaggingDirective="REPLACE",
                Tagging=tagging,
                **params,
            )
        else:
            multipart_copy(dest_s3, copy_source, source.size, dest_bucket, dest_key, metadata, tagging, if_match)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
            raise ArtifactChanged(f"s3://{source.bucket}/{source.key} changed after it was validated") from error
        raise
    return True


def multipart_copy(
    s3: S3Client,
    copy_source: CopySourceTypeDef,
    size: int,
    bucket: str,
    key: str,
    metadata: dict[str, str],
    tagging: str = "",
    if_match: str | None = None,
    part_size: int = PART_SIZE,
) -> None:
    create: dict[str, Any] = {"Tagging": tagging} if tagging else {}
    upload_id = s3.create_multipart_upload(
        Bucket=bucket,
        Key=key,
        Metadata=metadata,
        ContentType="application/x-gzip",
        **create,
    )["UploadId"]
    part: dict[str, Any] = {"CopySourceIfMatch": if_match} if if_match else {}
    try:
        parts: list[CompletedPartTypeDef] = []
        for number, start in enumerate(range(0, size, part_size), start=1):
            end = min(start + part_size, size) - 1
            result = s3.upload_part_copy(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                CopySource=copy_source,
                CopySourceRange=f"bytes={start}-{end}",
                **part,
            )
            parts.append({"PartNumber": number, "ETag": result["CopyPartResult"]["ETag"]})
        s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
    except BaseException:
        # Leave no half-written upload behind (its parts are billed and invisible); never hide the real error.
        try:
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except ClientError as abort_error:
            logger.warning(
                "multipart upload not aborted; the bucket's lifecycle rule will remove it",
                extra={"upload_id": upload_id, "error": str(abort_error)},
            )
        raise


def created_by(s3: S3Client, bucket: str, key: str) -> str | None:
    """The execution that created an immutable object (its tag), or None if the object does not exist."""
    try:
        tags = s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    except ClientError as error:
        if is_not_found(error):
            return None
        raise
    return next((tag["Value"] for tag in tags if tag["Key"] == CREATED_BY_TAG), None)


def delete(s3: S3Client, bucket: str, key: str) -> str:
    """Delete an object ModelRelay wrote; returns its URI (for the record of what was undone)."""
    s3.delete_object(Bucket=bucket, Key=key)
    return f"s3://{bucket}/{key}"


def tag_rejected(s3: S3Client, obj: ObjectHead, reason: str, detail: str) -> None:
    """Put the rejection reason on the object itself (tag values: 256 chars, restricted charset)."""
    safe_detail = "".join(ch if ch.isalnum() or ch in " +-=._:/@" else " " for ch in detail)[:256]
    params: dict[str, Any] = {
        "Bucket": obj.bucket,
        "Key": obj.key,
        "Tagging": {
            "TagSet": [
                {"Key": "modelrelay:status", "Value": "rejected"},
                {"Key": "modelrelay:reason", "Value": reason[:256]},
                {"Key": "modelrelay:detail", "Value": safe_detail},
            ]
        },
    }
    if obj.version_id and obj.version_id != "null":
        params["VersionId"] = obj.version_id
    s3.put_object_tagging(**params)
