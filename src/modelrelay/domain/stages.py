"""Staged routes: the promotion passes through the route's stages in order (e.g. ``staging``, then ``production``),
each a target in its own account reached through a deployment role there; after each stage a test, then a gate.

A stage is deployed by the steps that deploy a route's target (``StageOnMme``, the rollout steps), given the
stage's plan (:func:`stage_plan`) and acting in the stage's account (:func:`mme_deps`, :func:`rollout_deps`). The
``StageStep`` function (``functions/stage_step``) does the rest, one action per call (``begin``, ``test``,
``bake_check``, ``gate_wait``, ``advance``, ``refuse``, ``expire``, ``rollback_next``) and decides manual gates
(:func:`decide`). Progress is recorded on the package's ``ModelLifeCycle`` (``Stage``, ``StageStatus``), so the
registry shows where each version is; in pull mode on the hub package (the spoke's is read-only to the hub).

A refused gate (``modelrelay deny``, the registry stage set to ``Rejected``, an alarm during an automatic gate's
bake) rolls back every stage the promotion reached, newest first, with the code that rolls a route back
(:func:`modelrelay.domain.mme.restore_mme`, the rollout's restore). A stage that fails (its deployment, or its test)
leaves the earlier stages as they are, and says so. A manual gate nobody answers in time ends the promotion as
``gate_expired``; the stages stay as they are (an operator may ``modelrelay rollback``).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from modelrelay.adapters import alarms, runtime, s3, sagemaker
from modelrelay.adapters import stepfunctions as stepfunctions_adapter
from modelrelay.config import MmeTarget, Route, SmokeCheck, Stage
from modelrelay.domain.deps import PromotionDeps, RolloutDeps
from modelrelay.domain.mme import smoke_body, target_model
from modelrelay.errors import GateNotWaiting
from modelrelay.steps import (
    ArtifactRef,
    HubResult,
    PromotionPlan,
    RolloutState,
    StageRecord,
    StagesRequest,
    StageState,
    StageStatus,
)

GATE_DENIED = "GateDenied"


# ---------- a stage's plan and the clients that act in its account ----------
def _route(plan: PromotionPlan, deps: PromotionDeps | RolloutDeps) -> Route:
    assert plan.group
    return deps.routing.route_for(plan.group)


def stage_of(plan: PromotionPlan, deps: PromotionDeps | RolloutDeps) -> Stage:
    assert plan.stage
    return _route(plan, deps).stage(plan.stage)


def stage_plan(plan: PromotionPlan, hub: HubResult, stage: Stage, route: Route) -> PromotionPlan:
    """The plan of one stage: the promotion's package and exact bytes, served from the hub copy (the stage's
    account reads the hub, never the source account), onto the stage's target."""
    assert plan.artifact
    bucket, key = s3.parse_s3_uri(hub.hub_artifact_uri)
    artifact = ArtifactRef(bucket=bucket, key=key, size=plan.artifact.size, sha256=plan.artifact.sha256)
    target = stage.target
    staged = plan.model_copy(
        update={
            "reason": f"stage {stage.name}",
            "artifact": artifact,
            "endpoint_name": target.endpoint_name,
            "stage": stage.name,
            "stage_account": stage.account,
            "route_kind": "mme" if isinstance(target, MmeTarget) else "endpoint",
            "model_name": None,
            "target_model": None,
            "mme_bucket": None,
            "mme_key": None,
        }
    )
    if isinstance(target, MmeTarget):
        model = target.model_name or route.model_name
        staged.model_name = model
        staged.target_model = target_model(model, plan.source.version if plan.source else None, artifact.sha256)
        staged.mme_bucket = target.bucket
        staged.mme_key = target.prefix + staged.target_model
    return staged


def restore_plan(plan: PromotionPlan, record: StageRecord, reason: str) -> PromotionPlan:
    """The plan that returns a reached stage to what served before (withdrawn when nothing approved did)."""
    return PromotionPlan(
        decision="restore",
        restore_kind="rejected",
        reason=reason,
        package_arn=plan.package_arn,
        group=plan.group,
        route_kind=record.kind,
        endpoint_name=record.endpoint_name,
        model_name=plan.model_name,
        mme_bucket=plan.mme_bucket,
        stage=record.name,
        stage_account=record.account,
    )


