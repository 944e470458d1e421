"""The IAM policy language: does one policy document allow, deny, or not concern a request.

Follows https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements.html (Effect, Action /
NotAction, Resource / NotResource, Principal / NotPrincipal, Condition),
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html (the
operators, ``...IfExists``, ``Null``), https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
(``ForAnyValue:`` / ``ForAllValues:``) and https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
(``${aws:username}``-style variables in Resource and condition values).

Matching rules, as AWS applies them: actions match case-insensitively with ``*`` and ``?`` wildcards; resources
and ``String*Like`` / ``ArnLike`` values case-sensitively with the same wildcards (an ARN's six colon-separated
parts matched part by part for ``Arn*``); condition keys are case-insensitive; several values of one condition
key are ORed, several keys and operators ANDed; a missing key fails every operator except the negated ones
(``StringNotEquals``...: they pass), ``...IfExists`` (passes) and ``Null``.

:func:`evaluate_policy` returns ``"Deny"`` if a statement denies, else ``"Allow"`` if one allows, else ``None``.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

ALLOW = "Allow"
DENY = "Deny"

# A condition context: lower-cased key -> list of string values (single-valued keys hold one value).
Context = Mapping[str, list[str]]


@dataclass(frozen=True)
class Principal:
    """The caller: an IAM user, an assumed-role session, or a service (``events.amazonaws.com``)."""

    arn: str  # arn:aws:iam::A:user/U, arn:aws:sts::A:assumed-role/R/S, or the service name
    account: str
    kind: str  # "user" | "assumed-role" | "service" | "root"
    role_arn: str | None = None  # for assumed roles: arn:aws:iam::A:role/<path>R
    name: str = ""

    @property
    def identity_arn(self) -> str:
        """The ARN policies name the principal by: the role ARN for a role session."""
        return self.role_arn or self.arn


@dataclass
class RequestContext:
    """One authorisation question: may ``principal`` do ``action`` on ``resource`` with ``context``?"""

    principal: Principal
    action: str
    resource: str
    context: dict[str, list[str]] = field(default_factory=dict)


@functools.lru_cache(maxsize=4096)
def _wildcard(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{regex}$", 0 if case_sensitive else re.IGNORECASE | re.DOTALL)


def wildcard_match(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    return _wildcard(pattern, case_sensitive).match(value) is not None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


_VARIABLE = re.compile(r"\$\{([^}]+)\}")


def substitute(text: str, request: RequestContext) -> str:
    """Policy variables: ``${aws:username}``, ``${aws:PrincipalAccount}``..., and ``${*}``, ``${?}``, ``${$}``."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in ("*", "?", "$"):
            return name
        key, _, default = name.partition(",")
        values = request.context.get(key.strip().lower())
        if values:
            return values[0]
        default = default.strip()
        if default.startswith("'") and default.endswith("'"):
            return default[1:-1]
        return match.group(0)  # unresolved: AWS makes the statement not match; an unmatched literal does that

    return _VARIABLE.sub(one, text)


def action_matches(patterns: Iterable[str], action: str) -> bool:
    return any(wildcard_match(p, action, case_sensitive=False) for p in patterns)


def resource_matches(patterns: Iterable[str], resource: str, request: RequestContext) -> bool:
    for pattern in patterns:
        pattern = substitute(pattern, request)
        if pattern == "*" or wildcard_match(pattern, resource):
            return True
    return False


