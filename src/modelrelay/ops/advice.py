"""What to do next, per reason (the ``why`` command's last line). Reasons are those of the README's catalogue."""

from __future__ import annotations

ARTIFACT = (
    "the artifact itself is refused: rebuild model.tar.gz (no absolute paths, no '..', no links or devices, "
    "within the route's limits) and drop it again under a new name"
)

ADVICE: dict[str, str] = {
    "object_empty": ARTIFACT,
    "object_too_large": "the object exceeds the route's limits.max_object_bytes: shrink it or raise the limit",
    "size_mismatch": "the object changed while it was read: drop it again",
    "not_gzip": ARTIFACT,
    "truncated_gzip": "the upload is incomplete: upload the whole file again",
    "not_tar": ARTIFACT,
    "empty_tar": ARTIFACT,
    "absolute_path": ARTIFACT,
    "path_traversal": ARTIFACT,
    "symlink_member": ARTIFACT,
    "hardlink_member": ARTIFACT,
    "device_member": ARTIFACT,
    "fifo_member": ARTIFACT,
    "duplicate_member": ARTIFACT,
    "name_too_long": ARTIFACT,
    "name_not_utf8": ARTIFACT,
    "uncompressed_too_large": "raise limits.max_uncompressed_bytes of the route, or shrink the model",
    "compression_ratio_exceeded": "raise limits.max_compression_ratio of the route if the archive is legitimate",
    "too_many_members": "raise limits.max_members of the route, or pack fewer files",
    "unsupported_member": ARTIFACT,
    "unknown_group": "drop under <prefix><group>/ for a group with a route and an ingest section "
    "(`modelrelay routes list`)",
    "invalid_event": "the event was malformed; nothing to re-run: approve the package again",
    "source_not_allowed": "add the account/region to allowed_source_accounts / allowed_regions, deploy, then "
    "`modelrelay rerun EXECUTION`",
    "no_route_for_group": "add a route (or a pattern) for the group to config/routes.json, `make routes`, deploy, "
    "then `modelrelay rerun EXECUTION`",
    "package_not_found": "the package was deleted; nothing to re-run",
    "missing_inference_specification": "register the package with an InferenceSpecification (image + ModelDataUrl)",
    "artifact_bucket_not_allowed": "move the artifact to an allowed bucket (route allowed_artifact_buckets / "
    "SourceArtifactBuckets), or allow its bucket and deploy; then `modelrelay rerun EXECUTION`",
    "artifact_not_found": "the package's ModelDataUrl names no object: restore it, then `modelrelay rerun EXECUTION`",
    "artifact_changed": "the artifact changed during the promotion: approve a new package version",
    "mme_key_conflict": "a different artifact already holds this version's MME key: register a new version",
    "nothing_to_roll_back": "there is no earlier approved version to return to",
    "endpoint_not_found": "create the endpoint (or fix the route's endpoint_name), then `modelrelay rerun EXECUTION`",
    "endpoint_not_in_service": "wait until the endpoint is InService, then `modelrelay rerun EXECUTION`",
    "no_production_variants": "the endpoint config has no production variant: fix the endpoint first",
    "canary_too_large": "lower canary_size_percent or add instances (the canary must be at most half the fleet)",
    "linear_step_too_large": "lower linear_step_percent or add instances (a step must be at most half the fleet)",
    "alarm_missing": "create the route's alarms (or fix alarm_names), then `modelrelay rerun EXECUTION`",
    "endpoint_lease_busy": "another rollout held the endpoint too long: check it, then `modelrelay rerun EXECUTION`",
    "not_approved": "nothing to do: the package was no longer Approved when the promotion ran",
    "superseded": "nothing to do: a later version of the group already serves",
    "artifact_modified_after_registration": "the bytes at the package's ModelDataUrl are not the ones registered: "
    "register a new package version for the new bytes (or restore the registered ones), then approve it",
    "pipeline_mismatch": "the package's other containers differ from what the pipeline MME runs (image or "
    "artifact): retrain behind the endpoint's preprocessor, or route the group to an MME running this pipeline",
    "mme_uncompressed_artifact": "an MME loads model.tar.gz files only: register a compressed model, or route the "
    "group to a real-time endpoint",
    "mme_container_ambiguous": "the package has several containers and the MME runs one: register the serving "
    "container alone, or route the group to a pipeline MME",
    "mme_not_multi_model": "the route's endpoint model has no single MultiModel container: fix the route's "
    "endpoint_name",
    "mme_endpoint_not_found": "create the route's MME (model, config, endpoint) or fix endpoint_name, then "
    "`modelrelay rerun EXECUTION`",
    "mme_model_failed_to_load": "the MME's container could not load the new model (the quoted error; its log "
    "stream has the container's side): the pointer did not move; fix the artifact, then approve a new version",
    "mme_smoke_failed": "the model loaded but answered the route's smoke check with an error or too slowly (quoted): "
    "the pointer did not move; fix the model or the route's smoke payload/timeout, then approve again",
    "alarm_rollback": "a guard alarm fired during the bake and SageMaker rolled back: look at the alarm and the new "
    "model's metrics; approve a fixed version",
    "deployment_failed": "the new fleet failed to provision or pass its health checks (see the quoted "
    "FailureReason): fix the model or its instance type, then approve a new version",
    "rollback_failed": "SageMaker could not roll back (UpdateRollbackFailed): repair the endpoint by hand first",
    "shadow_alarm": "a shadow alarm fired while the new model ran as a shadow variant (production never served "
    "it): look at the shadow variant's metrics; approve a fixed version",
    "shadow_failed": "the shadow variant did not come into service (see the quoted FailureReason); production never "
    "served the model: fix the model or its instance type, then approve a new version",
    "shadow_revert_failed": "the endpoint could not return from the shadow config: production still serves its own "
    "model; update the endpoint to the config named in the reason by hand",
    "hub_package_not_ready": "the hub package never reached Completed: check it in the hub registry, then "
    "`modelrelay rerun EXECUTION`",
    "hub_package_failed": "SageMaker marked the hub package Failed: look at its ModelPackageStatusDetails",
}

ROLLED_BACK = (
    "SageMaker rolled the endpoint back because an alarm fired during the bake: look at the alarm and the new "
    "model's metrics; approve a fixed version"
)
GENERIC = "fix the cause named above, then `modelrelay rerun EXECUTION` (the failed promotion removed its own writes)"


def next_step(reason: str | None, outcome: str | None = None) -> str:
    if outcome == "RolledBack":
        return ROLLED_BACK
    if outcome == "Succeeded":
        return "nothing to do"
    return ADVICE.get(reason or "", GENERIC)
