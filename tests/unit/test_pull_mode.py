"""Pull mode (issue 11): the account allow-list, the hub group names, what the hub writes on a spoke's package, the
spoke template (its rule, its role's least privilege, nothing more) and the documented pull-mode policies."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cfnlint.decode.cfn_yaml import loads as load_cfn_yaml

from modelrelay import derive
from modelrelay.config import Settings, load_routing_config, parse_routing_config, settings_from_env
from modelrelay.domain.hub import hub_group_for, hub_group_name
from modelrelay.domain.prepare import check_source_allowed
from modelrelay.errors import ConfigError, SourceNotAllowed, SpokeNotAllowed
from modelrelay_sandbox import policies

REPO = Path(__file__).resolve().parents[2]
HUB, SPOKE_A, SPOKE_B, STRANGER = "333344445555", "444455556666", "555566667777", "666677778888"
ROUTES = parse_routing_config(
    json.dumps(
        {
            "version": 1,
            "routes": [
                {
                    "pattern": "churn-*",
                    "target": {"kind": "mme", "endpoint_name": "mme", "bucket": "mme-bucket", "model_name": "{group}"},
                }
            ],
        }
    )
)


def settings(mode: str = "pull", spokes: tuple[str, ...] = (SPOKE_A, SPOKE_B)) -> Settings:
    return Settings(
        region="us-east-1",
        account_id=HUB,
        ingest_bucket="ingest-bucket",
        hub_bucket="hub-bucket",
        hub_model_package_group="modelrelay-hub",
        state_table="state",
        notification_topic_arn="arn:aws:sns:us-east-1:333344445555:topic",
        event_bus_name="default",
        hub_mode=mode,  # type: ignore[arg-type]
        spoke_account_ids=spokes,
    )


def deps(mode: str = "pull") -> Any:
    return SimpleNamespace(settings=settings(mode, (SPOKE_A, SPOKE_B) if mode == "pull" else ()), routing=ROUTES)


# ---------------------------------------------------------------- the allow-list


def test_pull_mode_accepts_the_listed_spokes_and_its_own_account() -> None:
    for account in (SPOKE_A, SPOKE_B, HUB):
        check_source_allowed(deps(), account, "us-east-1")


def test_pull_mode_refuses_an_account_that_is_not_a_listed_spoke_with_its_own_reason() -> None:
    with pytest.raises(SpokeNotAllowed) as refused:
        check_source_allowed(deps(), STRANGER, "us-east-1")
    assert refused.value.reason == "spoke_not_allowed"
    assert STRANGER in refused.value.message and SPOKE_A in refused.value.message


def test_routes_allowed_source_accounts_narrow_pull_mode_but_never_widen_it() -> None:
    narrowed = ROUTES.model_copy(update={"allowed_source_accounts": [SPOKE_A, STRANGER]})
    with pytest.raises(SpokeNotAllowed):
        check_source_allowed(SimpleNamespace(settings=settings(), routing=narrowed), SPOKE_B, "us-east-1")
    with pytest.raises(SpokeNotAllowed):
        check_source_allowed(SimpleNamespace(settings=settings(), routing=narrowed), STRANGER, "us-east-1")
    check_source_allowed(SimpleNamespace(settings=settings(), routing=narrowed), SPOKE_A, "us-east-1")


def test_push_mode_is_unchanged_only_its_own_account() -> None:
    check_source_allowed(deps("push"), HUB, "us-east-1")
    with pytest.raises(SourceNotAllowed) as refused:
        check_source_allowed(deps("push"), SPOKE_A, "us-east-1")
    assert refused.value.reason == "source_not_allowed"


def test_the_region_is_still_checked_in_pull_mode() -> None:
    with pytest.raises(SourceNotAllowed):
        check_source_allowed(deps(), SPOKE_A, "eu-west-1")


def test_settings_read_pull_mode_from_the_environment_and_refuse_pull_without_spokes() -> None:
    environ = {
        "AWS_REGION": "us-east-1",
        "MODELRELAY_ACCOUNT_ID": HUB,
        "INGEST_BUCKET": "ingest-bucket",
        "HUB_BUCKET": "hub-bucket",
        "HUB_MODEL_PACKAGE_GROUP": "modelrelay-hub",
        "STATE_TABLE": "state",
        "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:us-east-1:333344445555:topic",
        "EVENT_BUS_NAME": "default",
        "HUB_MODE": "pull",
        "SPOKE_ACCOUNT_IDS": f"{SPOKE_A},{SPOKE_B}",
    }
    read = settings_from_env(environ)
    assert read.pull and read.spoke_account_ids == (SPOKE_A, SPOKE_B)
    assert not settings_from_env(environ | {"HUB_MODE": "", "SPOKE_ACCOUNT_IDS": ""}).pull
    with pytest.raises(ConfigError, match="spoke"):
        settings_from_env(environ | {"SPOKE_ACCOUNT_IDS": ""})
    with pytest.raises(ConfigError, match=r"HUB_MODE|pull"):
        settings_from_env(environ | {"HUB_ROLE_ARN": "arn:aws:iam::222233334444:role/hub"})


# ------------------------------------------------- hub groups and source writes


def test_two_spokes_groups_of_the_same_name_get_distinct_hub_groups_under_the_prefix() -> None:
    first, second = (hub_group_for(settings(), spoke, "churn-eu") for spoke in (SPOKE_A, SPOKE_B))
    assert first != second
    assert first == f"modelrelay-hub-{SPOKE_A}-churn-eu"
    assert first.startswith("modelrelay-hub-") and second.startswith("modelrelay-hub-")
    # push mode keeps its names
    assert hub_group_for(settings("push", ()), SPOKE_A, "churn-eu") == hub_group_name("modelrelay-hub", "churn-eu")


def test_the_hub_never_writes_on_a_spokes_package_in_pull_mode() -> None:
    spoke_package = f"arn:aws:sagemaker:us-east-1:{SPOKE_A}:model-package/churn-eu/1"
    own_package = f"arn:aws:sagemaker:us-east-1:{HUB}:model-package/churn-eu/1"
    assert not settings().may_write_source(spoke_package)
    assert settings().may_write_source(own_package)
    assert settings("push", ()).may_write_source(spoke_package)


# ------------------------------------------------------------ the spoke template

SPOKE = json.loads(json.dumps(load_cfn_yaml((REPO / "spoke" / "template.yaml").read_text())))


def test_the_spoke_stack_holds_a_forwarding_rule_its_role_a_dead_letter_queue_and_a_bucket_policy_nothing_more() -> (
    None
):
    kinds = sorted(resource["Type"] for resource in SPOKE["Resources"].values())
    assert kinds == [
        "AWS::Events::Rule",
        "AWS::IAM::Role",
        "AWS::S3::BucketPolicy",
        "AWS::SQS::Queue",
        "AWS::SQS::QueuePolicy",
    ]
    assert SPOKE["Resources"]["ArtifactBucketHubReadPolicy"]["Condition"] == "ManageBucketPolicy"


def test_the_spoke_rule_forwards_the_routed_groups_state_changes_to_the_hubs_default_bus() -> None:
    rule = SPOKE["Resources"]["ForwardToHubRule"]["Properties"]
    # The same groups as the hub's approval rule (exact names and pattern prefixes), derived from the routes
    routes = load_routing_config(REPO / "config" / "routes.json")
    assert rule["EventPattern"] == derive.approval_pattern(derive.group_matchers(routes))
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${HubAccountId}:event-bus/default"}
    assert target["RoleArn"] == {"Fn::GetAtt": ["ForwardToHubRole", "Arn"]}
    assert "DeadLetterConfig" in target


def test_the_forwarding_role_may_only_put_events_on_the_hubs_bus_and_only_eventbridge_of_this_account_assumes_it() -> (
    None
):
    role = SPOKE["Resources"]["ForwardToHubRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    (policy,) = role["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow" and statement["Action"] == "events:PutEvents"
    target = SPOKE["Resources"]["ForwardToHubRule"]["Properties"]["Targets"][0]["Arn"]
    assert statement["Resource"] == target
    assert "ManagedPolicyArns" not in role


def test_the_spoke_bucket_policy_is_the_documented_one() -> None:
    statements = SPOKE["Resources"]["ArtifactBucketHubReadPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    documented = policies.load("pull-spoke-bucket-policy.json")["Statement"]
    assert [(s["Sid"], sorted(_list(s["Action"]))) for s in statements] == [
        (s["Sid"], sorted(_list(s["Action"]))) for s in documented
    ]
    for mine, doc in zip(statements, documented, strict=True):
        assert mine["Principal"]["AWS"]["Fn::Sub"].replace("AWS::Partition", "Partition") == doc["Principal"]["AWS"]
        assert (
            mine["Resource"]["Fn::Sub"]
            .replace("AWS::Partition", "Partition")
            .replace("ArtifactBucketName", "SpokeArtifactBucket")
            == doc["Resource"]
        )


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --------------------------------------------- the documented pull-mode policies


def test_the_group_grant_lets_the_hub_account_describe_the_groups_packages_and_nothing_else() -> None:
    rendered = policies.render(
        "pull-spoke-group-policy.json",
        Partition="aws",
        Region="us-east-1",
        HubAccountId=HUB,
        SpokeAccountId=SPOKE_A,
        ModelPackageGroup="churn-eu",
    )
    (statement,) = rendered["Statement"]
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{HUB}:root"}
    assert statement["Action"] == "sagemaker:DescribeModelPackage"
    assert statement["Resource"] == f"arn:aws:sagemaker:us-east-1:{SPOKE_A}:model-package/churn-eu/*"


def test_the_main_templates_bus_policy_admits_only_the_listed_spokes_in_pull_mode() -> None:
    main = json.loads(json.dumps(load_cfn_yaml((REPO / "template.yaml").read_text())))
    policy = main["Resources"]["SpokeEventsBusPolicy"]
    assert policy["Condition"] == "PullMode"
    statement = policy["Properties"]["Statement"]
    assert statement["Action"] == "events:PutEvents"
    assert statement["Principal"]["Fn::If"][2] == {"AWS": {"Ref": "SpokeAccountIds"}}
    documented = policies.load("pull-hub-bus-policy.json")["Statement"][0]
    assert documented["Action"] == statement["Action"] and documented["Principal"] == {"AWS": "${SpokeAccountId}"}
    environment = main["Globals"]["Function"]["Environment"]["Variables"]
    assert environment["HUB_MODE"] == {"Ref": "HubMode"}
    assert main["Parameters"]["HubMode"]["Default"] == "push"


def test_every_placeholder_of_the_pull_policies_has_a_sandbox_value() -> None:
    from modelrelay_sandbox import pull

    for path in sorted(policies.POLICY_DIR.glob("pull-*.json")):
        missing = policies.placeholders(policies.load(path.name)) - set(pull.policy_values(SPOKE_A))
        assert not missing, f"{path.name}: {missing}"
