"""``modelrelay status`` of a staged route, against a real sandbox of this module: every stage with its account,
its target, what serves there (the stage's pointer or serving record, ``<account>:`` scoped in the state table),
the ModelLifeCycle of the package there, and a waiting gate with the execution to approve and its deadline.

The story: a package of ``staged-manual`` (staging MME, manual gate, production endpoint, acceptance gate) is
approved; the command is asked while it waits at the staging gate, after ``modelrelay approve`` while it waits at
the acceptance gate, and once accepted.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from modelrelay.ops import cli
from modelrelay_sandbox import environment, stages
from modelrelay_sandbox.artifact_factory import good_artifact
from modelrelay_sandbox.environment import SandboxEnvironment, wait_for

STAGED = "staged-manual"
STAGING, PRODUCTION = stages.STAGING_ACCOUNT_ID, stages.PRODUCTION_ACCOUNT_ID


@dataclass
class Staged:
    env: SandboxEnvironment
    outputs_file: Path
    capture: Any = None
    facts: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        return environment.session().client(service, endpoint_url=self.env.url)

    def run(self, *args: str) -> tuple[int, str, str]:
        """The command in process, as a user runs it, against this sandbox: (exit code, stdout, stderr)."""
        self.capture.readouterr()
        rc = cli.main(["--outputs", str(self.outputs_file), *args])
        captured = self.capture.readouterr()
        return rc, captured.out, captured.err

    def status(self, group: str = STAGED) -> dict[str, Any]:
        rc, out, err = self.run("--json", "status", group)
        assert rc == 0, (rc, out, err)
        (route,) = json.loads(out)["routes"]
        return dict(route)

    def lifecycle(self, arn: str) -> tuple[str | None, str | None]:
        cycle = self.client("sagemaker").describe_model_package(ModelPackageName=arn).get("ModelLifeCycle") or {}
        return cycle.get("Stage"), cycle.get("StageStatus")


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Staged]:
    state = Path(tmp_path_factory.mktemp("sandbox-stages"))
    env = environment.start(port=None, state_dir=state)
    try:
        outputs_file = state / "outputs.json"
        outputs_file.write_text(json.dumps(env.outputs))
        yield Staged(env, outputs_file)
    finally:
        env.stop()


@pytest.fixture(autouse=True)
def _capture(staged: Staged, capsys: pytest.CaptureFixture[str]) -> None:
    staged.capture = capsys


def _approved_package(staged: Staged) -> tuple[str, str]:
    """A model registered and approved as the SageMaker SDK does; returns (package ARN, sha256 of its artifact)."""
    data = good_artifact({"model.joblib": uuid.uuid4().bytes * 32})
    key = f"{STAGED}/{uuid.uuid4()}/model.tar.gz"
    staged.client("s3").put_object(Bucket=environment.DS_BUCKET, Key=key, Body=data)
    arn = staged.client("sagemaker").create_model_package(
        ModelPackageGroupName=STAGED,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [
                {
                    "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
                    "ModelDataUrl": f"s3://{environment.DS_BUCKET}/{key}",
                }
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    return str(arn), hashlib.sha256(data).hexdigest()


def _production_endpoint(staged: Staged) -> dict[str, Any]:
    """Production's endpoint, as its account's administrator sees it."""
    described: dict[str, Any] = stages.client(PRODUCTION, "sagemaker", staged.env.url).describe_endpoint(
        EndpointName=stages.STAGE_ENDPOINT
    )
    return described


def test_a_staged_route_with_nothing_promoted_lists_its_stages(staged: Staged) -> None:
    # When the status of every route is asked for, before any staged promotion
    rc, out, err = staged.run("--json", "status")
    assert rc == 0, (out, err)
    auto = next(r for r in json.loads(out)["routes"] if r["group"] == "staged-auto")
    # Then a staged route lists each stage: its account, its target, its gate, and that nothing serves there yet
    assert [(s["stage"], s["account"], s["route"], s["endpoint_name"], s["gate"]) for s in auto["stages"]] == [
        ("staging", STAGING, "mme", stages.STAGE_MME, "automatic"),
        ("production", PRODUCTION, "mme", stages.STAGE_MME, None),
    ]
    assert all(s["target_model"] is None and s["lifecycle"] is None for s in auto["stages"])
    assert auto["gates"] == [] and auto["target_model"] is None


def test_a_package_waiting_at_the_staging_gate(staged: Staged, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an approved package of the manual route, deployed to staging and waiting at the gate before production
    arn, sha = _approved_package(staged)
    staged.facts.update(arn=arn, sha=sha, baseline=_production_endpoint(staged)["EndpointConfigName"])
    wait_for(lambda: staged.lifecycle(arn) == ("production", "PendingApproval"), timeout=90, what="the gate")

    # When the operator asks for the route's status
    route = staged.status()
    monkeypatch.setattr(cli.OUT, "console", Console(highlight=False, width=400))  # no cell folded
    rc, table, _ = staged.run("status", STAGED)
    monkeypatch.setattr(cli.OUT, "console", Console(highlight=False, width=80))  # a narrow terminal
    _, narrow, _ = staged.run("status", STAGED)

    # Then staging (its account, its MME) serves the package, whose registry stage says it waits for production
    staging, production = route["stages"]
    assert (staging["stage"], staging["account"], staging["endpoint_name"]) == ("staging", STAGING, "stage-mme")
    assert staging["package_arn"] == arn and staging["sha256"] == sha
    assert staging["target_model"] == f"{STAGED}/1-{sha[:12]}.tar.gz"
    assert staging["lifecycle"]["stage"] == "production" and staging["lifecycle"]["status"] == "PendingApproval"
    # And the gate after staging waits: the execution to approve, and its deadline (the route's 600 s)
    waiting = staging["waiting"]
    running = staged.client("stepfunctions").describe_execution(executionArn=waiting["execution_arn"])
    assert running["status"] == "RUNNING" and waiting["execution"] == running["name"]
    assert (waiting["after_stage"], waiting["waiting_for"], waiting["package_arn"]) == ("staging", "production", arn)
    deadline = datetime.fromisoformat(waiting["deadline"].replace("Z", "+00:00"))
    assert 0 < (deadline - datetime.now(UTC)).total_seconds() <= 600
    assert waiting["approve"] == f"modelrelay approve {running['name']}" and route["gates"] == [waiting]
    # And production (its own account, its endpoint) serves nothing of ModelRelay's yet
    assert (production["account"], production["route"], production["endpoint_name"]) == (
        PRODUCTION,
        "endpoint",
        stages.STAGE_ENDPOINT,
    )
    assert production["package_arn"] is None and production["waiting"] is None
    # And the table says the same: the stage rows, and the command that lets it go on, with the deadline
    assert rc == 0 and "└ staging" in table and "└ production" in table
    assert f"mme stage-mme @ {STAGING}" in table and f"endpoint fraud-stage @ {PRODUCTION}" in table
    assert "registry stage production: PendingApproval" in table
    assert f"gate: manual, WAITS (-> production) until {waiting['deadline']}" in table
    line = (
        f"{STAGED}: the gate after staging waits (-> production) until {waiting['deadline']}: "
        f"modelrelay approve {running['name']}  (or: modelrelay deny {running['name']})\n"
    )
    assert line in table and line in narrow  # one line below the table, however narrow: the command stays whole
    staged.facts["execution"] = running["name"]


def test_after_approval_production_serves_and_the_acceptance_gate_waits(staged: Staged) -> None:
    arn = staged.facts["arn"]
    # When the approver approves the staging gate with the command
    rc, out, err = staged.run("approve", staged.facts["execution"])
    assert rc == 0 and out.startswith(f"approved: {staged.facts['execution']} (staging -> production)"), (out, err)

    # Then production's endpoint is rolled to the package, and the acceptance gate after production waits
    endpoint = wait_for(
        lambda: (
            (e := _production_endpoint(staged))["EndpointStatus"] == "InService"
            and e["EndpointConfigName"] != staged.facts["baseline"]
            and e
        ),
        timeout=90,
        what="production on the new config",
    )

    def accepting() -> dict[str, Any] | None:
        route = staged.status()
        return route if route["stages"][1]["waiting"] else None

    route = wait_for(accepting, timeout=60, what="the acceptance gate in the status")
    staging, production = route["stages"]
    # And the status shows production's serving record (in its account) with the package and its registry stage
    assert production["endpoint_config"] == endpoint["EndpointConfigName"] == route["endpoint_config"]
    assert production["package_arn"] == arn == route["package_arn"] and production["sha256"] == staged.facts["sha"]
    assert production["lifecycle"]["stage"] == "production" and production["lifecycle"]["status"] == "PendingApproval"
    assert (production["waiting"]["after_stage"], production["waiting"]["waiting_for"]) == ("production", "production")
    # and staging, no longer waiting, still serving it
    assert staging["waiting"] is None and staging["package_arn"] == arn


def test_once_accepted_every_stage_serves_it_and_no_gate_waits(staged: Staged) -> None:
    arn = staged.facts["arn"]
    # When the acceptance gate is approved too
    rc, out, err = staged.run("approve", staged.facts["execution"])
    assert rc == 0, (out, err)
    wait_for(lambda: staged.lifecycle(arn) == ("production", "Deployed"), timeout=60, what="Deployed")

    # Then both stages serve the package, its registry stage is production/Deployed, no gate waits
    def settled() -> dict[str, Any] | None:
        route = staged.status()
        return route if route["last"] and route["last"][0]["result"] == "Promotion Succeeded" else None

    route = wait_for(settled, timeout=60, what="the outcome")
    assert [(s["package_arn"], s["lifecycle"]["status"], s["waiting"]) for s in route["stages"]] == [
        (arn, "Deployed", None),
        (arn, "Deployed", None),
    ]
    assert route["gates"] == []
    # And approving again says no gate waits (exit 3), with how to see what happened
    time.sleep(0.5)
    rc, _, err = staged.run("approve", staged.facts["execution"])
    assert rc == 3 and "no manual gate waiting" in err and "modelrelay why" in err
