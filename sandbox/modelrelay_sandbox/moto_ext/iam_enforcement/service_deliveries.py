"""Deliveries a service makes on a resource's behalf, inside the emulator (no HTTP request to check).

Follows https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html and
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-identity-based.html: EventBridge delivers to a Step
Functions state machine or an API destination *as the target's* ``RoleArn`` — the role must trust
``events.amazonaws.com`` (its trust policy is evaluated with ``aws:SourceAccount`` = the rule's account and
``aws:SourceArn`` = the rule's ARN) and allow ``states:StartExecution`` on the state machine /
``events:InvokeApiDestination`` on the destination. With enforcement on, a delivery whose role is missing or does
not allow it fails as on AWS: not retried, to the target's dead-letter queue with ``ERROR_CODE``
``NO_PERMISSIONS``; each check is written to the decision log (principal: the role ARN, session
``events.amazonaws.com``).

Not checked (documented limits): EventBridge → Lambda / SNS / SQS (on AWS authorised by the function's, topic's or
queue's resource policy), EventBridge and Lambda dead-letter-queue sends made by the services themselves, S3 →
EventBridge notifications, SNS → SQS subscriptions: the emulator makes these deliveries in process and they always
succeed, as if the resource policies allowed them. Lambda functions' and state machines' own calls are checked
(they go over HTTP with their roles' credentials).
"""

from __future__ import annotations

from typing import Any

from . import decision_log
from .actions import Authorization
from .decisions import decide
from .evaluation import Principal

_MARK = "__modelrelay_iam_delivery__"


def _check(rule: Any, target: dict[str, Any], action: str) -> None:
    from .. import eventbridge_targets
    from .hook import STATE

    if not STATE.enforce:
        return
    role_arn = target.get("RoleArn")
    rule_arn = getattr(rule, "arn", "")
    account = getattr(rule, "account_id", "")
    region = getattr(rule, "region_name", "us-east-1")
    if not role_arn:
        raise eventbridge_targets.DeliveryError("NO_PERMISSIONS", f"Target {target['Arn']} has no RoleArn", False)
    service = Principal(arn="events.amazonaws.com", account=account, kind="service")
    source = {"aws:sourceaccount": [account], "aws:sourcearn": [rule_arn]}
    trust = decide(service, Authorization("sts:AssumeRole", role_arn), region, extra_context=source)
    decision_log.record(
        "Allow" if trust.allowed else "Deny",
        "events.amazonaws.com",
        "events.amazonaws.com",
        "sts:AssumeRole",
        role_arn,
        "events.deliver",
        trust.reason,
    )
    if not trust.allowed:
        raise eventbridge_targets.DeliveryError(
            "NO_PERMISSIONS", f"events.amazonaws.com cannot assume {role_arn}", False
        )
    name = role_arn.split("/")[-1]
    role = Principal(
        arn=f"arn:aws:sts::{role_arn.split(':')[4]}:assumed-role/{name}/events",
        account=role_arn.split(":")[4],
        kind="assumed-role",
        role_arn=role_arn,
        name=name,
    )
    decision = decide(role, Authorization(action, target["Arn"]), region)
    decision_log.record(
        "Allow" if decision.allowed else "Deny",
        role_arn,
        role.arn,
        action,
        target["Arn"],
        "events.deliver",
        decision.reason,
    )
    if not decision.allowed:
        raise eventbridge_targets.DeliveryError(
            "NO_PERMISSIONS",
            f"User: {role.arn} is not authorized to perform: {action} on resource: {target['Arn']} {decision.reason}",
            False,
        )


def install() -> None:
    from .. import eventbridge_targets

    states = eventbridge_targets._deliver_states
    if getattr(states, _MARK, False):
        return
    api = eventbridge_targets._deliver_api_destination

    def deliver_states(rule: Any, target: dict[str, Any], event: dict[str, Any], text: str, is_json: bool) -> None:
        _check(rule, target, "states:StartExecution")
        states(rule, target, event, text, is_json)

    def deliver_api_destination(
        rule: Any, target: dict[str, Any], event: dict[str, Any], text: str, is_json: bool
    ) -> None:
        _check(rule, target, "events:InvokeApiDestination")
        api(rule, target, event, text, is_json)

    setattr(deliver_states, _MARK, True)
    eventbridge_targets._deliver_states = deliver_states
    eventbridge_targets._deliver_api_destination = deliver_api_destination
