"""The hook into moto's request path: every request the server answers is authenticated and authorised first.

moto calls ``ActionAuthenticatorMixin._authenticate_and_authorize_action`` for every request: from
``BaseResponse.call_action`` for the botocore-modelled services, and from S3's handlers through
``_authenticate_and_authorize_s3_action`` (after S3 has worked out its action). moto's own checks there run only
after ``INITIAL_NO_AUTH_ACTION_COUNT`` requests and then authorise every non-S3 action on ``*`` without
Conditions. With enforcement on (:func:`modelrelay_sandbox.moto_ext.iam_enforcement.configure`) that method is
replaced by :func:`authorize_request`: authenticate (principals.py), find the operation and parameters
(request_model.py), the authorisations it needs (actions.py, s3_actions.py), decide each (decisions.py), record it
(decision_log.py), and refuse with AWS's error (errors.py). With enforcement off moto's method runs unchanged.
"""

from __future__ import annotations

import logging
from typing import Any

from moto.core.authorization import ActionAuthenticatorMixin

from . import actions, decision_log, errors, principals, s3_actions
from .decisions import decide
from .request_model import ParsedRequest, parse

log = logging.getLogger(__name__)

_ORIGINAL = ActionAuthenticatorMixin._authenticate_and_authorize_action
_MARK = "__modelrelay_iam_enforcement__"


class _State:
    enforce = False


STATE = _State()


def _s3_key(response: Any, bucket: str | None) -> str | None:
    """The object key of an S3 request, path-style (``/bucket/key``) or virtual-hosted (``bucket.host/key``)."""
    from urllib.parse import unquote

    path = unquote(response.normalized_request.path or "")
    if not bucket:
        return None
    host = (response.headers.get("host") or "").split(":")[0]
    if host.startswith(f"{bucket}."):
        key = path.lstrip("/")
    else:
        key = path.lstrip("/")
        key = key[len(bucket) :].lstrip("/") if key.startswith(bucket) else key
    return key or None


def authorize_request(response: Any, iam_request_cls: type, resource: str = "*") -> None:
    """Replacement of ``ActionAuthenticatorMixin._authenticate_and_authorize_action``."""
    if not STATE.enforce:
        _ORIGINAL(response, iam_request_cls, resource)
        return
    is_s3 = iam_request_cls.__name__ == "S3IAMRequest"
    scope = principals.credential_scope(response.headers)
    region = scope[1] if scope else "us-east-1"
    signing = scope[2] if scope else ("s3" if is_s3 else response.boto3_service_name)
    try:
        request = parse(response, signing, region)
    except Exception as exc:  # noqa: BLE001 - never crash the request on our parsing: authorise it as moto names it
        log.debug("iam_enforcement: parse failed: %r", exc)
        request = ParsedRequest(service="s3" if is_s3 else response.boto3_service_name, operation="", region=region)
    if is_s3:
        request.service = "s3"
        request.protocol = "rest-xml"
    try:
        creds = principals.authenticate(response, is_s3)
    except principals.AuthenticationError as exc:
        raise principals.error_for(exc.kind, request.service, request.protocol) from None

    account = creds.principal.account
    if is_s3:
        bucket = response.data.get("BucketName") if isinstance(response.data, dict) else None
        bucket = bucket or getattr(response, "bucket_name", None)
        moto_action = response.data.get("Action") if isinstance(response.data, dict) else None
        needed = s3_actions.authorizations(request, bucket, _s3_key(response, bucket), moto_action)
    else:
        if not request.operation:
            request.operation = str(response._get_action() or "")
        needed = actions.authorizations(request, account)
    operation = f"{request.service}.{request.operation}"
    principal = creds.principal
    for authorization in needed:
        decision = decide(principal, authorization, region, creds.session_policy)
        decision_log.record(
            "Allow" if decision.allowed else "Deny",
            principal.identity_arn,
            principal.arn,
            authorization.action,
            authorization.resource,
            operation,
            decision.reason,
        )
        if not decision.allowed:
            message = errors.access_denied_message(
                principal.arn, authorization.action, authorization.resource, decision.reason
            )
            log.info("iam_enforcement: DENY %s", message)
            raise errors.access_denied(request.service, request.protocol, message)


def install() -> None:
    if getattr(ActionAuthenticatorMixin._authenticate_and_authorize_action, _MARK, False):
        return
    setattr(authorize_request, _MARK, True)
    ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize_request  # type: ignore[assignment,method-assign]
