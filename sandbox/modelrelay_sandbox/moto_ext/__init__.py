"""What moto 5.2.5 lacks for ModelRelay, supplied in process by patching it.

:func:`apply_all` sets moto's configuration — Lambda without Docker
(``LambdaSimpleBackend``) and ``stepfunctions.execute_state_machine = True`` —
and installs every extension below. Each extension module documents its
patches in detail; one bullet each here: the AWS behaviour supplied, and why
moto lacks it.

``lambda_runtime`` (a package, one module per concern) — Lambda runs your handler code:

* **Handlers run for real.** ``Invoke`` runs the function's Python handler from
  its stored deployment zip and layers, in warm per-function worker processes
  (reused while free, recycled on code/config change), with Lambda's environment
  variables, context object, timeout and error shapes (``FunctionError:
  Unhandled``; ``Sandbox.Timedout``, ``Runtime.ExitError``...). moto runs code
  only in Docker; its Docker-less backend returns a canned string.
* **Execution-role credentials and endpoint.** The handler gets STS credentials
  of its role (resolving to the function's account) and ``AWS_ENDPOINT_URL`` of
  the sandbox. moto's Docker path hard-codes fake keys.
* **Function logs** go to ``.sandbox/logs/<function>.log`` and CloudWatch Logs
  ``/aws/lambda/<function>`` with START/END/REPORT lines; ``LogType=Tail`` works.
  moto has no logs without Docker.
* **Asynchronous invocation** (``InvocationType=Event``; ``invoke_async`` for event
  sources) returns 202 at once and runs in the background with retries
  (``MaximumRetryAttempts``), then the dead-letter queue (with ``RequestID``,
  ``ErrorCode``, ``ErrorMessage`` attributes) and ``OnFailure``/``OnSuccess``
  destinations. moto invokes synchronously and has no retries, DLQ or
  destinations.
* **Concurrency**: ``ReservedConcurrentExecutions`` caps a function's concurrent
  executions and the account's quota caps the rest (configurable); a synchronous
  invoke beyond a limit gets ``TooManyRequestsException`` (429, with Lambda's
  ``Reason``), async events wait; worker processes stay within the quota and exit
  with the sandbox. moto stores the setting and ignores it.
* **DeadLetterConfig** is stored and returned by the function configuration.
  moto drops it.
* **CloudFormation functions keep Layers and DeadLetterConfig.** moto's
  ``AWS::Lambda::Function`` passes only a handful of properties on.

``stepfunctions`` — Step Functions runs your ASL:

* **Service calls reach this server.** The interpreter's boto clients follow the
  sandbox's real port. moto sends them to env ``MOTO_PORT`` or 5000.
* **AWS SDK integration error names** are ``<ServiceName>.<Name>Exception`` with
  the service name as AWS spells it (``S3.NoSuchKeyException``,
  ``SageMaker.ResourceNotFoundException``; an undeclared error code such as
  SageMaker's ``ValidationException`` → ``SageMaker.SageMakerException``). moto
  keeps the lower-case SDK name for all but two services.
* **StartExecution without a name** gets a UUID name. moto's interpreter backend
  names it ``None``, so a second unnamed execution fails ``ExecutionAlreadyExists``.
* **JSONata** expressions are evaluated by ``jsonata-python``. moto leaves its
  evaluator hook empty (LocalStack uses a JVM), so JSONata states fail.

``eventbridge_targets`` — EventBridge delivers to every target:

* **Lambda, Step Functions and SNS targets** get the event (Lambda
  asynchronously); moto raises ``NotImplementedError`` for them.
* **Delivery after the call**: the API call that produced the event returns,
  then a delivery thread delivers it; moto delivers inside the call.
* **The event envelope** targets receive is AWS's (``account``, ISO ``time``);
  moto's drops fields.
* **Input / InputPath / InputTransformer** follow AWS's rendering rules; moto's
  template parser drops falsy values and skips archives and replays.
* **RetryPolicy and target DeadLetterConfig** (with EventBridge's DLQ message
  attributes); moto has neither.
* **Disabled rules** do not deliver; moto ignores ``State``.
* **Patterns on arrays of objects** match; moto's flattener stops at lists.
* **Bus-to-bus forwarding** keeps ``resources``, ``time``, ``id`` and ``account``;
  moto rebuilds the event.
* **Archives and replays** honour the time window and ``FilterArns``; moto's
  replay ignores them.

``cross_account`` — another account's resources by their owner's resource policy: DescribeModelPackage of a
package whose group policy allows the caller (``AccessDeniedException`` otherwise), and so CreateModel from it
(``ModelPackageName``), and rule deliveries to another
account's event bus only if the bus policy allows the sender (``NO_PERMISSIONS`` otherwise); moto ignores both
policies (and answers a cross-account DescribeModelPackage "not found").

``sagemaker_lifecycle`` — a model package's registry stage (``ModelLifeCycle``) is kept by Create/UpdateModelPackage,
described, and its change emits a Model Package State Change; ``SendTaskFailure``'s ``cause`` reaches the task.
moto ignores both.

``api_destinations`` — EventBridge API destinations call HTTP receivers on 127.0.0.1 with the connection's
credentials (Basic / API key), retries and rate limit; moto calls them only on request, without credentials.

``sagemaker_events`` — SageMaker emits Model Package State Change events:

* **"SageMaker Model Package State Change"** on the owner's default bus when a
  package is created with an approval status or its status changes, ``detail``
  being the DescribeModelPackage output; moto emits no SageMaker events.
* **UpdateModelPackage changes only what the request sets** (metadata merged,
  then keys removed); moto overwrites every field, nulling the approval status.
* **LastModifiedTime** is set from creation on and bumped on updates; moto leaves
  it None until the first update.
* **Model package group resource policies** (Put/Get/DeleteModelPackageGroupPolicy);
  moto does not implement them.

``sagemaker_endpoints`` (a package, one module per concern) — SageMaker UpdateEndpoint with deployment guardrails:

* **UpdateEndpoint** (moto lacks it) with AWS's validation, blue/green CANARY/LINEAR/ALL_AT_ONCE and
  rolling policies, ``PendingDeploymentSummary``, auto-rollback on ``ALARM`` alarms (``RollingBack`` →
  ``InService`` on the old config), a new fleet failing its health check (``InService`` on the old config with
  a ``FailureReason``, as on AWS) or a failed rollback (``UpdateRollbackFailed``) injected by images containing
  ``fail-deployment``/``fail-rollback``, "SageMaker Endpoint Deployment State Change" events; progress is
  driven by DescribeEndpoint polls (``configure(polls=3)``) or time (``configure(time_scale=...)``).
  Also fixes moto's UpdateEndpointWeightsAndCapacities (stuck ``Updating``) and DescribeEndpoint's variants.

``sagemaker_inference_components`` — SageMaker inference components (moto lacks every action): Create/Update/
Describe/Delete/ListInferenceComponents with AWS's validation, ``Creating``/``Updating`` → ``InService`` by polls,
rolling-update alarm rollback (``InService`` on the old specification with a ``FailureReason``), and
``fail-deployment``/``fail-rollback`` failure injection as for endpoints.

``sagemaker_model_apis`` — SageMaker model and endpoint-config APIs as AWS answers them:

* **Duplicate names fail** on CreateModel / CreateEndpointConfig; moto silently replaces them.
* **DescribeEndpointConfig omits an unset DataCaptureConfig**; moto returns ``{}``, which cannot be sent back.
* **Every instance type of the SageMaker API** is accepted; moto knows an old subset.
* **ListModels filters, sorts and paginates**, newest first like ListEndpointConfigs; moto returns everything
  in ascending order.

``sagemaker_resource_fields`` — CreateModel / CreateEndpointConfig keep what they are given:

* **Every request field that Describe* returns** (from botocore's shapes): a model's ``EnableNetworkIsolation``
  and ``InferenceExecutionConfig``, an endpoint config's ``VpcConfig``, ``ExecutionRoleArn``,
  ``EnableNetworkIsolation``, ``ShadowProductionVariants``, ``MetricsConfig``...; moto keeps a handful.

``sagemaker_mme_invoke`` — InvokeEndpoint with ``TargetModel`` on a multi-model endpoint finds the artifact under
the model's ``ModelDataUrl`` prefix and loads it (a gzip+tar that opens, without the ``MODELRELAY_FAIL_TO_LOAD``
marker member), answering SageMaker's ``ValidationError``/``ModelError`` otherwise; moto answers a canned body.

``sagemaker_package_status`` — opt-in: new packages ``InProgress`` for N DescribeModelPackage calls
(``configure(describes=N, group=...)``); moto makes every package ``Completed`` at once.

``cloudwatch_alarm_history`` — DescribeAlarmHistory (moto lacks it): a ``StateUpdate`` item per alarm state
change, AWS's ``HistorySummary``/``HistoryData``, filters and paging.

``s3_eventbridge`` — S3 sends Object Created / Object Deleted to EventBridge:

* **AWS's event shape** (``etag``, ``sequencer``, ``reason`` ``PutObject``/
  ``CopyObject``/``CompleteMultipartUpload``, ``version-id`` only when versioned,
  URL-encoded ``key``); moto's differs in each of these.
* **Default bus only**, through the target extension (input transformers
  included); moto sends to the rules of every bus in the region.
* **Deletes and multipart uploads emit exactly what AWS emits**; moto misses
  delete markers and adds spurious events from its internal calls.

``cloudformation`` — CloudFormation applies what the template declares:

* **AWS::S3::Bucket** versioning, EventBridge notifications and public access
  block; moto keeps only encryption and tags.
* **AWS::StepFunctions::StateMachine** ``DefinitionS3Location`` and
  ``DefinitionSubstitutions``; moto reads ``DefinitionString`` only.
* **Resource types moto skips** (``AWS::Lambda::EventInvokeConfig``,
  ``AWS::SageMaker::ModelPackageGroup``, ``AWS::SNS::Subscription``,
  ``AWS::SQS::QueuePolicy``, ``AWS::CloudWatch::Alarm``) are created.
* **Ref of AWS::Lambda::LayerVersion** is its ARN; moto returns an object.
* **AWS::Events::Archive** accepts an object ``EventPattern``; moto wants a string.

``dynamodb_atomic`` — DynamoDB conditional writes are atomic:

* **One lock around the backend's writes.** AWS checks a ``ConditionExpression`` and writes in one step;
  moto's threaded server checks, then writes, so two concurrent conditional writes could both pass.

``iam_enforcement`` (a package, one module per concern) — opt-in IAM enforcement (``configure(enforce=True)``;
the sandbox: env ``MODELRELAY_SANDBOX_IAM=enforce``): every request authenticated (unknown keys, wrong tokens and
bad signatures refused with each service's error) and authorised against the caller's identity policies and the
resource's policy (bucket, queue, topic, key, model package group, trust policy) with the real resource ARN,
condition keys and ``iam:PassRole``; AWS's AccessDenied per protocol; a JSON-lines decision log. moto's enforcement
checks every non-S3 action on ``*``, without Conditions or resource policies.

``fault_injection`` — opt-in throttling/5xx on a fraction of requests (``MODELRELAY_SANDBOX_FAULT_RATE``).

``sagemaker_rate`` — SageMaker's control-plane request rate per account, measured (peak per second) and, opt-in,
throttled with SageMaker's ``ThrottlingException`` beyond a token bucket; moto never throttles.

``throughput`` — no AWS behaviour, only less repeated work under a burst: moto's request routing cached per host
(moto listed its package folders under one lock per request), a state machine parsed once per definition and a
JSONPath once per path (fresh evaluation components per execution).

See each module's docstring for the exact rules and their limits.
"""

