"""What happened, read from where ModelRelay keeps it: executions, packages, drops, the state table.

- Step Functions executions of the promotion state machine: the input says what started it (an approval event,
  ``{"request": "rollback"}`` or ``{"request": "rerun"}``); the ``outcome`` slot RecordOutcome fills (the
  execution output, or the RecordOutcome exit in the history of a failed one) says what happened.
- Model packages: ``modelrelay:*`` CustomerMetadataProperties (status, failed step, reason, detail, execution).
- Drops: the ingest bucket's object versions and their ``modelrelay:*`` tags.
- Serving state: the state table, through :class:`modelrelay.adapters.store.Store`.

Every list call paginates.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from modelrelay.adapters.sagemaker import group_tag
from modelrelay.adapters.store import Store
from modelrelay.config import InferenceComponentTarget, MmeTarget, Route, Stage
from modelrelay.derive import Matcher
from modelrelay.ops.errors import ExitCode, UserError
from modelrelay.ops.target import Target


def iso(value: Any) -> str | None:
    """A timestamp (datetime or epoch seconds) as ISO-8601 UTC, or None."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return str(value)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


# ---------- executions ----------
@dataclass
class Run:
    """One execution of the promotion state machine, with what started it and (once read) its outcome."""

    arn: str
    name: str
    status: str
    started: str | None
    stopped: str | None
    kind: str  # approval | rollback | rerun | unknown
    group: str | None = None
    package_arn: str | None = None
    approval_status: str | None = None
    input: dict[str, Any] = field(default_factory=dict, repr=False)
    output: dict[str, Any] | None = field(default=None, repr=False)
    error: str | None = None
    cause: str | None = None
    outcome: dict[str, Any] | None = None  # {"outcome", "detail_type", "detail"} from RecordOutcome

    @property
    def result(self) -> str:
        """One word: the outcome's detail-type, or how the execution ended without one."""
        if self.outcome:
            return str(self.outcome.get("detail_type") or self.outcome.get("outcome"))
        if self.status == "RUNNING":
            return "Running"
        if self.status == "SUCCEEDED":
            return "NoChange"  # AlreadyHandled / NothingToPromote: a duplicate, or not an approval
        return self.error or self.status.title()

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("input")
        data.pop("output")
        data["result"] = self.result
        return data


def _started_by(raw: Any) -> tuple[str, str | None, str | None, str | None]:
    """(kind, group, package ARN, approval status) from an execution input."""
    if not isinstance(raw, dict):
        return "unknown", None, None, None
    if raw.get("request") == "rollback":
        return "rollback", raw.get("group"), None, None
    kind = "approval"
    if raw.get("request") == "rerun":
        kind, raw = "rerun", raw.get("event") or {}
    detail = raw.get("detail") if isinstance(raw.get("detail"), dict) else {}
    return (
        kind,
        detail.get("ModelPackageGroupName"),
        detail.get("ModelPackageArn"),
        detail.get("ModelApprovalStatus"),
    )


def describe_run(target: Target, execution: str) -> Run:
    """An execution by ARN or name (a name is looked up under the promotion state machine)."""
    arn = execution
    if not execution.startswith("arn:"):
        prefix = target.state_machine_arn.replace(":stateMachine:", ":execution:")
        arn = f"{prefix}:{execution}"
    try:
        described = target.client("stepfunctions").describe_execution(executionArn=arn)
    except ClientError as error:
        if _code(error) in ("ExecutionDoesNotExist", "InvalidArn", "ValidationException"):
            raise UserError(
                f"no execution {execution} of {target.state_machine_arn}",
                "list them with `modelrelay history GROUP`",
                ExitCode.NOT_FOUND,
            ) from error
        raise
    return _run_from(described)


def _run_from(described: dict[str, Any]) -> Run:
    try:
        raw = json.loads(described.get("input") or "{}")
    except json.JSONDecodeError:
        raw = {}
    kind, group, package, status = _started_by(raw)
    output = None
    if described.get("output"):
        try:
            output = json.loads(described["output"])
        except json.JSONDecodeError:
            output = None
    run = Run(
        arn=described["executionArn"],
        name=described.get("name") or described["executionArn"].rsplit(":", 1)[-1],
        status=described["status"],
        started=iso(described.get("startDate")),
        stopped=iso(described.get("stopDate")),
        kind=kind,
        group=group,
        package_arn=package,
        approval_status=status,
        input=raw if isinstance(raw, dict) else {},
        output=output if isinstance(output, dict) else None,
        error=described.get("error"),
        cause=described.get("cause"),
    )
    if run.output and isinstance(run.output.get("outcome"), dict):
        run.outcome = run.output["outcome"]
    return run


