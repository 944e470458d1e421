"""S3 sends Object Created (and Object Deleted) events to EventBridge.

AWS behaviour: once a bucket has EventBridge notifications on
(``PutBucketNotificationConfiguration`` with ``EventBridgeConfiguration: {}``),
S3 puts an event on the **default** bus of the bucket owner's account and the
bucket's region for every PutObject, PostObject, CopyObject and
CompleteMultipartUpload (``Object Created``) and DeleteObject(s)
(``Object Deleted``).  Shape reference:
events/s3/object-created.json (a checked copy of AWS's sample).

What moto 5.2.5 does (``moto.s3.notifications._send_event_bridge_message``):
it stores ``EventBridgeConfiguration`` and emits, but with the wrong shape —
``eTag`` instead of ``etag``, ``version-id`` always present (``null`` on
unversioned buckets), a constant ``sequencer``, ``reason`` ``ObjectCreated``
instead of ``PutObject``/``CopyObject``/``CompleteMultipartUpload``, a fixed
``requester`` — it sends to the rules of *every* bus in the region instead of
the default bus only, skips input transformers, emits nothing when a delete
marker is created and, for versioned buckets, only when the last version goes;
and a multipart completion also emits a ``PutObject`` event and ``Object Tags
Added`` (internal put_object / tagging calls).  We replace
``_send_event_bridge_message`` and wrap ``S3Backend.delete_object`` and
``S3Backend.complete_multipart_upload``.  Only ``Object Created`` and ``Object Deleted``
are emitted; tagging, ACL and restore events are not (ModelRelay consumes
none, and moto raises them from internal calls where AWS would not).

Object keys — decision: ``detail.object.key`` is **URL-encoded** the same way
as S3's older notification format (``application/x-www-form-urlencoded``:
``'red flower.jpg'`` -> ``'red+flower.jpg'``, ``'+'`` -> ``%2B``, ``'%'`` ->
``%25``, non-ASCII as UTF-8 percent escapes, ``'/'`` kept), so consumers must
``urllib.parse.unquote_plus`` it before calling S3.  Why: S3 documents the
object key in its event messages as URL-encoded and produces both formats from
the same notification record; AWS's own Lambda Powertools decodes
``detail.object.key`` of S3 EventBridge events with ``unquote_plus``
(``S3EventBridgeNotificationObject.key``), and LocalStack, which checks its S3
notifications against AWS, feeds the same percent-encoded key to its
EventBridge notifier.  AWS's EventBridge page for S3 shows only plain keys
(``example-key``), so this is inferred, not quoted; the '/' and the exact set of
escaped punctuation (``*``, ``~``) may differ from AWS, none of which matters
after ``unquote_plus``.  Set ``MODELRELAY_S3_EVENT_KEY_ENCODING=raw`` to emit
raw keys instead (to check that consumers survive either form).
"""

from __future__ import annotations

import logging
import os
import secrets
import string
import threading
import time
from typing import Any
from urllib.parse import quote_plus

import moto.s3.notifications as s3_notifications
from moto.s3.models import S3Backend

from . import eventbridge_targets

LOG = logging.getLogger(__name__)

KEY_ENCODING_ENV = "MODELRELAY_S3_EVENT_KEY_ENCODING"

_CREATED_REASONS = {
    "s3:ObjectCreated:Put": "PutObject",
    "s3:ObjectCreated:Post": "PostObject",
    "s3:ObjectCreated:Copy": "CopyObject",
    "s3:ObjectCreated:CompleteMultipartUpload": "CompleteMultipartUpload",
}

_applied = False
_original_delete_object = S3Backend.delete_object
_original_complete_multipart_upload = S3Backend.complete_multipart_upload
_local = threading.local()
_sequencer_lock = threading.Lock()
_sequencers: dict[tuple[str, str], int] = {}


def event_key(key_name: str) -> str:
    """``detail.object.key`` as S3 writes it (see the module docstring)."""
    if os.environ.get(KEY_ENCODING_ENV, "url").lower() == "raw":
        return key_name
    return quote_plus(key_name, safe="/")


def _next_sequencer(account_id: str, bucket_name: str) -> str:
    # Monotonically increasing hex per bucket, like S3's (18 upper-case hex digits).
    with _sequencer_lock:
        last = _sequencers.get((account_id, bucket_name), 0)
        value = max(last + 1, time.time_ns() // 1000)
        _sequencers[(account_id, bucket_name)] = value
    return f"{value:018X}"


def _request_id() -> str:
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(16))


