"""ModelRelay's own state: one DynamoDB table (single-table design, partition key ``pk``), one codec.

Every record kind lives here, and no other module calls DynamoDB:

- ``package#<arn>`` (**claim**): the approval transition a promotion claimed, so a duplicate delivery, a late
  event or ModelRelay's own metadata write on the package never starts a second promotion. Drops use
  ``package#ingest:<s3 uri>`` with the object version as the "status".
- ``pointer#<endpoint>#<model>`` (**pointer**): the current TargetModel of an MME model and the previous ones
  (newest first), so a rollback is one pointer move. Clients read it with one ``GetItem``.
- ``lease#<endpoint>`` (**lease**): the one promotion allowed to roll a real-time endpoint, with an expiry.
- ``icserving#<endpoint>#<component>``: the same for one inference component (its model, winners kept).
- ``serving#<endpoint>`` (**serving**): what won the last rollout of a real-time endpoint and the previous
  winners (a rollback's candidates).
- ``hubpackage#<provenance id>`` (**hub package**): the hub package a source package and its exact bytes became,
  and the execution that created it (found in one read, never by listing the registry).
- ``droppackage#<provenance id>`` (**drop package**): the package a dropped object version became (held by the
  ingest request that creates it, then its ARN): a re-delivered drop is found in one read, never by listing its group.
- ``gate#<execution>`` (**gate**): the task token of a staged promotion's waiting manual gate, the stage it waits
  for and its deadline; ``gatepackage#<package arn>`` names that execution for the package an approver may set the
  registry stage of. ``<account>:`` scopes a stage account's pointer, lease and serving records.
- ``hubobject#<hub uri>`` (**hub object users**): the hub packages (and registering executions) that use a
  content-addressed hub object; compensation deletes an object only when nobody uses it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from modelrelay.errors import EndpointLeaseBusy, NothingToRollBack, PointerConflict
from modelrelay.steps import ServingRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
else:
    DynamoDBClient = Any

POINTER_HISTORY = 10
STALE_CLAIM_SECONDS = 13 * 3600  # longer than the state machine's own timeout (12 h)


# ---------- codec: plain JSON-like values <-> DynamoDB attribute values ----------
def encode(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, dict):
        return {"M": {k: encode(v) for k, v in value.items()}}
    if isinstance(value, list):
        return {"L": [encode(v) for v in value]}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    return {"S": str(value)}


def decode(attribute: dict[str, Any]) -> Any:
    ((kind, value),) = attribute.items()
    if kind == "M":
        return {k: decode(v) for k, v in value.items()}
    if kind == "L":
        return [decode(v) for v in value]
    if kind == "N":
        return int(value)
    if kind == "NULL":
        return None
    return value


def _item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: encode(v) for k, v in values.items()}


def _conditional_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


@dataclass(frozen=True)
class Store:
    """The state table, through one client."""

    dynamodb: DynamoDBClient
    table: str
    # Endpoint records (pointers, leases, serving) of a stage's account are kept apart: "<account>:" before the
    # endpoint name (the same endpoint name in staging and production is two endpoints).
    scope: str = ""

    def scoped(self, account: str) -> Store:
        """This store for the endpoints of ``account`` (a staged route's stage)."""
        return Store(self.dynamodb, self.table, f"{account}:")

    def _get(self, pk: str) -> dict[str, Any] | None:
        response = self.dynamodb.get_item(TableName=self.table, Key={"pk": encode(pk)}, ConsistentRead=True)
        item: dict[str, Any] = dict(response.get("Item") or {})
        return {k: decode(v) for k, v in item.items()} if item else None

    def _conditional(self, call: Callable[..., Any], **params: Any) -> bool:
        """Run a conditional write; False when its condition did not hold (any other error raises)."""
        try:
            call(TableName=self.table, **params)
        except ClientError as error:
            if _conditional_failed(error):
                return False
            raise
        return True

    # ---------- claims ----------
    def claim_transition(
        self,
        package_arn: str,
        status: str,
        execution: str,
        *,
        force: bool = False,
        now: float | None = None,
        stale_after: int = STALE_CLAIM_SECONDS,
    ) -> Claim:
        """Claim the handling of ``package_arn`` reaching ``status``; exactly one execution gets it.

        A claim whose holder never closed it (crashed) can be taken over after ``stale_after`` seconds;
        ``force`` (an operator's re-run) takes it over at once.
        """
        now = time.time() if now is None else now
        item = _item(
            {
                "pk": f"package#{package_arn}",
                "approval_status": status,
                "execution": execution,
                "outcome": "InProgress",
                "claimed_at": int(now),
            }
        )
        condition: dict[str, Any] = {}
        if not force:
            condition = {
                "ConditionExpression": "attribute_not_exists(pk) OR approval_status <> :status OR "
                "execution = :execution OR (outcome = :in_progress AND claimed_at < :stale)",
                "ExpressionAttributeValues": _item(
                    {
                        ":status": status,
                        ":execution": execution,
                        ":in_progress": "InProgress",
                        ":stale": int(now - stale_after),
                    }
                ),
            }
        if self._conditional(self.dynamodb.put_item, Item=item, **condition):
            return Claim(True, f"claimed {status} for {package_arn}")
        current = self._get(f"package#{package_arn}") or {}
        return Claim(
            False,
            f"approval status {status} of this package was already handled by execution "
            f"{current.get('execution')} (outcome: {current.get('outcome')}); nothing changed since",
        )

    def close_claim(self, package_arn: str, execution: str, outcome: str, detail: str) -> None:
        """Close the claim this execution holds (a claim taken over by another execution is left alone)."""
        self._conditional(
            self.dynamodb.update_item,
            Key={"pk": encode(f"package#{package_arn}")},
            UpdateExpression="SET outcome = :outcome, outcome_detail = :detail, closed_at = :now",
            ConditionExpression="execution = :execution",
            ExpressionAttributeValues=_item(
                {":outcome": outcome, ":detail": detail[:1000], ":execution": execution, ":now": int(time.time())}
            ),
        )

    def extend_claim(self, package_arn: str, execution: str, until: int) -> None:
        """Keep this execution's claim fresh until ``until`` (a staged promotion waiting at a manual gate may wait
        longer than a claim stays fresh): it counts as claimed then."""
        self._conditional(
            self.dynamodb.update_item,
            Key={"pk": encode(f"package#{package_arn}")},
            UpdateExpression="SET claimed_at = :until",
            ConditionExpression="execution = :execution AND outcome = :in_progress",
            ExpressionAttributeValues=_item({":until": until, ":execution": execution, ":in_progress": "InProgress"}),
        )

    def abandon_claim(self, package_arn: str, execution: str) -> None:
        """Make this execution's unfinished claim stale at once, so a re-delivery or re-drive can take it over."""
        self._conditional(
            self.dynamodb.update_item,
            Key={"pk": encode(f"package#{package_arn}")},
            UpdateExpression="SET claimed_at = :zero",
            ConditionExpression="execution = :execution AND outcome = :in_progress",
            ExpressionAttributeValues=_item({":zero": 0, ":execution": execution, ":in_progress": "InProgress"}),
        )

    # ---------- MME TargetModel pointers ----------
    def read_pointer(self, endpoint_name: str, model_name: str) -> dict[str, Any] | None:
        return self._get(pointer_key(self.scope + endpoint_name, model_name))

    def current_target(self, endpoint_name: str, model_name: str) -> dict[str, Any]:
        """The target the pointer names now ({} when none)."""
        return dict(((self.read_pointer(endpoint_name, model_name) or {}).get("current")) or {})

    def _write_pointer(
        self,
        endpoint_name: str,
        model_name: str,
        current: dict[str, Any] | None,
        history: list[dict[str, Any]],
        existing: dict[str, Any] | None,
    ) -> None:
        revision = int((existing or {}).get("revision", 0))
        values = {":current": current, ":history": history, ":next": revision + 1}
        condition = "attribute_not_exists(pk)"
        if existing:
            condition = "revision = :revision"
            values[":revision"] = revision
        written = self._conditional(
            self.dynamodb.update_item,
            Key={"pk": encode(pointer_key(self.scope + endpoint_name, model_name))},
            UpdateExpression="SET #current = :current, history = :history, revision = :next",
            ConditionExpression=condition,
            ExpressionAttributeNames={"#current": "current"},
            ExpressionAttributeValues=_item(values),
        )
        if not written:
            raise PointerConflict(
                f"the TargetModel pointer of {model_name} on {endpoint_name} moved concurrently; retry"
            )

    def move_pointer(
        self, endpoint_name: str, model_name: str, target: dict[str, Any]
    ) -> tuple[bool, dict[str, Any] | None]:
        """Point the model at ``target`` (must hold ``target_model``); keep the previous ones for a rollback.

        Returns (moved, previous). Moving to the current target is a no-op. Optimistic concurrency on ``revision``.
        """
        existing = self.read_pointer(endpoint_name, model_name)
        previous = existing.get("current") if existing else None
        if previous and previous.get("target_model") == target["target_model"]:
            return False, previous
        history = ([previous] if previous else []) + list((existing or {}).get("history", []))
        self._write_pointer(endpoint_name, model_name, target, history[:POINTER_HISTORY], existing)
        return True, previous

    def restore_pointer(
        self, endpoint_name: str, model_name: str, is_restorable: Callable[[dict[str, Any]], bool]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Move the pointer back to the newest previous target that ``is_restorable``; returns (restored, replaced).

        The replaced target and any skipped ones leave the history: a rejected version is not a rollback target.
        """
        existing = self.read_pointer(endpoint_name, model_name)
        if not existing or not existing.get("current"):
            raise NothingToRollBack(f"{model_name} on {endpoint_name} has no TargetModel pointer yet")
        history = list(existing.get("history", []))
        index = next((i for i, candidate in enumerate(history) if is_restorable(candidate)), None)
        if index is None:
            raise NothingToRollBack(f"{model_name} on {endpoint_name} has no earlier approved version to return to")
        self._write_pointer(endpoint_name, model_name, history[index], history[index + 1 :], existing)
        return history[index], existing["current"]

    def withdraw_pointer(self, endpoint_name: str, model_name: str) -> dict[str, Any]:
        """Clear the pointer's current target (it stays first in the history): clients see no current model.

        Returns the withdrawn target ({} if there was none).
        """
        existing = self.read_pointer(endpoint_name, model_name)
        withdrawn = dict((existing or {}).get("current") or {})
        if withdrawn:
            history = [withdrawn, *(existing or {}).get("history", [])][:POINTER_HISTORY]
            self._write_pointer(endpoint_name, model_name, None, history, existing)
        return withdrawn

    # ---------- endpoint leases ----------
    def acquire_lease(self, endpoint: str, execution: str, package_arn: str, expires_at: int, now: float) -> None:
        """Take the endpoint's lease (free, expired, or already ours), or raise EndpointLeaseBusy."""
        taken = self._conditional(
            self.dynamodb.put_item,
            Item=_item(
                {
                    "pk": f"lease#{self.scope}{endpoint}",
                    "holder": execution,
                    "expires_at": expires_at,
                    "package_arn": package_arn,
                }
            ),
            ConditionExpression="attribute_not_exists(pk) OR expires_at < :now OR holder = :me",
            ExpressionAttributeValues=_item({":now": int(now), ":me": execution}),
        )
        if not taken:
            raise EndpointLeaseBusy(f"endpoint {endpoint} is being rolled by another promotion; waiting")

    def renew_lease(self, endpoint: str, execution: str, expires_at: int) -> bool:
        """Extend our lease; False if another execution holds it (ours expired)."""
        return self._conditional(
            self.dynamodb.update_item,
            Key={"pk": encode(f"lease#{self.scope}{endpoint}")},
            UpdateExpression="SET expires_at = :expires",
            ConditionExpression="holder = :me",
            ExpressionAttributeValues=_item({":expires": expires_at, ":me": execution}),
        )

    def release_lease(self, endpoint: str, execution: str) -> None:
        """Release our lease; a lease taken over after expiry is not ours to release."""
        self._conditional(
            self.dynamodb.delete_item,
            Key={"pk": encode(f"lease#{self.scope}{endpoint}")},
            ConditionExpression="holder = :me",
            ExpressionAttributeValues=_item({":me": execution}),
        )

    # ---------- what serves a real-time endpoint ----------
    def read_serving(self, endpoint: str) -> tuple[ServingRecord | None, list[ServingRecord]]:
        """(current winner, previous winners newest first) of ``endpoint``."""
        item = self._get(f"serving#{self.scope}{endpoint}")
        if not item or not item.get("config_name"):
            return None, []
        history = [ServingRecord.model_validate(old) for old in item.pop("history", []) or []]
        item.pop("pk", None)
        item.pop("baseline", None)
        return ServingRecord.model_validate(item), history

    def read_serving_baseline(self, endpoint: str) -> ServingRecord | None:
        """The endpoint config that served before ModelRelay's first rollout of ``endpoint`` (never deleted)."""
        baseline = (self._get(f"serving#{self.scope}{endpoint}") or {}).get("baseline")
        return ServingRecord.model_validate(baseline) if baseline else None

    def write_serving(
        self, endpoint: str, current: ServingRecord, history: list[ServingRecord], baseline: ServingRecord | None = None
    ) -> None:
        """Record the winner; the baseline, once recorded, is kept."""
        baseline = baseline or self.read_serving_baseline(endpoint)
        values = {"pk": f"serving#{self.scope}{endpoint}"} | current.model_dump(exclude_none=True)
        values["history"] = [old.model_dump(exclude_none=True) for old in history]
        if baseline is not None:
            values["baseline"] = baseline.model_dump(exclude_none=True)
        self.dynamodb.put_item(TableName=self.table, Item=_item(values))

    # ---------- what serves an inference component (one record per component, like serving#) ----------
    def read_component_serving(self, endpoint: str, component: str) -> tuple[ServingRecord | None, list[ServingRecord]]:
        """(current winner, previous winners newest first) of inference component ``component`` on ``endpoint``;
        ``config_name`` holds the component's name, ``model_name`` the model it serves."""
        item = self._get(f"icserving#{endpoint}#{component}")
        if not item or not item.get("config_name"):
            return None, []
        history = [ServingRecord.model_validate(old) for old in item.pop("history", []) or []]
        item.pop("pk", None)
        return ServingRecord.model_validate(item), history

    def write_component_serving(
        self, endpoint: str, component: str, current: ServingRecord, history: list[ServingRecord]
    ) -> None:
        values = {"pk": f"icserving#{endpoint}#{component}"} | current.model_dump(exclude_none=True)
        values["history"] = [old.model_dump(exclude_none=True) for old in history]
        self.dynamodb.put_item(TableName=self.table, Item=_item(values))

    # ---------- manual gates: the task token of the waiting execution ----------
    def put_gate(self, execution: str, record: dict[str, Any]) -> None:
        """Keep the token of ``execution``'s waiting gate, findable by execution and by the package whose registry
        stage an approver may set (``record["lifecycle_arn"]``)."""
        self.dynamodb.put_item(TableName=self.table, Item=_item({"pk": f"gate#{execution}", **record}))
        self.dynamodb.put_item(
            TableName=self.table,
            Item=_item({"pk": f"gatepackage#{record['lifecycle_arn']}", "execution": execution}),
        )

    def read_gate(self, execution: str) -> dict[str, Any] | None:
        return self._get(f"gate#{execution}")

    def gate_of_package(self, package_arn: str) -> dict[str, Any] | None:
        found = self._get(f"gatepackage#{package_arn}")
        return self.read_gate(str(found["execution"])) if found else None

    def delete_gate(self, execution: str) -> None:
        gate = self.read_gate(execution)
        self.dynamodb.delete_item(TableName=self.table, Key={"pk": encode(f"gate#{execution}")})
        if gate:
            self._conditional(
                self.dynamodb.delete_item,
                Key={"pk": encode(f"gatepackage#{gate['lifecycle_arn']}")},
                ConditionExpression="execution = :me",
                ExpressionAttributeValues=_item({":me": execution}),
            )

    # ---------- the hub: which package a provenance became, who uses a hub object ----------
    def claim_hub_package(self, provenance_id: str, execution: str) -> dict[str, Any]:
        """The hub package record of a provenance, created (held by ``execution``) when there is none yet.

        Holds ``execution`` (whose ClientToken creates the package) and, once created, ``package_arn``: a
        re-run finds the package it made in one read, never by listing the hub registry.
        """
        self._conditional(
            self.dynamodb.put_item,
            Item=_item({"pk": f"hubpackage#{provenance_id}", "execution": execution}),
            ConditionExpression="attribute_not_exists(pk)",
        )
        return self._get(f"hubpackage#{provenance_id}") or {}

    def record_hub_package(self, provenance_id: str, package_arn: str, execution: str) -> None:
        self.dynamodb.put_item(
            TableName=self.table,
            Item=_item({"pk": f"hubpackage#{provenance_id}", "execution": execution, "package_arn": package_arn}),
        )

    def forget_hub_package(self, provenance_id: str, execution: str) -> None:
        """Drop the record, if this execution holds it (its package was removed)."""
        self._conditional(
            self.dynamodb.delete_item,
            Key={"pk": encode(f"hubpackage#{provenance_id}")},
            ConditionExpression="execution = :me",
            ExpressionAttributeValues=_item({":me": execution}),
        )

    # ---------- drops: which package a dropped object version became ----------
    def claim_drop_package(self, provenance_id: str, request: str) -> dict[str, Any]:
        """The drop package record of a provenance, created (held by ``request``) when there is none yet."""
        self._conditional(
            self.dynamodb.put_item,
            Item=_item({"pk": f"droppackage#{provenance_id}", "execution": request}),
            ConditionExpression="attribute_not_exists(pk)",
        )
        return self._get(f"droppackage#{provenance_id}") or {}

    def record_drop_package(self, provenance_id: str, package_arn: str, request: str) -> None:
        self.dynamodb.put_item(
            TableName=self.table,
            Item=_item({"pk": f"droppackage#{provenance_id}", "execution": request, "package_arn": package_arn}),
        )

    def use_hub_object(self, hub_uri: str, user: str) -> None:
        """Record that ``user`` (a hub package ARN, or ``execution:<name>`` while registering) uses ``hub_uri``."""
        self.dynamodb.update_item(
            TableName=self.table,
            Key={"pk": encode(f"hubobject#{hub_uri}")},
            UpdateExpression="ADD #users :user",
            ExpressionAttributeNames={"#users": "users"},
            ExpressionAttributeValues={":user": {"SS": [user]}},
        )

    def release_hub_object(self, hub_uri: str, user: str) -> bool:
        """Remove ``user``; True when nobody uses ``hub_uri`` any more (its record is then gone: delete it now)."""
        self.dynamodb.update_item(
            TableName=self.table,
            Key={"pk": encode(f"hubobject#{hub_uri}")},
            UpdateExpression="DELETE #users :user",
            ExpressionAttributeNames={"#users": "users"},
            ExpressionAttributeValues={":user": {"SS": [user]}},
        )
        return self._conditional(
            self.dynamodb.delete_item,
            Key={"pk": encode(f"hubobject#{hub_uri}")},
            ConditionExpression="attribute_not_exists(#users)",
            ExpressionAttributeNames={"#users": "users"},
        )


@dataclass(frozen=True)
class Claim:
    proceed: bool
    reason: str


def pointer_key(endpoint_name: str, model_name: str) -> str:
    return f"pointer#{endpoint_name}#{model_name}"
