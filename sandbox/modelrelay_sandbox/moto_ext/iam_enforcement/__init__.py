"""IAM enforced in the sandbox: every request authenticated and authorised as AWS would, with real resource ARNs.

moto's enforcement mode (``moto/core/authorization.py`` + ``moto/iam/access_control.py``, switched on by
``INITIAL_NO_AUTH_ACTION_COUNT``) authenticates keys and checks actions, but for every service but S3 on resource
``*``, with no Conditions but a trust policy's, no resource-based policies, no cross-account rule, and the same
error shape for every protocol. This package replaces its check (one module per concern):

* ``hook`` — the entry in moto's request path (``ActionAuthenticatorMixin._authenticate_and_authorize_action``,
  reached by ``BaseResponse.call_action`` and S3's handlers);
* ``principals`` — SigV4 authentication: IAM user keys and STS session keys (with their token), signature check;
* ``request_model`` — the operation and its parameters, parsed with botocore's service model;
* ``actions`` / ``s3_actions`` — the IAM action(s), the resource ARN(s) (SageMaker's lower-cased names, model
  package versions, tables, topics, queues, buses and rules, state machines, alarms, roles, keys, functions...),
  condition keys (``s3:prefix``, ``sts:ExternalId``, ``dynamodb:LeadingKeys``...) and ``iam:PassRole`` with
  ``iam:PassedToService`` for requests that pass a role;
* ``evaluation`` — the policy language: Action/NotAction, Resource/NotResource, Principal, wildcards, variables,
  condition operators with ``IfExists``, ``Null``, ``ForAnyValue:``/``ForAllValues:``;
* ``policies`` — identity policies (inline, attached, AWS managed, CloudFormation ``ManagedPolicyArns``) and
  resource policies (bucket, queue, topic, key, model package group, role trust);
* ``decisions`` — the evaluation logic: explicit deny, allow, cross-account needs both sides, session policies;
* ``errors`` — AWS's refusal in each protocol's shape, with AWS's AccessDenied message;
* ``decision_log`` — JSON lines of every decision (principal, action, resource) for granted-vs-used checks;
* ``service_deliveries`` — EventBridge → Step Functions / API destinations act as the target's role.

Switch: ``configure(enforce=True, log_path=...)`` after ``apply()`` (installed by ``moto_ext.apply_all``; off by
default here: moto's own behaviour, any key accepted). The sandbox (``modelrelay_sandbox.environment``) turns it on
unless env ``MODELRELAY_SANDBOX_IAM`` is ``off``, after creating an administrator user in each account whose keys
its own bootstrap and the test clients use (:func:`create_admin`).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from . import decision_log, hook, policies, service_deliveries

ENV = "MODELRELAY_SANDBOX_IAM"
LOG_ENV = "MODELRELAY_SANDBOX_IAM_LOG"
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}

_lock = threading.Lock()


def apply() -> None:
    """Install the hook and the patches it needs (idempotent); enforcement stays as configured (off by default)."""
    with _lock:
        hook.install()
        policies.patch_cloudformation_roles()
        service_deliveries.install()


def configure(enforce: bool, log_path: Path | str | None = None) -> None:
    """Turn enforcement on or off; ``log_path`` is the decision log (None: no log; env
    ``MODELRELAY_SANDBOX_IAM_LOG`` overrides it)."""
    apply()
    hook.STATE.enforce = enforce
    decision_log.configure(os.environ.get(LOG_ENV) or log_path)


def enforcing() -> bool:
    return hook.STATE.enforce


def requested_by_env() -> bool:
    """Whether the sandbox enforces IAM: yes unless env ``MODELRELAY_SANDBOX_IAM`` is ``off`` (``enforce``, the
    default, or unset: on). Any other value is an error, so a typo never silently turns enforcement off."""
    value = os.environ.get(ENV, "").strip().lower()
    if value not in ("", "enforce", "off"):
        raise ValueError(f"{ENV}={value!r}: use 'enforce' (the default) or 'off'")
    return value != "off"


def create_admin(account_id: str, user_name: str, access_key_id: str, secret_access_key: str) -> None:
    """An IAM user with ``*`` on ``*`` (inline policy) and the given access key, in ``account_id``: what the
    sandbox's bootstrap (seeding, CloudFormation deploys) and its test clients sign with. Idempotent."""
    from moto.iam.models import iam_backends

    backend = iam_backends[account_id]["aws"]
    try:
        user = backend.get_user(user_name)
    except Exception:  # noqa: BLE001 - not there yet
        user = backend.create_user(region_name="us-east-1", user_name=user_name, path="/", tags=[])
        if isinstance(user, tuple):
            user = user[0]
    backend.put_user_policy(user_name, "AdministratorAccess", json.dumps(ADMIN_POLICY))
    if access_key_id in backend.access_keys:
        return
    key = backend.create_access_key(user_name)
    del backend.access_keys[key.access_key_id]
    key.access_key_id = access_key_id
    key.secret_access_key = secret_access_key
    backend.access_keys[access_key_id] = key


__all__ = ["ENV", "LOG_ENV", "apply", "configure", "create_admin", "enforcing", "requested_by_env"]
