"""Exactly once, nothing lost: measured reliability of the real stack on the sandbox.

EventBridge delivers at least once, Step Functions and Lambda retry, operators re-drive dead letters and replay
archives, and AWS throttles. Every case here repeats, reorders, re-drives, replays or faults deliveries the way
production does, then counts every side effect exactly: model packages, hub packages, hub object versions, MME
objects, pointer moves, "Promotion Succeeded" events and notifications.

How deliveries are controlled: a rule is *withheld* (disabled) while an action happens, so its event is only
captured (an SQS-target rule on the default bus records every S3 and SageMaker event, another one every
ModelRelay event); the rule is enabled again and the test delivers the captured event itself, as many times and
in whatever order the case needs. The tests' own clients carry the ``modelrelay-test`` user agent, so fault
injection (``moto_ext.fault_injection``) never faults them. Each case uses unique artifacts (unique sha256).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from modelrelay.domain.hub import hub_group_name
from modelrelay_sandbox import environment
from modelrelay_sandbox.artifact_factory import good_artifact
from modelrelay_sandbox.environment import wait_for
from modelrelay_sandbox.moto_ext import fault_injection, wait_idle
from tests.integration.conftest import Stack, stack_settings

REPO = Path(__file__).resolve().parents[2]
MANUAL_GROUP = "housing-newyork-ny"  # MME model NewYork_NY, drops wait for a human approval
AUTO_GROUP = "housing-chicago-il"  # MME model Chicago_IL, drops are auto-approved
MODEL = {MANUAL_GROUP: "NewYork_NY", AUTO_GROUP: "Chicago_IL"}
TEST_CLIENT_CONFIG = Config(
    user_agent_extra=fault_injection.DEFAULT_EXCLUDE_USER_AGENT,
    retries={"mode": "standard", "max_attempts": 10},
    max_pool_connections=80,
)


@dataclass(frozen=True)
class Artifact:
    group: str
    key: str
    sha: str
    data: bytes

    @property
    def model(self) -> str:
        return MODEL[self.group]


def new_artifact(group: str) -> Artifact:
    data = good_artifact({"model.joblib": uuid.uuid4().bytes * 64, "code/inference.py": b"def model_fn(d): ...\n"})
    sha = hashlib.sha256(data).hexdigest()
    return Artifact(group, f"incoming/{group}/{sha[:16]}.tar.gz", sha, data)


class Harness:
    """The stack seen by a careful operator: cached clients that are never faulted, captured events, exact counts."""

    def __init__(self, stack: Stack) -> None:
        self.env = stack.env
        self.out = stack.out
        self._session = environment.session()
        self._hub_session = environment.hub_admin_session()
        self._clients: dict[tuple[str, bool], Any] = {}
        self._lock = threading.Lock()
        self.events: list[dict[str, Any]] = []  # ModelRelay's events (source "modelrelay") in arrival order
        self.inputs: list[dict[str, Any]] = []  # S3 and SageMaker events on the default bus
        self.notes: list[str] = []  # notification bodies (the SNS topic's SQS subscription)
        self._queues = {
            "events": self._capture("reliability-modelrelay-events", {"source": ["modelrelay"]}),
            "inputs": self._capture("reliability-aws-events", {"source": ["aws.s3", "aws.sagemaker"]}),
        }
        self.approval_rule = self._rule(self.out["state_machine_arn"], "SageMaker Model Package State Change")
        ingest_name = self.env.deployment.resources["IngestFunction"]
        self.ingest_arn = self.client("lambda").get_function(FunctionName=ingest_name)["Configuration"]["FunctionArn"]
        self.ingest_rule = self._rule(self.ingest_arn, "Object Created")
        self.approval_dlq, self.ingest_dlq = self.out["dead_letter_queue_urls"]

    def _rule(self, target_arn: str, detail_type: str) -> str:
        """The one rule of the default bus delivering ``detail_type`` events to ``target_arn``."""
        events = self.client("events")
        names = [
            name
            for name in events.list_rule_names_by_target(TargetArn=target_arn)["RuleNames"]
            if detail_type
            in json.loads(events.describe_rule(Name=name).get("EventPattern") or "{}").get("detail-type", [])
        ]
        assert len(names) == 1, names
        return names[0]

    def client(self, service: str, hub: bool = False) -> Any:
        with self._lock:
            if (service, hub) not in self._clients:
                session = self._hub_session if hub else self._session
                self._clients[(service, hub)] = session.client(
                    service, endpoint_url=self.env.url, config=TEST_CLIENT_CONFIG
                )
            return self._clients[(service, hub)]

    # ------------------------------------------------------------------ captured events and notifications

    def _capture(self, name: str, pattern: dict[str, Any]) -> str:
        sqs, events = self.client("sqs"), self.client("events")
        url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=name, EventPattern=json.dumps(pattern), State="ENABLED")
        events.put_targets(Rule=name, Targets=[{"Id": "capture", "Arn": arn}])
        return url

    def close(self) -> None:
        events, sqs = self.client("events"), self.client("sqs")
        for name, url in zip(
            ("reliability-modelrelay-events", "reliability-aws-events"), self._queues.values(), strict=True
        ):
            events.remove_targets(Rule=name, Ids=["capture"])
            events.delete_rule(Name=name)
            sqs.delete_queue(QueueUrl=url)

    def _drain(self, url: str) -> list[tuple[str, int]]:
        """(body, SentTimestamp ms) of every message in the queue, deleting them."""
        sqs = self.client("sqs")
        found: list[tuple[str, int]] = []
        while True:
            batch = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60, AttributeNames=["SentTimestamp"]
            ).get("Messages", [])
            if not batch:
                return found
            found += [(m["Body"], int(m["Attributes"]["SentTimestamp"])) for m in batch]
            sqs.delete_message_batch(
                QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
            )

    def refresh(self) -> None:
        for body, sent in self._drain(self._queues["events"]):
            self.events.append(dict(json.loads(body), _sent_ms=sent))
        for body, sent in self._drain(self._queues["inputs"]):
            self.inputs.append(dict(json.loads(body), _sent_ms=sent))
        self.notes += [body for body, _ in self._drain(self.out["notifications_queue_url"])]

    def emitted(self, detail_type: str, **detail: Any) -> list[dict[str, Any]]:
        """ModelRelay events of ``detail_type`` whose detail has all the given values."""
        self.refresh()
        return [
            e
            for e in self.events
            if e["detail-type"] == detail_type and all(e["detail"].get(k) == v for k, v in detail.items())
        ]

    def succeeded(self, arn: str) -> list[dict[str, Any]]:
        return self.emitted("Promotion Succeeded", package_arn=arn)

    def success_notes(self, arn: str) -> list[str]:
        self.refresh()
        return [n for n in self.notes if "promotion succeeded" in n and f"package_arn: {arn}\n" in n + "\n"]

    def captured(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30) -> dict[str, Any]:
        """The one captured AWS event matching ``predicate`` (waits for it)."""

        def find() -> list[dict[str, Any]]:
            self.refresh()
            return [e for e in self.inputs if "replay-name" not in e and predicate(e)]

        hits = wait_for(find, timeout=timeout, what="a captured event")
        assert len(hits) == 1, hits
        return {k: v for k, v in hits[0].items() if k != "_sent_ms"}

    def status_events(self, arn: str) -> list[dict[str, Any]]:
        """The SageMaker state change events of the package, in the order they were emitted."""
        self.refresh()
        return [
            {k: v for k, v in e.items() if k != "_sent_ms"}
            for e in self.inputs
            if e["source"] == "aws.sagemaker" and "replay-name" not in e and e["detail"]["ModelPackageArn"] == arn
        ]

    def approval_event(self, arn: str, status: str = "Approved") -> dict[str, Any]:
        return self.captured(
            lambda e: (
                e["source"] == "aws.sagemaker"
                and e["detail"]["ModelPackageArn"] == arn
                and e["detail"]["ModelApprovalStatus"] == status
            )
        )

    def drop_event(self, art: Artifact) -> dict[str, Any]:
        return self.captured(lambda e: e["source"] == "aws.s3" and e["detail"]["object"]["key"] == art.key)

    # ------------------------------------------------------------------ acting

    @contextlib.contextmanager
    def withheld(self, rule: str) -> Iterator[None]:
        """EventBridge holds this rule's deliveries back (the events are still captured and archived)."""
        events = self.client("events")
        events.disable_rule(Name=rule)
        try:
            yield
        finally:
            events.enable_rule(Name=rule)

    def drop(self, art: Artifact) -> None:
        self.client("s3").put_object(Bucket=self.out["ingest_bucket"], Key=art.key, Body=art.data)

    def set_status(self, arn: str, status: str) -> None:
        self.client("sagemaker").update_model_package(ModelPackageArn=arn, ModelApprovalStatus=status)

    def put_on_bus(self, event: dict[str, Any]) -> None:
        """Deliver an S3 event again through the default bus (EventBridge's at-least-once duplicate)."""
        response = self.client("events").put_events(
            Entries=[
                {
                    "Source": event["source"],
                    "DetailType": event["detail-type"],
                    "Detail": json.dumps(event["detail"]),
                    "Resources": event["resources"],
                }
            ]
        )
        assert response["FailedEntryCount"] == 0, response

    def start(self, event: dict[str, Any]) -> str:
        """Deliver an approval event to the promotion state machine, as the approval rule's target does."""
        arn: str = self.client("stepfunctions").start_execution(
            stateMachineArn=self.out["state_machine_arn"], input=json.dumps(event)
        )["executionArn"]
        return arn

    def registered(self, art: Artifact, timeout: float = 60) -> str:
        """The ARN of the (single) package registered for the artifact; waits for it."""
        arns = wait_for(lambda: self.packages(art.group, art.sha), timeout=timeout, what=f"registration of {art.key}")
        assert len(arns) == 1, arns
        return str(arns[0])

    def pending(self, group: str = MANUAL_GROUP) -> tuple[Artifact, str]:
        """A registered PendingManualApproval package, its own event already handled."""
        art = new_artifact(group)
        self.drop(art)
        arn = self.registered(art)
        self.quiesce()
        return art, arn

    def quiesce(self, timeout: float = 180) -> None:
        """Wait until nothing is in flight: EventBridge retries, async Lambda invocations, running executions."""
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        calm = 0
        while calm < 2:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the sandbox did not settle within {timeout:.0f} s")
            idle = wait_idle(max(deadline - time.monotonic(), 0))
            running = sfn.list_executions(stateMachineArn=self.out["state_machine_arn"], statusFilter="RUNNING")[
                "executions"
            ]
            calm = calm + 1 if idle and not running else 0
            time.sleep(0.1)

    # ------------------------------------------------------------------ counting side effects

    def packages(self, group: str, sha: str, hub: bool = False) -> list[str]:
        """Packages of ``group`` made from these bytes (both ModelRelay descriptions name the sha256)."""
        found: list[str] = []
        paginator = self.client("sagemaker", hub).get_paginator("list_model_packages")
        for page in paginator.paginate(ModelPackageGroupName=group):
            found += [
                s["ModelPackageArn"]
                for s in page["ModelPackageSummaryList"]
                if sha in (s.get("ModelPackageDescription") or "")
            ]
        return found

    def hub_packages(self, art: Artifact) -> list[str]:
        return self.packages(hub_group_name(self.out["hub_model_package_group"], art.group), art.sha, hub=True)

    def hub_versions(self, art: Artifact) -> tuple[int, int]:
        """(object versions, delete markers) of the artifact's content-addressed hub key."""
        key = f"artifacts/{art.group}/{art.sha}.tar.gz"
        listed = self.client("s3", hub=True).list_object_versions(Bucket=self.out["hub_bucket"], Prefix=key)
        return (
            len([v for v in listed.get("Versions", []) if v["Key"] == key]),
            len([m for m in listed.get("DeleteMarkers", []) if m["Key"] == key]),
        )

    def mme_objects(self, art: Artifact) -> list[str]:
        mme = self.out["mme"]
        keys: list[str] = []
        for page in (
            self.client("s3")
            .get_paginator("list_objects_v2")
            .paginate(Bucket=mme["bucket"], Prefix=f"{mme['prefix']}{art.model}/")
        ):
            keys += [o["Key"] for o in page.get("Contents", []) if art.sha[:12] in o["Key"]]
        return keys

    def pointer(self, model: str) -> dict[str, Any]:
        item = (
            self.client("dynamodb")
            .get_item(
                TableName=self.out["state_table"],
                ConsistentRead=True,
                Key={"pk": {"S": f"pointer#{self.out['mme']['endpoint_name']}#{model}"}},
            )
            .get("Item")
        )
        if not item:
            return {"revision": 0, "current": None, "history": []}
        return {
            "revision": int(item["revision"]["N"]),
            "current": item["current"]["M"]["target_model"]["S"],
            "history": [h["M"]["target_model"]["S"] for h in item.get("history", {}).get("L", [])],
        }

    def executions(self, status: str) -> int:
        sfn = self.client("stepfunctions")
        return sum(
            len(page["executions"])
            for page in sfn.get_paginator("list_executions").paginate(
                stateMachineArn=self.out["state_machine_arn"], statusFilter=status
            )
        )

    def status_of(self, execution_name: str) -> str:
        sm = self.out["state_machine_arn"]
        arn = sm.replace(":stateMachine:", ":execution:") + f":{execution_name}"
        return str(self.client("stepfunctions").describe_execution(executionArn=arn)["status"])

    def path_end(self, execution_arn: str) -> str:
        """The last state an execution entered (``Promoted``, ``AlreadyHandled``, ``Skipped``...)."""
        history = self.client("stepfunctions").get_execution_history(executionArn=execution_arn, maxResults=1000)[
            "events"
        ]
        entered = sorted(
            (e["id"], e["stateEnteredEventDetails"]["name"]) for e in history if e["type"].endswith("StateEntered")
        )
        return str(entered[-1][1])

    def dlq_depths(self) -> list[int]:
        depths = []
        for url in self.out["dead_letter_queue_urls"]:
            attributes = self.client("sqs").get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            )["Attributes"]
            depths.append(
                int(attributes["ApproximateNumberOfMessages"])
                + int(attributes["ApproximateNumberOfMessagesNotVisible"])
            )
        return depths

    def assert_promoted_once(self, art: Artifact, arn: str) -> None:
        """Exactly one of everything a promotion of ``arn`` creates."""
        assert len(self.hub_packages(art)) == 1
        assert self.hub_versions(art) == (1, 0)
        assert len(self.mme_objects(art)) == 1
        assert len(self.succeeded(arn)) == 1
        assert len(self.success_notes(arn)) == 1

    def assert_moved_once(self, before: dict[str, Any], art: Artifact, version: int) -> None:
        """The pointer moved exactly once, to this artifact, the previous target first in its history."""
        after = self.pointer(art.model)
        assert after["revision"] == before["revision"] + 1
        assert after["current"] == f"{art.model}/{version}-{art.sha[:12]}.tar.gz"
        expected_history = ([before["current"]] if before["current"] else []) + before["history"]
        assert after["history"] == expected_history[:10]


