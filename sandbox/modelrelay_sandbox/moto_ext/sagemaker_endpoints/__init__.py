"""SageMaker UpdateEndpoint with deployment guardrails (blue/green, auto-rollback on alarms).

AWS behaviour supplied here, and why moto 5.2.5 lacks it:

* **UpdateEndpoint.** moto has no such action (a request fails with HTTP 500). Supplied with its
  validation, as ``ValidationException``:

  - ``Could not find endpoint "<endpoint arn>".``
  - ``Could not find endpoint configuration "<endpoint config arn>".``
  - ``Cannot update in-progress endpoint "<endpoint arn>".`` while the endpoint is ``Creating``,
    ``Updating``, ``SystemUpdating``, ``RollingBack`` or ``Deleting`` (DeleteEndpoint answers the same,
    as on AWS).
  - ``Could not find model "<model arn>".`` when a variant's model was deleted since the config was made.
  - With a ``DeploymentConfig`` (blue/green or rolling), the new config's variant names must equal the
    current config's (AWS: "Exclusions" of deployment guardrails); the message names both sets.
  - ``CanarySize`` is required for ``CANARY``, ``LinearStepSize`` for ``LINEAR``, and only one of
    ``BlueGreenUpdatePolicy``/``RollingUpdatePolicy`` may be given.
  - A ``RollingUpdatePolicy`` is refused for a serverless or multi-variant config and for a
    ``MaximumBatchSize`` outside 5-50 % of the variant's instance count (:mod:`.rolling`).

  On success the endpoint is ``Updating``, ``LastModifiedTime`` bumps, ``FailureReason`` clears,
  ``LastDeploymentConfig`` is the deployment config used, and - as on AWS - ``EndpointConfigName`` and
  ``ProductionVariants`` stay the OLD ones until the update completes; the new config is in
  ``PendingDeploymentSummary`` (``EndpointConfigName``, ``StartTime``, ``ProductionVariants`` with
  ``VariantStatus`` ``Creating``/``ActivatingTraffic``/``Baking`` and AWS's status messages, e.g.
  "Baking for 600 seconds (WaitIntervalInSeconds) with traffic enabled on canary capacity of 1
  instance(s)."). ``RetainAllVariantProperties`` (with ``ExcludeRetainedVariantProperties``) and
  ``RetainDeploymentConfig`` are honoured.

* **Progress is driven by DescribeEndpoint polls** (deterministic for tests). Each DescribeEndpoint of an
  ``Updating`` endpoint is one poll; ListEndpoints shows the status without advancing it. With ``N``
  polls (default 3; :func:`configure` or env ``MODELRELAY_SANDBOX_ENDPOINT_UPDATE_POLLS``, read at
  :func:`apply`), the sequences are:

  - success: ``Updating`` x N, then ``InService`` on the new config;
  - alarm fired: ``Updating`` until a poll finds an alarm in ``ALARM``, that poll ``RollingBack``, the
    next ``InService`` on the OLD config with ``FailureReason`` "Alarm <name> was triggered during the
    deployment. Rolled back to the previous endpoint configuration.";
  - failure injected (new fleet fails its health check): ``Updating`` x N, then ``InService`` on the OLD config
    with ``FailureReason`` (see below).

  Time mode (for demos): ``configure(time_scale=0.01)`` makes an update last its DeploymentConfig's
  nominal duration (wait intervals of every canary/linear/rolling step plus ``TerminationWaitInSeconds``)
  times ``time_scale``; ``configure(bake_seconds=2)`` makes every update last exactly 2 s. Env
  ``MODELRELAY_SANDBOX_ENDPOINT_UPDATE_TIME_SCALE`` selects time mode at :func:`apply`. Completion is
  still observed on DescribeEndpoint; a rollback still shows ``RollingBack`` for one poll.
  ``MaximumExecutionTimeoutInSeconds`` is stored, not enforced.

* **Auto-rollback.** While ``Updating``, every poll reads the alarms of
  ``DeploymentConfig.AutoRollbackConfiguration.Alarms`` from moto's CloudWatch backend of the endpoint's
  account and region (``cloudwatch.set_alarm_state(..., StateValue="ALARM")`` trips one). An alarm
  that does not exist is ignored, like an alarm in ``OK``/``INSUFFICIENT_DATA``.

* **Failure injection (sandbox convention).** If the image of a model of the NEW endpoint config
  (``PrimaryContainer.Image`` or any ``Containers[].Image``, or the images of the model package a container
  names by ``ModelPackageName``, in any account) contains ``fail-deployment``, the update ends as AWS
  ends a blue/green update whose new fleet fails: ``InService`` on the OLD config (which served throughout)
  with ``FailureReason`` "The primary container for production variant <variant> did not pass the ping health
  check. Please check CloudWatch logs for this endpoint." (AWS's health-check wording; ``FailureReason`` "if
  the status is InService but update operation fails", API_EndpointMetadata). If the image contains
  ``fail-rollback`` and an alarm fires, the rollback fails: ``RollingBack`` then
  ``UpdateRollbackFailed``, ``FailureReason`` "Alarm <name> was triggered during the deployment. Rolling
  back to the previous endpoint configuration failed: ..."; without an alarm such an image deploys fine.

* **UpdateEndpointWeightsAndCapacities.** moto leaves the endpoint ``Updating`` forever, ignores
  ``DesiredInstanceCount`` and returns no ARN. Here it rejects in-progress endpoints, sets the desired
  values, is ``Updating`` for N polls, then ``InService`` with current = desired.

* **Events.** "SageMaker Endpoint Deployment State Change" on the default bus (source ``aws.sagemaker``,
  ``resources`` [endpoint ARN]) when an update starts (``UPDATING``), rolls back (``ROLLING_BACK``) and
  ends (``IN_SERVICE``, ``FAILED``, ``UPDATE_ROLLBACK_FAILED``); ``detail`` is DescribeEndpoint's output
  as AWS's sample shows it (``EndpointStatus`` upper snake case, times in epoch milliseconds, ``Tags``
  an object, ``PendingDeploymentSummary`` while one is pending). moto emits no SageMaker events.

* **DescribeEndpoint and CreateEndpoint, as the simulator needs them:** ``ProductionVariants`` with
  ``CurrentWeight``/``DesiredWeight`` (default 1.0; moto drops them when ``InitialVariantWeight`` is absent or
  0) and ``DeployedImages``; ``DataCaptureConfig`` is the summary AWS returns (``CaptureStatus``,
  ``CurrentSamplingPercentage``); ``AsyncInferenceConfig`` and ``LastDeploymentConfig`` are returned;
  CreateEndpoint of an existing name fails as on AWS (``Cannot create already existing endpoint "<arn>".``).

The model and endpoint-config APIs moto gets wrong in ways unrelated to deployments (duplicate names,
DescribeEndpointConfig's empty ``DataCaptureConfig``, instance types, ListModels) are fixed in
:mod:`modelrelay_sandbox.moto_ext.sagemaker_model_apis`.

One module per concern, each naming the AWS documentation page it imitates: :mod:`.settings` (polls or
time), :mod:`.lookup` (names -> resources, ValidationException), :mod:`.variants` (DescribeEndpoint's
variants), :mod:`.stages` (a DeploymentConfig's steps), :mod:`.rolling` (what a rolling update may not
do), :mod:`.deployment` (an update in progress, alarm rollback), :mod:`.failure_injection`
(``fail-deployment``/``fail-rollback``), :mod:`.events` (state-change events), :mod:`.update`
(UpdateEndpoint), :mod:`.capacity` (UpdateEndpointWeightsAndCapacities), :mod:`.lifecycle`
(Create/Describe/DeleteEndpoint), :mod:`.shadow` (a config's shadow variant deployed, described, and failed by
``fail-deployment`` like a production variant).
"""