def principal_matches(element: Any, principal: Principal) -> bool:
    """``Principal`` of a resource-based policy: ``*``, ``{"AWS": [account / root / role / user ARNs]}``,
    ``{"Service": [...]}``. A role ARN matches that role's sessions; an account (``123`` or ``...:root``) matches
    every principal of the account (whose identity policy must then allow too: see decisions.py)."""
    if element == "*":
        return True
    if not isinstance(element, dict):
        return False
    for kind, values in element.items():
        for value in _as_list(values):
            if value == "*" and (kind in ("AWS", "Service") or kind == "*"):
                return True
            if kind == "Service" and principal.kind == "service" and value == principal.arn:
                return True
            if kind != "AWS" or principal.kind == "service":
                continue
            if value in (principal.account, f"arn:aws:iam::{principal.account}:root"):
                return True
            if value in (principal.arn, principal.identity_arn):
                return True
            # A role named by its ARN without its path also matches (AWS stores the unique id; close enough).
            if (
                principal.role_arn
                and ":role/" in value
                and value.split("/")[-1] == principal.role_arn.split("/")[-1]
                and value.split(":")[4:5] == principal.role_arn.split(":")[4:5]
            ):
                return True
    return False


def names_account_only(element: Any, principal: Principal) -> bool:
    """True if the statement's Principal grants to the whole account (root) rather than this exact principal."""
    if not isinstance(element, dict):
        return element == "*"
    for value in _as_list(element.get("AWS")):
        if value in (principal.account, f"arn:aws:iam::{principal.account}:root", "*"):
            return True
    return False


# ------------------------------------------------------------------ conditions


def _str_eq(a: str, b: str) -> bool:
    return a == b