def run_at_once(actions: list[Callable[[], Any]]) -> list[Any]:
    """Run the actions in threads released together (a barrier), as simultaneous deliveries."""
    barrier = threading.Barrier(len(actions))

    def released(action: Callable[[], Any]) -> Any:
        barrier.wait(timeout=30)
        return action()

    with ThreadPoolExecutor(max_workers=len(actions)) as pool:
        return list(pool.map(released, actions))


def deliver(actions: list[Callable[[], Any]], mode: str, settle: Callable[[], None]) -> list[Any]:
    if mode == "concurrent":
        return run_at_once(actions)
    results = []
    for action in actions:
        results.append(action())
        settle()
    return results


@pytest.fixture(scope="module")
def rel(stack: Stack) -> Iterator[Harness]:
    harness = Harness(stack)
    harness.quiesce()
    try:
        yield harness
    finally:
        harness.close()


def version_of(rel: Harness, arn: str) -> int:
    return int(rel.client("sagemaker").describe_model_package(ModelPackageName=arn)["ModelPackageVersion"])


# ---------------------------------------------------------------------------------------------- 0. the fault switch

# service -> (a harmless call, the (HTTP status, error code) pairs AWS answers a throttle / a server error with)
WIRE_FORMATS: dict[str, tuple[Callable[[Any], Any], set[tuple[int, str]]]] = {
    "s3": (
        lambda c: c.list_objects_v2(Bucket="modelrelay-sandbox-mme", MaxKeys=1),
        {(503, "SlowDown"), (500, "InternalError")},
    ),
    "sagemaker": (
        lambda c: c.list_model_package_groups(MaxResults=1),
        {(400, "ThrottlingException"), (500, "InternalFailure")},
    ),
    "dynamodb": (lambda c: c.list_tables(Limit=1), {(400, "ThrottlingException"), (500, "InternalServerError")}),
    "sns": (lambda c: c.list_topics(), {(400, "Throttling"), (500, "InternalFailure")}),
    "sts": (lambda c: c.get_caller_identity(), {(400, "Throttling"), (500, "InternalFailure")}),
    "lambda": (lambda c: c.list_functions(MaxItems=1), {(429, "TooManyRequestsException"), (500, "ServiceException")}),
}


