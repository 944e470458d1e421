"""Who sent the request: the access key of the SigV4 ``Authorization`` header, resolved and its signature checked.

Follows https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html (Signature Version 4) and
https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_use-resources.html (temporary credentials carry
``X-Amz-Security-Token``). A key is either an IAM user's (``iam:CreateAccessKey``; the sandbox's administrators are
such users) or an STS session's (``sts:AssumeRole``, including the sessions the sandbox itself opens for Lambda
execution roles and Step Functions state machine roles); moto keeps both in the IAM backend of the key's account.
Refused, as AWS refuses them: an unknown or inactive key, a session key without its token or with a wrong one, a
user key with a token, a signature that does not match (the signature is recomputed by moto's SigV4 code with the
key's secret), a request without SigV4 authentication.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from moto.iam.models import iam_backends
from moto.sts.models import sts_backends

from . import errors
from .evaluation import Principal


@dataclass
class Credentials:
    principal: Principal
    session_policy: str | None = None


class AuthenticationError(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind  # "missing" | "unknown" | "token" | "signature"


def _between(text: str, first: str, second: str) -> str:
    return text.partition(first)[2].partition(second)[0]


def credential_scope(headers: Any) -> tuple[str, str, str] | None:
    """(access key id, region, signing service) of the Authorization header, or None if it is not SigV4."""
    auth = headers.get("Authorization") or ""
    if "Credential=" not in auth:
        return None
    scope = _between(auth, "Credential=", ",").split("/")
    if len(scope) < 4:
        return None
    return scope[0], scope[2], scope[3]


def _find_key(access_key_id: str) -> tuple[str, Any] | None:
    for account_id, account in list(iam_backends.items()):
        backend = account.get("aws") if hasattr(account, "get") else None
        if backend is None:
            continue
        key = backend.access_keys.get(access_key_id)
        if key is not None:
            return account_id, key
    return None


def resolve(access_key_id: str, session_token: str | None) -> Credentials:
    """The principal owning ``access_key_id`` (raises AuthenticationError)."""
    found = _find_key(access_key_id)
    if found is None:
        raise AuthenticationError("unknown")
    account_id, key = found
    if getattr(key, "status", "Active") != "Active":
        raise AuthenticationError("unknown")
    if key.role_arn:
        for assumed in list(sts_backends[account_id]["aws"].assumed_roles):
            if assumed.access_key_id == access_key_id:
                if session_token != assumed.session_token:
                    raise AuthenticationError("token")
                role_name = assumed.role_arn.split("/")[-1]
                principal = Principal(
                    arn=f"arn:aws:sts::{account_id}:assumed-role/{role_name}/{assumed.session_name}",
                    account=account_id,
                    kind="assumed-role",
                    role_arn=assumed.role_arn,
                    name=role_name,
                )
                return Credentials(principal, assumed.policy or None)
        raise AuthenticationError("unknown")
    if session_token:
        raise AuthenticationError("token")
    user = key.user_name
    backend = iam_backends[account_id]["aws"]
    try:
        path = backend.get_user(user).path or "/"
    except Exception:  # noqa: BLE001 - the key outlived its user
        raise AuthenticationError("unknown") from None
    return Credentials(
        Principal(arn=f"arn:aws:iam::{account_id}:user{path}{user}", account=account_id, kind="user", name=user)
    )


def check_signature(response: Any, s3: bool) -> None:
    """Recompute the SigV4 signature with moto's code (raises AuthenticationError('signature'))."""
    from urllib.parse import urlparse

    from moto.iam.access_control import IAMRequest, S3IAMRequest

    cls = S3IAMRequest if s3 else IAMRequest
    parsed_url = urlparse(response.uri)
    path = response.raw_path
    if parsed_url.query:
        path += "?" + parsed_url.query
    try:
        request = cls(
            account_id=response.current_account,
            method=response.method,
            path=path,
            # moto signs ``body or data``: a form-encoded POST's body is in ``data`` (werkzeug consumed it), but
            # some services (Lambda) keep the headers in ``data``: a request without a body has none to sign.
            data=response.data
            if response.method in ("POST", "PUT")
            and isinstance(response.data, dict)
            and not any(k.lower() == "host" for k in response.data)
            else {},
            body=response.raw_body,
            headers=response.headers,
            action=response._get_action() if not s3 else "",
        )
        request.check_signature()
    except Exception as exc:  # noqa: BLE001 - moto raises its own error classes; we answer per protocol
        name = type(exc).__name__
        if "Signature" in name:
            raise AuthenticationError("signature") from None
        raise AuthenticationError("unknown") from None


def authenticate(response: Any, s3: bool) -> Credentials:
    scope = credential_scope(response.headers)
    if scope is None:
        raise AuthenticationError("missing")
    token = response.headers.get("X-Amz-Security-Token")
    creds = resolve(scope[0], token)
    check_signature(response, s3)
    return creds


def error_for(kind: str, service: str, protocol: str) -> Exception:
    if kind == "missing":
        return errors.missing_authentication(service, protocol)
    if kind == "signature":
        return errors.bad_signature(service, protocol)
    return errors.unknown_key(service, protocol, token_invalid=kind == "token")