def _session(stage: Stage, deps: PromotionDeps | RolloutDeps) -> Any:
    assert deps.stage_session is not None, "staged routes need a stage session provider"
    return deps.stage_session(stage.role_arn, stage.external_id)


def mme_deps(plan: PromotionPlan, deps: PromotionDeps) -> PromotionDeps:
    """``deps`` acting in the stage's account (S3, SageMaker Runtime, its records); packages are still read with
    the stack's own SageMaker client."""
    if not plan.stage:
        return deps
    from modelrelay.adapters.clients import client

    stage = stage_of(plan, deps)
    session = _session(stage, deps)
    return replace(
        deps,
        s3=client("s3", session),
        source_s3=deps.source_s3 or deps.s3,
        runtime=client("sagemaker-runtime", session, config=runtime.RUNTIME_CONFIG),
        store=deps.store.scoped(stage.account),
    )


def rollout_deps(plan: PromotionPlan, deps: RolloutDeps) -> RolloutDeps:
    """``deps`` acting in the stage's account (its endpoint, models, configs, alarms, its records)."""
    if not plan.stage:
        return deps
    from modelrelay.adapters.clients import client

    stage = stage_of(plan, deps)
    session = _session(stage, deps)
    return replace(
        deps,
        sagemaker=client("sagemaker", session),
        cloudwatch=client("cloudwatch", session),
        store=deps.store.scoped(stage.account),
        packages=deps.packages or deps.sagemaker,
    )


# ---------- the registry: where each version is ----------
def lifecycle_arn(plan: PromotionPlan, hub: HubResult | None, deps: PromotionDeps) -> str | None:
    """The package whose ModelLifeCycle shows the stages: the source package, or in pull mode the hub package."""
    if deps.settings.may_write_source(plan.package_arn):
        return plan.package_arn
    return hub.hub_package_arn if hub else None


def record_lifecycle(
    plan: PromotionPlan, hub: HubResult | None, stage: str, status: StageStatus, description: str, deps: PromotionDeps
) -> None:
    """``UpdateModelPackage`` ``ModelLifeCycle`` = {Stage, StageStatus, StageDescription}; best effort (the
    promotion's outcome stands whatever the annotation does)."""
    arn = lifecycle_arn(plan, hub, deps)
    if arn is None:
        return
    client = deps.sagemaker if arn == plan.package_arn else deps.hub().sagemaker
    sagemaker.record_lifecycle(client, arn, stage, status, description)


# ---------- actions ----------
def _record(stage: Stage) -> StageRecord:
    kind = "mme" if isinstance(stage.target, MmeTarget) else "endpoint"
    return StageRecord(name=stage.name, account=stage.account, kind=kind, endpoint_name=stage.target.endpoint_name)


def _enter(state: StageState, index: int, plan: PromotionPlan, hub: HubResult, deps: PromotionDeps) -> StageState:
    route = _route(plan, deps)
    stage = route.stage(state.stages[index].name)
    gate = stage.gate
    entered = state.model_copy(
        update={
            "index": index,
            "plan": stage_plan(plan, hub, stage, route),
            "gate": gate.kind if gate else "none",
            "bake_seconds": max(gate.bake_seconds, 1) if gate else 0,
            "gate_timeout_seconds": gate.timeout_seconds if gate else 1,
            "deployed_at": None,
            "approval": None,
        }
    )
    record_lifecycle(plan, hub, stage.name, "InProgress", f"ModelRelay deploys to {stage.name}", deps)
    return entered


def begin(plan: PromotionPlan, hub: HubResult | None, deps: PromotionDeps) -> StageState:
    assert hub is not None
    route = _route(plan, deps)
    state = StageState(stages=[_record(route.stage(s.name)) for s in route.stages])
    return _enter(state, 0, plan, hub, deps)


