"""The bench's 30-minute rollout per strategy (bench/bench_promotion.py --modes), small and without a sandbox."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_promotion.py"


def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_promotion", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_strategy_has_a_thirty_minute_cost_and_rolling_needs_the_fewest_extra_instances() -> None:
    # Given a 4-instance fleet, When the bench computes a 30-minute rollout per strategy
    modes = bench().thirty_minute_rollouts(fleet=4)
    # Then every strategy is there, with 30 minutes of baking and polls that cost 3 transitions and 3 calls each
    shadow = modes.pop("SHADOW_THEN_CANARY")
    assert shadow["shadow_seconds"] == 1800 and shadow["then"]["polls"] == modes["CANARY"]["polls"]
    assert shadow["total_wait_loop_transitions"] > modes["CANARY"]["wait_loop_transitions"]
    assert set(modes) == {"CANARY", "LINEAR", "ALL_AT_ONCE", "ROLLING", "INFERENCE_COMPONENT"}
    for mode in modes.values():
        assert sum(mode["bakes_seconds"]) == 1800
        assert mode["wait_loop_transitions"] == mode["polls"] * 3 == mode["wait_loop_api_calls"]
    # And ROLLING has no termination wait and one extra instance at its peak, blue/green LINEAR a whole fleet
    assert modes["ROLLING"]["termination_wait_seconds"] == 0
    assert modes["ROLLING"]["bakes_seconds"] == [450] * 4
    assert modes["ROLLING"]["extra_instances_at_peak"] == 1 < modes["LINEAR"]["extra_instances_at_peak"]
    assert modes["ROLLING"]["polls"] <= modes["CANARY"]["polls"]
    # An inference component rolls copies in the room preflight found: no extra instance, one extra copy
    component = modes["INFERENCE_COMPONENT"]
    assert (component["extra_instances_at_peak"], component["extra_copies_at_peak"]) == (0, 1)
    assert (
        component["polls"] == modes["ROLLING"]["polls"]
        and "InService on the new model" in component["component_states"]
    )