from __future__ import annotations

import threading

from moto.sagemaker.models import SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

from .. import eventbridge_targets
from .capacity import resp_update_weights, update_endpoint_weights_and_capacities
from .failure_injection import FAIL_DEPLOYMENT_MARKER, FAIL_ROLLBACK_MARKER
from .lifecycle import describe_endpoint, wrap_create_endpoint, wrap_delete_endpoint
from .settings import DEFAULT_POLLS, Settings, configure, configure_from_env, settings
from .update import resp_update_endpoint, update_endpoint

_apply_lock = threading.Lock()
_applied = False


def apply() -> None:
    """Install the SageMaker endpoint patches (idempotent); reads the env settings once."""
    global _applied
    with _apply_lock:
        if _applied:
            return
        eventbridge_targets.apply()
        configure_from_env()
        backend = SageMakerModelBackend
        backend.update_endpoint = update_endpoint  # type: ignore[attr-defined]
        backend.update_endpoint_weights_and_capacities = update_endpoint_weights_and_capacities  # type: ignore[method-assign]
        backend.describe_endpoint = describe_endpoint  # type: ignore[method-assign]
        backend.create_endpoint = wrap_create_endpoint(backend.create_endpoint)  # type: ignore[method-assign]
        backend.delete_endpoint = wrap_delete_endpoint(backend.delete_endpoint)  # type: ignore[method-assign]
        SageMakerResponse.update_endpoint = resp_update_endpoint  # type: ignore[attr-defined]
        SageMakerResponse.update_endpoint_weights_and_capacities = resp_update_weights  # type: ignore[method-assign]
        _applied = True


__all__ = [
    "DEFAULT_POLLS",
    "FAIL_DEPLOYMENT_MARKER",
    "FAIL_ROLLBACK_MARKER",
    "Settings",
    "apply",
    "configure",
    "settings",
]
