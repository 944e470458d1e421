"""``modelrelay``: operate a ModelRelay deployment (AWS or the local sandbox) from one command.

Target: ``--stack-name NAME`` (AWS, the usual region/profile resolution), ``--sandbox`` (``.sandbox/outputs.json``)
or ``--endpoint-url URL``. Every command takes ``--json``. Exit codes (``modelrelay.ops.errors.ExitCode``):
0 ok, 1 the outcome was not a success, 2 usage/input error, 3 not found, 4 target unreachable, 5 timed out.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.table import Table

from modelrelay.config import InferenceComponentTarget, load_routing_config
from modelrelay.derive import covers
from modelrelay.errors import ConfigError, GateNotWaiting
from modelrelay.events import ManualRollbackRequest, RerunRequest
from modelrelay.ops import gates, query
from modelrelay.ops.advice import next_step
from modelrelay.ops.errors import ExitCode, UserError
from modelrelay.ops.redrive import redrive as redrive_queue
from modelrelay.ops.target import Target, from_options

F = TypeVar("F", bound=Callable[..., Any])


class Output:
    """Human tables on stdout (progress on stderr), or one JSON document on stdout with ``--json``."""

    def __init__(self) -> None:
        self.json = False
        # Piped output (scripts, CI logs) gets wide lines rather than folded 80-column tables.
        self.console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    def emit(self, document: Any, human: Callable[[], None]) -> None:
        if self.json:
            click.echo(json.dumps(document, indent=2, default=str))
        else:
            human()


OUT = Output()


def json_option(function: F) -> F:
    """``--json`` on every command (also accepted before the command name)."""

    def enable(_ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
        if value:
            OUT.json = True
        return value

    return click.option(
        "--json",
        "json_output",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=enable,
        help="One JSON document on stdout (for scripts).",
    )(function)


def needs_target(function: F) -> F:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        return function(ctx.obj["target"](), *args, **kwargs)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--stack-name", envvar="MODELRELAY_STACK_NAME", help="The ModelRelay stack (AWS, or with --endpoint-url)."
)
@click.option("--region", help="AWS region (default: AWS_REGION / the profile's).")
@click.option("--profile", help="AWS profile (default: AWS_PROFILE / default).")
@click.option("--endpoint-url", help="Send every AWS call here (e.g. the sandbox); the stack defaults to 'modelrelay'.")
@click.option("--sandbox", is_flag=True, help="The local sandbox: endpoint, credentials and stack from outputs.json.")
@click.option(
    "--outputs",
    "outputs_file",
    type=click.Path(path_type=Path),
    help="The sandbox's outputs.json (default .sandbox/outputs.json); implies --sandbox.",
)
@click.option(
    "--routes",
    "routes_file",
    type=click.Path(path_type=Path),
    help="The routes.json the stack was built with (default config/routes.json; sandbox/routes.json with --sandbox).",
)
@json_option
@click.version_option(package_name="modelrelay")
@click.pass_context
def cli(
    ctx: click.Context,
    stack_name: str | None,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
    sandbox: bool,
    outputs_file: Path | None,
    routes_file: Path | None,
) -> None:
    """Operate ModelRelay: what serves, what happened and why, and the operator's actions."""
    target: list[Target] = []

    def resolve() -> Target:
        if not target:
            target.append(
                from_options(
                    stack_name=stack_name,
                    region=region,
                    profile=profile,
                    endpoint_url=endpoint_url,
                    sandbox=sandbox,
                    outputs_file=outputs_file,
                    routes_file=routes_file,
                )
            )
        return target[0]

    ctx.obj = {"target": resolve}


# ---------- status ----------
def _last_outcomes(target: Target, runs: list[query.Run], group: str, last: int) -> list[dict[str, Any]]:
    found = []
    for run in runs:
        if run.group != group:
            continue
        query.read_outcome(target, run)
        if run.result == "NoChange":
            continue
        detail = (run.outcome or {}).get("detail") or {}
        found.append(
            {
                "execution": run.name,
                "started": run.started,
                "result": run.result,
                "package_arn": run.package_arn or detail.get("package_arn"),
                "reason": detail.get("reason"),
                "message": detail.get("message"),
            }
        )
        if len(found) >= last:
            break
    return found


