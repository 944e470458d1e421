"""Where the policies that decide a request live in moto's backends.

Identity-based policies (https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_identity-vs-resource.html):
a user's inline and attached managed policies and those of its groups; a role's inline policies, attached managed
policies and the ``ManagedPolicyArns`` of its CloudFormation resource (which moto's ``AWS::IAM::Role`` drops: recorded
here by :func:`patch_cloudformation_roles`); an AWS managed policy (``arn:aws:iam::aws:policy/...``, e.g.
``service-role/AWSLambdaBasicExecutionRole`` that SAM attaches) is read from moto's copy of AWS's managed policies
even when moto does not load them into the account. A role session's session policy
(https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session) is returned apart.

Resource-based policies, by the resource ARN: S3 bucket policies, SQS queue policies, SNS topic policies, KMS key
policies, SageMaker model package group policies (model packages of the group included), a role's trust policy
(for ``sts:AssumeRole``); and the account that owns the resource.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from moto.iam.models import iam_backends

_MANAGED_ATTR = "_modelrelay_managed_policy_arns"


@functools.cache
def _aws_managed() -> dict[str, Any]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    data: dict[str, Any] = json.loads(aws_managed_policies_data)
    return data


def managed_policy_document(account: str, arn: str) -> Any | None:
    backend = iam_backends[account]["aws"]
    policy = backend.managed_policies.get(arn)
    if policy is not None:
        for version in policy.versions:
            if version.is_default:
                return version.document
    if ":iam::aws:policy/" in arn:
        data = _aws_managed().get(arn.split("/")[-1])
        if data:
            return data["Document"]
    return None


def identity_policies(principal: Any) -> list[Any]:
    """Every identity-based policy document of the principal (users and roles)."""
    backend = iam_backends[principal.account]["aws"]
    documents: list[Any] = []
    if principal.kind == "user":
        try:
            user = backend.get_user(principal.name)
        except Exception:  # noqa: BLE001
            return []
        documents += list(user.policies.values())
        documents += [managed_policy_document(principal.account, arn) for arn in user.managed_policies]
        for group in backend.get_groups_for_user(principal.name):
            documents += list(group.policies.values())
            documents += [managed_policy_document(principal.account, arn) for arn in group.managed_policies]
    elif principal.role_arn:
        role = role_by_arn(principal.role_arn)
        if role is None:
            return []
        documents += list(role.policies.values())
        documents += [managed_policy_document(principal.account, arn) for arn in role.managed_policies]
        documents += [
            managed_policy_document(principal.account, arn)
            for arn in getattr(role, _MANAGED_ATTR, ())
            if arn not in role.managed_policies
        ]
    return [d for d in documents if d]


def role_by_arn(role_arn: str) -> Any | None:
    account = role_arn.split(":")[4]
    if account not in iam_backends:
        return None
    backend = iam_backends[account]["aws"]
    name = role_arn.split("/")[-1]
    for role in list(backend.roles.values()):
        if role.name == name:
            return role
    return None


def patch_cloudformation_roles() -> None:
    """Keep ``ManagedPolicyArns`` of ``AWS::IAM::Role`` (moto's CloudFormation model ignores them)."""
    from moto.iam.models import Role

    original = Role.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    if getattr(original, "__modelrelay_iam__", False):
        return

    def create(
        cls: Any,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        role = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        arns = cloudformation_json.get("Properties", {}).get("ManagedPolicyArns") or []
        setattr(role, _MANAGED_ATTR, [str(a) for a in arns])
        return role

    create.__modelrelay_iam__ = True  # type: ignore[attr-defined]
    Role.create_from_cloudformation_json = classmethod(create)  # type: ignore[method-assign,assignment]


# ------------------------------------------------------------------ resource-based policies


def _s3_bucket(name: str) -> Any | None:
    from moto.s3.models import s3_backends

    for account in list(s3_backends.keys()):
        bucket = s3_backends[account]["aws"].buckets.get(name)
        if bucket is not None:
            return bucket
    return None


def resource_owner_and_policy(resource: str, action: str) -> tuple[str | None, Any | None]:
    """(account owning the resource, its resource-based policy document or None). Unknown: (ARN's account, None)."""
    if resource == "*" or not resource.startswith("arn:"):
        return None, None
    parts = resource.split(":", 5)
    service, region, account, rest = parts[2], parts[3], parts[4], parts[5]
    try:
        if service == "s3":
            bucket = _s3_bucket(rest.split("/")[0])
            if bucket is None:
                return None, None
            return bucket.account_id, bucket.policy
        if service == "iam" and rest.startswith("role/") and action == "sts:AssumeRole":
            role = role_by_arn(resource)
            return account, role.assume_role_policy_document if role else None
        if service == "sqs":
            from moto.sqs.models import sqs_backends

            queue = sqs_backends[account][region].queues.get(rest)
            return account, getattr(queue, "policy", None) if queue else None
        if service == "sns":
            from moto.sns.models import sns_backends

            topic = sns_backends[account][region].topics.get(resource)
            return account, getattr(topic, "_policy_json", None) if topic else None
        if service == "kms" and rest.startswith("key/"):
            from moto.kms.models import kms_backends

            key = kms_backends[account][region].keys.get(rest.split("/", 1)[1])
            return account, getattr(key, "policy", None) if key else None
        if service == "sagemaker" and rest.startswith(("model-package-group/", "model-package/")):
            from moto.sagemaker.models import sagemaker_backends

            group_name = rest.split("/")[1]
            backend = sagemaker_backends[account][region]
            for group in backend.model_package_groups.values():
                if group.model_package_group_name.lower() == group_name.lower():
                    return account, getattr(group, "resource_policy", None)
            return account, None
    except Exception:  # noqa: BLE001 - a resource moto does not have: no resource policy
        return account or None, None
    return account or None, None