def _str_eq_ic(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def _str_like(value: str, pattern: str) -> bool:
    return wildcard_match(pattern, value)


def _num(value: str) -> float:
    return float(value)


def _date(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _arn_like(value: str, pattern: str) -> bool:
    v_parts, p_parts = value.split(":", 5), pattern.split(":", 5)
    if len(v_parts) != 6 or len(p_parts) != 6:
        return wildcard_match(pattern, value)
    return all(wildcard_match(p, v) for p, v in zip(p_parts, v_parts, strict=True))


def _ip(value: str, network: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


def _bool(value: str, expected: str) -> bool:
    return value.lower() == str(expected).lower()


# operator -> (compare(context value, policy value), negated)
_OPERATORS: dict[str, tuple[Any, bool]] = {
    "stringequals": (_str_eq, False),
    "stringnotequals": (_str_eq, True),
    "stringequalsignorecase": (_str_eq_ic, False),
    "stringnotequalsignorecase": (_str_eq_ic, True),
    "stringlike": (_str_like, False),
    "stringnotlike": (_str_like, True),
    "arnequals": (_arn_like, False),
    "arnlike": (_arn_like, False),
    "arnnotequals": (_arn_like, True),
    "arnnotlike": (_arn_like, True),
    "numericequals": (lambda a, b: _num(a) == _num(b), False),
    "numericnotequals": (lambda a, b: _num(a) == _num(b), True),
    "numericlessthan": (lambda a, b: _num(a) < _num(b), False),
    "numericlessthanequals": (lambda a, b: _num(a) <= _num(b), False),
    "numericgreaterthan": (lambda a, b: _num(a) > _num(b), False),
    "numericgreaterthanequals": (lambda a, b: _num(a) >= _num(b), False),
    "dateequals": (lambda a, b: _date(a) == _date(b), False),
    "datenotequals": (lambda a, b: _date(a) == _date(b), True),
    "datelessthan": (lambda a, b: _date(a) < _date(b), False),
    "datelessthanequals": (lambda a, b: _date(a) <= _date(b), False),
    "dategreaterthan": (lambda a, b: _date(a) > _date(b), False),
    "dategreaterthanequals": (lambda a, b: _date(a) >= _date(b), False),
    "bool": (_bool, False),
    "binaryequals": (_str_eq, False),
    "ipaddress": (_ip, False),
    "notipaddress": (_ip, True),
}


class UnknownConditionOperator(ValueError):
    pass


def _condition_holds(operator: str, key: str, expected: Any, request: RequestContext) -> bool:
    op = operator
    qualifier = ""
    if ":" in op:
        qualifier, op = op.split(":", 1)
        qualifier = qualifier.lower()
    op_l = op.lower()
    if_exists = op_l.endswith("ifexists") and op_l != "ifexists"
    if if_exists:
        op_l = op_l[: -len("ifexists")]
    actual = request.context.get(key.lower())
    expected_values = [
        substitute(str(v) if not isinstance(v, bool) else str(v).lower(), request) for v in _as_list(expected)
    ]
    if op_l == "null":
        want_null = any(v.lower() == "true" for v in expected_values)
        return (not actual) == want_null
    if op_l not in _OPERATORS:
        raise UnknownConditionOperator(operator)
    compare, negated = _OPERATORS[op_l]

    def matches(value: str) -> bool:
        try:
            return any(compare(value, e) for e in expected_values)
        except (ValueError, TypeError):
            return False

    if qualifier == "forallvalues":
        # Every value in the request matches (negated: none matches); true when the key is absent.
        if not actual:
            return True
        return all((not matches(v)) if negated else matches(v) for v in actual)
    if qualifier == "foranyvalue":
        if not actual:
            return False
        return any((not matches(v)) if negated else matches(v) for v in actual)
    if not actual:
        return if_exists or negated
    if negated:
        return not any(matches(v) for v in actual)
    return any(matches(v) for v in actual)


def conditions_hold(condition: Mapping[str, Any] | None, request: RequestContext) -> bool:
    if not condition:
        return True
    for operator, keys in condition.items():
        for key, expected in (keys or {}).items():
            if not _condition_holds(operator, key, expected, request):
                return False
    return True


# ------------------------------------------------------------------ statements and documents


def load_document(document: Any) -> dict[str, Any]:
    """A policy as stored by moto: JSON text (possibly URL-encoded by IAM's query API) or an already parsed dict."""
    if isinstance(document, (bytes, bytearray)):
        document = document.decode()
    if isinstance(document, str):
        try:
            parsed: dict[str, Any] = json.loads(document)
        except json.JSONDecodeError:
            from urllib.parse import unquote

            parsed = json.loads(unquote(document))
        return parsed
    return dict(document)


def statements(document: Any) -> list[dict[str, Any]]:
    statement = load_document(document).get("Statement", [])
    return [s for s in _as_list(statement) if isinstance(s, dict)]


def statement_applies(statement: Mapping[str, Any], request: RequestContext, *, resource_policy: bool) -> bool:
    """Whether the statement covers this request (its Effect then decides)."""
    if "NotAction" in statement:
        if action_matches(_as_list(statement["NotAction"]), request.action):
            return False
    elif not action_matches(_as_list(statement.get("Action")), request.action):
        return False
    if "NotResource" in statement:
        if resource_matches(_as_list(statement["NotResource"]), request.resource, request):
            return False
    elif "Resource" in statement:
        if not resource_matches(_as_list(statement["Resource"]), request.resource, request):
            return False
    elif not resource_policy:
        return False  # an identity policy statement without Resource is invalid
    if resource_policy:
        if "NotPrincipal" in statement:
            if principal_matches(statement["NotPrincipal"], request.principal):
                return False
        elif not principal_matches(statement.get("Principal"), request.principal):
            return False
    return conditions_hold(statement.get("Condition"), request)


def evaluate_policy(document: Any, request: RequestContext, *, resource_policy: bool = False) -> str | None:
    """``"Deny"``, ``"Allow"`` or ``None`` (the document does not concern the request)."""
    result: str | None = None
    for statement in statements(document):
        if statement_applies(statement, request, resource_policy=resource_policy):
            if statement.get("Effect") == DENY:
                return DENY
            if statement.get("Effect") == ALLOW:
                result = ALLOW
    return result


def allowing_statements(document: Any, request: RequestContext) -> list[dict[str, Any]]:
    """The resource-policy statements that allow the request (to tell account-wide from principal grants)."""
    return [
        s
        for s in statements(document)
        if s.get("Effect") == ALLOW and statement_applies(s, request, resource_policy=True)
    ]


__all__ = [
    "ALLOW",
    "DENY",
    "Principal",
    "RequestContext",
    "allowing_statements",
    "evaluate_policy",
    "names_account_only",
    "wildcard_match",
]