@cli.command()
@click.argument("group", required=False)
@click.option("--last", default=3, show_default=True, help="Outcomes shown per route.")
@click.option("--scan", default=200, show_default=True, help="Newest executions read to find them.")
@json_option
@needs_target
def status(target: Target, group: str | None, last: int, scan: int) -> None:
    """Per route: what serves now (and since when), and the last outcomes with their reasons; a staged route also
    per stage (account, target, what serves there, the package's registry stage) and the gate that waits."""
    # A pattern route is shown per group when one is named (without, the exact routes: a pattern has no one group).
    routes = [query.route_for(target, group)] if group else [r for r in target.routing.routes if r.pattern is None]
    runs = query.list_runs(target, scan=scan, group=group)
    gates = query.waiting_gates(target, runs) if any(r.stages for r in routes) else []
    document = []
    for route in routes:
        entry = query.staged_serving(target, route, gates) if route.stages else query.serving(target, route)
        entry["last"] = _last_outcomes(target, runs, route.name, last)
        document.append(entry)

    def human() -> None:
        table = Table(title=f"ModelRelay {target.stack_name} ({target.endpoint_url or target.region})", expand=False)
        for column in ("group", "route", "serving now", "package", "since", "last outcomes"):
            table.add_column(column, overflow="fold")
        waiting: list[dict[str, Any]] = []
        for entry in document:
            outcomes = "\n".join(
                f"{o['result']}"
                + (f": {o['reason']}" if o.get("reason") and not o["result"].endswith("Succeeded") else "")
                for o in entry["last"]
            )
            if "stages" in entry:
                names = " -> ".join(s["stage"] for s in entry["stages"])
                table.add_row(entry["group"], f"staged: {names}", "", "", "", outcomes or "-")
                for stage in entry["stages"]:
                    table.add_row(*_stage_row(stage))
                waiting.extend(entry["gates"])
                continue
            now = entry.get("target_model") or entry.get("endpoint_config") or "-"
            if entry["route"] == "endpoint" and entry.get("endpoint_status"):
                now = f"{now} ({entry['endpoint_status']})"
            table.add_row(
                entry["group"],
                f"{entry['route']} {entry['endpoint_name']}",
                now,
                _package_cell(entry),
                entry.get("since") or "-",
                outcomes or "-",
            )
        OUT.console.print(table)
        for gate in waiting:  # whole lines: the commands stay copyable
            OUT.console.print(
                f"{gate['group']}: the gate after {gate['after_stage']} waits (-> {gate['waiting_for']}) until "
                f"{gate['deadline']}: {gate['approve']}  (or: {gate['deny']})",
                soft_wrap=True,
            )

    OUT.emit({"stack": target.stack_name, "routes": document}, human)


def _package_cell(entry: dict[str, Any]) -> str:
    if not entry.get("package_arn"):
        return "-"
    return f"{_short_arn(entry['package_arn'])} sha256 {str(entry.get('sha256') or '?')[:12]}"


def _stage_row(stage: dict[str, Any]) -> tuple[str, str, str, str, str, str]:
    """One stage of a staged route: where (account, target), what serves, the package and its registry stage,
    since when, and its gate (waiting: the execution to approve and the deadline)."""
    package = _package_cell(stage)
    if stage.get("lifecycle"):
        package += f"\nregistry stage {stage['lifecycle']['stage']}: {stage['lifecycle']['status']}"
    gate = f"gate: {stage['gate']}" if stage.get("gate") else "no gate"
    waiting = stage.get("waiting")
    if waiting:
        gate = f"gate: {stage['gate']}, WAITS (-> {waiting['waiting_for']}) until {waiting['deadline']}"
    return (
        f"  └ {stage['stage']}",
        f"{stage['route']} {stage['endpoint_name']} @ {stage['account']}",
        stage.get("target_model") or stage.get("endpoint_config") or "-",
        package,
        stage.get("since") or "-",
        gate,
    )


def _short_arn(arn: str) -> str:
    return arn.split(":model-package/", 1)[-1] if ":model-package/" in arn else arn


