"""The state machine and the Python steps agree: names, slots, request fields, decisions, statuses, error names.

Reads the deployed ASL (``statemachines/promotion.asl.json``) and checks it against ``modelrelay.steps`` and
``modelrelay.errors``, so renaming a step, a field, a decision or an error class on one side fails here.
"""

from __future__ import annotations

import ast
import json
import re
import typing
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from modelrelay import errors, steps
from modelrelay.steps import FUNCTION_STEPS, SLOTS, StepRequest

REPO = Path(__file__).resolve().parents[2]
ASL = json.loads((REPO / "statemachines/promotion.asl.json").read_text())
STATES: dict[str, dict[str, Any]] = ASL["States"]
TEMPLATE = (REPO / "template.yaml").read_text()
# Errors Step Functions itself raises, or Lambda's (named in AWS's Step Functions error handling docs).
SERVICE_ERRORS = re.compile(r"^(States\.[A-Za-z]+|Lambda\.[A-Za-z]+|Runtime\.[A-Za-z]+|Sandbox\.Timedout)$")


def lambda_tasks() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in STATES.items() if s["Type"] == "Task" and s["Resource"].startswith("${")}


def function_of(state: dict[str, Any]) -> str:
    return str(state["Resource"][2:-1])


def slot_of(path: str) -> str:
    match = re.fullmatch(r"\$\.([a-z_]+)(\..+)?", path)
    assert match, f"{path} is not a slot path"
    return match.group(1)


def test_the_checked_in_asl_is_what_the_description_generates() -> None:
    import promotion  # statemachines/promotion.py

    assert json.loads(promotion.render()) == ASL


def test_every_error_name_in_the_asl_is_a_python_error_or_a_service_error() -> None:
    names = {
        cls.__name__
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.ModelRelayError)
    }
    used = {
        error
        for state in STATES.values()
        for policy in state.get("Retry", []) + state.get("Catch", [])
        for error in policy["ErrorEquals"]
    }
    assert used, "the ASL names no errors"
    assert {e for e in used if not SERVICE_ERRORS.match(e)} <= names


@pytest.mark.parametrize("name", sorted(lambda_tasks()))
def test_every_lambda_task_retries_transient_errors_and_a_crashed_function(name: str) -> None:
    retried = {error for policy in STATES[name]["Retry"] for error in policy["ErrorEquals"]}
    assert {
        "Lambda.ServiceException",
        "Lambda.TooManyRequestsException",
        "Runtime.ExitError",
        "Sandbox.Timedout",
    } <= retried


def _wait_seconds(policy: dict[str, Any]) -> float:
    """The longest a retrier can wait over all its attempts (Step Functions: interval * rate^n, capped)."""
    cap = policy.get("MaxDelaySeconds", float("inf"))
    return sum(
        min(policy.get("IntervalSeconds", 1) * policy.get("BackoffRate", 2.0) ** n, cap)
        for n in range(policy.get("MaxAttempts", 3))
    )


@pytest.mark.parametrize("name", sorted(lambda_tasks()))
def test_a_throttled_lambda_task_waits_out_a_burst_backlog(name: str) -> None:
    # Given the retrier Step Functions picks for a throttled invocation: the first whose ErrorEquals matches
    throttled = next(p for p in STATES[name]["Retry"] if "Lambda.TooManyRequestsException" in p["ErrorEquals"])

    # Then it waits up to an hour of backlog, never more than 30 s between tries, spread by jitter
    assert _wait_seconds(throttled) >= 3600
    assert throttled["MaxDelaySeconds"] <= 30
    assert throttled["JitterStrategy"] == "FULL"