def _answers(check: SmokeCheck, stage_plan_: PromotionPlan, target: str | None, deps: PromotionDeps) -> str | None:
    """Invoke the stage's endpoint with the test's sample; None on a 2xx within the limit, else what went wrong."""
    body = smoke_body(check, stage_plan_, deps)
    stage_deps = mme_deps(stage_plan_, deps)
    assert stage_plan_.endpoint_name
    deadline = time.monotonic() + check.timeout_seconds
    pause = 0.2
    while True:
        answer = runtime.invoke(stage_deps.runtime, stage_plan_.endpoint_name, target, body, check.content_type)
        late = time.monotonic() > deadline
        if answer.ok and not late:
            return None
        if answer.error_code in ("ModelNotReadyException", "ServiceUnavailable") and not late:
            time.sleep(min(pause, max(deadline - time.monotonic(), 0)))
            pause = min(pause * 2, 5.0)
            continue
        if answer.ok or answer.timed_out:
            return f"no 2xx answer within {check.timeout_seconds:g} s ({answer.seconds:.1f} s)"
        return f"answered {answer.error_code} ({answer.status}): {answer.message}"


def _serves_new_config(stage_plan_: PromotionPlan, rollout: RolloutState, deps: PromotionDeps) -> str | None:
    stage = stage_of(stage_plan_, deps)
    from modelrelay.adapters.clients import client

    endpoint = sagemaker.describe_endpoint(client("sagemaker", _session(stage, deps)), rollout.endpoint_name) or {}
    if endpoint.get("EndpointStatus") != "InService" or endpoint.get("EndpointConfigName") != rollout.new_config:
        return (
            f"endpoint {rollout.endpoint_name} is {endpoint.get('EndpointStatus')} on "
            f"{endpoint.get('EndpointConfigName')}, not InService on {rollout.new_config}"
        )
    return None


def test(request: StagesRequest, deps: PromotionDeps) -> StageState:
    """After a stage's deployment: did it deploy (the rollout's own outcome), is the endpoint InService on the new
    config, and does it answer the test's sample with a 2xx in time? A stage that did not deploy ends the promotion
    (the earlier stages stay as they are); one that deployed but fails its test is rolled back (itself only)."""
    state, plan = _state(request), request.plan
    stage_plan_ = state.plan
    assert stage_plan_ is not None
    record = state.current
    stage = stage_of(stage_plan_, deps)
    rollout = request.stage_rollout if record.kind == "endpoint" else None
    mme = request.stage_mme if record.kind == "mme" else None
    if rollout is not None and rollout.status != "Succeeded":
        outcome = "RolledBack" if rollout.status == "RolledBack" else "Failed"
        reason = rollout.reason_code or "stage_failed"
        record = record.model_copy(update={"status": outcome, "reason": f"{reason}: {rollout.reason}"})
        return _end_at_failed_stage(state, record, outcome, reason, plan, request.hub, deps)
    record = record.model_copy(
        update={
            "target_model": mme.target_model if mme else None,
            "endpoint_config": rollout.new_config if rollout else None,
        }
    )
    problem = _serves_new_config(stage_plan_, rollout, deps) if rollout is not None else None
    if problem is None and stage.test is not None and record.kind == "endpoint":
        # MME stages are tested before their pointer moves (the stage's smoke check, in StageOnMme).
        problem = _answers(stage.test, stage_plan_, None, deps)
    if problem is not None:
        record = record.model_copy(update={"status": "Failed", "reason": f"stage_test_failed: {problem}"})
        state = _set_record(state, record)
        text = f"stage {stage.name} failed its test: {problem}; it is rolled back"
        record_lifecycle(plan, request.hub, stage.name, "Failed", text, deps)
        return _start_rollback(state, [state.index], "stage_test_failed", text, "Failed")
    record = record.model_copy(update={"status": "Tested"})
    record_lifecycle(
        plan, request.hub, stage.name, "Deployed", f"ModelRelay deployed and tested it in {stage.name}", deps
    )
    return _set_record(state, record).model_copy(update={"deployed_at": int(time.time())})


