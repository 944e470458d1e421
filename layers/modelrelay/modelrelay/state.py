"""ModelRelay's own state, one DynamoDB table (single-table design, partition key ``pk``).

- ``package#<arn>``: the approval transition a promotion claimed, so a duplicate delivery, a late event or
  ModelRelay's own metadata write on the package never starts a second promotion.
- ``pointer#<endpoint>#<model>``: the current TargetModel of an MME model and the previous ones (newest first),
  so a rollback is one pointer move. Clients read it with one ``GetItem``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from modelrelay.errors import NothingToRollBack, PointerConflict

POINTER_HISTORY = 10
STALE_CLAIM_SECONDS = 13 * 3600  # longer than the state machine's own timeout (12 h)


def _conditional_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _s(value: str | None) -> dict[str, Any]:
    return {"S": value} if value is not None else {"NULL": True}


def _plain(attribute: dict[str, Any]) -> Any:
    (kind, value), = attribute.items()
    if kind == "M":
        return {k: _plain(v) for k, v in value.items()}
    if kind == "L":
        return [_plain(v) for v in value]
    if kind == "N":
        return int(value)
    if kind == "NULL":
        return None
    return value


def _typed(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return {"M": {k: _typed(v) for k, v in value.items()}}
    if isinstance(value, list):
        return {"L": [_typed(v) for v in value]}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    return _s(value)


@dataclass(frozen=True)
class Claim:
    proceed: bool
    reason: str


def claim_transition(
    dynamodb: Any, table: str, package_arn: str, status: str, execution: str, *, force: bool = False,
    now: float | None = None, stale_after: int = STALE_CLAIM_SECONDS,
) -> Claim:
    """Claim the handling of ``package_arn`` reaching ``status``; exactly one execution gets it.

    Also used for drops, with ``ingest:<s3 uri>`` and the object version as the "status". A claim whose holder
    never closed it (crashed) can be taken over after ``stale_after`` seconds.
    """
    now = time.time() if now is None else now
    item = {
        "pk": _s(f"package#{package_arn}"),
        "approval_status": _s(status),
        "execution": _s(execution),
        "outcome": _s("InProgress"),
        "claimed_at": {"N": str(int(now))},
    }
    condition = (
        "attribute_not_exists(pk) OR approval_status <> :status OR execution = :execution"
        " OR (outcome = :in_progress AND claimed_at < :stale)"
    )
    try:
        params: dict[str, Any] = {"TableName": table, "Item": item}
        if not force:
            params |= {
                "ConditionExpression": condition,
                "ExpressionAttributeValues": {
                    ":status": _s(status), ":execution": _s(execution), ":in_progress": _s("InProgress"),
                    ":stale": {"N": str(int(now - stale_after))},
                },
            }
        dynamodb.put_item(**params)
        return Claim(True, f"claimed {status} for {package_arn}")
    except ClientError as error:
        if not _conditional_failed(error):
            raise
    existing = dynamodb.get_item(TableName=table, Key={"pk": _s(f"package#{package_arn}")}, ConsistentRead=True)
    current = {k: _plain(v) for k, v in existing.get("Item", {}).items()}
    return Claim(
        False,
        f"approval status {status} of this package was already handled by execution {current.get('execution')} "
        f"(outcome: {current.get('outcome')}); nothing changed since",
    )


def record_outcome(dynamodb: Any, table: str, package_arn: str, execution: str, outcome: str, detail: str) -> None:
    """Close the claim this execution holds (a claim taken over by another execution is left alone)."""
    try:
        dynamodb.update_item(
            TableName=table,
            Key={"pk": _s(f"package#{package_arn}")},
            UpdateExpression="SET outcome = :outcome, outcome_detail = :detail, closed_at = :now",
            ConditionExpression="execution = :execution",
            ExpressionAttributeValues={
                ":outcome": _s(outcome), ":detail": _s(detail[:1000]), ":execution": _s(execution),
                ":now": {"N": str(int(time.time()))},
            },
        )
    except ClientError as error:
        if not _conditional_failed(error):
            raise


def abandon_claim(dynamodb: Any, table: str, package_arn: str, execution: str) -> None:
    """Make this execution's unfinished claim immediately stale, so a re-delivery or re-drive can take it over."""
    try:
        dynamodb.update_item(
            TableName=table, Key={"pk": _s(f"package#{package_arn}")},
            UpdateExpression="SET claimed_at = :zero",
            ConditionExpression="execution = :execution AND outcome = :in_progress",
            ExpressionAttributeValues={":zero": {"N": "0"}, ":execution": _s(execution),
                                       ":in_progress": _s("InProgress")},
        )
    except ClientError as error:
        if not _conditional_failed(error):
            raise


