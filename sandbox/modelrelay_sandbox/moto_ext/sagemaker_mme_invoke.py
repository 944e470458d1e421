"""SageMaker Runtime ``InvokeEndpoint`` with ``TargetModel`` on a multi-model endpoint: the model is found and loaded.

Imitates https://docs.aws.amazon.com/sagemaker/latest/dg/invoke-multi-model-endpoint.html and
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html: ``TargetModel`` is a
path relative to the ``ModelDataUrl`` prefix of the endpoint model's ``Mode: MultiModel`` container; SageMaker
downloads that object and the container loads it. moto 5.2.5 answers every InvokeEndpoint with a canned body,
whatever the endpoint, target or artifact.

Here, a request with ``X-Amzn-SageMaker-Target-Model``:

* on an endpoint that does not exist, or whose model has no ``MultiModel`` container: ``ValidationError`` (400);
* whose artifact is not under the prefix: ``ValidationError`` (400) "Failed to download model data(bucket: …,
  key: …)", as SageMaker words it;
* whose artifact is not a gzip+tar that opens, or holds the marker member :data:`FAIL_TO_LOAD_MARKER`
  (``MODELRELAY_FAIL_TO_LOAD``, anywhere in the tar, for tests and the demo): ``ModelError`` (424) with
  ``OriginalStatusCode`` 507, ``OriginalMessage`` (the container's ``{"code", "type", "message"}``) and
  ``LogStreamArn``, the shape botocore's ``sagemaker-runtime`` model gives ``ModelError``;
* whose artifact loads but holds the marker member :data:`FAIL_TO_PREDICT_MARKER` (``MODELRELAY_FAIL_TO_PREDICT``,
  anywhere in the tar): the model loads, and every invocation answers as SageMaker does when the container's
  inference code raises (the ``ModelError`` of the InvokeEndpoint API reference above: "Model (owned by the customer
  in the container) returned 4xx or 5xx error code", HTTP 424): ``OriginalStatusCode`` 500, ``OriginalMessage`` the
  container's error JSON, ``LogStreamArn``, and the message SageMaker gives, ``Received server error (500) from
  primary with message "…". See … for more information.``;
* otherwise 200 with a small JSON body naming the target model (``x-Amzn-Invoked-Production-Variant`` set).

A request without ``TargetModel`` is moto's. Errors carry ``x-amzn-ErrorType`` (rest-json), so botocore raises
``ModelError``/``ValidationError`` with the modelled members in the response.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import threading
from typing import Any

from moto.core.common_types import TYPE_RESPONSE
from moto.s3.exceptions import MissingBucket
from moto.s3.models import s3_backends
from moto.sagemaker.models import sagemaker_backends
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

FAIL_TO_LOAD_MARKER = "MODELRELAY_FAIL_TO_LOAD"
FAIL_TO_PREDICT_MARKER = "MODELRELAY_FAIL_TO_PREDICT"
_lock = threading.Lock()
_applied = False


def _error(status: int, code: str, message: str, **members: Any) -> TYPE_RESPONSE:
    headers = {"x-amzn-ErrorType": code, "Content-Type": "application/json", "status": str(status)}
    return status, headers, json.dumps({"Message": message, "message": message, **members})


def _multi_model_prefix(account: str, region: str, endpoint_name: str) -> tuple[str | None, str | None]:
    """(s3 prefix of the MultiModel container, variant name), or (None, why not)."""
    backend = sagemaker_backends[account][region]
    endpoint = backend.endpoints.get(endpoint_name)
    if endpoint is None:
        return None, f"Endpoint {endpoint_name} of account {account} not found."
    config = backend.endpoint_configs.get(endpoint.endpoint_config_name)
    variants = getattr(config, "production_variants", None) or []
    model = backend._models.get(variants[0]["ModelName"]) if variants else None
    containers = (model.containers or [model.primary_container]) if model is not None else []
    multi = [c for c in containers if c and c.get("Mode") == "MultiModel"]
    if len(multi) != 1 or not multi[0].get("ModelDataUrl"):
        return None, f"Endpoint {endpoint_name} is not a multi-model endpoint; TargetModel is not supported."
    return str(multi[0]["ModelDataUrl"]), str(variants[0].get("VariantName") or "AllTraffic")


def _members(data: bytes) -> list[str] | str:
    """The artifact's member base names, or why the container could not extract it."""
    try:
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data)), mode="r:") as tar:
            return [name.rstrip("/").split("/")[-1] for name in tar.getnames()]
    except (OSError, EOFError, tarfile.TarError) as exc:
        return f"model archive could not be extracted: {exc}"


