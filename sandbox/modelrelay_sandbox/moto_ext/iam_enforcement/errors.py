"""The errors AWS answers a refused request with, in each protocol's shape.

Follows https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html (the message: "User: <principal
ARN> is not authorized to perform: <action> on resource: <ARN> because no identity-based policy allows the <action>
action", "... with an explicit deny in an identity-based policy", "... because no resource-based policy allows ...")
and the services' common errors (https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html and each JSON
service's ``UnrecognizedClientException`` / ``AccessDeniedException``; S3:
https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html ``AccessDenied``, ``InvalidAccessKeyId``,
``SignatureDoesNotMatch``):

* query protocol (IAM, STS, SNS, CloudWatch, SQS query): XML ``ErrorResponse``, ``AccessDenied`` 403,
  ``InvalidClientTokenId`` 403, ``SignatureDoesNotMatch`` 403;
* JSON protocols (DynamoDB, SageMaker, EventBridge, Step Functions, Logs, KMS, SQS JSON, Lambda):
  ``{"__type": ..., "message": ...}``, ``AccessDeniedException`` (400; Lambda 403), ``UnrecognizedClientException``
  400 ("The security token included in the request is invalid."), ``InvalidSignatureException`` 400 (Lambda and
  SQS: ``SignatureDoesNotMatch`` 403);
* S3: XML ``Error``, ``AccessDenied`` 403, ``InvalidAccessKeyId`` 403, ``SignatureDoesNotMatch`` 403.
"""

from __future__ import annotations

from moto.core.exceptions import JsonRESTError, _RESTError

_JSON_PROTOCOLS = ("json", "rest-json")


class QueryError(_RESTError):
    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(code, message)
        self.code = status


class JsonError(JsonRESTError):
    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(code, message)
        self.code = status


def _error(protocol: str, code: str, message: str, status: int) -> Exception:
    if protocol in _JSON_PROTOCOLS:
        return JsonError(code, message, status)
    return QueryError(code, message, status)


def access_denied_message(principal_arn: str, action: str, resource: str, reason: str) -> str:
    return f"User: {principal_arn} is not authorized to perform: {action} on resource: {resource} {reason}"


def access_denied(service: str, protocol: str, message: str) -> Exception:
    if service == "s3":
        from moto.s3.exceptions import S3AccessDeniedError

        return S3AccessDeniedError()
    if protocol in _JSON_PROTOCOLS:
        return JsonError("AccessDeniedException", message, 403 if service == "lambda" else 400)
    return QueryError("AccessDenied", message, 403)


def unknown_key(service: str, protocol: str, token_invalid: bool = False) -> Exception:
    if service == "s3":
        from moto.s3.exceptions import S3InvalidAccessKeyIdError, S3InvalidTokenError

        return S3InvalidTokenError() if token_invalid else S3InvalidAccessKeyIdError()
    if protocol in _JSON_PROTOCOLS:
        return JsonError(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
            403 if service == "lambda" else 400,
        )
    return QueryError("InvalidClientTokenId", "The security token included in the request is invalid.", 403)


_SIGNATURE_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access "
    "Key and signing method. Consult the service documentation for details."
)


def bad_signature(service: str, protocol: str) -> Exception:
    if service == "s3":
        from moto.s3.exceptions import S3SignatureDoesNotMatchError

        return S3SignatureDoesNotMatchError()
    if protocol in _JSON_PROTOCOLS and service not in ("lambda", "sqs"):
        return JsonError("InvalidSignatureException", _SIGNATURE_MESSAGE, 400)
    if protocol in _JSON_PROTOCOLS:
        return JsonError("SignatureDoesNotMatch", _SIGNATURE_MESSAGE, 403)
    return QueryError("SignatureDoesNotMatch", _SIGNATURE_MESSAGE, 403)


def missing_authentication(service: str, protocol: str) -> Exception:
    if service == "s3":
        from moto.s3.exceptions import S3AccessDeniedError

        return S3AccessDeniedError()
    if protocol in _JSON_PROTOCOLS:
        return JsonError("MissingAuthenticationTokenException", "Missing Authentication Token", 400)
    return QueryError("MissingAuthenticationToken", "Request is missing Authentication Token", 403)