# ---------- history ----------
@cli.command()
@click.argument("group")
@click.option("--scan", default=500, show_default=True, help="Newest executions read.")
@json_option
@needs_target
def history(target: Target, group: str, scan: int) -> None:
    """The timeline of a group: drops, registrations, approvals, promotions, rollouts, rollbacks."""
    query.route_for(target, group)
    events: list[dict[str, Any]] = []
    for drop in query.drops(target, group):
        tags = drop["tags"]
        what = "drop rejected" if tags.get("status") == "rejected" else "drop"
        events.append(
            {
                "time": drop["time"],
                "what": what,
                "subject": drop["uri"],
                "version_id": drop["version_id"],
                "reason": tags.get("reason"),
                "detail": tags.get("detail"),
            }
        )
    for package in query.packages(target, group):
        meta = query.metadata(package)
        events.append(
            {
                "time": query.iso(package.get("CreationTime")),
                "what": "registered",
                "subject": package["ModelPackageArn"],
                "version": package.get("ModelPackageVersion"),
                "approval_status": package.get("ModelApprovalStatus"),
                "sha256": meta.get("sha256"),
                "status": meta.get("status"),
            }
        )
    for run in query.list_runs(target, scan=scan, group=group):
        query.read_outcome(target, run)
        detail = (run.outcome or {}).get("detail") or {}
        what = {"rollback": "rollback requested", "rerun": "re-run"}.get(run.kind, f"{run.approval_status or 'event'}")
        events.append(
            {
                "time": run.started,
                "what": what,
                "subject": run.package_arn or group,
                "execution": run.name,
                "result": run.result,
                "reason": detail.get("reason"),
                "detail": detail.get("message"),
                "target_model": detail.get("target_model"),
                "endpoint_config": detail.get("endpoint_config"),
            }
        )
    rank = {"drop": 0, "drop rejected": 0, "registered": 1}
    events.sort(key=lambda e: (e["time"] or "", rank.get(e["what"], 2)))

    def human() -> None:
        table = Table(title=f"History of {group}")
        for column in ("time", "what", "subject", "result / reason"):
            table.add_column(column, overflow="fold")
        for event in events:
            subject = _short_arn(str(event["subject"]))
            result = event.get("result") or event.get("approval_status") or ""
            extra = event.get("target_model") or event.get("endpoint_config")
            if event.get("reason") and not str(result).endswith("Succeeded"):
                result = f"{result} {event['reason']}".strip()
            if extra:
                result = f"{result} -> {extra}"
            table.add_row(event["time"] or "-", event["what"], subject, result)
        OUT.console.print(table)

    OUT.emit({"group": group, "events": events}, human)


# ---------- why ----------
def _why_execution(target: Target, run: query.Run) -> dict[str, Any]:
    query.read_outcome(target, run)
    outcome = run.outcome or {}
    detail = outcome.get("detail") or {}
    result = outcome.get("outcome")
    if run.status == "RUNNING":
        state = query.current_state(target, run.arn)
        return {"kind": "execution", "execution": run.name, "status": "RUNNING", "state": state, "next": "wait"}
    if not outcome:
        reason = run.error or ("already_handled" if run.status == "SUCCEEDED" else run.status)
        message = run.cause or "a duplicate or late delivery, or not an approval: nothing was changed"
        result = "NoChange" if run.status == "SUCCEEDED" else "Failed"
        detail = {"reason": reason, "message": message}
    return {
        "kind": "execution",
        "execution": run.name,
        "execution_arn": run.arn,
        "status": run.status,
        "started_by": run.kind,
        "group": run.group or detail.get("group"),
        "package_arn": run.package_arn or detail.get("package_arn"),
        "result": run.result,
        "outcome": result,
        "failed_step": detail.get("failed_step"),
        "reason": detail.get("reason"),
        "message": detail.get("message"),
        "removed": detail.get("removed") or [],
        "next": "nothing to do" if result in ("Succeeded", "NoChange") else next_step(detail.get("reason"), result),
    }


