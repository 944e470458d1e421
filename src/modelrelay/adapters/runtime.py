"""SageMaker Runtime ``InvokeEndpoint`` on a multi-model endpoint, its answer (or error) as data.

https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html and
https://docs.aws.amazon.com/sagemaker/latest/dg/invoke-multi-model-endpoint.html: ``TargetModel`` is the artifact's
path relative to the endpoint model's ``ModelDataUrl`` prefix; the first call downloads and loads it. Errors
(botocore's ``sagemaker-runtime`` model): ``ModelError`` (424: the container answered 4xx/5xx, with
``OriginalStatusCode``, ``OriginalMessage``, ``LogStreamArn``), ``ModelNotReadyException`` (429: an MME is still
downloading or loading the target model; try again), ``ValidationError`` (400, e.g. the model data cannot be
downloaded), ``InternalFailure`` (500), ``ServiceUnavailable`` (503), ``InternalDependencyException`` (530).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError

SageMakerRuntimeClient = Any  # no mypy_boto3 stubs for sagemaker-runtime in this project

# The SDK retries what is transient (InternalFailure 500, ServiceUnavailable 503, throttling) as every client of
# ModelRelay does; a smoke check itself tries ModelNotReadyException again within its time limit. A real-time
# container must answer within 60 s (InvokeEndpoint), so a read waits 70 s at most.
RUNTIME_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 8},
    connect_timeout=5,
    read_timeout=70,
    user_agent_extra="modelrelay/0.1",
)


@dataclass(frozen=True)
class Invocation:
    """What the endpoint answered: a 2xx (``error_code`` None), an error, or no answer in time."""

    status: int
    seconds: float
    error_code: str | None = None
    message: str = ""
    original_status: int | None = None
    original_message: str | None = None
    log_stream_arn: str | None = None
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.error_code is None and not self.timed_out and 200 <= self.status < 300


def invoke(
    runtime: SageMakerRuntimeClient, endpoint_name: str, target_model: str | None, body: bytes, content_type: str
) -> Invocation:
    """One ``InvokeEndpoint``, with ``TargetModel`` on an MME (the SDK retries only transient service errors)."""
    started = time.monotonic()
    target = {"TargetModel": target_model} if target_model else {}
    try:
        response = runtime.invoke_endpoint(EndpointName=endpoint_name, Body=body, ContentType=content_type, **target)
        response["Body"].read()
        status = int(response["ResponseMetadata"]["HTTPStatusCode"])
        return Invocation(status=status, seconds=time.monotonic() - started)
    except (ReadTimeoutError, ConnectTimeoutError) as exc:
        return Invocation(status=0, seconds=time.monotonic() - started, message=str(exc), timed_out=True)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raw: dict[str, Any] = dict(exc.response)
        original = raw.get("OriginalStatusCode")
        return Invocation(
            status=int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0),
            seconds=time.monotonic() - started,
            error_code=str(error.get("Code") or "Unknown"),
            message=str(error.get("Message") or raw.get("Message") or ""),
            original_status=int(original) if original is not None else None,
            original_message=raw.get("OriginalMessage"),
            log_stream_arn=raw.get("LogStreamArn"),
        )
