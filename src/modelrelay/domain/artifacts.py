"""The exact bytes: every artifact a package's containers name, pinned to what was there when it was registered.

- A ModelRelay drop is registered under an immutable, content-addressed key (``registered/<group>/<sha256>``),
  and its SHA-256 is recorded on the package: the bytes are verified against it.
- A package registered elsewhere names a mutable key. In a versioned bucket the version that was current when
  the package was created is pinned (whatever was written since is ignored); in an unversioned bucket an object
  written after the package was created is refused. A SHA-256 recorded on the package is verified.
- Compressed artifacts (``ModelDataUrl``, ``S3Object`` sources) are streamed once: validated (gzip + tar, no path
  tricks, limits) and hashed. Uncompressed models (``S3Prefix`` sources) are pinned object by object (version id,
  ETag); their digest is the SHA-256 of that manifest.

Refusals: ``artifact_bucket_not_allowed``, ``artifact_not_found``, ``artifact_modified_after_registration``,
the validator's own reasons.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from modelrelay.adapters import s3
from modelrelay.artifact import ArtifactRejected, validate_artifact
from modelrelay.config import Route
from modelrelay.domain.deps import PromotionDeps
from modelrelay.errors import (
    ArtifactBucketNotAllowed,
    ArtifactInvalid,
    ArtifactModifiedAfterRegistration,
    ArtifactNotFound,
)
from modelrelay.steps import ArtifactLocation, ArtifactRef, PackageArtifact, PinnedObject, SourcePackage

REGISTERED_PREFIX = "registered/"  # where ModelRelay's drops are registered (see domain.ingest)


def locations(spec: dict[str, Any]) -> Iterator[tuple[int, ArtifactLocation, int, dict[str, Any]]]:
    """(container, location, index, where) for every artifact of an inference specification.

    ``where`` is the dict holding the URI: the container (``ModelDataUrl``) or an ``S3DataSource``.
    """
    for number, container in enumerate(spec.get("Containers") or []):
        if container.get("ModelDataUrl"):
            yield number, "ModelDataUrl", 0, container
        source = (container.get("ModelDataSource") or {}).get("S3DataSource")
        if source:
            yield number, "ModelDataSource", 0, source
        for index, extra in enumerate(container.get("AdditionalModelDataSources") or []):
            if extra.get("S3DataSource"):
                yield number, "AdditionalModelDataSource", index, extra["S3DataSource"]
        if (container.get("AdditionalS3DataSource") or {}).get("S3Uri"):
            yield number, "AdditionalS3DataSource", 0, container["AdditionalS3DataSource"]


def _when(source: SourcePackage) -> datetime | None:
    return datetime.fromisoformat(source.creation_time) if source.creation_time else None


def _allowed(uri: str, route: Route, source: SourcePackage, deps: PromotionDeps) -> tuple[str, str]:
    bucket, key = s3.parse_s3_uri(uri)
    allowed = [*route.allowed_artifact_buckets, deps.settings.ingest_bucket]
    if bucket not in allowed:
        raise ArtifactBucketNotAllowed(
            f"{uri} (of {source.arn}) is in bucket '{bucket}', which the route of '{source.group}' does not allow "
            f"(allowed: {', '.join(allowed)})"
        )
    return bucket, key


def _pinned_object(uri: str, route: Route, source: SourcePackage, deps: PromotionDeps) -> s3.ObjectHead:
    bucket, key = _allowed(uri, route, source, deps)
    current = s3.head(deps.s3, bucket, key)
    if current is None:
        raise ArtifactNotFound(f"the artifact {uri} of {source.arn} does not exist")
    when = _when(source)
    if when is None or (bucket == deps.settings.ingest_bucket and key.startswith(REGISTERED_PREFIX)):
        return current  # content-addressed: it cannot have changed
    if current.version_id and current.version_id != "null":
        pinned = s3.version_at(deps.s3, bucket, key, when)
        if pinned is None:
            raise ArtifactModifiedAfterRegistration(
                f"no version of {uri} existed when {source.arn} was registered ({source.creation_time}); the "
                f"current one was written at {current.last_modified}: not the registered bytes"
            )
        return pinned
    if current.last_modified is not None and current.last_modified > when:
        raise ArtifactModifiedAfterRegistration(
            f"{uri} was written at {current.last_modified}, after {source.arn} was registered "
            f"({source.creation_time}), in an unversioned bucket: the registered bytes are gone"
        )
    return current


def _object(uri: str, compressed: bool, route: Route, source: SourcePackage, deps: PromotionDeps) -> ArtifactRef:
    obj = _pinned_object(uri, route, source, deps)
    if compressed:
        try:
            report = validate_artifact(s3.open_stream(deps.s3, obj), route.limits.to_limits(), expected_size=obj.size)
        except ArtifactRejected as rejected:
            raise ArtifactInvalid(f"{uri}: {rejected}", reason=rejected.reason) from rejected
        sha256, size = report.sha256, report.size
    else:
        sha256, size = s3.sha256_of(deps.s3, obj), obj.size
    return ArtifactRef(
        bucket=obj.bucket, key=obj.key, version_id=obj.version_id, size=size, sha256=sha256, etag=obj.etag
    )


def _prefix(uri: str, route: Route, source: SourcePackage, deps: PromotionDeps) -> tuple[list[PinnedObject], str]:
    bucket, prefix = _allowed(uri, route, source, deps)
    when = _when(source)
    limit = route.limits.max_members
    now = s3.objects_at(deps.s3, bucket, prefix, None, limit)
    then = s3.objects_at(deps.s3, bucket, prefix, when, limit) if when else now
    if not then:
        raise ArtifactNotFound(f"no objects under {uri} of {source.arn} (when it was registered)")
    unversioned = any(obj.version_id in (None, "null") for obj in now)
    changed = {o.key for o in now} != {o.key for o in then} or any(
        a.etag != b.etag for a, b in zip(now, then, strict=False)
    )
    if unversioned and changed:
        raise ArtifactModifiedAfterRegistration(
            f"objects under {uri} changed after {source.arn} was registered ({source.creation_time}) in an "
            "unversioned bucket: the registered bytes are gone"
        )
    members = [
        PinnedObject(relative_key=obj.key[len(prefix) :], version_id=obj.version_id, size=obj.size, etag=obj.etag)
        for obj in then
    ]
    manifest = json.dumps([[m.relative_key, m.size, m.etag] for m in members], separators=(",", ":"))
    return members, hashlib.sha256(manifest.encode()).hexdigest()


def plan_artifacts(source: SourcePackage, route: Route, hub_bucket: str, deps: PromotionDeps) -> list[PackageArtifact]:
    """Every artifact of the package, pinned and verified, with its content-addressed hub location."""
    planned: list[PackageArtifact] = []
    for container, location, index, where in locations(source.inference_specification):
        common = {"container": container, "location": location, "index": index}
        if location == "ModelDataUrl" or where.get("S3DataType") == "S3Object":
            uri = where["ModelDataUrl"] if location == "ModelDataUrl" else where["S3Uri"]
            compressed = location == "ModelDataUrl" or where.get("CompressionType") == "Gzip"
            ref = _object(uri, compressed, route, source, deps)
            name = "model.tar.gz" if compressed else uri.rsplit("/", 1)[-1]
            hub_uri = f"s3://{hub_bucket}/artifacts/{source.group}/{ref.sha256}/{name}"
            if location == "ModelDataUrl":
                hub_uri = f"s3://{hub_bucket}/{hub_key(source.group, ref.sha256)}"
            planned.append(
                PackageArtifact(**common, kind="object", source_uri=uri, object=ref, sha256=ref.sha256, hub_uri=hub_uri)
            )
        else:
            uri = where["S3Uri"]
            members, digest = _prefix(uri, route, source, deps)
            planned.append(
                PackageArtifact(
                    **common,
                    kind="prefix",
                    source_uri=uri,
                    members=members,
                    sha256=digest,
                    hub_uri=f"s3://{hub_bucket}/artifacts/{source.group}/{digest}/",
                )
            )
    objects = [a for a in planned if a.kind == "object"]
    if source.recorded_sha256 and len(objects) == 1 and objects[0].sha256 != source.recorded_sha256:
        raise ArtifactModifiedAfterRegistration(
            f"{objects[0].source_uri} has sha256 {objects[0].sha256}, but {source.arn} was registered with sha256 "
            f"{source.recorded_sha256}: not the approved bytes"
        )
    return planned


def hub_key(group: str, sha256: str) -> str:
    """Content-addressed, immutable hub key of a compressed model (``ModelDataUrl``)."""
    return f"artifacts/{group}/{sha256}.tar.gz"
