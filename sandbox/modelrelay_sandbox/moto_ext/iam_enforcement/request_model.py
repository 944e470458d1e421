"""What a request to the sandbox asks: the service, the operation and its parameters, parsed with botocore's model.

The operation is found as the SDKs address it (https://smithy.io/2.0/aws/protocols/index.html): the ``Action``
query parameter (query protocol: IAM, STS, SNS, SQS-query, CloudWatch), the ``X-Amz-Target`` header (JSON
protocol: DynamoDB, SageMaker, EventBridge, Step Functions, CloudWatch Logs, KMS, SQS-json), or the method and
URI matched against the model's ``requestUri`` (REST protocols: Lambda, SageMaker Runtime, S3). Parameters are
parsed by moto's botocore-model parsers, so they have the names of the API reference (``RoleArn``,
``ModelPackageGroupName``...).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)
_model_lock = threading.Lock()

# moto's response service name -> the botocore service whose model describes its requests
_BOTO_NAME = {"awslambda": "lambda", "sagemaker-runtime": "sagemaker-runtime", "sagemakerruntime": "sagemaker-runtime"}


@dataclass
class ParsedRequest:
    service: str  # botocore service name: s3, sagemaker, sagemaker-runtime, lambda, dynamodb...
    operation: str  # API operation name: PutObject, CreateModelPackage...
    params: dict[str, Any] = field(default_factory=dict)
    region: str = "us-east-1"
    protocol: str = "json"


@functools.cache
def _router(service: str) -> Any:
    from moto.core.routing import get_service_router

    return get_service_router(service)


@functools.cache
def _service_model(service: str) -> Any:
    from moto.core.utils import get_service_model

    # One load per service: without the lock, a burst's first requests each load the same model (SageMaker's is
    # megabytes of JSON) at once, since a cache does not hold back concurrent misses.
    with _model_lock:
        return get_service_model(service)


def _plain(value: Any) -> Any:
    if hasattr(value, "original_dict"):
        value = value.original_dict()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def parse(response: Any, signing_service: str, region: str) -> ParsedRequest:
    """Service, operation and parameters of the request ``response`` (a moto BaseResponse) is serving."""
    service = _BOTO_NAME.get(response.boto3_service_name, response.boto3_service_name)
    if service == "sagemaker" and signing_service == "sagemaker" and "/endpoints/" in response.normalized_request.path:
        service = "sagemaker-runtime"
    model = _service_model(service)
    protocol = model.protocol
    request = response.normalized_request
    operation = ""
    uri_params: dict[str, Any] = {}
    if protocol in ("rest-json", "rest-xml"):
        try:
            op_model, uri_params = _router(service).match(request)
            operation = op_model.name
        except Exception:  # noqa: BLE001 - an unroutable request: authorised as its moto action
            operation = ""
    if not operation:
        action = response.querystring.get("Action")
        if isinstance(action, list):
            action = action[0]
        target = response.headers.get("X-Amz-Target") or ""
        operation = action or (target.split(".")[-1] if target else "") or ""
    params: dict[str, Any] = {}
    if operation:
        params = _parse_params(response, service, operation, protocol, uri_params)
    return ParsedRequest(service=service, operation=operation, params=params, region=region, protocol=protocol)


def _parse_params(
    response: Any, service: str, operation: str, protocol: str, uri_params: dict[str, Any]
) -> dict[str, Any]:
    from moto.core.parse import PROTOCOL_PARSERS
    from moto.core.request import determine_request_protocol

    request = response.normalized_request
    try:
        model = _service_model(service)
        op_model = model.operation_model(operation)
        request_protocol = determine_request_protocol(model, request.content_type)
        parser = PROTOCOL_PARSERS[request_protocol](op_model, map_type=dict)
        parsed = parser.parse(
            {
                "method": request.method,
                "values": request.values,
                "headers": request.headers,
                "body": request.data,
                "url_path": request.path,
                "url_params": uri_params,
            }
        )
        result: dict[str, Any] = _plain(parsed)
        return result
    except Exception as exc:  # noqa: BLE001 - fall back to what the body says
        log.debug("iam_enforcement: cannot parse %s.%s: %r", service, operation, exc)
    params: dict[str, Any] = dict(uri_params)
    if protocol == "json":
        with contextlib.suppress(ValueError, TypeError):
            params |= json.loads(response.body or "{}")
    else:
        params |= {k: v[0] if isinstance(v, list) and len(v) == 1 else v for k, v in response.querystring.items()}
    return params
