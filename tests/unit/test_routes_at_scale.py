"""Routes that scale: pattern routes, model names from templates, overlaps refused, and a template derived from
the routes whose approval rule and parameters stay within AWS's quotas for thousands of groups."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode.cfn_yaml import loads as load_cfn_yaml

from modelrelay import derive
from modelrelay.config import RoutingConfig, parse_routing_config
from modelrelay.errors import ConfigError, NoRouteForGroup

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = (REPO / "template.yaml").read_text()


def mme(pattern: str | None = None, group: str | None = None, **target: Any) -> dict[str, Any]:
    route: dict[str, Any] = {"target": {"kind": "mme", "endpoint_name": "mme", "bucket": "mme-bucket", **target}}
    route |= {"pattern": pattern} if pattern else {"model_package_group": group}
    return route


def config(*routes: dict[str, Any]) -> RoutingConfig:
    return parse_routing_config(json.dumps({"version": 1, "routes": list(routes)}))


def test_a_pattern_route_serves_every_matching_group_with_a_model_name_from_its_template() -> None:
    # Given one pattern route whose model name is what '*' matched
    routes = config(mme("housing-*", model_name="{match}"), mme(group="fraud", model_name="Fraud"))
    # When groups are routed (one created long after the configuration was written included)
    boston = routes.route_for("housing-boston-ma")
    # Then each gets its own model name, and its exact group
    assert (boston.model_package_group, boston.model_name) == ("housing-boston-ma", "boston-ma")
    assert routes.route_for("housing-x").model_name == "x"
    assert routes.route_for("fraud").model_name == "Fraud"
    # And a group that matches nothing has no route
    assert not routes.has_route("housing") and not routes.has_route("rent-boston")
    with pytest.raises(NoRouteForGroup, match="'rent-boston' has no route"):
        routes.route_for("rent-boston")


def test_templates_use_group_and_match_and_a_tag_overrides() -> None:
    routes = config(mme("city-*-v*", model_name="M_{match1}_{match2}_{group}", model_name_tag="model-name"))
    route = routes.route_for("city-paris-v2")
    assert route.model_name == "M_paris_2_city-paris-v2"
    # The tag's value (read by the promotion) replaces it, checked like a configured name
    assert route.with_model_name("Paris_FR").model_name == "Paris_FR"
    with pytest.raises(ConfigError, match="does not match"):
        route.with_model_name("../etc")


@pytest.mark.parametrize(
    ("route", "message"),
    [
        (mme("housing-*", model_name="{city}"), "unknown placeholder"),
        (mme("housing-*", model_name="../{match}"), "should match pattern"),
        (mme("housing-*", model_name="Same"), "same model_name 'Same'"),
        (mme("housing-", model_name="{match}"), "has no '\\*'"),
        (mme("*-ny", model_name="{match}"), "routes.0.pattern"),
        ({"target": {"kind": "endpoint", "endpoint_name": "e"}}, "exactly one of model_package_group"),
    ],
)
def test_unsafe_or_ambiguous_routes_are_refused_naming_the_problem(route: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config(route)


@pytest.mark.parametrize(
    ("first", "second", "names"),
    [
        (mme("housing-*", model_name="{match}"), mme(group="housing-boston-ma"), ("housing-\\*", "housing-boston-ma")),
        (mme("housing-*", model_name="{match}"), mme("hous*-ny", model_name="{match}"), ("housing-\\*", "hous\\*-ny")),
        (mme("a-*-b", model_name="{match}"), mme("a-c*", model_name="{match}"), ("a-\\*-b", "a-c\\*")),
    ],
)
def test_overlapping_routes_are_a_configuration_error_naming_both(
    first: dict[str, Any], second: dict[str, Any], names: tuple[str, str]
) -> None:
    with pytest.raises(ConfigError, match=f"routes overlap: .*'{names[0]}'.*'{names[1]}'|.*'{names[1]}'.*'{names[0]}'"):
        config(first, second)


def test_disjoint_patterns_are_accepted() -> None:
    # Different suffixes can never match the same name; neither can different literal prefixes
    routes = config(mme("housing-*-ny", model_name="NY_{match}"), mme("housing-*-ma", model_name="MA_{match}"))
    assert routes.route_for("housing-boston-ma").model_name == "MA_boston"
    assert routes.route_for("housing-albany-ny").model_name == "NY_albany"


def _built(routes: RoutingConfig) -> dict[str, Any]:
    """template.yaml with the blocks derived from ``routes``, as CloudFormation reads it."""
    template: dict[str, Any] = json.loads(json.dumps(load_cfn_yaml(derive.apply(TEMPLATE, routes))))
    return template


def _rule_patterns(template: dict[str, Any]) -> list[dict[str, Any]]:
    patterns = []
    for resource in template["Resources"].values():
        for event in resource.get("Properties", {}).get("Events", {}).values():
            if event["Type"] == "EventBridgeRule":
                patterns.append(event["Properties"]["Pattern"])
        if resource["Type"] == "AWS::Events::Rule" and "EventPattern" in resource["Properties"]:
            patterns.append(resource["Properties"]["EventPattern"])
    return patterns


def _delivered(matchers: list[derive.Matcher], group: str) -> bool:
    """EventBridge's matching of a string field: an exact value or a prefix (case-sensitive)."""
    return any(group.startswith(m["prefix"]) if isinstance(m, dict) else group == m for m in matchers)


