"""A burst of approvals is held the way AWS holds it (issue 13; a small version of ``bench/bench_burst.py``, which
approves 1,000 packages across 500 groups at once)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from modelrelay_sandbox.moto_ext import lambda_runtime
from tests.integration.conftest import Stack

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_burst.py"
SAGEMAKER_RATE = 20.0  # requests per second per account, the rate the README's quotas section assumes


def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_burst", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_model_approved_at_once_is_promoted_exactly_once_within_the_quotas(stack: Stack) -> None:
    # Given 16 pending packages over 8 groups of the pattern route, and SageMaker throttling at 20 requests/s
    # When they are all approved at once
    result = bench().burst(stack.env, packages=16, groups=8, sagemaker_requests_per_s=SAGEMAKER_RATE, timeout=600)

    # Then each is promoted exactly once: one success, one hub package, one MME object; no failure, no dead letter
    assert result["counts"] == {
        "succeeded_events_per_package": {"1": 16},
        "other_outcomes": 0,
        "hub_packages_per_package": {"1": 16},
        "mme_objects": 16,
        "failed_executions": 0,
        "dead_letters": 0,
    }
    assert result["exactly_once"]
    # And the promotion functions' reserved concurrency did the queueing (Lambda throttled, Step Functions waited)
    assert result["lambda_throttles_429"].get("ReservedFunctionConcurrentInvocationLimitExceeded", 0) > 0
    # And the Lambda workers stayed within the account's quota
    assert result["peak_lambda_workers"] <= lambda_runtime.CONFIG.account_concurrency