def _end_at_failed_stage(
    state: StageState,
    record: StageRecord,
    outcome: str,
    reason: str,
    plan: PromotionPlan,
    hub: HubResult | None,
    deps: PromotionDeps,
) -> StageState:
    earlier = [r for r in state.stages[: state.index] if r.status in ("Tested", "Deployed")]
    kept = "; ".join(f"{r.name} still serves it ({r.endpoint_name}, as it was)" for r in earlier)
    message = f"stage {record.name} did not deploy ({record.reason})" + (f"; {kept}" if kept else "")
    record_lifecycle(plan, hub, record.name, "RolledBack" if outcome == "RolledBack" else "Failed", message, deps)
    return _set_record(state, record).model_copy(
        update={"phase": "done", "outcome": outcome, "reason": reason, "message": message}
    )


def bake_check(request: StagesRequest, deps: PromotionDeps) -> StageState:
    """An automatic gate after its bake: the stage's alarms (the gate's, and a rolled endpoint's guard alarms) must
    not have gone to ALARM since the stage was deployed; otherwise every stage reached is rolled back."""
    state = _state(request)
    assert state.plan is not None
    stage = stage_of(state.plan, deps)
    names = list(stage.gate.alarm_names if stage.gate else [])
    if request.stage_rollout is not None and state.current.kind == "endpoint":
        names += [n for n in request.stage_rollout.alarm_names if n not in names]
    if not names:
        return state
    from modelrelay.adapters.clients import client

    cloudwatch = client("cloudwatch", _session(stage, deps))
    fired = alarms.fired_since(cloudwatch, names, float(state.deployed_at or 0))
    if not fired:
        return state
    text = f"the automatic gate after {stage.name} saw alarm(s) {', '.join(fired)} in ALARM during its bake"
    record_lifecycle(request.plan, request.hub, stage.name, "Refused", text, deps)
    return _start_rollback(state, _reached(state), "gate_alarm", text, "RolledBack")


def awaited_stage(state: StageState) -> str:
    """The registry stage an approver sets to let the promotion on: the next stage's name (or, after the last
    stage, its own: an acceptance gate)."""
    following = state.stages[state.index + 1 :]
    return following[0].name if following else state.current.name


def gate_wait(request: StagesRequest, deps: PromotionDeps) -> dict[str, Any]:
    """Called by the manual gate's ``.waitForTaskToken`` task: keep its token (the state table, by execution and by
    the package an approver may set the registry stage of), record ``PendingApproval`` and tell the approvers."""
    state, plan = _state(request), request.plan
    assert request.token
    waiting_for = awaited_stage(state)
    arn = lifecycle_arn(plan, request.hub, deps) or plan.package_arn
    deadline = int(time.time()) + state.gate_timeout_seconds
    deps.store.put_gate(
        request.execution,
        {
            "token": request.token,
            "lifecycle_arn": arn,
            "package_arn": plan.package_arn,
            "group": plan.group,
            "after_stage": state.current.name,
            "awaited_stage": waiting_for,
            "expires_at": deadline,
        },
    )
    deps.store.extend_claim(plan.package_arn, request.execution, deadline)
    text = (
        f"waiting for approval to go on to {waiting_for}: modelrelay approve|deny {request.execution}, or set the "
        f"package's stage to {waiting_for} with StageStatus Approved or Rejected (deadline in "
        f"{state.gate_timeout_seconds} s)"
    )
    record_lifecycle(plan, request.hub, waiting_for, "PendingApproval", text, deps)
    if deps.sns is not None:
        subject = f"ModelRelay: approval needed for {plan.group} ({state.current.name} -> {waiting_for})"
        deps.sns.publish(
            TopicArn=deps.settings.notification_topic_arn,
            Subject=subject[:99],
            Message=f"{subject}\n\npackage_arn: {plan.package_arn}\nexecution: {request.execution}\n{text}",
            MessageAttributes={"detail_type": {"DataType": "String", "StringValue": "Gate Waiting"}},
        )
    return {"waiting": True, "awaited_stage": waiting_for, "expires_at": deadline}