def _version_id(bucket: Any, version_id: Any) -> str | None:
    # version-id appears only for versioned buckets (moto uses "null" otherwise).
    if bucket.is_versioned and version_id not in (None, "null"):
        return str(version_id)
    return None


def _emit(bucket: Any, detail_type: str, obj: dict[str, Any], reason: str, extra: dict[str, Any]) -> None:
    obj["sequencer"] = _next_sequencer(bucket.account_id, bucket.name)
    detail: dict[str, Any] = {
        "version": "0",
        "bucket": {"name": bucket.name},
        "object": obj,
        "request-id": _request_id(),
        "requester": bucket.account_id,
        "source-ip-address": "127.0.0.1",
        "reason": reason,
        **extra,
    }
    eventbridge_targets.put_service_event(
        bucket.account_id,
        bucket.region_name,
        source="aws.s3",
        detail_type=detail_type,
        resources=[f"arn:aws:s3:::{bucket.name}"],
        detail=detail,
    )


def _send_event_bridge_message(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
    """Replacement for ``moto.s3.notifications._send_event_bridge_message``."""
    try:
        event_name = str(getattr(event_name, "value", event_name))
        reason = _CREATED_REASONS.get(event_name)
        if reason == "PutObject" and getattr(_local, "in_multipart", False):
            return  # moto's complete_multipart_upload stores the object with put_object
        if reason is not None and key is not None:
            obj: dict[str, Any] = {
                "key": event_key(key.name),
                "size": key.size,
                "etag": key.etag.strip('"'),
            }
            version = _version_id(bucket, key.version_id)
            if version is not None:
                obj["version-id"] = version
            _emit(bucket, "Object Created", obj, reason, {})
        elif event_name.startswith("s3:ObjectRemoved") and key is not None and not getattr(_local, "in_delete", False):
            # A delete that did not come through our delete_object wrapper.
            _emit(
                bucket,
                "Object Deleted",
                {"key": event_key(key.name)},
                "DeleteObject",
                {"deletion-type": "Permanently Deleted"},
            )
    except Exception:  # S3 calls never fail because of a notification (as in moto)
        LOG.exception("Could not emit S3 EventBridge event for %s", event_name)


def _delete_object(
    self: S3Backend, bucket_name: str, key_name: str, version_id: str | None = None, bypass: bool = False
) -> tuple[bool, dict[str, Any]]:
    """moto's delete_object, then the ``Object Deleted`` event AWS sends."""
    bucket = self.get_bucket(bucket_name)
    versioned = bool(bucket.is_versioned)
    if version_id is None:
        existed = key_name in bucket.keys
    else:
        existed = any(str(k.version_id) == str(version_id) for k in bucket.keys.getlist(key_name, []))
    _local.in_delete = True
    try:
        success, meta = _original_delete_object(self, bucket_name, key_name, version_id=version_id, bypass=bypass)
    finally:
        _local.in_delete = False
    config = bucket.notification_configuration
    if not (success and existed and config is not None and config.event_bridge is not None):
        return success, meta
    try:
        obj: dict[str, Any] = {"key": event_key(key_name)}
        if versioned and version_id is None:
            deletion_type = "Delete Marker Created"
            obj["version-id"] = str(meta.get("version-id"))
        else:
            deletion_type = "Permanently Deleted"
            if versioned:
                obj["version-id"] = str(version_id)
        _emit(bucket, "Object Deleted", obj, "DeleteObject", {"deletion-type": deletion_type})
    except Exception:
        LOG.exception("Could not emit S3 Object Deleted for %s/%s", bucket_name, key_name)
    return success, meta


def _complete_multipart_upload(self: S3Backend, bucket_name: str, multipart_id: str, body: Any) -> Any:
    """moto's complete_multipart_upload without the extra ``PutObject`` event."""
    _local.in_multipart = True
    try:
        return _original_complete_multipart_upload(self, bucket_name, multipart_id, body)
    finally:
        _local.in_multipart = False


def apply() -> None:
    """Install the S3 -> EventBridge patches (idempotent)."""
    global _applied
    if _applied:
        return
    eventbridge_targets.apply()
    # send_event() looks the function up in its module at call time.
    s3_notifications._send_event_bridge_message = _send_event_bridge_message
    S3Backend.delete_object = _delete_object  # type: ignore[method-assign]
    S3Backend.complete_multipart_upload = _complete_multipart_upload  # type: ignore[method-assign]
    _applied = True
