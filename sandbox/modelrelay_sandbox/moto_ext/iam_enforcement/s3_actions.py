"""S3: the IAM action and bucket / object ARN each S3 request is authorised as.

Follows https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html and
https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html (the operation → action
mapping): HeadObject is ``s3:GetObject``, ListObjects(V2) and HeadBucket ``s3:ListBucket`` (with ``s3:prefix``,
``s3:delimiter``, ``s3:max-keys``), multipart uploads ``s3:PutObject``, CopyObject / UploadPartCopy
``s3:PutObject`` on the target and ``s3:GetObject`` (``s3:GetObjectVersion`` for a versioned source) on the
source, DeleteObjects ``s3:DeleteObject`` per key, a request with ``versionId`` the ``...Version`` action.
Bucket operations are on ``arn:aws:s3:::<bucket>``, object operations on ``arn:aws:s3:::<bucket>/<key>``;
ListBuckets is ``s3:ListAllMyBuckets`` on ``*``.

Two rules of the S3 API reference too: a request that sets tags (``PutObject``, ``CreateMultipartUpload`` or
``CopyObject`` with ``x-amz-tagging``) also needs ``s3:PutObjectTagging`` on the object (API_PutObject: "To use
this operation ... with tags, you must have the s3:PutObjectTagging permission"); and a ``GetObject`` /
``HeadObject`` of a key that does not exist needs ``s3:ListBucket`` on the bucket to be told 404 Not Found,
otherwise S3 answers 403 Forbidden (API_HeadObject, "Permissions"), so code that expects a 404 needs that grant.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from .actions import Authorization
from .request_model import ParsedRequest

# operation -> (action, "bucket" | "object" | "*")
_OPERATIONS: dict[str, tuple[str, str]] = {
    "ListBuckets": ("ListAllMyBuckets", "*"),
    "CreateBucket": ("CreateBucket", "bucket"),
    "DeleteBucket": ("DeleteBucket", "bucket"),
    "HeadBucket": ("ListBucket", "bucket"),
    "ListObjects": ("ListBucket", "bucket"),
    "ListObjectsV2": ("ListBucket", "bucket"),
    "ListObjectVersions": ("ListBucketVersions", "bucket"),
    "ListMultipartUploads": ("ListBucketMultipartUploads", "bucket"),
    "GetBucketLocation": ("GetBucketLocation", "bucket"),
    "GetBucketVersioning": ("GetBucketVersioning", "bucket"),
    "PutBucketVersioning": ("PutBucketVersioning", "bucket"),
    "GetBucketPolicy": ("GetBucketPolicy", "bucket"),
    "PutBucketPolicy": ("PutBucketPolicy", "bucket"),
    "DeleteBucketPolicy": ("DeleteBucketPolicy", "bucket"),
    "GetBucketPolicyStatus": ("GetBucketPolicyStatus", "bucket"),
    "GetBucketTagging": ("GetBucketTagging", "bucket"),
    "PutBucketTagging": ("PutBucketTagging", "bucket"),
    "DeleteBucketTagging": ("PutBucketTagging", "bucket"),
    "GetBucketNotificationConfiguration": ("GetBucketNotification", "bucket"),
    "PutBucketNotificationConfiguration": ("PutBucketNotification", "bucket"),
    "GetPublicAccessBlock": ("GetBucketPublicAccessBlock", "bucket"),
    "PutPublicAccessBlock": ("PutBucketPublicAccessBlock", "bucket"),
    "DeletePublicAccessBlock": ("PutBucketPublicAccessBlock", "bucket"),
    "GetBucketEncryption": ("GetEncryptionConfiguration", "bucket"),
    "PutBucketEncryption": ("PutEncryptionConfiguration", "bucket"),
    "DeleteBucketEncryption": ("PutEncryptionConfiguration", "bucket"),
    "GetBucketLifecycleConfiguration": ("GetLifecycleConfiguration", "bucket"),
    "PutBucketLifecycleConfiguration": ("PutLifecycleConfiguration", "bucket"),
    "DeleteBucketLifecycle": ("PutLifecycleConfiguration", "bucket"),
    "GetBucketAcl": ("GetBucketAcl", "bucket"),
    "PutBucketAcl": ("PutBucketAcl", "bucket"),
    "GetBucketCors": ("GetBucketCORS", "bucket"),
    "PutBucketCors": ("PutBucketCORS", "bucket"),
    "GetBucketOwnershipControls": ("GetBucketOwnershipControls", "bucket"),
    "PutBucketOwnershipControls": ("PutBucketOwnershipControls", "bucket"),
    "GetBucketLogging": ("GetBucketLogging", "bucket"),
    "PutBucketLogging": ("PutBucketLogging", "bucket"),
    "GetObject": ("GetObject", "object"),
    "HeadObject": ("GetObject", "object"),
    "GetObjectAttributes": ("GetObjectAttributes", "object"),
    "PutObject": ("PutObject", "object"),
    "DeleteObject": ("DeleteObject", "object"),
    "GetObjectTagging": ("GetObjectTagging", "object"),
    "PutObjectTagging": ("PutObjectTagging", "object"),
    "DeleteObjectTagging": ("DeleteObjectTagging", "object"),
    "GetObjectAcl": ("GetObjectAcl", "object"),
    "PutObjectAcl": ("PutObjectAcl", "object"),
    "CreateMultipartUpload": ("PutObject", "object"),
    "UploadPart": ("PutObject", "object"),
    "CompleteMultipartUpload": ("PutObject", "object"),
    "AbortMultipartUpload": ("AbortMultipartUpload", "object"),
    "ListParts": ("ListMultipartUploadParts", "object"),
    "RestoreObject": ("RestoreObject", "object"),
    "CopyObject": ("PutObject", "object"),
    "UploadPartCopy": ("PutObject", "object"),
    "DeleteObjects": ("DeleteObject", "object"),
    "GetObjectRetention": ("GetObjectRetention", "object"),
    "GetObjectLegalHold": ("GetObjectLegalHold", "object"),
}
_VERSIONED = {
    "GetObject": "GetObjectVersion",
    "HeadObject": "GetObjectVersion",
    "DeleteObject": "DeleteObjectVersion",
    "GetObjectTagging": "GetObjectVersionTagging",
    "PutObjectTagging": "PutObjectVersionTagging",
    "DeleteObjectTagging": "DeleteObjectVersionTagging",
    "GetObjectAcl": "GetObjectVersionAcl",
    "GetObjectAttributes": "GetObjectVersionAttributes",
}


def _bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def _object_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def _copy_source(value: Any) -> tuple[str, str, str | None] | None:
    """``bucket/key?versionId=v`` (URL-encoded, optionally a leading ``/``)."""
    if not isinstance(value, str) or not value:
        return None
    text, _, query = value.lstrip("/").partition("?versionId=")
    bucket, _, key = text.partition("/")
    return bucket, unquote(key), (query or None)


def _exists(bucket: str, key: str) -> bool:
    """Whether ``key`` has a current (not deleted) version in ``bucket``; an unknown bucket counts as existing (the
    request then fails as NoSuchBucket, which S3 reports whatever ListBucket says)."""
    from .policies import _s3_bucket

    found = _s3_bucket(bucket)
    if found is None:
        return True
    current = found.keys.get(key)
    return current is not None and not getattr(current, "is_delete_marker", False)


def authorizations(
    req: ParsedRequest, bucket: str | None, key: str | None, moto_action: str | None
) -> list[Authorization]:
    p = req.params
    bucket = p.get("Bucket") or bucket
    key = p.get("Key") or key
    op = req.operation
    if op not in _OPERATIONS:
        # Not routed (or unknown to the table): moto's own action name, on the bucket or object.
        action = moto_action or op or "ListBucket"
        resource = _object_arn(bucket, key) if bucket and key else _bucket_arn(bucket) if bucket else "*"
        return [Authorization(f"s3:{action}", resource)]
    action, kind = _OPERATIONS[op]
    if p.get("VersionId") and op in _VERSIONED:
        action = _VERSIONED[op]
    context: dict[str, list[str]] = {}
    if op in ("ListObjects", "ListObjectsV2", "ListObjectVersions"):
        context["s3:prefix"] = [str(p.get("Prefix") or "")]
        if p.get("Delimiter") is not None:
            context["s3:delimiter"] = [str(p["Delimiter"])]
        if p.get("MaxKeys") is not None:
            context["s3:max-keys"] = [str(p["MaxKeys"])]
    if op in ("PutObject", "CreateMultipartUpload", "CopyObject") and p.get("ServerSideEncryption"):
        context["s3:x-amz-server-side-encryption"] = [str(p["ServerSideEncryption"])]
    if kind == "*" or not bucket:
        out = [Authorization(f"s3:{action}", "*", context)]
    elif kind == "bucket":
        out = [Authorization(f"s3:{action}", _bucket_arn(bucket), context)]
    else:
        out = [Authorization(f"s3:{action}", _object_arn(bucket, key or ""), context)]
    if op in ("CopyObject", "UploadPartCopy"):
        out = [Authorization("s3:PutObject", _object_arn(bucket or "", key or ""), context)]
        source = _copy_source(p.get("CopySource"))
        if source:
            src_action = "s3:GetObjectVersion" if source[2] else "s3:GetObject"
            out.append(Authorization(src_action, _object_arn(source[0], source[1])))
    if op in ("PutObject", "CreateMultipartUpload", "CopyObject") and p.get("Tagging") and bucket:
        out.append(Authorization("s3:PutObjectTagging", _object_arn(bucket, key or "")))
    if op in ("GetObject", "HeadObject") and not p.get("VersionId") and bucket and key and not _exists(bucket, key):
        out.append(Authorization("s3:ListBucket", _bucket_arn(bucket), {"s3:prefix": [key]}))
    if op == "DeleteObjects":
        objects = ((p.get("Delete") or {}).get("Objects")) or []
        out = [
            Authorization(
                "s3:DeleteObjectVersion" if o.get("VersionId") else "s3:DeleteObject",
                _object_arn(bucket or "", str(o.get("Key", ""))),
            )
            for o in objects
        ] or [Authorization("s3:DeleteObject", _bucket_arn(bucket or "") + "/*")]
    return out