def _history(target: Target, arn: str) -> Iterator[dict[str, Any]]:
    """The execution's history, newest first where the service honours reverseOrder (paginated)."""
    paginator = target.client("stepfunctions").get_paginator("get_execution_history")
    for page in paginator.paginate(executionArn=arn, reverseOrder=True, PaginationConfig={"PageSize": 100}):
        yield from page["events"]


def read_outcome(target: Target, run: Run) -> Run:
    """Fill ``run.outcome`` of a finished execution from its RecordOutcome exit (failed executions have no output)."""
    if run.outcome is not None or run.status == "RUNNING":
        return run
    newest: tuple[int, dict[str, Any]] | None = None
    for event in _history(target, run.arn):
        exited = event.get("stateExitedEventDetails") or {}
        if exited.get("name") == "RecordOutcome" and (newest is None or event["id"] > newest[0]):
            try:
                state = json.loads(exited.get("output") or "{}")
            except json.JSONDecodeError:
                continue
            if isinstance(state.get("outcome"), dict):
                newest = (event["id"], state["outcome"])
    if newest:
        run.outcome = newest[1]
    return run


def current_state(target: Target, arn: str) -> str | None:
    """The state the execution entered last (for progress)."""
    newest: tuple[int, str] | None = None
    for event in _history(target, arn):
        entered = event.get("stateEnteredEventDetails")
        if entered and (newest is None or event["id"] > newest[0]):
            newest = (event["id"], entered["name"])
    return newest[1] if newest else None


def list_runs(target: Target, *, scan: int, group: str | None = None, package_arn: str | None = None) -> list[Run]:
    """The newest ``scan`` executions (newest first), optionally only those of a group or a package."""
    sfn = target.client("stepfunctions")
    summaries: list[dict[str, Any]] = []
    paginator = sfn.get_paginator("list_executions")
    for page in paginator.paginate(stateMachineArn=target.state_machine_arn, PaginationConfig={"PageSize": 100}):
        summaries.extend(page["executions"])
        if len(summaries) >= scan:
            break
    summaries.sort(key=lambda s: s["startDate"], reverse=True)
    runs = []
    for summary in summaries[:scan]:
        run = _run_from(sfn.describe_execution(executionArn=summary["executionArn"]))
        if group is not None and run.group != group:
            continue
        if package_arn is not None and run.package_arn != package_arn:
            continue
        runs.append(run)
    return runs


