"""The cross-account hub's policy documents, rendered from ``docs/policies/*.json`` (the README shows the same files).

The files hold ``${Name}`` placeholders. ``render`` fills them: a list value expands the string it appears in into
one string per item (a ``Resource`` naming several buckets), and a statement whose placeholder has no value (``None``
or an empty list, e.g. no KMS key) is left out, so one file serves every setup.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

POLICY_DIR = Path(__file__).resolve().parents[2] / "docs" / "policies"
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z][A-Za-z0-9]*)\}")


class _Unset(Exception):
    """A placeholder without a value: the statement that holds it is dropped."""


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((POLICY_DIR / name).read_text())
    return document


def placeholders(node: Any) -> set[str]:
    if isinstance(node, str):
        return set(_PLACEHOLDER.findall(node))
    if isinstance(node, dict):
        return set().union(*(placeholders(k) | placeholders(v) for k, v in node.items()))
    if isinstance(node, list):
        return set().union(*(placeholders(item) for item in node))
    return set()


def _expand(text: str, values: dict[str, Any]) -> list[str]:
    names = _PLACEHOLDER.findall(text)
    if not names:
        return [text]
    name = names[0]
    if name not in values:
        raise KeyError(f"no value for placeholder ${{{name}}}")
    value = values[name]
    items = value if isinstance(value, list) else [value]
    if value is None or not items:
        raise _Unset(name)
    out: list[str] = []
    for item in items:
        out.extend(_expand(text.replace(f"${{{name}}}", str(item), 1), values))
    return out


def _fill(node: Any, values: dict[str, Any]) -> Any:
    if isinstance(node, str):
        expanded = _expand(node, values)
        return expanded[0] if len(expanded) == 1 else expanded
    if isinstance(node, dict):
        return {_fill(k, values): _fill(v, values) for k, v in node.items()}
    if isinstance(node, list):
        filled: list[Any] = []
        for item in node:
            value = _fill(item, values)
            filled.extend(value if isinstance(item, str) and isinstance(value, list) else [value])
        return filled
    return node


def render(name: str, **values: Any) -> dict[str, Any]:
    """The policy document ``name`` with every placeholder filled (see the module docstring)."""
    document = load(name)
    statements = []
    for statement in document["Statement"]:
        try:
            statements.append(_fill(statement, values))
        except _Unset:
            continue
    return {**document, "Statement": statements}


# The trust of a SageMaker execution role (SageMaker assumes it for the models it runs), as an account has it.
SAGEMAKER_EXECUTION_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def create_documented_role(iam: Any, role_name: str, trust: str, permissions: str, **values: Any) -> None:
    """Create ``role_name`` with the trust and inline permissions of two documented files (docs/policies/), rendered
    with ``values``: a role the README shows, created from the very text it shows."""
    iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(render(trust, **values)))
    iam.put_role_policy(
        RoleName=role_name, PolicyName=role_name, PolicyDocument=json.dumps(render(permissions, **values))
    )
