"""A dropped ``model.tar.gz`` becomes a model package in its group (or is rejected, tagged and reported)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelrelay.adapters import notify, s3, sagemaker
from modelrelay.adapters.store import Store
from modelrelay.artifact import ArtifactRejected, validate_artifact
from modelrelay.config import RoutingConfig, Settings
from modelrelay.errors import InvalidEvent, UnknownIngestKey
from modelrelay.events import ApprovalStatus, S3ObjectCreatedEvent, parse_event
from modelrelay.observability import logger, metrics

if TYPE_CHECKING:
    from mypy_boto3_events.client import EventBridgeClient
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sagemaker.client import SageMakerClient
    from mypy_boto3_sns.client import SNSClient
else:
    S3Client = SageMakerClient = SNSClient = EventBridgeClient = Any

ARTIFACT_SUFFIX = ".tar.gz"
# Drops are registered under an immutable, content-addressed key: a package's ModelDataUrl never changes under it.
REGISTERED_PREFIX = "registered/"
INGEST_CLAIM_STALE_SECONDS = 20 * 60  # longer than the ingest function's timeout


@dataclass
class IngestDeps:
    settings: Settings
    routing: RoutingConfig
    s3: S3Client
    sagemaker: SageMakerClient
    store: Store
    sns: SNSClient
    events: EventBridgeClient


def group_for_key(key: str, prefix: str, routing: RoutingConfig) -> str:
    """``<prefix><group>/<name>.tar.gz`` → group, which must have a route that accepts drops."""
    if not key.startswith(prefix):
        raise UnknownIngestKey(f"key '{key}' is outside the ingest prefix '{prefix}'")
    rest = key[len(prefix) :]
    group, sep, name = rest.partition("/")
    if not sep or not name or name.endswith("/"):
        raise UnknownIngestKey(f"key '{key}' is not of the form {prefix}<model-package-group>/<name>.tar.gz")
    if not name.lower().endswith(ARTIFACT_SUFFIX):
        raise UnknownIngestKey(f"key '{key}' does not end in .tar.gz")
    if not routing.has_route(group):
        raise UnknownIngestKey(f"model package group '{group}' (from key '{key}') has no route; it is not created")
    if routing.route_for(group).ingest is None:
        raise UnknownIngestKey(f"the route of '{group}' does not accept dropped artifacts (no 'ingest' settings)")
    return group


def handle_drop(event: dict[str, Any], request_id: str, deps: IngestDeps) -> dict[str, Any]:
    parsed = parse_event(S3ObjectCreatedEvent, event, "S3 Object Created")
    bucket = parsed.detail.bucket.name
    if bucket != deps.settings.ingest_bucket:
        raise InvalidEvent(f"event for bucket '{bucket}', but the ingest bucket is '{deps.settings.ingest_bucket}'")
    raw = parsed.detail.object
    if raw.key.startswith(REGISTERED_PREFIX):  # ModelRelay's own content-addressed copy (an empty ingest prefix)
        return {"status": "ignored", "bucket": bucket, "key": raw.key, "reason": "a registered copy, not a drop"}
    obj = s3.resolve_event_object(deps.s3, bucket, raw.key, raw.version_id, raw.etag or None)
    base = {"bucket": bucket, "key": obj.key, "version_id": obj.version_id}
    try:
        group = group_for_key(obj.key, deps.settings.ingest_prefix, deps.routing)
        route = deps.routing.route_for(group)
        report = validate_artifact(s3.open_stream(deps.s3, obj), route.limits.to_limits(), expected_size=obj.size)
    except (ArtifactRejected, UnknownIngestKey) as rejected:
        return _reject(deps, obj, base, rejected.reason, str(rejected))

    identity = obj.version_id if obj.version_id and obj.version_id != "null" else f"etag:{obj.etag}"
    claim = deps.store.claim_transition(
        f"ingest:s3://{bucket}/{obj.key}", identity, request_id, stale_after=INGEST_CLAIM_STALE_SECONDS
    )
    provenance = {
        "source-bucket": bucket,
        "source-key": obj.key,
        "source-version-id": identity,
        "sha256": report.sha256,
    }
    prov_id = sagemaker.provenance_id(provenance)
    # One state-table read, whatever the group holds (never a listing of the group): the package this exact
    # object version became, or the request that holds its creation (whose ClientToken creates it once).
    record = deps.store.claim_drop_package(prov_id, request_id) if claim.proceed else {}
    existing = record.get("package_arn")
    if existing or not claim.proceed:
        logger.info("duplicate drop event; nothing created", extra={"package_arn": existing, "reason": claim.reason})
        if claim.proceed:
            deps.store.close_claim(f"ingest:s3://{bucket}/{obj.key}", request_id, "Succeeded", str(existing))
        return {"status": "duplicate", "package_arn": existing, **base}

    assert route.ingest is not None
    approval: ApprovalStatus = "Approved" if route.ingest.auto_approve else "PendingManualApproval"
    claim_key = f"ingest:s3://{bucket}/{obj.key}"
    registered_key = f"{REGISTERED_PREFIX}{group}/{report.sha256}.tar.gz"
    spec = {
        "Containers": [{"Image": route.ingest.image, "ModelDataUrl": f"s3://{bucket}/{registered_key}"}],
        "SupportedContentTypes": route.ingest.content_types,
        "SupportedResponseMIMETypes": route.ingest.response_types,
    }
    try:
        # The exact validated version, copied server-side to its content-addressed key before registration.
        s3.copy_immutable(deps.s3, obj, bucket, registered_key, report.sha256, created_by=request_id)
        package_arn = sagemaker.create_package(
            deps.sagemaker,
            group=group,
            inference_specification=spec,
            approval_status=approval,
            provenance=provenance,
            idempotency_key=str(record.get("execution") or request_id),
            description=f"Registered by ModelRelay from a drop of s3://{bucket}/{obj.key} (sha256 {report.sha256}).",
        )
    except BaseException:
        # Failed after claiming: free the claim now, so the retry, or a re-drive from the DLQ, registers the drop.
        deps.store.abandon_claim(claim_key, request_id)
        raise
    deps.store.record_drop_package(prov_id, package_arn, request_id)
    deps.store.close_claim(claim_key, request_id, "Succeeded", package_arn)
    detail = {
        **base,
        "package_arn": package_arn,
        "group": group,
        "sha256": report.sha256,
        "model_data_url": f"s3://{bucket}/{registered_key}",
        "approval_status": approval,
        "size": report.size,
    }
    notify.publish(
        deps.sns,
        deps.events,
        deps.settings.notification_topic_arn,
        deps.settings.event_bus_name,
        "Artifact Registered",
        detail,
    )
    metrics.add_metric(name="ArtifactsRegistered", unit="Count", value=1)
    return {"status": "registered", **detail}


def _reject(deps: IngestDeps, obj: s3.ObjectHead, base: dict[str, Any], reason: str, message: str) -> dict[str, Any]:
    logger.warning("artifact rejected", extra={"reason": reason, "detail": message, **base})
    s3.tag_rejected(deps.s3, obj, reason, message)
    detail = {**base, "reason": reason, "message": message}
    notify.publish(
        deps.sns,
        deps.events,
        deps.settings.notification_topic_arn,
        deps.settings.event_bus_name,
        "Artifact Rejected",
        detail,
    )
    metrics.add_dimension(name="reason", value=reason)
    metrics.add_metric(name="ArtifactsRejected", unit="Count", value=1)
    return {"status": "rejected", **detail}