def _why_package(target: Target, arn: str) -> dict[str, Any]:
    package = query.describe_package(target, arn)
    meta = query.metadata(package)
    answer: dict[str, Any] = {
        "kind": "package",
        "package_arn": arn,
        "approval_status": package.get("ModelApprovalStatus"),
        "package_status": meta.get("status"),
        "rollout": meta.get("rollout"),
    }
    if meta.get("execution"):
        with contextlib.suppress(UserError):
            answer |= _why_execution(target, query.describe_run(target, meta["execution"]))
        answer["kind"] = "package"
    answer.setdefault("failed_step", meta.get("failed-step"))
    answer["reason"] = answer.get("reason") or meta.get("reason") or meta.get("rollout-reason")
    answer["message"] = answer.get("message") or meta.get("detail")
    if not meta.get("status"):
        answer["next"] = (
            "approve it (UpdateModelPackage ModelApprovalStatus=Approved) to promote it"
            if package.get("ModelApprovalStatus") != "Approved"
            else "no promotion has recorded an outcome yet: `modelrelay history GROUP`"
        )
    return answer


def _why_object(target: Target, uri: str) -> dict[str, Any]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise UserError(f"not an S3 URI: {uri}", "use s3://bucket/key", ExitCode.USAGE)
    tags = query.object_tags(target, bucket, key)
    if tags.get("status") == "rejected":
        return {
            "kind": "object",
            "uri": uri,
            "result": "Artifact Rejected",
            "reason": tags.get("reason"),
            "message": tags.get("detail"),
            "removed": [],
            "next": next_step(tags.get("reason")),
        }
    group = key.removeprefix(target.ingest_prefix).split("/", 1)[0]
    for package in reversed(query.packages(target, group)):
        if query.metadata(package).get("source-key") == key:
            answer = _why_package(target, package["ModelPackageArn"])
            return answer | {"kind": "object", "uri": uri, "registered_as": package["ModelPackageArn"]}
    return {
        "kind": "object",
        "uri": uri,
        "result": "NotProcessed",
        "reason": None,
        "message": "no rejection tag and no package registered from it",
        "next": "if it was just dropped, wait; otherwise look at the ingest dead-letter queue "
        "(`modelrelay redrive ingest`)",
    }


@cli.command()
@click.argument("subject")
@json_option
@needs_target
def why(target: Target, subject: str) -> None:
    """Why did it end so? SUBJECT: an execution (ARN or name), a model package ARN, or a dropped s3:// URI."""
    if subject.startswith("s3://"):
        answer = _why_object(target, subject)
    elif ":model-package/" in subject:
        answer = _why_package(target, subject)
    else:
        answer = _why_execution(target, query.describe_run(target, subject))

    def human() -> None:
        rows = [
            ("subject", subject),
            ("result", answer.get("result") or answer.get("status")),
            ("package", answer.get("package_arn")),
            ("execution", answer.get("execution")),
            ("failed step", answer.get("failed_step")),
            ("reason", answer.get("reason")),
            ("detail", answer.get("message")),
            ("undone", ", ".join(answer.get("removed") or []) or None),
            ("next", answer.get("next")),
        ]
        for label, value in rows:
            if value:
                OUT.console.print(f"[bold]{label:>12}[/bold]  {value}")

    OUT.emit(answer, human)


# ---------- resolve ----------
@cli.command()
@click.argument("model")
@json_option
@needs_target
def resolve(target: Target, model: str) -> None:
    """The current TargetModel of MODEL (model name or group), as clients pass it to InvokeEndpoint."""
    routes = [r for r in target.routing.routes if r.target.kind == "mme"]
    route = next((r for r in routes if model in (r.model_name, r.model_package_group)), None)
    if route is None:
        known = ", ".join(r.model_name for r in routes)
        raise UserError(f"no MME route for model {model}", f"known models: {known}", ExitCode.NOT_FOUND)
    entry = query.serving(target, route)
    if not entry.get("target_model"):
        raise UserError(
            f"{route.model_name} on {route.target.endpoint_name} has no TargetModel yet",
            f"nothing was promoted for {route.model_package_group}: `modelrelay history {route.model_package_group}`",
            ExitCode.NOT_FOUND,
        )
    document = {k: entry.get(k) for k in ("model_name", "endpoint_name", "target_model", "package_arn", "version")}
    document |= {"sha256": entry.get("sha256"), "since": entry.get("since"), "previous": entry.get("previous")}
    OUT.emit(document, lambda: click.echo(entry["target_model"]))


