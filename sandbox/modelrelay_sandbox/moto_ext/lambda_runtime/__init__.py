"""Lambda runs your handler code.

moto's Lambda either runs functions in Docker (absent here) or, with
``use_docker=False`` (``LambdaSimpleBackend``), never runs them at all: every
invoke returns a canned string. This module makes moto run the function's real
Python handler, from the code moto stores, the way Lambda's Python runtime does:

* **Code**: the function's deployment zip (``LambdaFunction.code_bytes``, filled by
  moto for ``ZipFile`` and for ``S3Bucket``/``S3Key`` code) and its layers' zips
  (``LayerVersion.code_bytes``) are extracted once into a cache keyed by the zip's
  SHA-256 (``<repo>/.sandbox/lambda-code/<sha256>/``, see :func:`configure`).
  ``sys.path`` of the handler is: the function's code dir, then the host
  interpreter's own path (stdlib + this venv's site-packages: compiled wheels such
  as ``pydantic_core`` come from the host, as a built layer may carry arm64
  wheels), then each layer's ``python/`` (and ``python/lib/python3.*/site-packages``).
* **Execution environments**: each invocation runs in a warm worker subprocess
  (:mod:`modelrelay_sandbox.lambda_worker`) of that function; a new worker is
  spawned when all of the function's workers are busy, a free one is reused
  (module-level state survives between invocations, as on Lambda), and workers
  are recycled when the function's code or configuration changes (or after
  ``idle_worker_ttl`` unused). **Concurrency** is Lambda's: ``ReservedConcurrentExecutions``
  caps a function's executions in flight, and the functions without a reservation share the
  account's quota (``account_concurrency``, env ``MODELRELAY_SANDBOX_LAMBDA_CONCURRENCY``, default
  64 here, 1,000 on AWS) minus the reservations. A synchronous invoke beyond a limit gets Lambda's
  429 ``TooManyRequestsException`` with its ``Reason``; asynchronous events wait (Lambda's internal
  queue). Idle environments are reclaimed (least recently used first) so the processes of an
  account never exceed the quota, and a worker exits by itself when the sandbox process dies.
* **Environment**: only the function's ``Environment.Variables`` plus what Lambda
  sets (see :mod:`.environment`), with credentials of the function's execution
  role obtained from moto's STS (so they resolve to the function's account) and
  ``AWS_ENDPOINT_URL`` pointing at the sandbox, so handler code needs no
  emulator awareness. ``POWERTOOLS_TRACE_DISABLED=true`` and
  ``AWS_XRAY_SDK_ENABLED=false`` are set unless the function sets them: there is
  no X-Ray daemon, and these make powertools' ``Tracer`` a silent no-op.
* **Results and errors**, as Lambda returns them: handler exception →
  ``FunctionError: Unhandled`` + ``{"errorMessage", "errorType", "requestId",
  "stackTrace"}``; timeout (the function's ``Timeout``) → the worker is killed and
  ``{"errorType": "Sandbox.Timedout", "errorMessage": "RequestId: <id> Error: Task
  timed out after N.00 seconds"}``; worker exit → ``Runtime.ExitError``;
  non-serialisable result → ``Runtime.MarshalError``; import failures →
  ``Runtime.ImportModuleError`` / ``Runtime.HandlerNotFound`` / ...
* **Logs**: the handler's stdout/stderr plus Lambda's ``START``/``END``/``REPORT``
  lines go to ``<log_dir>/<function-name>.log`` and to moto's CloudWatch Logs group
  ``/aws/lambda/<name>`` (one stream per worker, as one per execution
  environment); ``LogType=Tail`` returns the last 4 KB.
* **Asynchronous invocation** (``InvocationType=Event``, and :func:`invoke_async`
  for event sources such as EventBridge): returns at once (202), runs in a
  background thread, retries a failed invocation ``MaximumRetryAttempts`` times
  (``put_function_event_invoke_config``; default 2) after ``async_retry_delay``
  seconds (0.5 s here instead of Lambda's minutes), then sends the event to the
  function's ``DeadLetterConfig.TargetArn`` (SQS or SNS, with message attributes
  ``RequestID``, ``ErrorCode``, ``ErrorMessage``) and an invocation record to the
  ``OnFailure`` destination (SQS, SNS, Lambda or EventBridge); ``OnSuccess``
  destinations receive the success record. :func:`wait_idle` waits for all of it.
* **DeadLetterConfig** is kept by ``CreateFunction``/``UpdateFunctionConfiguration``
  and returned by ``GetFunctionConfiguration`` (moto drops it).
* **CloudFormation** ``AWS::Lambda::Function`` keeps ``Layers`` and
  ``DeadLetterConfig`` (moto's ``create_from_cloudformation_json`` drops them).

Known limits: settings are per process (one sandbox server per process);
moto's Invoke reads the ``Qualifier`` query parameter under the wrong name, so
select a version or alias with a qualified ``FunctionName``/ARN instead;
``MaximumEventAgeInSeconds`` is not enforced; services moto wires to Lambda
itself (SNS subscriptions, SQS event source mappings) invoke synchronously
inside the triggering request; the worker runs this venv's Python (3.11), not
the function's runtime version; memory size is reported, not enforced.


One module per concern, each naming the AWS documentation page it imitates:

* :mod:`.config` - the sandbox's settings (:func:`configure`);
* :mod:`.spec` - the function configuration an invocation reads;
* :mod:`.code` - deployment package and layers, unpacked and put on the path;
* :mod:`.credentials` - the execution role's credentials;
* :mod:`.environment` - the handler's environment variables;
* :mod:`.worker` - one execution environment (a warm worker process);
* :mod:`.pool` - the execution environments of every function: reuse, start, recycle;
* :mod:`.concurrency` - reserved concurrency: throttle or wait;
* :mod:`.timeouts` - the handler's deadline and the timeout error;
* :mod:`.invoke` - one synchronous invocation and its result or error;
* :mod:`.logs` - log file, CloudWatch Logs, ``LogType=Tail``;
* :mod:`.payloads` - Invoke's request and response payloads;
* :mod:`.async_invoke` - asynchronous invocation and its retries;
* :mod:`.destinations` - dead-letter queue and OnSuccess/OnFailure destinations;
* :mod:`.invoke_api`, :mod:`.dead_letter_config`, :mod:`.cloudformation` - the moto patches.

Public API (import it from this package; the modules are its parts):
:func:`apply`, :func:`configure`, :func:`invoke_async`, :func:`wait_idle`,
:func:`shutdown_workers`, :func:`run_invocation`, :func:`worker_pids`.
"""

