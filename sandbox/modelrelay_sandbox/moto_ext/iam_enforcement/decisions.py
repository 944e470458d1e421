"""Allow or deny one (principal, action, resource): AWS's policy evaluation logic.

Follows https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html and, across
accounts, https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html:

1. an explicit ``Deny`` in any applicable policy (identity, resource, session) denies;
2. within one account, an ``Allow`` in an identity-based policy or in the resource-based policy allows — a
   resource-policy statement naming the whole account (``"AWS": "<account>"`` / ``...:root``) only delegates to
   the account's identity policies, so then the identity policy must allow; a role trust policy must allow
   ``sts:AssumeRole`` in every case, and a KMS key policy must allow (or delegate to the account) every KMS action;
3. across accounts, both the caller's identity-based policy and the resource-based policy must allow;
4. a role session with a session policy is limited to what that policy also allows;
5. otherwise the request is implicitly denied.

``sts:GetCallerIdentity`` is always allowed, as on AWS. Global condition keys set for every request:
``aws:PrincipalArn`` (the role ARN for a role session), ``aws:PrincipalAccount``, ``aws:PrincipalType``,
``aws:username`` (users), ``aws:userid``, ``aws:RequestedRegion``, ``aws:CurrentTime``, ``aws:EpochTime``,
``aws:ResourceAccount`` (the account in the resource's ARN; S3 bucket ARNs carry none, so it is set only when the
ARN names one) and ``aws:SecureTransport`` = ``true``: the sandbox is plain http on 127.0.0.1, standing in for
AWS's TLS endpoints, so policies that deny insecure transport (``aws:SecureTransport: false``) do not refuse its
requests.
``aws:SourceAccount`` / ``aws:SourceArn`` are set only for deliveries a service makes on a resource's behalf
(see service_deliveries.py); ``kms:ViaService`` is never set, as the sandbox's services call KMS in process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from .actions import Authorization
from .evaluation import ALLOW, DENY, Principal, RequestContext, allowing_statements, evaluate_policy, names_account_only
from .policies import identity_policies, resource_owner_and_policy


@dataclass
class Decision:
    allowed: bool
    reason: str = ""  # the tail of AWS's AccessDenied message


def global_context(principal: Principal, region: str) -> dict[str, list[str]]:
    now = time.time()
    context = {
        "aws:principalarn": [principal.identity_arn],
        "aws:principalaccount": [principal.account],
        "aws:principaltype": [
            "AssumedRole" if principal.kind == "assumed-role" else "User" if principal.kind == "user" else "Service"
        ],
        "aws:userid": [principal.name],
        "aws:requestedregion": [region],
        "aws:currenttime": [datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")],
        "aws:epochtime": [str(int(now))],
        "aws:securetransport": ["true"],
    }
    if principal.kind == "user":
        context["aws:username"] = [principal.name]
    return context


def decide(
    principal: Principal,
    authorization: Authorization,
    region: str,
    session_policy: str | None = None,
    extra_context: dict[str, list[str]] | None = None,
) -> Decision:
    action, resource = authorization.action, authorization.resource
    if action.lower() == "sts:getcalleridentity":
        return Decision(True)
    context = global_context(principal, region) | authorization.context | (extra_context or {})
    arn_account = resource.split(":")[4] if resource.startswith("arn:") and resource.count(":") >= 5 else ""
    if arn_account.isdigit():
        context.setdefault("aws:resourceaccount", [arn_account])
    request = RequestContext(principal=principal, action=action, resource=resource, context=context)

    identity = None
    if principal.kind != "service":
        for document in identity_policies(principal):
            result = evaluate_policy(document, request)
            if result == DENY:
                return Decision(False, "with an explicit deny in an identity-based policy")
            identity = identity or result
    owner, resource_policy = resource_owner_and_policy(resource, action)
    resource_result = None
    if resource_policy:
        resource_result = evaluate_policy(resource_policy, request, resource_policy=True)
        if resource_result == DENY:
            return Decision(False, "with an explicit deny in a resource-based policy")
    if session_policy and principal.kind == "assumed-role" and evaluate_policy(session_policy, request) != ALLOW:
        return Decision(False, f"because no session policy allows the {action} action")

    # A resource-policy Allow that names this principal itself (or the public "*") suffices on its own within the
    # account; one that names only the account delegates to identity policies.
    specific = False
    if resource_result == ALLOW:
        specific = any(
            not names_account_only(s.get("Principal"), principal) or s.get("Principal") in ("*", {"AWS": "*"})
            for s in allowing_statements(resource_policy, request)
        )
    no_identity = f"because no identity-based policy allows the {action} action"
    no_resource = f"because no resource-based policy allows the {action} action"
    cross_account = owner is not None and owner != principal.account
    assume_role = action.lower() == "sts:assumerole"
    kms = action.lower().startswith("kms:") and resource.startswith("arn:") and ":key/" in resource

    if principal.kind == "service":
        return Decision(resource_result == ALLOW, "" if resource_result == ALLOW else no_resource)
    if assume_role or kms or cross_account:
        if resource_result != ALLOW:
            return Decision(False, no_resource)
        if cross_account or not specific:
            return Decision(identity == ALLOW, "" if identity == ALLOW else no_identity)
        return Decision(True)
    if identity == ALLOW or (resource_result == ALLOW and specific):
        return Decision(True)
    return Decision(False, no_identity)