# ---------- approve / deny: a staged promotion's manual gate ----------
def _answer_gate(target: Target, execution: str, approve: bool, note: str) -> None:
    try:
        answer = gates.answer(
            target.client("dynamodb"),
            target.client("stepfunctions"),
            target.state_table,
            execution,
            approve,
            getpass.getuser(),
            note,
        )
    except GateNotWaiting as error:
        raise UserError(
            str(error).split(": ", 1)[-1],
            f"`modelrelay why {execution}` says how the execution went",
            ExitCode.NOT_FOUND,
        ) from error
    verb = "approved" if approve else "denied"
    OUT.emit(
        answer,
        lambda: click.echo(
            f"{verb}: {answer['execution']} ({answer.get('after_stage')} -> {answer.get('awaited_stage')})"
            + ("" if approve else "; every stage it reached is rolled back")
        ),
    )


@cli.command()
@click.argument("execution")
@click.option("--note", default="", help="Why (kept with the decision).")
@json_option
@needs_target
def approve(target: Target, execution: str, note: str) -> None:
    """Let EXECUTION (a staged promotion waiting at a manual gate) go on to its next stage."""
    _answer_gate(target, execution, True, note)


@cli.command()
@click.argument("execution")
@click.option("--note", default="", help="Why (kept with the decision).")
@json_option
@needs_target
def deny(target: Target, execution: str, note: str) -> None:
    """Refuse EXECUTION's manual gate: the promotion rolls back every stage it reached."""
    _answer_gate(target, execution, False, note)


# ---------- rollback / rerun: start the state machine and follow it ----------
def _follow(target: Target, arn: str, timeout: float) -> query.Run:
    sfn = target.client("stepfunctions")
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    last_state: str | None = None
    with OUT.err.status("starting", spinner="dots") as spinner:
        while True:
            described = sfn.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING":
                break
            if time.monotonic() > deadline:
                raise UserError(
                    f"still running after {timeout:.0f} s: {arn}",
                    f"it goes on; follow it with `modelrelay why {arn.rsplit(':', 1)[-1]}`",
                    ExitCode.TIMEOUT,
                )
            state = query.current_state(target, arn)
            if state != last_state and state and not OUT.json:
                OUT.err.print(f"[{time.monotonic() - started:6.1f}s] {state}")
                last_state = state
            spinner.update(f"{state or 'starting'} ({time.monotonic() - started:.0f} s)")
            time.sleep(1.0)
    run = query.describe_run(target, arn)
    return query.read_outcome(target, run)


def _serving_view(entry: dict[str, Any]) -> dict[str, Any]:
    keys = ("target_model", "endpoint_config", "package_arn", "version", "sha256")
    return {k: entry.get(k) for k in keys if entry.get(k) is not None}


def _report_change(target: Target, run: query.Run, before: dict[str, Any], route_group: str | None) -> None:
    after = query.serving(target, query.route_for(target, route_group)) if route_group else {}
    outcome = run.outcome or {}
    detail = outcome.get("detail") or {}
    document = {
        "execution": run.name,
        "execution_arn": run.arn,
        "status": run.status,
        "result": run.result,
        "outcome": outcome.get("outcome"),
        "from": _serving_view(before),
        "to": _serving_view(after),
        "reason": detail.get("reason"),
        "message": detail.get("message"),
        "detail": detail,
    }

    def human() -> None:
        source = _serving_view(before)
        dest = _serving_view(after)
        name = "target_model" if "target_model" in source or "target_model" in dest else "endpoint_config"
        OUT.console.print(f"{run.result} ({run.name})")
        OUT.console.print(f"  from {source.get(name, '-')} ({_short_arn(str(source.get('package_arn', '-')))})")
        OUT.console.print(f"    to {dest.get(name, '-')} ({_short_arn(str(dest.get('package_arn', '-')))})")
        if outcome.get("outcome") != "Succeeded" and (detail.get("reason") or detail.get("message")):
            OUT.console.print(f"  reason: {detail.get('reason')}: {detail.get('message')}")
            OUT.console.print(f"  next: {next_step(detail.get('reason'), outcome.get('outcome'))}")

    OUT.emit(document, human)
    if outcome.get("outcome") != "Succeeded":
        raise SystemExit(ExitCode.FAILED)