def _load(members: list[str] | str) -> str | None:
    """Why the container could not load the artifact, or None."""
    if isinstance(members, str):
        return members
    if FAIL_TO_LOAD_MARKER in members:
        return f"model_fn raised an exception while loading the model ({FAIL_TO_LOAD_MARKER})"
    return None


def _model_error(
    self: SageMakerRuntimeResponse, endpoint_name: str, status: int, container_error: dict[str, Any]
) -> TYPE_RESPONSE:
    """``ModelError`` (424) as SageMaker Runtime answers a container's non-2xx: its status and body quoted."""
    original = json.dumps(container_error)
    log_stream = f"arn:aws:logs:{self.region}:{self.current_account}:log-group:/aws/sagemaker/Endpoints/{endpoint_name}"
    kind = "server" if status >= 500 else "client"
    return _error(
        424,
        "ModelError",
        f'Received {kind} error ({status}) from primary with message "{original}". See {log_stream} in account '
        f"{self.current_account} for more information.",
        OriginalStatusCode=status,
        OriginalMessage=original,
        LogStreamArn=log_stream,
    )


def _invoke_target(self: SageMakerRuntimeResponse, target: str) -> TYPE_RESPONSE:
    endpoint_name = self.path.split("/")[2]
    prefix, variant = _multi_model_prefix(self.current_account, self.region, endpoint_name)
    if prefix is None:
        return _error(400, "ValidationError", str(variant))
    bucket, _, key_prefix = prefix.removeprefix("s3://").partition("/")
    key = key_prefix + target.lstrip("/")
    account = str(s3_backends.bucket_accounts.get(bucket) or self.current_account)
    try:
        stored = s3_backends[account]["global"].get_object(bucket, key)
    except MissingBucket:
        stored = None
    if stored is None:  # a missing bucket or key is SageMaker's download failure
        return _error(
            400,
            "ValidationError",
            f"Failed to download model data(bucket: {bucket}, key: {key}). Please ensure that there is an object "
            "located at the URL and that the role passed to CreateModel has permissions to download the model.",
        )
    members = _members(bytes(stored.value))
    why = _load(members)
    if why is not None:
        return _model_error(
            self,
            endpoint_name,
            507,
            {"code": 507, "type": "ModelLoadError", "message": f"Failed to load model {target}: {why}"},
        )
    if FAIL_TO_PREDICT_MARKER in members:  # loaded; its predict_fn raises on every request
        return _model_error(
            self,
            endpoint_name,
            500,
            {
                "code": 500,
                "type": "InternalServerException",
                "message": f"predict_fn raised ValueError on the request to {target} ({FAIL_TO_PREDICT_MARKER})",
            },
        )
    body = json.dumps({"target_model": target, "predictions": [0.0]})
    return 200, {"Content-Type": "application/json", "x-Amzn-Invoked-Production-Variant": str(variant)}, body


def _wrap(original: Any) -> Any:
    def invoke_endpoint(self: SageMakerRuntimeResponse) -> TYPE_RESPONSE:
        target = next((v for k, v in self.headers.items() if k.lower() == "x-amzn-sagemaker-target-model"), None)
        if not target:
            result: TYPE_RESPONSE = original(self)
            return result
        return _invoke_target(self, str(target))

    return invoke_endpoint


def apply() -> None:
    """Install the TargetModel-aware InvokeEndpoint (idempotent)."""
    global _applied
    with _lock:
        if _applied:
            return
        SageMakerRuntimeResponse.invoke_endpoint = _wrap(  # type: ignore[method-assign]
            SageMakerRuntimeResponse.invoke_endpoint
        )
        _applied = True


__all__ = ["FAIL_TO_LOAD_MARKER", "FAIL_TO_PREDICT_MARKER", "apply"]