# ---------- model packages ----------
def packages(target: Target, group: str) -> list[dict[str, Any]]:
    """Every package of the group, described (metadata included), oldest first."""
    sagemaker = target.client("sagemaker")
    found = []
    try:
        for page in sagemaker.get_paginator("list_model_packages").paginate(ModelPackageGroupName=group):
            for summary in page["ModelPackageSummaryList"]:
                found.append(sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"]))
    except ClientError as error:
        if _code(error) in ("ValidationException", "ResourceNotFound"):
            return []
        raise
    found.sort(key=lambda p: (p.get("ModelPackageVersion") or 0, str(p.get("CreationTime"))))
    return found


def describe_package(target: Target, arn: str) -> dict[str, Any]:
    try:
        described: dict[str, Any] = target.client("sagemaker").describe_model_package(ModelPackageName=arn)
    except ClientError as error:
        if _code(error) in ("ValidationException", "ResourceNotFound"):
            raise UserError(
                f"no model package {arn}", "check the ARN (`modelrelay history GROUP`)", ExitCode.NOT_FOUND
            ) from error
        raise
    return described


def metadata(package: dict[str, Any]) -> dict[str, str]:
    return {
        k.removeprefix("modelrelay:"): v
        for k, v in (package.get("CustomerMetadataProperties") or {}).items()
        if k.startswith("modelrelay:")
    }


# ---------- drops ----------
def drops(target: Target, group: str) -> list[dict[str, Any]]:
    """Every version of every object dropped for the group, with its ModelRelay tags."""
    s3 = target.client("s3")
    bucket, prefix = target.ingest_bucket, f"{target.ingest_prefix}{group}/"
    found = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for version in page.get("Versions", []):
            found.append(
                {
                    "uri": f"s3://{bucket}/{version['Key']}",
                    "key": version["Key"],
                    "version_id": version.get("VersionId"),
                    "size": version.get("Size"),
                    "time": iso(version.get("LastModified")),
                    "tags": object_tags(target, bucket, version["Key"], version.get("VersionId")),
                }
            )
    return found


def object_tags(target: Target, bucket: str, key: str, version_id: str | None = None) -> dict[str, str]:
    params: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id and version_id != "null":
        params["VersionId"] = version_id
    try:
        tags = target.client("s3").get_object_tagging(**params)["TagSet"]
    except ClientError as error:
        if _code(error) in ("NoSuchKey", "NoSuchVersion", "404", "NoSuchBucket"):
            raise UserError(f"no object s3://{bucket}/{key}", "check the URI", ExitCode.NOT_FOUND) from error
        raise
    return {t["Key"].removeprefix("modelrelay:"): t["Value"] for t in tags if t["Key"].startswith("modelrelay:")}


# ---------- what serves ----------
def store(target: Target) -> Store:
    return Store(target.client("dynamodb"), target.state_table)


def serving(target: Target, route: Route) -> dict[str, Any]:
    """What serves the route now and what served before, from the state table (and the endpoint)."""
    kind = route.target.kind
    result: dict[str, Any] = {
        "group": route.model_package_group,
        "route": kind,
        "endpoint_name": route.target.endpoint_name,
        "model_name": route.model_name if kind == "mme" else None,
    }
    if kind == "mme":
        pointer = store(target).read_pointer(route.target.endpoint_name, route.model_name) or {}
        current = pointer.get("current") or {}
        result |= {
            "target_model": current.get("target_model"),
            "package_arn": current.get("package_arn"),
            "version": current.get("version"),
            "sha256": current.get("sha256"),
            "s3_uri": current.get("s3_uri"),
            "since": iso(current.get("moved_at")),
            "execution": current.get("execution"),
            "previous": [old.get("target_model") for old in pointer.get("history", [])],
        }
        return result
    if isinstance(route.target, InferenceComponentTarget):
        return result | _component_serving(target, route.target)
    record, history = store(target).read_serving(route.target.endpoint_name)
    endpoint: dict[str, Any] = {}
    try:
        endpoint = target.client("sagemaker").describe_endpoint(EndpointName=route.target.endpoint_name)
    except ClientError as error:
        if _code(error) != "ValidationException":
            raise
    sha = None
    if record and record.package_arn:
        try:
            sha = metadata(describe_package(target, record.package_arn)).get("sha256")
        except UserError:
            sha = None
    result |= {
        "endpoint_config": record.config_name if record else endpoint.get("EndpointConfigName"),
        "endpoint_status": endpoint.get("EndpointStatus"),
        "package_arn": record.package_arn if record else None,
        "version": record.version if record else None,
        "sha256": sha,
        "since": iso(endpoint.get("LastModifiedTime")) if record else None,
        "execution": record.execution if record else None,
        "previous": [old.config_name for old in history],
    }
    return result


def _component_serving(target: Target, route_target: InferenceComponentTarget) -> dict[str, Any]:
    """What an inference component runs (its record, and what DescribeInferenceComponent says)."""
    name = route_target.component_name
    record, history = store(target).read_component_serving(route_target.endpoint_name, name)
    described: dict[str, Any] = {}
    try:
        described = target.client("sagemaker").describe_inference_component(InferenceComponentName=name)
    except ClientError as error:
        if _code(error) != "ValidationException":
            raise
    return {
        "inference_component": name,
        "component_status": described.get("InferenceComponentStatus"),
        "model": (described.get("Specification") or {}).get("ModelName"),
        "package_arn": record.package_arn if record else None,
        "version": record.version if record else None,
        "execution": record.execution if record else None,
        "previous": [old.model_name for old in history],
    }


# ---------- staged routes: what serves at each stage, where each version is, the gates that wait ----------
def lifecycle(target: Target, arn: str | None) -> dict[str, Any] | None:
    """The package's ``ModelLifeCycle`` (``stage``, ``status``, ``description``), or None (no package, none set)."""
    if not arn:
        return None
    try:
        described = describe_package(target, arn)
    except UserError:
        return None
    cycle = described.get("ModelLifeCycle") or {}
    if not cycle:
        return None
    return {
        "stage": cycle.get("Stage"),
        "status": cycle.get("StageStatus"),
        "description": cycle.get("StageDescription"),
    }


def waiting_gates(target: Target, runs: list[Run]) -> list[dict[str, Any]]:
    """The manual gates the running executions among ``runs`` wait at (``gate#<execution>`` in the state table)."""
    gates = []
    for run in runs:
        if run.status != "RUNNING":
            continue
        gate = store(target).read_gate(run.name)
        if gate is None:
            continue
        gates.append(
            {
                "execution": run.name,
                "execution_arn": run.arn,
                "group": gate.get("group") or run.group,
                "package_arn": gate.get("package_arn"),
                "after_stage": gate.get("after_stage"),
                "waiting_for": gate.get("awaited_stage"),
                "deadline": iso(gate.get("expires_at")),
                "approve": f"modelrelay approve {run.name}",
                "deny": f"modelrelay deny {run.name}",
            }
        )
    return gates


def stage_serving(target: Target, route: Route, stage: Stage) -> dict[str, Any]:
    """What serves at one stage of a staged route: its account, its target, the stage's pointer (MME) or serving
    record (endpoint) in the state table (``<account>:`` scoped), and the ModelLifeCycle of the package there.

    The endpoint's own status is not read: it is in the stage's account, which the operator's credentials (the
    stack account's) do not reach."""
    stage = route.stage(stage.name)
    scoped = store(target).scoped(stage.account)
    stage_target = stage.target
    gate = stage.gate
    entry: dict[str, Any] = {
        "stage": stage.name,
        "account": stage.account,
        "route": "mme" if isinstance(stage_target, MmeTarget) else "endpoint",
        "endpoint_name": stage_target.endpoint_name,
        "model_name": None,
        "gate": gate.kind if gate else None,
    }
    if isinstance(stage_target, MmeTarget):
        model = stage_target.model_name or route.model_name
        pointer = scoped.read_pointer(stage_target.endpoint_name, model) or {}
        current = pointer.get("current") or {}
        entry |= {
            "model_name": model,
            "target_model": current.get("target_model"),
            "package_arn": current.get("package_arn"),
            "hub_package_arn": current.get("hub_package_arn"),
            "version": current.get("version"),
            "sha256": current.get("sha256"),
            "since": iso(current.get("moved_at")),
            "execution": current.get("execution"),
            "previous": [old.get("target_model") for old in pointer.get("history", [])],
        }
    else:
        record, history = scoped.read_serving(stage_target.endpoint_name)
        sha = None
        if record and record.package_arn:
            with contextlib.suppress(UserError):
                sha = metadata(describe_package(target, record.package_arn)).get("sha256")
        entry |= {
            "endpoint_config": record.config_name if record else None,
            "package_arn": record.package_arn if record else None,
            "hub_package_arn": record.hub_package_arn if record else None,
            "version": record.version if record else None,
            "sha256": sha,
            "since": None,
            "execution": record.execution if record else None,
            "previous": [old.config_name for old in history],
        }
    # The registry stage is on the source package; in pull mode on the hub package (the spoke's is read-only).
    pull = target.parameters.get("HubMode") == "pull"
    entry["lifecycle"] = lifecycle(target, entry["hub_package_arn"] if pull else entry["package_arn"])
    return entry


def staged_serving(target: Target, route: Route, gates: list[dict[str, Any]]) -> dict[str, Any]:
    """A staged route: what serves at its last stage (the route's target), and every stage with the gate that
    waits after it, if one does."""
    stages = [stage_serving(target, route, stage) for stage in route.stages]
    # An endpoint stage's record has no SHA-256; a package is the same bytes at every stage (an MME pointer has it).
    known = {s["package_arn"]: s["sha256"] for s in stages if s.get("package_arn") and s.get("sha256")}
    for entry in stages:
        entry["sha256"] = entry.get("sha256") or known.get(entry.get("package_arn"))
    mine = [g for g in gates if g["group"] == route.name]
    for entry in stages:
        entry["waiting"] = next((g for g in mine if g["after_stage"] == entry["stage"]), None)
    last = stages[-1]
    keys = ("target_model", "endpoint_config", "package_arn", "version", "sha256", "since", "execution", "previous")
    result: dict[str, Any] = {
        "group": route.model_package_group,
        "route": last["route"],
        "endpoint_name": last["endpoint_name"],
        "model_name": last["model_name"],
    }
    result |= {k: last[k] for k in keys if k in last}
    return result | {"stages": stages, "gates": mine}


def route_for(target: Target, group: str) -> Route:
    """The group's route as the promotion resolves it: pattern matched, model name from the template or the tag."""
    if not target.routing.has_route(group):
        known = ", ".join(r.name for r in target.routing.routes)
        raise UserError(f"no route for group {group}", f"known groups and patterns: {known}", ExitCode.NOT_FOUND)
    route = target.routing.route_for(group)
    if isinstance(route.target, MmeTarget) and route.target.model_name_tag:
        try:
            arn = target.client("sagemaker").describe_model_package_group(ModelPackageGroupName=group)[
                "ModelPackageGroupArn"
            ]
        except ClientError:
            return route
        tagged = group_tag(target.client("sagemaker"), arn, route.target.model_name_tag)
        if tagged:
            route = route.with_model_name(tagged)
    return route


def approval_rule_groups(target: Target) -> list[Matcher]:
    """The deployed approval rule's ``ModelPackageGroupName`` filter (what the stack watches)."""
    rules = [physical for logical, physical in target.resources.items() if logical.endswith("ModelPackageApproval")]
    if not rules:
        return []
    try:
        rule = target.client("events").describe_rule(Name=rules[0].split("|")[-1])
    except ClientError:
        return []
    matchers: list[Matcher] = (
        json.loads(rule.get("EventPattern") or "{}").get("detail", {}).get("ModelPackageGroupName", [])
    )
    return matchers