def _start(target: Target, payload: str) -> str:
    arn: str = target.client("stepfunctions").start_execution(stateMachineArn=target.state_machine_arn, input=payload)[
        "executionArn"
    ]
    if not OUT.json:
        OUT.err.print(f"started {arn}")
    return arn


@cli.command()
@click.argument("group")
@click.option("--to", "to_package", help="The package to return to; refused unless it is the one a rollback picks.")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds to follow the rollback.")
@json_option
@needs_target
def rollback(target: Target, group: str, to_package: str | None, timeout: float) -> None:
    """Return GROUP's route to its previous approved version (MME pointer move, or a guarded rollout)."""
    route = query.route_for(target, group)
    before = query.serving(target, route)
    if not before.get("package_arn") and not before.get("target_model"):
        raise UserError(f"nothing serves {group} yet", "there is nothing to roll back", ExitCode.NOT_FOUND)
    if to_package is not None:
        candidate = _rollback_candidate(target, route.target.kind, group)
        if candidate != to_package:
            raise UserError(
                f"a rollback of {group} returns to {candidate or 'nothing'}, not {to_package}",
                "a rollback is one step back to the newest earlier approved version; reject the versions in between "
                "(UpdateModelPackage Rejected) to go further back",
                ExitCode.USAGE,
            )
    request = ManualRollbackRequest(request="rollback", group=group, requested_by=getpass.getuser())
    run = _follow(target, _start(target, request.model_dump_json()), timeout)
    _report_change(target, run, before, group)


def _rollback_candidate(target: Target, kind: str, group: str) -> str | None:
    """The package a rollback would restore: the newest earlier target whose package is still Approved."""
    route = query.route_for(target, group)
    store = query.store(target)
    if kind == "mme":
        pointer = store.read_pointer(route.target.endpoint_name, route.model_name) or {}
        candidates = [old.get("package_arn") for old in pointer.get("history", [])]
    elif isinstance(route.target, InferenceComponentTarget):
        _, history = store.read_component_serving(route.target.endpoint_name, route.target.component_name)
        candidates = [old.package_arn for old in history]
    else:
        _, history = store.read_serving(route.target.endpoint_name)
        candidates = [old.package_arn for old in history if old.group in (None, group)]
    for arn in candidates:
        if arn:
            try:
                if query.describe_package(target, arn).get("ModelApprovalStatus") == "Approved":
                    return arn
            except UserError:
                continue
    return None


@cli.command()
@click.argument("execution")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds to follow the re-run.")
@json_option
@needs_target
def rerun(target: Target, execution: str, timeout: float) -> None:
    """Run a failed promotion again (after fixing its cause); its claim is taken over."""
    run = query.describe_run(target, execution)
    if run.status == "RUNNING":
        raise UserError(f"{run.name} is still running", "wait for it (`modelrelay why EXECUTION`)", ExitCode.USAGE)
    if run.kind == "rollback":
        raise UserError(
            f"{run.name} is a rollback, not a promotion", "start a new one: `modelrelay rollback GROUP`", ExitCode.USAGE
        )
    event = run.input.get("event") if run.kind == "rerun" else run.input
    try:
        request = RerunRequest.model_validate({"request": "rerun", "event": event, "requested_by": getpass.getuser()})
    except ValueError as error:
        raise UserError(f"{run.name} was not started by an approval event: {error}", None, ExitCode.USAGE) from None
    group = request.event.detail.ModelPackageGroupName
    before = query.serving(target, query.route_for(target, group)) if target.routing.has_route(group) else {}
    started = _follow(target, _start(target, request.model_dump_json()), timeout)
    _report_change(target, started, before, group if target.routing.has_route(group) else None)