def test_every_choice_value_is_a_literal_of_the_field_it_tests() -> None:
    fields = {
        "$.plan.decision": steps.Decision,
        "$.plan.route_kind": steps.RouteKind,
        "$.rollout.status": steps.RolloutStatus,
        "$.outcome.outcome": steps.Outcome,
        "$.stage_plan.route_kind": steps.RouteKind,
        "$.stage_rollout.status": steps.RolloutStatus,
        "$.stage.phase": steps.StagePhase,
        "$.stage.gate": typing.get_type_hints(steps.StageState)["gate"],
    }
    choices = [
        (c["Variable"], c["StringEquals"]) for s in STATES.values() if s["Type"] == "Choice" for c in s["Choices"]
    ]
    assert choices
    for variable, value in choices:
        assert variable in fields, f"Choice on {variable}: no typed field declared for it"
        assert value in get_args(fields[variable]), f"{variable} == {value!r} is not a value Python produces"


def test_every_failed_step_pass_names_a_step_python_knows() -> None:
    results = [s["Result"] for s in STATES.values() if s["Type"] == "Pass" and s.get("ResultPath") == "$.failure.step"]
    # one per Lambda step that can fail (StartShadow, CheckShadow included), and the staged route's six
    assert len(results) == 16
    assert set(results) <= set(get_args(steps.StepName))
    assert set(results) >= steps.ENDPOINT_CHANGING_STEPS and set(results) >= steps.ROLLOUT_STEPS


def test_the_start_state_declares_every_slot_the_tasks_read_and_write() -> None:
    declared = set(STATES[ASL["StartAt"]]["Parameters"]) | {"outcome", "outcome_error"}
    declared = {key.removesuffix(".$") for key in declared}
    assert declared == set(SLOTS)
    for name, state in STATES.items():
        for path in [state.get("ResultPath"), *(c["ResultPath"] for c in state.get("Catch", []))]:
            if path is not None:
                assert slot_of(path) in SLOTS, f"{name} writes {path}, which is no slot"


@pytest.mark.parametrize("name", sorted(lambda_tasks()))
def test_each_lambda_task_passes_exactly_its_request_model_and_stores_its_result_model(name: str) -> None:
    state = lambda_tasks()[name]
    request, result = FUNCTION_STEPS[function_of(state)]
    parameters: dict[str, Any] = state["Parameters"]
    given = {key.removesuffix(".$") for key in parameters}
    required = {f for f, info in request.model_fields.items() if info.is_required()}
    assert required <= given <= set(request.model_fields), f"{name}: {given} vs {request.__name__}"
    hints = typing.get_type_hints(request)
    for key, value in parameters.items():
        if key.endswith(".$") and key != "execution.$" and key != "event.$":
            slot_model = SLOTS[slot_of(value)]
            assert slot_model is not None and slot_model.__name__ in str(hints[key[:-2]]), (
                f"{name}: {key} reads {value} ({slot_model}) but {request.__name__}.{key[:-2]} is {hints[key[:-2]]}"
            )
        elif not key.endswith(".$"):
            assert value in get_args(hints[key]), f"{name}: {key}={value!r} is not a {hints[key]}"
    if state["ResultPath"] is not None:
        assert SLOTS[slot_of(state["ResultPath"])] is result, f"{name} stores its {result.__name__} elsewhere"


@pytest.mark.parametrize("variable", sorted(FUNCTION_STEPS))
def test_each_function_handler_parses_its_request_model(variable: str) -> None:
    # Given the function the template wires to the substitution variable
    logical_id = re.search(rf"{variable}: !GetAtt (\w+)\.Arn", TEMPLATE)
    assert logical_id, f"{variable} is not substituted in template.yaml"
    code_uri = re.search(rf"\n  {logical_id.group(1)}:\n(?:    .*\n)*?      CodeUri: (\S+)", TEMPLATE)
    assert code_uri
    handler = ast.parse((REPO / code_uri.group(1) / "app.py").read_text())
    # Then its handler validates the request model of that step
    request: type[StepRequest] = FUNCTION_STEPS[variable][0]
    validated = {
        node.func.value.id
        for node in ast.walk(handler)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "model_validate"
        and isinstance(node.func.value, ast.Name)
    }
    assert validated == {request.__name__}


def test_every_slot_model_is_a_pydantic_model() -> None:
    assert all(model is None or issubclass(model, BaseModel) for model in SLOTS.values())