def test_fault_injection_answers_in_each_protocols_wire_format_and_spares_the_tests(rel: Harness) -> None:
    # Given a sandbox with nothing in flight, answering every eligible request with a fault
    rel.quiesce()
    session = environment.session()
    unmarked = Config(retries={"total_max_attempts": 1})
    injector = fault_injection.enable(rel.env.server, rate=1.0, seed=1)
    try:
        # When each protocol is called by a client without the test marker, then by the tests' own client
        answers = {}
        for service, (call, _) in WIRE_FORMATS.items():
            with pytest.raises(ClientError) as raised:
                call(session.client(service, endpoint_url=rel.env.url, config=unmarked))
            answers[service] = (
                raised.value.response["ResponseMetadata"]["HTTPStatusCode"],
                raised.value.response["Error"]["Code"],
            )
            call(rel.client(service))  # never faulted
        with urllib.request.urlopen(f"{rel.env.url}/moto-api/config", timeout=5) as moto_api:  # noqa: S310
            assert json.load(moto_api)  # moto answers its own API (201), never faulted
        stats = injector.stats()
    finally:
        fault_injection.disable(rel.env.server)
    # Then each answer is the one AWS sends in that protocol, and exactly those calls were faulted
    for service, (_, expected) in WIRE_FORMATS.items():
        assert answers[service] in expected, (service, answers[service])
    assert stats["total"] == stats["eligible"] == len(WIRE_FORMATS)
    assert fault_injection.injector(rel.env.server) is None
    # And the environment switch reads a fraction or a percentage, and is off when unset or zero
    env_rate = fault_injection.RATE_ENV
    assert fault_injection.parse_rate("20%") == pytest.approx(0.2)
    assert fault_injection.parse_rate("0.2") == pytest.approx(0.2)
    assert fault_injection.enable_from_env(rel.env.server, environ={}) is None
    assert fault_injection.enable_from_env(rel.env.server, environ={env_rate: "0"}) is None
    with pytest.raises(ValueError, match=env_rate):
        fault_injection.parse_rate("lots")
    with pytest.raises(ValueError, match=env_rate):
        fault_injection.parse_rate("150%")


