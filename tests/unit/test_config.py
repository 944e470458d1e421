"""Routing configuration and settings: typed, validated, failing with the bad field named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelrelay.config import load_routing_config, parse_routing_config, settings_from_env
from modelrelay.errors import ConfigError, NoRouteForGroup

REPO = Path(__file__).resolve().parents[2]


def minimal(**route: object) -> str:
    base = {
        "model_package_group": "housing-newyork-ny",
        "target": {"kind": "mme", "endpoint_name": "housing-mme", "bucket": "mme-bucket"},
    }
    return json.dumps({"version": 1, "routes": [base | route]})


@pytest.mark.parametrize("path", ["config/routes.json", "sandbox/routes.json"])
def test_shipped_routing_files_are_valid(path: str) -> None:
    config = load_routing_config(REPO / path)
    assert {r.model_package_group for r in config.routes} >= {"housing-newyork-ny", "housing-chicago-il"}


def test_route_resolution_and_defaults() -> None:
    config = parse_routing_config(minimal())
    route = config.route_for("housing-newyork-ny")
    assert route.model_name == "housing-newyork-ny"
    assert route.target.kind == "mme" and route.target.prefix == "models/"
    with pytest.raises(NoRouteForGroup, match="'unknown-group' has no route"):
        config.route_for("unknown-group")


def test_prefix_is_normalised_and_traversal_refused() -> None:
    config = parse_routing_config(
        minimal(target={"kind": "mme", "endpoint_name": "e", "bucket": "mme-bucket", "prefix": "/a/b"})
    )
    assert config.routes[0].target.prefix == "a/b/"  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match=r"routes\.0\.target\.mme\.prefix"):
        parse_routing_config(
            minimal(target={"kind": "mme", "endpoint_name": "e", "bucket": "mme-bucket", "prefix": "a/../b"})
        )


@pytest.mark.parametrize(
    ("route", "field"),
    [
        ({"target": {"kind": "mme", "endpoint_name": "e", "bucket": "Bad_Bucket"}}, "routes.0.target.mme.bucket"),
        ({"target": {"kind": "queue", "endpoint_name": "e"}}, "routes.0.target"),
        ({"model_package_group": "bad name"}, "routes.0.model_package_group"),
        ({"limits": {"max_object_bytes": 0}}, "routes.0.limits.max_object_bytes"),
        ({"surprise": True}, "routes.0.surprise"),
        (
            {"target": {"kind": "endpoint", "endpoint_name": "e", "rollout": {"canary_size_percent": 60}}},
            "routes.0.target.endpoint.rollout.canary_size_percent",
        ),
        (
            {"target": {"kind": "endpoint", "endpoint_name": "e", "rollout": {"linear_step_percent": 5}}},
            "routes.0.target.endpoint.rollout.linear_step_percent",
        ),
        (
            {
                "target": {
                    "kind": "endpoint",
                    "endpoint_name": "e",
                    "rollout": {"alarm_names": [f"a{i}" for i in range(11)]},
                }
            },
            "routes.0.target.endpoint.rollout.alarm_names",
        ),
    ],
)
def test_bad_route_names_the_field(route: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_routing_config(minimal(**route))
    assert field in error.value.message


def test_rollout_timeout_must_exceed_waits_and_bakes() -> None:
    rollout = {
        "strategy": "LINEAR",
        "linear_step_percent": 25,
        "wait_interval_seconds": 300,
        "termination_wait_seconds": 120,
        "maximum_execution_timeout_seconds": 1200,
    }
    with pytest.raises(ConfigError, match=r"must exceed the sum of all waits and bakes \(1320 s\)"):
        parse_routing_config(minimal(target={"kind": "endpoint", "endpoint_name": "e", "rollout": rollout}))


def test_duplicate_group_is_refused() -> None:
    route = {"model_package_group": "g1", "target": {"kind": "mme", "endpoint_name": "e", "bucket": "mme-bucket"}}
    with pytest.raises(ConfigError, match="routed twice"):
        parse_routing_config(json.dumps({"routes": [route, route]}))


def test_not_json_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="not valid JSON"):
        parse_routing_config("{routes: [")


def test_settings_fail_fast_naming_the_environment_variable() -> None:
    with pytest.raises(ConfigError) as error:
        settings_from_env({"AWS_REGION": "us-east-1", "MODELRELAY_ACCOUNT_ID": "12"})
    assert "MODELRELAY_ACCOUNT_ID" in error.value.message
    assert "STATE_TABLE" in error.value.message