from __future__ import annotations

import atexit
import threading

from moto.awslambda.models import LambdaFunction
from moto.awslambda_simple.models import LambdaSimpleBackend

from .async_invoke import invoke_async, wait_idle
from .cloudformation import patch_cloudformation_function_properties
from .concurrency import Throttled
from .config import CONFIG, RuntimeConfig, configure
from .dead_letter_config import patch_dead_letter_config
from .invoke import run_invocation
from .invoke_api import function_invoke, simple_backend_invoke
from .logs import close_log_files
from .payloads import InvocationResult
from .pool import POOL

_PATCH_MARK = "__modelrelay_sandbox_patch__"
_apply_lock = threading.Lock()


def apply() -> None:
    """Install the patches (idempotent)."""
    with _apply_lock:
        if getattr(LambdaFunction.invoke, _PATCH_MARK, False):
            return
        setattr(function_invoke, _PATCH_MARK, True)
        LambdaFunction.invoke = function_invoke  # type: ignore[method-assign]
        LambdaSimpleBackend.invoke = simple_backend_invoke  # type: ignore[method-assign]
        patch_dead_letter_config()
        patch_cloudformation_function_properties()
        atexit.register(shutdown_workers)


def shutdown_workers() -> None:
    """Kill every worker process (also run at interpreter exit)."""
    POOL.shutdown()
    close_log_files()


def worker_pids(function_arn: str) -> list[int]:
    """PIDs of the live workers of a function (diagnostics and tests)."""
    return POOL.pids(function_arn)


__all__ = [
    "CONFIG",
    "InvocationResult",
    "RuntimeConfig",
    "Throttled",
    "apply",
    "configure",
    "invoke_async",
    "run_invocation",
    "shutdown_workers",
    "wait_idle",
    "worker_pids",
]