# ---------------------------------------------------------------------------------------------- 1. duplicates


@pytest.mark.parametrize("mode", ["sequential", "concurrent"])
def test_a_drop_delivered_three_times_registers_exactly_one_package(rel: Harness, mode: str) -> None:
    # Given a dropped artifact whose S3 event EventBridge has not delivered yet
    art = new_artifact(MANUAL_GROUP)
    with rel.withheld(rel.ingest_rule):
        rel.drop(art)
        event = rel.drop_event(art)
    # When the same event reaches the ingest function 3 times (at-least-once delivery), one by one or at once
    deliver([lambda: rel.put_on_bus(event)] * 3, mode, rel.quiesce)
    rel.quiesce()
    # Then exactly one package exists for those bytes, and exactly one "Artifact Registered" names it
    arn = rel.registered(art)
    assert len(rel.packages(MANUAL_GROUP, art.sha)) == 1
    assert len(rel.emitted("Artifact Registered", key=art.key)) == 1
    assert rel.emitted("Artifact Registered", key=art.key)[0]["detail"]["package_arn"] == arn
    assert rel.dlq_depths() == [0, 0]


@pytest.mark.parametrize("mode", ["sequential", "concurrent"])
def test_an_approval_delivered_three_times_promotes_exactly_once(rel: Harness, mode: str) -> None:
    # Given a pending package, approved while EventBridge held the approval event back
    art, arn = rel.pending()
    with rel.withheld(rel.approval_rule):
        rel.set_status(arn, "Approved")
        event = rel.approval_event(arn)
    before = rel.pointer(art.model)
    # When the promotion state machine is started 3 times with that same event, one by one or at once
    executions = deliver([lambda: rel.start(event)] * 3, mode, rel.quiesce)
    rel.quiesce()
    # Then all three executions succeed: exactly one promoted, the two others ended quietly as duplicates
    statuses = [rel.client("stepfunctions").describe_execution(executionArn=e)["status"] for e in executions]
    assert statuses == ["SUCCEEDED"] * 3
    assert sorted(rel.path_end(e) for e in executions) == ["AlreadyHandled", "AlreadyHandled", "Promoted"]
    promoted = rel.succeeded(arn)
    assert len(promoted) == 1
    assert promoted[0]["detail"]["execution"] in {e.rsplit(":", 1)[1] for e in executions}
    # one hub package, one hub artifact version, one MME object, one pointer move, one notification, one event
    rel.assert_promoted_once(art, arn)
    rel.assert_moved_once(before, art, version_of(rel, arn))
    assert (
        rel.client("sagemaker").describe_model_package(ModelPackageName=arn)["CustomerMetadataProperties"][
            "modelrelay:status"
        ]
        == "PromotionSucceeded"
    )


