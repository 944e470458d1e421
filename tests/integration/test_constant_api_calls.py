"""API calls per promotion do not depend on how many packages the registries hold (issue 13; a small version of
``bench/bench_registry_scale.py``, which runs 0 vs 5,000 hub and 1,000 source packages)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from tests.integration.conftest import Stack

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_registry_scale.py"


def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_registry_scale", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_promotion_makes_the_same_api_calls_with_empty_and_full_registries(stack: Stack) -> None:
    # Given a source group and its hub group empty, then each holding 200 packages
    # When one package is promoted in each case
    empty, full = bench().run([(0, 0), (200, 200)], env=stack.env)
    # Then both succeed with exactly the same API calls, operation by operation (no registry listing)
    assert empty["outcome"] == full["outcome"] == "PromotionSucceeded"
    assert full["by_operation"] == empty["by_operation"]
    assert "ListModelPackages" not in full["by_operation"]
    assert full["by_operation"]["CreateModelPackageGroup"] == 1  # the hub group: created, or found existing
