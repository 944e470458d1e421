"""The layout holds: domain code knows nothing of Lambda or boto3, only the store calls DynamoDB, handlers are glue."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "src" / "modelrelay"


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted((PACKAGE / "domain").glob("*.py")), ids=lambda p: p.name)
def test_domain_modules_import_neither_boto_nor_lambda_tooling(path: Path) -> None:
    forbidden = {n for n in imports(path) if n.split(".")[0] in {"boto3", "botocore", "aws_lambda_powertools"}}
    assert forbidden == set()


def test_only_the_store_calls_dynamodb() -> None:
    callers = {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if any(call in path.read_text() for call in ("put_item(", "update_item(", "get_item(", "delete_item("))
    }
    assert callers == {"adapters/store.py"}


@pytest.mark.parametrize("path", sorted(REPO.glob("functions/*/app.py")), ids=lambda p: p.parent.name)
def test_handlers_are_glue(path: Path) -> None:
    code = [line for line in path.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert len(code) <= 20, f"{path} has {len(code)} lines of code; domain logic belongs in src/modelrelay/domain"
    assert {n for n in imports(path) if n.startswith("modelrelay.")} <= {
        "modelrelay.domain.ingest",
        "modelrelay.domain.prepare",
        "modelrelay.domain.hub",
        "modelrelay.domain.mme",
        "modelrelay.domain.rollout",
        "modelrelay.domain.outcome",
        "modelrelay.domain.stages",
        "modelrelay.observability",
        "modelrelay.steps",
        "modelrelay.wiring",
    }