# ---------------------------------------------------------------------------------------------- 2. ordering

# (status changes made in the registry, the order their events are delivered in, promoted?, "Skipped" events)
OUT_OF_ORDER = {
    "approve-reject-approve, newest first": (["Approved", "Rejected", "Approved"], [2, 1, 0], True, 0),
    "approve-reject-approve, reject first": (["Approved", "Rejected", "Approved"], [1, 0, 2], True, 0),
    "approve-reject, reject first": (["Approved", "Rejected"], [1, 0], False, 0),
    "approve-reject, both late in order": (["Approved", "Rejected"], [0, 1], False, 1),
}


@pytest.mark.parametrize("case", list(OUT_OF_ORDER))
def test_out_of_order_status_events_end_in_the_state_of_the_current_status(rel: Harness, case: str) -> None:
    changes, order, promoted, skipped = OUT_OF_ORDER[case]
    # Given a pending package whose status changed several times while the approval rule held the events back
    art, arn = rel.pending()
    before, failed_before = rel.pointer(art.model), rel.executions("FAILED")
    with rel.withheld(rel.approval_rule):
        for status in changes:
            rel.set_status(arn, status)
        history = wait_for(
            lambda: len(rel.status_events(arn)) == 1 + len(changes) and rel.status_events(arn),
            timeout=30,
            what="the status change events",
        )
    events = history[1:]  # [0]: the package's creation (PendingManualApproval), already handled
    assert [e["detail"]["ModelApprovalStatus"] for e in events] == changes
    # When the events arrive out of order, each after the previous one was handled
    for index in order:
        rel.start(events[index])
        rel.quiesce()
    # Then the outcome is the one the package's *current* status calls for, reached once
    assert len(rel.emitted("Promotion Skipped", package_arn=arn)) == skipped
    assert rel.emitted("Promotion Failed", package_arn=arn) == []
    assert rel.executions("FAILED") == failed_before
    if promoted:
        rel.assert_promoted_once(art, arn)
        rel.assert_moved_once(before, art, version_of(rel, arn))
    else:
        assert rel.hub_packages(art) == []
        assert rel.hub_versions(art) == (0, 0)
        assert rel.mme_objects(art) == []
        assert rel.succeeded(arn) == []
        assert rel.pointer(art.model) == before
        metadata = (
            rel.client("sagemaker").describe_model_package(ModelPackageName=arn).get("CustomerMetadataProperties") or {}
        )
        assert "modelrelay:status" not in metadata


# ---------------------------------------------------------------------------------------------- 3. faults


