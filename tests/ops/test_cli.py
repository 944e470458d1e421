"""The ``modelrelay`` command against a real sandbox: each command's human and ``--json`` output, its exit code and
its error paths; every event the run emits validates against its schema; the webhooks' deliveries.

One sandbox for the module. The fixture plays a short history first (drops, approvals, a failure, a rollout), with
a rule capturing every ModelRelay event into a queue; the tests then ask the command about it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests

from modelrelay.ops import cli
from modelrelay_sandbox import environment
from modelrelay_sandbox.artifact_factory import good_artifact, malicious_traversal_artifact
from modelrelay_sandbox.environment import SandboxEnvironment, wait_for
from modelrelay_sandbox.moto_ext import cloudformation

REPO = Path(__file__).resolve().parents[2]
CHICAGO, NEW_YORK, CANARY = "housing-chicago-il", "housing-newyork-ny", "fraud-realtime"


@dataclass
class World:
    env: SandboxEnvironment
    outputs_file: Path
    events_queue: str
    facts: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        return environment.session().client(service, endpoint_url=self.env.url)

    def run(self, *args: str) -> tuple[int, str, str]:
        """The command in process, against this sandbox: (exit code, stdout, stderr)."""
        return run_cli(["--outputs", str(self.outputs_file), *args])

    def json(self, *args: str, code: int = 0) -> Any:
        rc, out, err = self.run("--json", *args)
        assert rc == code, (rc, out, err)
        return json.loads(out)


_capture: Any = None


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    _capture.readouterr()
    rc = cli.main(argv)
    captured = _capture.readouterr()
    return rc, captured.out, captured.err


@pytest.fixture(autouse=True)
def _capsys(capsys: pytest.CaptureFixture[str]) -> None:
    global _capture
    _capture = capsys


def _settled(world: World, package_arn: str, count: int) -> list[dict[str, Any]]:
    sfn = world.client("stepfunctions")

    def settled() -> list[dict[str, Any]] | None:
        found = []
        paginator = sfn.get_paginator("list_executions")
        for page in paginator.paginate(stateMachineArn=world.env.outputs["state_machine_arn"]):
            for summary in page["executions"]:
                described = sfn.describe_execution(executionArn=summary["executionArn"])
                if package_arn in described.get("input", ""):
                    found.append(described)
        done = len(found) >= count and all(e["status"] != "RUNNING" for e in found)
        return found if done else None

    return wait_for(settled, timeout=120, what=f"executions of {package_arn}")  # type: ignore[no-any-return]


def _drop(world: World, group: str) -> tuple[str, str]:
    """Drop a unique valid artifact; return (package ARN, key) once registered."""
    data = good_artifact({"model.joblib": uuid.uuid4().bytes * 32})
    sha = hashlib.sha256(data).hexdigest()
    key = f"incoming/{group}/{sha[:8]}.tar.gz"
    world.client("s3").put_object(Bucket=world.env.outputs["ingest_bucket"], Key=key, Body=data)
    sagemaker = world.client("sagemaker")

    def registered() -> str | None:
        for summary in sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]:
            described = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
            if (described.get("CustomerMetadataProperties") or {}).get("modelrelay:sha256") == sha:
                return str(summary["ModelPackageArn"])
        return None

    return wait_for(registered, timeout=60, what=f"package of {key}"), key


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    state = Path(tmp_path_factory.mktemp("sandbox-cli"))
    env = environment.start(port=None, state_dir=state)
    try:
        outputs_file = state / "outputs.json"
        outputs_file.write_text(json.dumps(env.outputs))
        # Every ModelRelay event goes to a queue too (the schema check reads them).
        session = environment.session()
        sqs, events = (session.client(s, endpoint_url=env.url) for s in ("sqs", "events"))
        queue = sqs.create_queue(QueueName="modelrelay-events-under-test")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="all-modelrelay-events", EventPattern=json.dumps({"source": ["modelrelay"]}))
        events.put_targets(Rule="all-modelrelay-events", Targets=[{"Id": "q", "Arn": queue_arn}])
        world = World(env, outputs_file, queue, {"started": datetime.now(UTC) - timedelta(seconds=5)})
        _play_history(world)
        yield world
    finally:
        env.stop()


def _play_history(world: World) -> None:
    sagemaker, s3 = world.client("sagemaker"), world.client("s3")
    facts = world.facts
    # Two auto-approved drops for Chicago: v1 then v2 serve in turn.
    facts["v1"], _ = _drop(world, CHICAGO)
    _settled(world, facts["v1"], 1)
    facts["v2"], facts["v2_key"] = _drop(world, CHICAGO)
    _settled(world, facts["v2"], 1)
    # A malicious drop: rejected with its reason tagged on the object.
    facts["bad_key"] = f"incoming/{CHICAGO}/evil-{uuid.uuid4().hex[:6]}.tar.gz"
    s3.put_object(Bucket=world.env.outputs["ingest_bucket"], Key=facts["bad_key"], Body=malicious_traversal_artifact())
    wait_for(
        lambda: any(
            t["Key"] == "modelrelay:reason"
            for t in s3.get_object_tagging(Bucket=world.env.outputs["ingest_bucket"], Key=facts["bad_key"])["TagSet"]
        ),
        what="the rejection tag",
    )
    # An approved package whose artifact lives in a bucket the route does not allow: Promotion Failed.
    facts["failed"] = sagemaker.create_model_package(
        ModelPackageGroupName=NEW_YORK,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [
                {
                    "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/housing-inference:1",
                    "ModelDataUrl": "s3://somebody-elses-bucket/model.tar.gz",
                }
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )["ModelPackageArn"]
    facts["failed_execution"] = _settled(world, facts["failed"], 1)[0]["executionArn"]
    # A guarded canary rollout that succeeds (Rollout Succeeded).
    facts["canary"], _ = _drop(world, CANARY)
    _settled(world, facts["canary"], 1)
    sagemaker.update_model_package(ModelPackageArn=facts["canary"], ModelApprovalStatus="Approved")
    _settled(world, facts["canary"], 2)


def _emitted(world: World) -> list[dict[str, Any]]:
    sqs = world.client("sqs")
    found = world.facts.setdefault("emitted", [])
    while batch := sqs.receive_message(QueueUrl=world.events_queue, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=world.events_queue, ReceiptHandle=message["ReceiptHandle"])
    return list(found)


# ---------- status / resolve / routes ----------
def test_status_shows_what_serves_each_route_and_the_last_outcomes(world: World) -> None:
    # When an operator asks for the status of every route, as JSON and as a table
    document = world.json("status")
    rc, table, _ = world.run("status", CHICAGO)
    # Then Chicago serves v2 (TargetModel, package, SHA-256, since when), after two successful promotions
    chicago = next(r for r in document["routes"] if r["group"] == CHICAGO)
    assert chicago["route"] == "mme" and chicago["package_arn"] == world.facts["v2"]
    assert chicago["target_model"].startswith("Chicago_IL/2-") and len(chicago["sha256"]) == 64
    assert chicago["since"].endswith("Z") and chicago["previous"][0].startswith("Chicago_IL/1-")
    assert [o["result"] for o in chicago["last"]][:2] == ["Promotion Succeeded", "Promotion Succeeded"]
    # and New York's failure is listed with its reason
    new_york = next(r for r in document["routes"] if r["group"] == NEW_YORK)
    assert new_york["target_model"] is None
    assert new_york["last"][0] | {"execution": None, "started": None} == {
        "execution": None,
        "started": None,
        "result": "Promotion Failed",
        "package_arn": world.facts["failed"],
        "reason": "artifact_bucket_not_allowed",
        "message": new_york["last"][0]["message"],
    }
    assert rc == 0 and CHICAGO in table and chicago["target_model"] in table


def test_status_of_an_endpoint_route_shows_the_rolled_out_config(world: World) -> None:
    # When the status of the canary route is asked for, after its guarded rollout
    (canary,) = world.json("status", CANARY)["routes"]
    # Then the endpoint serves the package's config, InService, and the last outcome is the rollout's
    assert canary["last"][0]["result"] == "Rollout Succeeded", world.json("why", world.facts["canary"])
    assert canary["package_arn"] == world.facts["canary"] and canary["endpoint_status"] == "InService"
    assert canary["endpoint_config"] not in (None, "fraud-canary-v0")


def test_resolve_prints_the_target_model_alone_for_scripts(world: World) -> None:
    # When a client script resolves Chicago's TargetModel
    rc, out, err = world.run("resolve", "Chicago_IL")
    # Then stdout is exactly the TargetModel (usable as $(modelrelay --sandbox resolve Chicago_IL))
    assert (rc, err) == (0, "")
    assert out == world.json("resolve", CHICAGO)["target_model"] + "\n"


def test_routes_list_and_check(world: World, tmp_path: Path) -> None:
    # When the routes are listed
    document = world.json("routes", "list")
    # Then each route says its kind and that the stack watches its group
    by_group = {r["group"]: r for r in document["routes"]}
    assert by_group[CHICAGO] | {} == by_group[CHICAGO] and by_group[CHICAGO]["model_name"] == "Chicago_IL"
    assert all(r["watched"] for r in document["routes"]) and document["watched_without_route"] == []
    # And a valid file checks, a broken one fails (exit 1) naming the field
    assert world.json("routes", "check", str(REPO / "sandbox/routes.json"))["valid"] is True
    broken = tmp_path / "routes.json"
    broken.write_text(json.dumps({"version": 1, "routes": [{"model_package_group": "g", "target": {"kind": "x"}}]}))
    answer = world.json("routes", "check", str(broken), code=1)
    assert answer["valid"] is False and "routes.0.target" in answer["error"]


# ---------- history / why ----------
def test_history_is_the_groups_timeline(world: World) -> None:
    # When the history of Chicago is asked for
    events = world.json("history", CHICAGO)["events"]
    # Then it holds the drops (one rejected, with its reason), both registrations and both promotions, in time order
    whats = [e["what"] for e in events]
    assert whats.count("drop") == 2 and whats.count("drop rejected") == 1 and whats.count("registered") == 2
    rejected = next(e for e in events if e["what"] == "drop rejected")
    assert rejected["reason"] == "path_traversal"
    promotions = [e for e in events if e.get("result") == "Promotion Succeeded"]
    assert [p["subject"] for p in promotions] == [world.facts["v1"], world.facts["v2"]]
    assert [e["time"] for e in events] == sorted(e["time"] for e in events)


def test_why_explains_a_failed_execution_its_package_and_a_rejected_drop(world: World) -> None:
    # When the operator asks why, by execution, by package and by S3 URI
    by_execution = world.json("why", world.facts["failed_execution"].rsplit(":", 1)[-1])
    by_package = world.json("why", world.facts["failed"])
    by_object = world.json("why", f"s3://{world.env.outputs['ingest_bucket']}/{world.facts['bad_key']}")
    rc, text, _ = world.run("why", world.facts["failed"])
    # Then each names the failed step, the reason, the detail, what was undone and what to do next
    assert by_execution["failed_step"] == "PreparePromotion"
    assert by_execution["reason"] == "artifact_bucket_not_allowed" and by_execution["removed"] == []
    assert "allowed_artifact_buckets" in by_execution["next"]
    assert by_package["reason"] == by_execution["reason"] and by_package["package_status"] == "PromotionFailed"
    assert by_object["result"] == "Artifact Rejected" and by_object["reason"] == "path_traversal"
    assert rc == 0 and "artifact_bucket_not_allowed" in text and "next" in text


# ---------- errors: exit codes and messages, never a traceback ----------
@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["status", "no-such-group"], 3, "no route for group no-such-group"),
        (["why", "no-such-execution"], 3, "no execution no-such-execution"),
        (["why", "arn:aws:sagemaker:us-east-1:123456789012:model-package/x/9"], 3, "no model package"),
        (["resolve", "Nobody"], 3, "no MME route for model Nobody"),
        (["replay", "--since", "2030-01-02", "--until", "2030-01-01"], 2, "--until must be after --since"),
        (["redrive", "https://example.com/not-ours"], 2, "not one of this stack's dead-letter queues"),
        (["rollback", NEW_YORK], 3, "nothing serves housing-newyork-ny yet"),
    ],
)
def test_user_errors_exit_with_their_code_and_a_hint(world: World, args: list[str], code: int, says: str) -> None:
    # When a command is given something that does not exist or makes no sense
    rc, out, err = world.run(*args)
    answer = world.json(*args, code=code)
    # Then it exits with the documented code, says what is wrong (text on stderr, JSON on stdout), no traceback
    assert rc == code and says in err and "Traceback" not in err + out
    assert answer["exit_code"] == code and says in answer["error"]


def test_target_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELRELAY_STACK_NAME", raising=False)
    # When no target is named, the sandbox is not running, or the stack does not exist
    no_target = run_cli(["status"])
    no_sandbox = run_cli(["--outputs", str(tmp_path / "missing.json"), "status"])
    # Then: usage (2) with the options to use; target unreachable (4) with how to start the sandbox
    assert no_target[0] == 2 and "--stack-name" in no_target[2]
    assert no_sandbox[0] == 4 and "make sandbox-up" in no_sandbox[2]


def test_an_unknown_stack_is_a_target_error(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", environment.ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", environment.SECRET_ACCESS_KEY)
    rc, _, err = run_cli(["--endpoint-url", world.env.url, "--region", "us-east-1", "--stack-name", "nope", "status"])
    assert rc == 4 and "stack nope not found" in err


def test_the_installed_entry_point_runs_without_a_traceback(world: World) -> None:
    # When the installed command runs as a user would (a new process)
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("modelrelay")),
            "--outputs",
            str(world.outputs_file),
            "--json",
            "resolve",
            "x",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Then the exit code and the JSON error are those documented
    assert done.returncode == 3 and json.loads(done.stdout)["exit_code"] == 3 and "Traceback" not in done.stderr


# ---------- actions: rollback, rerun, redrive, replay ----------
def test_rollback_moves_chicago_back_and_prints_from_to(world: World) -> None:
    # When the operator refuses a --to that is not the rollback target, then rolls back
    refused = world.json("rollback", CHICAGO, "--to", world.facts["v2"], code=2)
    answer = world.json("rollback", CHICAGO)
    # Then the pointer went from v2 to v1, in one execution that succeeded
    assert "returns to " + world.facts["v1"] in refused["error"]
    assert answer["result"] == "Rollback Succeeded" and answer["status"] == "SUCCEEDED"
    assert answer["from"]["package_arn"] == world.facts["v2"] and answer["to"]["package_arn"] == world.facts["v1"]
    assert answer["to"]["target_model"].startswith("Chicago_IL/1-")
    assert world.json("resolve", "Chicago_IL")["target_model"] == answer["to"]["target_model"]


def test_rerun_of_a_failure_whose_cause_remains_fails_again_with_exit_1(world: World) -> None:
    # When the failed New York promotion is re-run without fixing its cause
    rc, out, err = world.run("rerun", world.facts["failed_execution"])
    # Then the new execution fails the same way; the command says so and exits 1
    assert rc == 1 and "Promotion Failed" in out and "artifact_bucket_not_allowed" in out
    assert "started arn:aws:states" in err


def test_redrive_an_empty_queue_reports_counts(world: World) -> None:
    answer = world.json("redrive", "approval")
    assert answer | {"queue_url": None, "target_arn": None} == {
        "queue_url": None,
        "target_arn": None,
        "received": 0,
        "redriven": 0,
        "failed": 0,
    }
    assert answer["target_arn"] == world.env.outputs["state_machine_arn"]


# ---------- see it / tell other systems ----------
def test_every_emitted_event_validates_against_its_published_schema(world: World) -> None:
    # Given every ModelRelay event the history above emitted
    schemas = {
        json.loads(p.read_text())["x-amazon-events-detail-type"]: json.loads(p.read_text())
        for p in REPO.glob("schemas/*.json")
    }
    emitted = wait_for(
        lambda: (found := _emitted(world)) and {e["detail-type"] for e in found} >= {"Rollback Succeeded"} and found,
        what="the emitted events",
    )
    # Then each validates against the schema of its detail-type, and the run covered these kinds
    for event in emitted:
        jsonschema.Draft4Validator(schemas[event["detail-type"]]).validate(event)
    assert {e["detail-type"] for e in emitted} >= {
        "Artifact Registered",
        "Artifact Rejected",
        "Promotion Succeeded",
        "Promotion Failed",
        "Rollback Succeeded",
    }
    assert any(e["detail-type"].startswith("Rollout ") for e in emitted)


def test_the_stack_publishes_the_schemas_and_the_dashboard(world: World) -> None:
    # Then the registry the template creates holds every schema file, unchanged
    registry = cloudformation.EVENT_SCHEMAS[f"{world.env.outputs['stack_name']}-events"]
    files = {json.loads(p.read_text())["x-amazon-events-detail-type"]: p for p in REPO.glob("schemas/*.json")}
    assert {f"modelrelay@{t.replace(' ', '')}" for t in files} == set(registry)
    for detail_type, path in files.items():
        assert json.loads(registry[f"modelrelay@{detail_type.replace(' ', '')}"]) == json.loads(path.read_text())
    # And the dashboard plots metrics the functions really emit (EMF lines in the function logs)
    cloudwatch = world.client("cloudwatch")
    body = json.loads(cloudwatch.get_dashboard(DashboardName="modelrelay-operations")["DashboardBody"])
    plotted = {m[1] for w in body["widgets"] for m in w["properties"]["metrics"] if m[0] == "ModelRelay"}
    logs = "".join(p.read_text() for p in (world.env.server.state_dir / "logs").glob("*RecordOutcome*.log"))
    logs += "".join(p.read_text() for p in (world.env.server.state_dir / "logs").glob("*Ingest*.log"))
    emitted = {m["Name"] for line in logs.splitlines() if '"CloudWatchMetrics"' in line for m in _emf(line)}
    assert {"PromotionsSucceeded", "RolloutsSucceeded", "EventToOutcomeSeconds", "BytesCopied", "RolloutSeconds"} <= (
        plotted & emitted
    )


def _emf(line: str) -> list[dict[str, Any]]:
    document = json.loads(line[line.index("{") :])
    return [m for directive in document["_aws"]["CloudWatchMetrics"] for m in directive["Metrics"]]


def test_webhooks_deliver_jenkins_builds_and_chat_messages_with_their_credentials(world: World) -> None:
    hooks = world.env.outputs["webhooks"]

    def received() -> list[dict[str, Any]]:
        return list(requests.get(hooks["requests_url"], timeout=5).json())

    # Given the history above (3 promotions of MME routes, a rejection, a failure, a rollback)
    wait_for(lambda: any("Rollback Succeeded" in r["body"] for r in received()), what="the rollback chat message")
    calls = received()
    jenkins = [c for c in calls if c["path"] == "/job/modelrelay-promoted/buildWithParameters"]
    chat = [c for c in calls if c["path"] == "/services/T000/B000/chat"]
    # Then Jenkins got one POST per Promotion Succeeded, with HTTP Basic user:API token and the package in the body
    basic = "Basic " + base64.b64encode(b"modelrelay-ci:sandbox-jenkins-api-token").decode()
    assert {c["method"] for c in jenkins} == {"POST"} and {c["headers"]["Authorization"] for c in jenkins} == {basic}
    bodies = [json.loads(c["body"]) for c in jenkins]
    assert {b["MODEL_PACKAGE_ARN"] for b in bodies} >= {world.facts["v1"], world.facts["v2"]}
    assert all(b["TARGET_MODEL"].startswith("Chicago_IL/") and len(b["SHA256"]) == 64 for b in bodies)
    assert jenkins[0]["query"] == {"cause": "ModelRelay promotion"}
    assert jenkins[0]["headers"]["User-Agent"] == "Amazon/EventBridge/ApiDestinations"
    # And the chat webhook got Slack-shaped messages for the rejection, the failure and the rollback
    assert {c["headers"]["Authorization"] for c in chat} == {"Bearer sandbox-chat-token"}
    texts = [json.loads(c["body"])["text"] for c in chat]
    assert any("Artifact Rejected" in t and "path_traversal" in t for t in texts)
    assert any("Promotion Failed" in t and "artifact_bucket_not_allowed" in t for t in texts)
    assert any("Rollback Succeeded" in t and CHICAGO in t for t in texts)
    assert not any("Promotion Succeeded" in t for t in texts)


def test_replay_of_the_window_reports_counts_and_changes_nothing(world: World) -> None:
    # Given what serves now
    before = world.json("resolve", "Chicago_IL")["target_model"]
    # When the archive window since the start of this module is replayed
    since = world.facts["started"].strftime("%Y-%m-%dT%H:%M:%S")
    answer = world.json("replay", "--since", since)
    # Then the replay completed, re-started promotions, and nothing moved
    assert answer["state"] == "COMPLETED" and answer["executions_started"] >= 1
    wait_for(lambda: all(e["status"] != "RUNNING" for e in _all_executions(world)), what="replayed executions")
    assert world.json("resolve", "Chicago_IL")["target_model"] == before


def _all_executions(world: World) -> list[dict[str, Any]]:
    sfn = world.client("stepfunctions")
    paginator = sfn.get_paginator("list_executions")
    return [
        e for p in paginator.paginate(stateMachineArn=world.env.outputs["state_machine_arn"]) for e in p["executions"]
    ]