from __future__ import annotations

import threading
import time

from moto.core.config import default_user_config

_lock = threading.Lock()


def _configure_moto() -> None:
    # Lambda without Docker: LambdaSimpleBackend, whose invoke lambda_runtime replaces.
    default_user_config["lambda"] = {"use_docker": False}
    # StartExecution runs the definition in moto's ASL interpreter.
    default_user_config["stepfunctions"] = {"execute_state_machine": True}


def apply_all() -> None:
    """Configure moto and install every extension (idempotent, thread-safe)."""
    from . import (
        api_destinations,
        cloudformation,
        cloudwatch_alarm_history,
        cross_account,
        dynamodb_atomic,
        eventbridge_targets,
        iam_enforcement,
        lambda_runtime,
        s3_eventbridge,
        sagemaker_endpoints,
        sagemaker_events,
        sagemaker_inference_components,
        sagemaker_lifecycle,
        sagemaker_mme_invoke,
        sagemaker_model_apis,
        sagemaker_package_status,
        sagemaker_resource_fields,
        stepfunctions,
        throughput,
    )

    with _lock:
        _configure_moto()
        lambda_runtime.apply()
        stepfunctions.apply()
        throughput.apply()
        eventbridge_targets.apply()
        api_destinations.apply()
        sagemaker_events.apply()
        sagemaker_endpoints.apply()
        sagemaker_inference_components.apply()
        sagemaker_model_apis.apply()
        sagemaker_resource_fields.apply()
        sagemaker_package_status.apply()
        sagemaker_lifecycle.apply()
        sagemaker_mme_invoke.apply()
        cloudwatch_alarm_history.apply()
        s3_eventbridge.apply()
        cloudformation.apply()
        dynamodb_atomic.apply()
        iam_enforcement.apply()
        cross_account.apply()


def wait_idle(timeout: float) -> bool:
    """Wait until no background work is in flight — EventBridge deliveries and their
    retries, asynchronous Lambda invocations with their retries, DLQs and
    destinations — including work one of them started in the other. True if idle
    within ``timeout`` seconds. (Step Functions executions are not counted: poll
    DescribeExecution for those.)"""
    from . import eventbridge_targets, lambda_runtime

    deadline = time.monotonic() + timeout
    while True:
        for wait in (eventbridge_targets.wait_idle, lambda_runtime.wait_idle):
            if not wait(max(deadline - time.monotonic(), 0)):
                return False
        # Both were idle one after the other; idle together means nothing is left.
        if eventbridge_targets.wait_idle(0) and lambda_runtime.wait_idle(0):
            return True


__all__ = ["apply_all", "wait_idle"]