@pytest.mark.slow
def test_promotions_complete_exactly_once_while_aws_throttles_and_fails_20_percent(rel: Harness) -> None:
    # Given the sandbox answering 20 % of the stack's own AWS calls (handlers, state machine) with
    # throttling / 5xx errors in each protocol's wire format
    arts = [new_artifact(AUTO_GROUP) for _ in range(5)]
    before = rel.pointer(MODEL[AUTO_GROUP])
    failed_before, dlq_before = rel.executions("FAILED"), rel.dlq_depths()
    injector = fault_injection.enable(rel.env.server, rate=0.2, seed=20261121)
    started = time.monotonic()
    try:
        # When 5 artifacts are dropped for the auto-approved group
        for art in arts:
            rel.drop(art)
        arns = [rel.registered(art, timeout=120) for art in arts]
        wait_for(
            lambda: all(rel.succeeded(arn) or rel.emitted("Promotion Failed", package_arn=arn) for arn in arns),
            timeout=180,
            what="the outcomes of 5 promotions under faults",
        )
        rel.quiesce()
    finally:
        fault_injection.disable(rel.env.server)
    elapsed = time.monotonic() - started
    stats = injector.stats()
    print(
        f"\nfault injection at 20 %: {stats['total']} faults injected in {stats['eligible']} eligible calls "
        f"during 5 promotions ({elapsed:.1f} s): {stats}"
    )
    # Then every promotion succeeded, exactly once, and nothing was duplicated, failed or dead-lettered
    assert stats["total"] > 0
    for art, arn in zip(arts, arns, strict=True):
        assert len(rel.packages(AUTO_GROUP, art.sha)) == 1
        assert len(rel.emitted("Artifact Registered", key=art.key)) == 1
        rel.assert_promoted_once(art, arn)
        assert rel.status_of(rel.succeeded(arn)[0]["detail"]["execution"]) == "SUCCEEDED"
    after = rel.pointer(MODEL[AUTO_GROUP])
    assert after["revision"] == before["revision"] + 5
    targets = {
        f"{MODEL[AUTO_GROUP]}/{version_of(rel, arn)}-{art.sha[:12]}.tar.gz" for art, arn in zip(arts, arns, strict=True)
    }
    assert {after["current"], *after["history"][:4]} == targets
    assert rel.executions("FAILED") == failed_before
    assert rel.dlq_depths() == dlq_before


# ---------------------------------------------------------------------------------------------- 4. re-drive


def redrive(rel: Harness, queue_url: str, target_arn: str) -> dict[str, int]:
    """The operator's command: ``python -m modelrelay.ops.redrive`` (as ``make redrive`` runs it)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env |= {
        "AWS_ACCESS_KEY_ID": environment.ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": environment.SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": environment.REGION,
        "PYTHONPATH": str(REPO / "sandbox"),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "modelrelay.ops.redrive",
            "--queue-url",
            queue_url,
            "--target-arn",
            target_arn,
            "--endpoint-url",
            rel.env.url,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def eventbridge_dead_letter(rel: Harness, event: dict[str, Any], rule: str, target_arn: str) -> None:
    """Put ``event`` in the approval DLQ exactly as EventBridge does when its retries run out."""
    rule_arn = rel.client("events").describe_rule(Name=rule)["Arn"]
    attributes = {
        "RULE_ARN": rule_arn,
        "TARGET_ARN": target_arn,
        "ERROR_CODE": "THROTTLING",
        "ERROR_MESSAGE": "Rate exceeded",
        "RETRY_ATTEMPTS": "185",
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
    }
    rel.client("sqs").send_message(
        QueueUrl=rel.approval_dlq,
        MessageBody=json.dumps(event),
        MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
    )


def lambda_failure_record(rel: Harness, event: dict[str, Any]) -> str:
    """The ingest function's OnFailure destination record for ``event`` (retries exhausted)."""
    return json.dumps(
        {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"{rel.ingest_arn}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3,
            },
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorMessage": "Rate exceeded", "errorType": "ClientError"},
        }
    )


def test_redriving_the_approval_dlq_twice_promotes_exactly_once(rel: Harness) -> None:
    # Given an approval whose delivery to the state machine ran out of retries: its event is in the approval DLQ
    assert rel.dlq_depths() == [0, 0]
    art, arn = rel.pending()
    with rel.withheld(rel.approval_rule):
        rel.set_status(arn, "Approved")
        event = rel.approval_event(arn)
    sm_arn = rel.out["state_machine_arn"]
    eventbridge_dead_letter(rel, event, rel.approval_rule, sm_arn)
    before = rel.pointer(art.model)
    # When the operator re-drives the DLQ
    assert redrive(rel, rel.approval_dlq, sm_arn) == {"received": 1, "redriven": 1, "failed": 0}
    wait_for(lambda: rel.succeeded(arn), timeout=60, what="the re-driven promotion")
    rel.quiesce()
    # and the same dead letter turns up and is re-driven a second time
    eventbridge_dead_letter(rel, event, rel.approval_rule, sm_arn)
    assert redrive(rel, rel.approval_dlq, sm_arn) == {"received": 1, "redriven": 1, "failed": 0}
    rel.quiesce()
    # Then the promotion happened exactly once and the DLQ is empty
    rel.assert_promoted_once(art, arn)
    rel.assert_moved_once(before, art, version_of(rel, arn))
    assert rel.dlq_depths() == [0, 0]
    assert redrive(rel, rel.approval_dlq, sm_arn) == {"received": 0, "redriven": 0, "failed": 0}