# ---------- redrive / replay ----------
@cli.command()
@click.argument("queue")
@click.option("--max", "limit", default=1000, show_default=True, help="At most this many messages.")
@json_option
@needs_target
def redrive(target: Target, queue: str, limit: int) -> None:
    """Re-deliver a dead-letter queue's events to their target. QUEUE: approval, ingest, or a queue URL."""
    approval, ingest = target.output("ApprovalDeadLetterQueueUrl"), target.output("IngestDeadLetterQueueUrl")
    url = {"approval": approval, "ingest": ingest}.get(queue, queue)
    if url == approval:
        target_arn = target.state_machine_arn
    elif url == ingest:
        name = target.resources.get("IngestFunction")
        if not name:
            raise UserError("the stack has no IngestFunction resource", None, ExitCode.TARGET)
        target_arn = target.client("lambda").get_function_configuration(FunctionName=name)["FunctionArn"]
    else:
        raise UserError(
            f"{queue} is not one of this stack's dead-letter queues",
            f"use approval, ingest, {approval} or {ingest}",
            ExitCode.USAGE,
        )
    service = "stepfunctions" if ":states:" in target_arn else "lambda"
    report = redrive_queue(target.client("sqs"), target.client(service), url, target_arn, limit)
    document = {"queue_url": url, "target_arn": target_arn, **report}
    OUT.emit(
        document,
        lambda: OUT.console.print(
            f"{report['received']} received, {report['redriven']} re-driven, {report['failed']} failed "
            f"(from {url} to {target_arn})"
        ),
    )
    if report["failed"]:
        raise SystemExit(ExitCode.FAILED)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


@cli.command()
@click.option("--since", required=True, type=click.DateTime(), help="Window start (UTC), e.g. 2026-01-31T10:00:00.")
@click.option("--until", type=click.DateTime(), help="Window end (UTC, default now).")
@click.option("--timeout", default=900.0, show_default=True, help="Seconds to wait for the replay to complete.")
@json_option
@needs_target
def replay(target: Target, since: datetime, until: datetime | None, timeout: float) -> None:
    """Replay the archived approval and drop events of a time window (harmless: claims and provenance)."""
    start, end = _utc(since), _utc(until or datetime.now(UTC))
    if end <= start:
        raise UserError("--until must be after --since", None, ExitCode.USAGE)
    events = target.client("events")
    name = target.resources.get("ModelRelayEventArchive") or _archive_by_prefix(target)
    if not name:
        raise UserError("the stack has no event archive", "deploy the current template.yaml", ExitCode.TARGET)
    archive = events.describe_archive(ArchiveName=name)
    replay_name = f"modelrelay-{int(time.time())}"
    sfn_before = _execution_count(target)
    events.start_replay(
        ReplayName=replay_name,
        EventSourceArn=archive["ArchiveArn"],
        EventStartTime=start,
        EventEndTime=end,
        Destination={"Arn": archive["EventSourceArn"]},
    )
    deadline = time.monotonic() + timeout
    while (described := events.describe_replay(ReplayName=replay_name))["State"] in ("STARTING", "RUNNING"):
        if time.monotonic() > deadline:
            raise UserError(f"replay {replay_name} still running after {timeout:.0f} s", None, ExitCode.TIMEOUT)
        time.sleep(1.0)
    document = {
        "replay": replay_name,
        "state": described["State"],
        "reason": described.get("StateReason"),
        "since": query.iso(start),
        "until": query.iso(end),
        "archived_events": archive.get("EventCount"),
        "executions_started": _execution_count(target) - sfn_before,
    }
    OUT.emit(
        document,
        lambda: OUT.console.print(
            f"replay {replay_name} {described['State']}: window {document['since']} .. {document['until']}, "
            f"{document['executions_started']} promotion execution(s) started (archive holds "
            f"{document['archived_events']} event(s))"
        ),
    )
    if described["State"] != "COMPLETED":
        raise SystemExit(ExitCode.FAILED)


def _archive_by_prefix(target: Target) -> str | None:
    """The archive CloudFormation named ``<stack>-ModelRelayEventArchive-<suffix>`` (when the stack lists no id)."""
    events, token = target.client("events"), None
    while True:
        page = events.list_archives(
            NamePrefix=f"{target.stack_name}-ModelRelayEventArchive", **({"NextToken": token} if token else {})
        )
        if page.get("Archives"):
            return str(page["Archives"][0]["ArchiveName"])
        token = page.get("NextToken")
        if not token:
            return None


def _execution_count(target: Target) -> int:
    paginator = target.client("stepfunctions").get_paginator("list_executions")
    return sum(len(page["executions"]) for page in paginator.paginate(stateMachineArn=target.state_machine_arn))


# ---------- routes ----------
@cli.group()
def routes() -> None:
    """The routing configuration (config/routes.json)."""


