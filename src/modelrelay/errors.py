"""Named failures of ModelRelay.

The class name is the error type Step Functions sees (Lambda reports ``errorType`` as the class name), so the
state machine can ``Catch``/``Retry`` on it. ``reason`` is a stable, machine-readable code that lands in
notifications, events, object tags and package metadata.
"""

from __future__ import annotations


class ModelRelayError(Exception):
    """Base class: a failure with a stable reason code and a human sentence."""

    reason: str = "error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.reason

    def __str__(self) -> str:
        # "<reason>: <sentence>" so the reason survives Lambda's errorMessage and Step Functions' Cause.
        return f"{self.reason}: {self.message}"


def split_reason(text: str) -> tuple[str, str]:
    """Inverse of ``ModelRelayError.__str__``: ("reason", "sentence"), or ("error", text) for foreign errors."""
    head, sep, tail = text.partition(": ")
    # Reason codes are snake_case; Lambda's own messages ("RequestId: …") are not reasons.
    if sep and head and head[0].isalpha() and all(ch.islower() or ch.isdigit() or ch == "_" for ch in head):
        return head, tail
    return "error", text


class InvalidEvent(ModelRelayError):
    """The event is missing fields or has malformed ones."""

    reason = "invalid_event"


class SourceNotAllowed(ModelRelayError):
    """The event comes from an account or region that is not on the allow-list."""

    reason = "source_not_allowed"


class SpokeNotAllowed(SourceNotAllowed):
    """Pull mode: the event comes from an account that is not a listed spoke (``SpokeAccountIds``)."""

    reason = "spoke_not_allowed"


class SourceNotShared(ModelRelayError):
    """Pull mode: the spoke's model package group does not let the hub account describe its packages."""

    reason = "source_not_shared"


class NoRouteForGroup(ModelRelayError):
    """The model package group has no route in the routing configuration."""

    reason = "no_route_for_group"


class PackageNotFound(ModelRelayError):
    reason = "package_not_found"


class PackageAccessDenied(ModelRelayError):
    """SageMaker refused to describe the package (another account's package without a grant)."""

    reason = "package_access_denied"


class MissingInferenceSpecification(ModelRelayError):
    reason = "missing_inference_specification"


class ArtifactBucketNotAllowed(ModelRelayError):
    reason = "artifact_bucket_not_allowed"


class ArtifactNotFound(ModelRelayError):
    reason = "artifact_not_found"


class ArtifactChanged(ModelRelayError):
    """The object was deleted or overwritten between the event and the processing."""

    reason = "artifact_changed"


class ArtifactInvalid(ModelRelayError):
    """The artifact failed validation; ``reason`` is the validator's specific code."""

    reason = "artifact_invalid"


class UnknownIngestKey(ModelRelayError):
    """A dropped object's key does not map to a routed model package group."""

    reason = "unknown_group"


class MmeKeyConflict(ModelRelayError):
    """An immutable MME key already holds different content: never overwritten."""

    reason = "mme_key_conflict"


class PointerConflict(ModelRelayError):
    """The TargetModel pointer moved under us (retryable: re-read and try again)."""

    reason = "pointer_conflict"


class ConfigError(ModelRelayError):
    """Settings or routing configuration are invalid."""

    reason = "config_invalid"


class EndpointLeaseBusy(ModelRelayError):
    """Another promotion is rolling this endpoint; the state machine waits (bounded) and tries again."""

    reason = "endpoint_lease_busy"


class PreflightFailed(ModelRelayError):
    """A rollout check failed before any SageMaker write; ``reason`` names the check."""

    reason = "preflight_failed"


class NothingToRollBack(ModelRelayError):
    """No earlier approved version is recorded for this model or endpoint."""

    reason = "nothing_to_roll_back"


class HubPackageNotReady(ModelRelayError):
    """The hub package's ``ModelPackageStatus`` is not ``Completed`` yet (``Pending``/``InProgress``): a model
    cannot be built from it. Retryable: the state machine waits (backoff, bounded) and starts the rollout again."""

    reason = "hub_package_not_ready"


class ArtifactModifiedAfterRegistration(ModelRelayError):
    """The bytes at the package's artifact location are not the ones that were there when it was registered."""

    reason = "artifact_modified_after_registration"


class MmeCannotServe(ModelRelayError):
    """The package cannot be staged on the route's multi-model endpoint; ``reason`` says why
    (``pipeline_mismatch``, ``mme_container_ambiguous``, ``mme_uncompressed_artifact``, ``mme_not_multi_model``)."""

    reason = "mme_cannot_serve"


class MmeSmokeFailed(ModelRelayError):
    """The MME's answer to the route's smoke check (``InvokeEndpoint`` with the new ``TargetModel``) was not a 2xx
    within the time limit: ``mme_model_failed_to_load`` (the container could not load the model) or
    ``mme_smoke_failed`` (it loaded but answered an error, or too slowly). The pointer did not move."""

    reason = "mme_smoke_failed"


class GateDenied(ModelRelayError):
    """An approver said no at a stage's manual gate (``modelrelay deny``, or the package's registry stage set to
    ``Rejected``): the Step Functions task waiting on the gate fails with this error name; every stage reached is
    rolled back."""

    reason = "gate_denied"


class GateNotWaiting(ModelRelayError):
    """``modelrelay approve|deny``: the execution has no manual gate waiting (never had one, decided, or expired)."""

    reason = "gate_not_waiting"
