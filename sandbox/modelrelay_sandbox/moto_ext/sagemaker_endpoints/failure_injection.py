"""Failed deployments on demand (sandbox convention): images whose name says how the update should fail.

A model image containing ``fail-deployment`` makes the update's new fleet fail its health check: the endpoint
returns to ``InService`` on the OLD config with AWS's health-check wording as ``FailureReason``
(https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-inference-code.html#your-algorithms-inference-algo-ping-requests:
"did not pass the ping health check"; the status sequence is in :mod:`.deployment`); ``fail-rollback`` makes a
rollback fail (``UpdateRollbackFailed``).
The images of a model package a container names by ``ModelPackageName`` count too.
"""

from __future__ import annotations

from typing import Any

from moto.sagemaker.models import SageMakerModelBackend

from .variants import images_of

FAIL_DEPLOYMENT_MARKER = "fail-deployment"
FAIL_ROLLBACK_MARKER = "fail-rollback"


def injected_failures(backend: SageMakerModelBackend, variants: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    """``(FailureReason of the update, why its rollback fails)`` for a new config's variants; None: no failure."""

    failure = rollback_failure = None
    for variant in variants:
        images = images_of(backend, variant.get("ModelName", ""))
        health = (
            f"the primary container for production variant {variant['VariantName']} did not pass the "
            "ping health check. Please check CloudWatch logs for this endpoint."
        )
        if failure is None and any(FAIL_DEPLOYMENT_MARKER in image for image in images):
            failure = health[0].upper() + health[1:]
        if rollback_failure is None and any(FAIL_ROLLBACK_MARKER in image for image in images):
            rollback_failure = f"Rolling back to the previous endpoint configuration failed: {health}"
    return failure, rollback_failure