def _scale_routes(exact: int) -> RoutingConfig:
    buckets = [f"team-{i}-artifacts" for i in range(30)]
    routes = [
        mme("housing-*", model_name="{match}") | {"allowed_artifact_buckets": buckets[:10]},
        mme("demand-forecast-*", model_name="D_{match}") | {"allowed_artifact_buckets": buckets[10:20]},
        mme("churn-*-v*", model_name="C_{match1}_{match2}", bucket="churn-mme") | {"allowed_artifact_buckets": buckets},
    ]
    routes += [mme(group=f"legacy-model-{i:04d}", model_name=f"L{i}") for i in range(exact)]
    return config(*routes)


@pytest.mark.parametrize("exact_routes", [0, 5000])
def test_the_template_for_5000_groups_stays_within_eventbridge_and_cloudformation_quotas(exact_routes: int) -> None:
    # Given 5,000 groups under a few pattern routes (and, worst case, 5,000 more hand-written exact routes)
    routes = _scale_routes(exact_routes)
    groups = [f"housing-city{i:04d}-st" for i in range(2000)] + [f"demand-forecast-sku{i}" for i in range(2000)]
    groups += [f"churn-segment{i}-v{i % 7}" for i in range(1000)]
    groups += [f"legacy-model-{i:04d}" for i in range(exact_routes)]
    # When the template is built for them
    template = _built(routes)
    # Then every rule pattern is within EventBridge's default 2,048 characters
    patterns = _rule_patterns(template)
    assert len(patterns) >= 3
    for pattern in patterns:
        assert len(json.dumps(pattern)) <= derive.RULE_PATTERN_LIMIT, json.dumps(pattern)[:200]
    # And every parameter default within CloudFormation's 4,096 bytes
    for name, parameter in template["Parameters"].items():
        assert len(str(parameter.get("Default", "")).encode()) <= derive.PARAMETER_VALUE_LIMIT, name
    # And the approval rule delivers every one of the groups, each of which has a route
    (approval,) = [p for p in patterns if "ModelPackageGroupName" in p.get("detail", {})]
    matchers = approval["detail"]["ModelPackageGroupName"]
    assert all(_delivered(matchers, g) and routes.has_route(g) for g in groups)
    assert template["Parameters"]["SourceArtifactBuckets"]["Default"].count(",") == 29
    assert template["Parameters"]["MmeArtifactBuckets"]["Default"] == "churn-mme,mme-bucket"


def test_a_small_routes_file_is_matched_exactly_and_unrouted_prefixes_are_not_delivered() -> None:
    routes = config(mme("housing-*", model_name="{match}"), mme(group="fraud", model_name="F"))
    matchers = derive.group_matchers(routes)
    assert matchers == ["fraud", {"prefix": "housing-"}]
    assert not _delivered(matchers, "fraud-2") and not _delivered(matchers, "rent-a")


def test_the_shipped_template_is_derived_from_config_routes() -> None:
    # Given config/routes.json, the single source of truth, Then template.yaml's derived blocks are current
    assert (
        derive.main(
            ["--check", "--routes", str(REPO / "config/routes.json"), "--template", str(REPO / "template.yaml")]
        )
        == 0
    )
    # And nothing repeats the lists by hand
    assert "WatchedModelPackageGroups" not in TEMPLATE
    assert "ArtifactBuckets=" not in (REPO / "samconfig.toml").read_text()


def test_a_stale_template_fails_the_check_naming_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps({"version": 1, "routes": [mme("rent-*", model_name="{match}")]}))
    assert derive.main(["--check", "--routes", str(routes), "--template", str(REPO / "template.yaml")]) == 1
    assert "make routes" in capsys.readouterr().err