@routes.command("check")
@click.argument("file", type=click.Path(path_type=Path))
@json_option
def routes_check(file: Path) -> None:
    """Validate a routes file (as `sam build` does); exit 1 naming the bad field."""
    try:
        config = load_routing_config(file)
    except ConfigError as error:
        problem = error.message
        OUT.emit(
            {"file": str(file), "valid": False, "error": problem},
            lambda: OUT.err.print(f"error: {problem}"),
        )
        raise SystemExit(ExitCode.FAILED) from None
    groups = [r.name for r in config.routes]
    OUT.emit(
        {"file": str(file), "valid": True, "routes": groups},
        lambda: OUT.console.print(f"{file}: {len(groups)} route(s) OK: {', '.join(groups)}"),
    )


@routes.command("list")
@json_option
@needs_target
def routes_list(target: Target) -> None:
    """The routes, whether the stack watches their group, and what serves each."""
    matchers = query.approval_rule_groups(target)
    document = []
    for route in target.routing.routes:
        entry = {
            "group": route.model_package_group,
            "pattern": route.pattern,
            "route": route.target.kind,
            "endpoint_name": route.target.endpoint_name,
            "model_name": route.model_name if route.target.kind == "mme" else None,
            "ingest": route.ingest is not None,
            "auto_approve": bool(route.ingest and route.ingest.auto_approve),
            "watched": covers(matchers, route.name),
        }
        if route.target.kind == "mme" and getattr(route.target, "model_name_tag", None):
            entry["model_name_tag"] = getattr(route.target, "model_name_tag", None)
        if route.target.kind == "endpoint" and route.target.rollout is not None:
            entry["strategy"] = route.target.rollout.strategy
        document.append(entry)
    unrouted = sorted(str(m) for m in matchers if isinstance(m, str) and not target.routing.has_route(m))

    def human() -> None:
        table = Table(title=f"Routes ({target.routes_file or 'default routes file'})")
        for column in ("group", "route", "endpoint", "model / strategy", "ingest", "watched"):
            table.add_column(column)
        for e in document:
            table.add_row(
                str(e["group"] or e["pattern"]),
                str(e["route"]),
                str(e["endpoint_name"]),
                str(e.get("model_name") or e.get("strategy") or "-"),
                ("auto-approve" if e["auto_approve"] else "manual") if e["ingest"] else "no drops",
                "yes" if e["watched"] else "NO (not in the deployed approval rule: redeploy)",
            )
        OUT.console.print(table)
        if unrouted:
            OUT.console.print(f"watched without a route: {', '.join(unrouted)}")

    OUT.emit({"routes": document, "watched_without_route": unrouted}, human)


# ---------- entry point ----------
def main(argv: list[str] | None = None) -> int:
    """Run the command; user errors print a message and a hint (or JSON) and exit with their code."""
    OUT.json = False
    try:
        cli.main(args=argv, prog_name="modelrelay", standalone_mode=False)
    except UserError as error:
        return _fail(error.message, error.hint, error.code)
    except click.exceptions.Abort:
        return _fail("aborted", None, ExitCode.FAILED)
    except click.ClickException as error:
        if OUT.json:
            return _fail(error.format_message(), None, ExitCode.USAGE)
        error.show()
        return ExitCode.USAGE
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except SystemExit as done:
        return int(done.code or 0) if not isinstance(done.code, str) else ExitCode.FAILED
    except ClientError as error:
        problem = error.response.get("Error", {})
        return _fail(
            f"AWS refused {error.operation_name}: {problem.get('Code')}: {problem.get('Message')}",
            "check the credentials' permissions and the target",
            ExitCode.TARGET,
        )
    except BotoCoreError as error:
        return _fail(
            str(error), "is the target reachable (make sandbox-up, --endpoint-url, --region)?", ExitCode.TARGET
        )
    return ExitCode.OK


def _fail(message: str, hint: str | None, code: ExitCode) -> int:
    if OUT.json:
        click.echo(json.dumps({"error": message, "hint": hint, "exit_code": int(code)}))
    else:
        click.echo(f"error: {message}", err=True)
        if hint:
            click.echo(f"hint: {hint}", err=True)
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