def test_redriving_the_ingest_dlq_registers_the_drop_exactly_once(rel: Harness) -> None:
    # Given a drop whose ingest invocation failed after its retries: two failure records in the ingest DLQ
    # (EventBridge delivered the event twice, each invocation exhausted its retries)
    assert rel.dlq_depths() == [0, 0]
    art = new_artifact(MANUAL_GROUP)
    with rel.withheld(rel.ingest_rule):
        rel.drop(art)
        event = rel.drop_event(art)
    for _ in range(2):
        rel.client("sqs").send_message(QueueUrl=rel.ingest_dlq, MessageBody=lambda_failure_record(rel, event))
    # When the operator re-drives the ingest DLQ to the ingest function
    assert redrive(rel, rel.ingest_dlq, rel.ingest_arn) == {"received": 2, "redriven": 2, "failed": 0}
    rel.quiesce()
    # Then exactly one package was registered and the DLQ is empty
    assert len(rel.packages(MANUAL_GROUP, art.sha)) == 1
    assert len(rel.emitted("Artifact Registered", key=art.key)) == 1
    assert rel.dlq_depths() == [0, 0]


class _FailingCreate:
    """A SageMaker client whose CreateModelPackage fails like a throttle that outlasted the SDK's retries."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def create_model_package(self, **_: Any) -> Any:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "CreateModelPackage")


def test_a_drop_whose_invocation_failed_after_claiming_is_registered_by_the_redrive(rel: Harness) -> None:
    # Given the ingest domain wired to the sandbox, and a drop whose first invocation fails after claiming it
    from modelrelay.adapters.store import Store
    from modelrelay.config import load_routing_config
    from modelrelay.domain.ingest import IngestDeps, handle_drop

    out = rel.out
    settings = stack_settings(out)
    deps = IngestDeps(
        settings=settings,
        routing=load_routing_config(environment.ROUTES_FILE),
        s3=rel.client("s3"),
        sagemaker=_FailingCreate(rel.client("sagemaker")),
        store=Store(rel.client("dynamodb"), out["state_table"]),
        sns=rel.client("sns"),
        events=rel.client("events"),
    )
    art = new_artifact(MANUAL_GROUP)
    with rel.withheld(rel.ingest_rule):
        rel.drop(art)
        event = rel.drop_event(art)
    with pytest.raises(ClientError, match="Rate exceeded"):
        handle_drop(event, "first-invocation", deps)
    # When the event is re-driven (a new request id) right away, with SageMaker healthy again
    deps.sagemaker = rel.client("sagemaker")
    result = handle_drop(event, "redriven-invocation", deps)
    # Then the drop is registered, once
    assert result["status"] == "registered"
    assert len(rel.packages(MANUAL_GROUP, art.sha)) == 1
    assert handle_drop(event, "third-delivery", deps)["status"] == "duplicate"


# ---------------------------------------------------------------------------------------------- 5. replay


def test_replaying_the_archive_creates_nothing_new(rel: Harness) -> None:
    # Given a few promotions (two auto-approved drops, one approved by a human) and their archived events
    # (the replay window starts after everything earlier tests archived; archive times are whole seconds)
    rel.quiesce()
    window_start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    wait_for(lambda: datetime.now(UTC) >= window_start, timeout=5, what="the next whole second")
    autos = [new_artifact(AUTO_GROUP) for _ in range(2)]
    for art in autos:
        rel.drop(art)
    manual, manual_arn = rel.pending()
    rel.set_status(manual_arn, "Approved")
    arns = [rel.registered(art) for art in autos] + [manual_arn]
    wait_for(lambda: all(rel.succeeded(arn) for arn in arns), timeout=90, what="3 promotions")
    rel.quiesce()
    window_end = datetime.now(UTC) + timedelta(seconds=1)
    arts = [*autos, manual]

    def of_these_promotions(e: dict[str, Any]) -> bool:
        # (the archive also holds Object Created events of ModelRelay's own registered/ copies: not drops)
        return (e["source"] == "aws.sagemaker" and e["detail"]["ModelPackageArn"] in arns) or (
            e["source"] == "aws.s3" and e["detail"]["object"]["key"] in {a.key for a in arts}
        )

    originals = [e for e in rel.inputs if "replay-name" not in e and of_these_promotions(e)]
    pointers = {model: rel.pointer(model) for model in MODEL.values()}
    registered_before = len(rel.emitted("Artifact Registered"))
    failed_before = rel.executions("FAILED")
    # When the whole window of the archive is replayed onto the default bus, twice
    events = rel.client("events")
    archive_name = next(
        a for a in events.list_archives()["Archives"] if a["EventSourceArn"].endswith(":event-bus/default")
    )["ArchiveName"]
    archive = events.describe_archive(ArchiveName=archive_name)
    bus_arn = archive["EventSourceArn"]
    for attempt in range(2):
        name = f"reliability-{uuid.uuid4().hex[:8]}-{attempt}"
        events.start_replay(
            ReplayName=name,
            EventSourceArn=archive["ArchiveArn"],
            EventStartTime=window_start,
            EventEndTime=window_end,
            Destination={"Arn": bus_arn},
        )
        wait_for(
            lambda name=name: events.describe_replay(ReplayName=name)["State"] == "COMPLETED",
            timeout=30,
            what="the replay",
        )
        rel.quiesce()
    # Then every archived event was delivered again (twice), and nothing new exists
    rel.refresh()
    replayed = [
        e for e in rel.inputs if str(e.get("replay-name", "")).startswith("reliability-") and of_these_promotions(e)
    ]
    assert len(originals) == 2 * 2 + 3  # per auto drop: S3 + created Approved; manual: S3 + pending + approved
    assert sorted(json.dumps(e["detail"], sort_keys=True) for e in replayed) == sorted(
        json.dumps(e["detail"], sort_keys=True) for e in originals * 2
    )
    for art, arn in zip(arts, arns, strict=True):
        assert len(rel.packages(art.group, art.sha)) == 1
        rel.assert_promoted_once(art, arn)
    assert {model: rel.pointer(model) for model in MODEL.values()} == pointers
    assert len(rel.emitted("Artifact Registered")) == registered_before
    assert rel.executions("FAILED") == failed_before
    assert rel.dlq_depths() == [0, 0]


# ---------------------------------------------------------------------------------------------- 6. load


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@pytest.mark.slow
def test_load_50_drops_and_20_approvals_at_once_are_each_processed_exactly_once(rel: Harness) -> None:
    # Given 20 pending packages (registered beforehand) and 50 new artifacts
    waiting = [new_artifact(MANUAL_GROUP) for _ in range(20)]
    run_at_once([lambda art=art: rel.drop(art) for art in waiting])
    waiting_arns = [rel.registered(art) for art in waiting]
    rel.quiesce()
    drops = [new_artifact(MANUAL_GROUP) for _ in range(50)]
    before = rel.pointer(MODEL[MANUAL_GROUP])
    failed_before = rel.executions("FAILED")
    assert rel.dlq_depths() == [0, 0]
    sent: dict[str, float] = {}

    def drop(art: Artifact) -> None:
        sent[art.key] = time.time()
        rel.drop(art)

    def approve(arn: str) -> None:
        sent[arn] = time.time()
        rel.set_status(arn, "Approved")

    # When the 50 drops and the 20 approvals arrive at once
    started = time.time()
    run_at_once([lambda art=art: drop(art) for art in drops] + [lambda arn=arn: approve(arn) for arn in waiting_arns])

    def outcomes() -> dict[str, float] | None:
        done = {
            e["detail"]["key"]: e["_sent_ms"] / 1000
            for e in rel.emitted("Artifact Registered")
            if e["detail"]["key"] in sent
        }
        done |= {
            e["detail"]["package_arn"]: e["_sent_ms"] / 1000
            for kind in ("Promotion Succeeded", "Promotion Failed")  # a failure ends the wait, then the asserts
            for e in rel.emitted(kind)
            if e["detail"]["package_arn"] in sent
        }
        return done if len(done) == len(sent) else None

    finished = wait_for(outcomes, timeout=200, interval=0.5, what="70 outcomes")
    rel.quiesce()
    latencies = [finished[item] - sent[item] for item in sent]
    wall = max(finished.values()) - started
    drop_latencies = [finished[a.key] - sent[a.key] for a in drops]
    approval_latencies = [finished[arn] - sent[arn] for arn in waiting_arns]
    print(
        f"\nload: {len(sent)} events (50 drops + 20 approvals) in {wall:.1f} s = {len(sent) / wall:.2f} outcomes/s; "
        f"event -> outcome p50 {statistics.median(latencies):.2f} s, p95 {percentile(latencies, 0.95):.2f} s "
        f"(drops p50 {statistics.median(drop_latencies):.2f} s / p95 {percentile(drop_latencies, 0.95):.2f} s; "
        f"approvals p50 {statistics.median(approval_latencies):.2f} s / "
        f"p95 {percentile(approval_latencies, 0.95):.2f} s)"
    )
    # Then each drop registered exactly one package, announced once
    for art in drops:
        assert len(rel.packages(MANUAL_GROUP, art.sha)) == 1
        assert len(rel.emitted("Artifact Registered", key=art.key)) == 1
    # and each approval promoted exactly once, every pointer move kept
    for art, arn in zip(waiting, waiting_arns, strict=True):
        rel.assert_promoted_once(art, arn)
    after = rel.pointer(MODEL[MANUAL_GROUP])
    assert after["revision"] == before["revision"] + 20
    targets = {
        f"NewYork_NY/{version_of(rel, arn)}-{art.sha[:12]}.tar.gz"
        for art, arn in zip(waiting, waiting_arns, strict=True)
    }
    assert {after["current"], *after["history"][:9]} <= targets
    # and nothing failed or went to a dead-letter queue
    assert rel.executions("FAILED") == failed_before
    assert rel.dlq_depths() == [0, 0]