def pointer_key(endpoint_name: str, model_name: str) -> str:
    return f"pointer#{endpoint_name}#{model_name}"


def read_pointer(dynamodb: Any, table: str, endpoint_name: str, model_name: str) -> dict[str, Any] | None:
    response = dynamodb.get_item(
        TableName=table, Key={"pk": _s(pointer_key(endpoint_name, model_name))}, ConsistentRead=True
    )
    if "Item" not in response:
        return None
    return {k: _plain(v) for k, v in response["Item"].items()}


def move_pointer(
    dynamodb: Any, table: str, endpoint_name: str, model_name: str, target: dict[str, Any]
) -> tuple[bool, dict[str, Any] | None]:
    """Point the model at ``target`` (must hold ``target_model``); keep the previous ones for a rollback.

    Returns (moved, previous). Moving to the current target is a no-op. Optimistic concurrency on ``revision``.
    """
    existing = read_pointer(dynamodb, table, endpoint_name, model_name)
    previous = existing.get("current") if existing else None
    if previous and previous.get("target_model") == target["target_model"]:
        return False, previous
    history = ([previous] if previous else []) + list((existing or {}).get("history", []))
    revision = int((existing or {}).get("revision", 0))
    values = {
        ":current": _typed(target),
        ":history": _typed(history[:POINTER_HISTORY]),
        ":next": {"N": str(revision + 1)},
    }
    condition = "attribute_not_exists(pk)"
    if existing:
        condition = "revision = :revision"
        values[":revision"] = {"N": str(revision)}
    try:
        dynamodb.update_item(
            TableName=table,
            Key={"pk": _s(pointer_key(endpoint_name, model_name))},
            UpdateExpression="SET #current = :current, history = :history, revision = :next",
            ConditionExpression=condition,
            ExpressionAttributeNames={"#current": "current"},
            ExpressionAttributeValues=values,
        )
    except ClientError as error:
        if _conditional_failed(error):
            raise PointerConflict(
                f"the TargetModel pointer of {model_name} on {endpoint_name} moved concurrently; retry"
            ) from error
        raise
    return True, previous


def read_serving(dynamodb: Any, table: str, endpoint_name: str) -> dict[str, Any]:
    """What a real-time endpoint serves (package, version, config, model) and the previous winners."""
    item = dynamodb.get_item(TableName=table, Key={"pk": _s(f"serving#{endpoint_name}")},
                             ConsistentRead=True).get("Item")
    return {k: _plain(v) for k, v in item.items()} if item else {}


def restore_pointer(
    dynamodb: Any, table: str, endpoint_name: str, model_name: str, is_restorable: Callable[[dict[str, Any]], bool]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Move the pointer back to the newest previous target that ``is_restorable``; returns (restored, replaced).

    The replaced target and any skipped ones leave the history: a rejected version is not a rollback target.
    """
    existing = read_pointer(dynamodb, table, endpoint_name, model_name)
    if not existing or not existing.get("current"):
        raise NothingToRollBack(f"{model_name} on {endpoint_name} has no TargetModel pointer yet")
    history = list(existing.get("history", []))
    index = next((i for i, candidate in enumerate(history) if is_restorable(candidate)), None)
    if index is None:
        raise NothingToRollBack(f"{model_name} on {endpoint_name} has no earlier approved version to return to")
    candidate = history[index]
    try:
        dynamodb.update_item(
            TableName=table,
            Key={"pk": _s(pointer_key(endpoint_name, model_name))},
            UpdateExpression="SET #current = :current, history = :history, revision = :next",
            ConditionExpression="revision = :revision",
            ExpressionAttributeNames={"#current": "current"},
            ExpressionAttributeValues={":current": _typed(candidate), ":history": _typed(history[index + 1:]),
                                       ":next": {"N": str(int(existing["revision"]) + 1)},
                                       ":revision": {"N": str(int(existing["revision"]))}},
        )
    except ClientError as error:
        if _conditional_failed(error):
            raise PointerConflict(f"the TargetModel pointer of {model_name} moved concurrently; retry") from error
        raise
    return candidate, existing["current"]
