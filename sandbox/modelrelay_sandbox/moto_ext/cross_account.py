"""Cross-account reads and deliveries as AWS allows them: by the owner's resource policy, and only then.

AWS behaviour supplied here (ModelRelay's pull mode: the hub reads the spokes' registries, the spokes forward their
events to the hub's bus), and why moto 5.2.5 lacks it:

* **DescribeModelPackage of another account's package** (by ARN): SageMaker answers it when the package's group has
  a resource policy (``PutModelPackageGroupPolicy``) allowing the caller's account that action on the package, and
  ``AccessDeniedException`` otherwise. moto looks the ARN up in the caller's own account and answers "not found".
* **CreateModel from another account's model package** (a container's ``ModelPackageName`` is an ARN of another
  account): SageMaker builds the model only when that package's group resource policy allows the caller's account
  ``sagemaker:DescribeModelPackage`` on the package ("Cross-account discoverability", Accessibility:
  https://docs.aws.amazon.com/sagemaker/latest/dg/model-registry-ram.html — a consumer "can register or deploy a
  model package from a different account if they have the necessary permissions"; the owner grants them with
  ``PutModelPackageGroupPolicy`` allowing ``sagemaker:DescribeModelPackage`` on
  ``arn:aws:sagemaker:<region>:<owner>:model-package/<group>/*``,
  https://docs.aws.amazon.com/sagemaker/latest/dg/model-registry-ram-discover.html). The error CreateModel returns
  then is not documented: it is answered here as the cross-account DescribeModelPackage above
  (``AccessDeniedException``, the same message with ``sagemaker:DescribeModelPackage``). moto creates the model
  whatever the policy says. (The artifact read, the hub bucket's policy, is S3's: enforced by ``iam_enforcement``
  when SageMaker reads it, not here.)
* **A rule forwarding to another account's event bus**: EventBridge delivers only when the target bus's resource
  policy (``PutPermission``/``PutPolicy``, ``AWS::Events::EventBusPolicy``) allows the sending account (or the rule
  target's role) ``events:PutEvents`` on it; otherwise the delivery fails with ``NO_PERMISSIONS``, which is not
  retried (the event goes to the target's dead-letter queue). moto forwards whatever the policy says.

Policy evaluation here is a resource policy's, small and explicit: ``Allow`` statements whose ``Action`` matches
(``*`` wildcards), whose ``Resource`` matches, and whose ``Principal`` is ``*``, the account id, the account's
``root`` ARN or (bus targets) the target role's ARN; an explicit ``Deny`` that matches wins. A statement with a
``Condition`` is honoured for ``aws:PrincipalAccount`` (StringEquals); any other condition key (for instance
``aws:PrincipalOrgID``: the sandbox has no organization) makes the statement not apply. The callers' own IAM
policies are not evaluated here.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.sagemaker.models import SageMakerModelBackend, sagemaker_backends

_applied = False


class AccessDenied(JsonRESTError):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("AccessDeniedException", message)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _principal_matches(principal: Any, account: str, principal_arns: tuple[str, ...]) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    names = {account, f"arn:aws:iam::{account}:root", *principal_arns}
    return any(p == "*" or p in names for p in _as_list(principal.get("AWS", [])))


def _conditions_hold(condition: dict[str, Any] | None, account: str) -> bool:
    for operator, keys in (condition or {}).items():
        for key, expected in keys.items():
            if operator != "StringEquals" or key != "aws:PrincipalAccount":
                return False  # not evaluated here: the statement does not apply
            if account not in _as_list(expected):
                return False
    return True


def allowed(
    policy: str | dict[str, Any] | None,
    *,
    account: str,
    action: str,
    resource: str,
    principal_arns: tuple[str, ...] = (),
) -> bool:
    """Whether a resource policy lets ``account`` (or one of ``principal_arns`` in it) do ``action`` on
    ``resource``."""
    if not policy:
        return False
    document = json.loads(policy) if isinstance(policy, str) else policy
    verdict = False
    for statement in _as_list(document.get("Statement", [])):
        if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in _as_list(statement.get("Action", []))):
            continue
        if not any(fnmatch.fnmatchcase(resource, r) for r in _as_list(statement.get("Resource", "*"))):
            continue
        if not _principal_matches(statement.get("Principal"), account, principal_arns):
            continue
        if not _conditions_hold(statement.get("Condition"), account):
            continue
        if statement.get("Effect") == "Deny":
            return False
        verdict = verdict or statement.get("Effect") == "Allow"
    return verdict


# ------------------------------------------------------------------ SageMaker


def _describe_model_package(original: Any) -> Any:
    def describe_model_package(self: SageMakerModelBackend, model_package_name: str) -> Any:
        parts = model_package_name.split(":")
        if len(parts) < 6 or parts[2] != "sagemaker" or parts[4] == self.account_id:
            return original(self, model_package_name)
        owner = sagemaker_backends[parts[4]][parts[3]]
        package = original(owner, model_package_name)  # the owner's "not found" when it has no such package
        group = owner.model_package_groups.get(package.model_package_group_name)
        policy = getattr(group, "resource_policy", None)
        if not allowed(policy, account=self.account_id, action="sagemaker:DescribeModelPackage", resource=package.arn):
            raise AccessDenied(
                f"User: arn:aws:iam::{self.account_id}:root is not authorized to perform: "
                f"sagemaker:DescribeModelPackage on resource: {package.arn} because no resource-based policy "
                "allows the sagemaker:DescribeModelPackage action"
            )
        return package

    return describe_model_package


def check_package_access(backend: SageMakerModelBackend, package_arn: str) -> None:
    """Raise what SageMaker answers when ``backend``'s account uses another account's package (by ARN) whose group
    policy does not allow it ``sagemaker:DescribeModelPackage``; a package of its own account is not checked here."""
    parts = package_arn.split(":")
    if len(parts) < 6 or parts[2] != "sagemaker" or parts[4] == backend.account_id:
        return
    backend.describe_model_package(package_arn)  # the patched describe: the owner's policy, or AccessDenied


def _create_model(original: Any) -> Any:
    def create_model(self: SageMakerModelBackend, **kwargs: Any) -> Any:  # moto's response calls it by keyword
        for container in [kwargs.get("primary_container") or {}, *(kwargs.get("containers") or [])]:
            if container.get("ModelPackageName"):
                check_package_access(self, container["ModelPackageName"])
        return original(self, **kwargs)

    return create_model


# ----------------------------------------------------------------- EventBridge


def check_bus_delivery(rule: Any, target: dict[str, Any], bus: Any) -> None:
    """Raise the EventBridge NO_PERMISSIONS delivery error unless ``bus`` (in another account than ``rule``) lets the
    rule's account, or the target's role, put events on it."""
    bus_account = bus.arn.split(":")[4]
    if bus_account == rule.account_id:
        return
    role = target.get("RoleArn")
    if not allowed(
        bus.policy,
        account=rule.account_id,
        action="events:PutEvents",
        resource=bus.arn,
        principal_arns=(role,) if role else (),
    ):
        from .eventbridge_targets import DeliveryError

        raise DeliveryError(
            "NO_PERMISSIONS",
            f"Account {rule.account_id} is not authorized to perform events:PutEvents on {bus.arn}: the event bus's "
            "resource policy does not allow it",
            False,
        )


def apply() -> None:
    """Install the cross-account patches (idempotent)."""
    global _applied
    if _applied:
        return
    SageMakerModelBackend.describe_model_package = _describe_model_package(  # type: ignore[method-assign]
        SageMakerModelBackend.describe_model_package
    )
    SageMakerModelBackend.create_model = _create_model(SageMakerModelBackend.create_model)  # type: ignore[method-assign]
    _applied = True