def advance(request: StagesRequest, deps: PromotionDeps) -> StageState:
    """The gate let the promotion on (or there was none): the next stage, or done."""
    state, plan = _state(request), request.plan
    deps.store.delete_gate(request.execution)
    state = _set_record(state, state.current.model_copy(update={"status": "Deployed"}))
    if state.index + 1 < len(state.stages):
        assert request.hub is not None
        return _enter(state, state.index + 1, plan, request.hub, deps)
    names = ", ".join(r.name for r in state.stages)
    by = (state.approval or {}).get("by")
    text = f"ModelRelay deployed it to {names}" + (f"; approved by {by}" if by else "")
    record_lifecycle(plan, request.hub, state.current.name, "Deployed", text, deps)
    return state.model_copy(
        update={"phase": "done", "outcome": "Succeeded", "reason": "deployed", "message": f"deployed to {names}"}
    )


def refuse(request: StagesRequest, deps: PromotionDeps) -> StageState:
    """The manual gate said no (its task failed with GateDenied): roll back every stage reached."""
    state = _state(request)
    deps.store.delete_gate(request.execution)
    cause = str((state.approval or {}).get("Cause") or "")
    text = f"the gate after {state.current.name} was denied" + (f" ({cause})" if cause else "")
    record_lifecycle(request.plan, request.hub, awaited_stage(state), "Refused", text, deps)
    return _start_rollback(state, _reached(state), "gate_denied", text, "RolledBack")


def expire(request: StagesRequest, deps: PromotionDeps) -> StageState:
    """Nobody answered the manual gate in time: the promotion ends as gate_expired; the stages stay as they are."""
    state = _state(request)
    deps.store.delete_gate(request.execution)
    kept = ", ".join(f"{r.name} ({r.endpoint_name})" for r in state.stages if r.status in ("Tested", "Deployed"))
    text = (
        f"nobody approved going on from {state.current.name} within {state.gate_timeout_seconds} s; "
        f"{kept or 'no stage'} keeps serving it as it was (modelrelay rollback GROUP returns it)"
    )
    record_lifecycle(request.plan, request.hub, awaited_stage(state), "GateExpired", text, deps)
    return state.model_copy(update={"phase": "done", "outcome": "Failed", "reason": "gate_expired", "message": text})


def rollback_next(request: StagesRequest, deps: PromotionDeps) -> StageState:
    """Record the stage just rolled back (if any), then plan the next one (newest first), or finish."""
    state = _state(request)
    if state.phase == "rollback" and state.plan is not None and state.plan.decision == "restore":
        record = state.current
        rollout, mme = request.stage_rollout, request.stage_mme
        if record.kind == "endpoint" and rollout is not None and rollout.status != "Succeeded":
            record = record.model_copy(update={"status": "Failed", "reason": f"rollback failed: {rollout.reason}"})
        else:
            back_to = (mme.target_model or "withdrawn") if mme else (rollout.new_config if rollout else None)
            record = record.model_copy(update={"status": "RolledBack", "rolled_back_to": back_to})
        state = _set_record(state, record)
        text = f"ModelRelay rolled {record.name} back ({state.reason})"
        record_lifecycle(request.plan, request.hub, record.name, record.status, text, deps)
    pending = list(state.rollback)
    if not pending:
        failed = [r.name for r in state.stages if r.status == "Failed" and (r.reason or "").startswith("rollback")]
        message = state.message or ""
        if failed:
            message += f"; rolling back {', '.join(failed)} failed"
        return state.model_copy(update={"phase": "done", "plan": None, "message": message})
    index = pending.pop()
    record = state.stages[index]
    return state.model_copy(
        update={
            "phase": "rollback",
            "index": index,
            "rollback": pending,
            "plan": restore_plan(request.plan, record, state.message or "rolled back"),
        }
    )


# ---------- manual gate decisions: the CLI, or the registry stage ----------
def decide(
    execution: str, approve: bool, by: str, deps: PromotionDeps, *, stepfunctions: Any = None, note: str = ""
) -> dict[str, Any]:
    """Answer the manual gate ``execution`` waits at: ``SendTaskSuccess`` (approve) or ``SendTaskFailure``
    (``GateDenied``) with the token its gate task stored. Raises GateNotWaiting when none waits."""
    gate = deps.store.read_gate(execution)
    if gate is None:
        raise GateNotWaiting(f"execution {execution} has no manual gate waiting (decided, expired, or none)")
    client = stepfunctions or deps.stepfunctions
    answer = {"approved": approve, "by": by, "note": note, "stage": gate.get("awaited_stage")}
    cause = f"denied by {by}" + (f": {note}" if note else "")
    gone = stepfunctions_adapter.answer(client, gate["token"], answer if approve else None, GATE_DENIED, cause)
    if gone:
        deps.store.delete_gate(execution)
        raise GateNotWaiting(f"the gate of {execution} no longer waits ({gone})")
    return {"execution": execution, **answer}


def on_registry_stage(event: dict[str, Any], deps: PromotionDeps) -> dict[str, Any]:
    """A Model Package State Change whose ``ModelLifeCycle`` an approver set: ``Stage`` = the stage a gate waits
    for and ``StageStatus`` ``Approved`` or ``Rejected`` answers that gate; anything else is ignored."""
    detail = event.get("detail") or {}
    lifecycle = detail.get("ModelLifeCycle") or {}
    arn = str(detail.get("ModelPackageArn") or "")
    status = lifecycle.get("StageStatus")
    gate = deps.store.gate_of_package(arn) if arn and status in ("Approved", "Rejected") else None
    if gate is None or lifecycle.get("Stage") != gate.get("awaited_stage"):
        return {"decided": False, "package_arn": arn}
    by = str(detail.get("LastModifiedBy", {}).get("UserProfileName") or "the model registry")
    execution = str(gate["pk"]).removeprefix("gate#")
    note = str(lifecycle.get("StageDescription") or "")
    try:
        result = decide(execution, status == "Approved", by, deps, note=note)
    except GateNotWaiting:
        return {"decided": False, "package_arn": arn}
    return {"decided": True, **result}


# ---------- helpers ----------
def _state(request: StagesRequest) -> StageState:
    assert request.stage is not None, f"action {request.action} needs the stage slot"
    return request.stage


def _set_record(state: StageState, record: StageRecord) -> StageState:
    stages = list(state.stages)
    stages[state.index] = record
    return state.model_copy(update={"stages": stages})


def _reached(state: StageState) -> list[int]:
    return [i for i, r in enumerate(state.stages) if i <= state.index and r.status in ("Tested", "Deployed")]


def _start_rollback(state: StageState, indices: list[int], reason: str, message: str, outcome: str) -> StageState:
    return state.model_copy(
        update={
            "phase": "rollback",
            "rollback": indices,
            "plan": None,
            "outcome": outcome,
            "reason": reason,
            "message": message,
        }
    )


def run(request: StagesRequest, deps: PromotionDeps) -> StageState | dict[str, Any]:
    """One action of a staged promotion, as named by the state machine."""
    action = request.action
    if action == "begin":
        return begin(request.plan, request.hub, deps)
    if action == "gate_wait":
        return gate_wait(request, deps)
    handlers = {
        "test": test,
        "bake_check": bake_check,
        "advance": advance,
        "refuse": refuse,
        "expire": expire,
        "rollback_next": rollback_next,
    }
    return handlers[action](request, deps)


def outcome_detail(state: StageState) -> dict[str, Any]:
    """What the Promotion event and notification say about the stages."""
    current = state.stages[state.index] if state.stages else None
    return {
        "stage": current.name if current else None,
        "stages": [r.model_dump(exclude_none=True) for r in state.stages],
        "reason": state.reason,
        "message": state.message,
    }
