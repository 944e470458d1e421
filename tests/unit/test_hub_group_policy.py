"""The hub group's resource policy: every account that builds models from its packages (the spoke of a cross-account
hub, each stage account of the route) in one PutModelPackageGroupPolicy; none when only the hub's account reads."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from modelrelay.adapters.sagemaker import allow_account_to_describe
from modelrelay.config import parse_routing_config
from modelrelay.domain.hub import hub_group_readers, share_hub_group
from modelrelay.steps import PromotionPlan

STACK, HUB, STAGING, PRODUCTION = "123456789012", "222233334444", "777788889999", "888899990000"
GROUP = "modelrelay-hub-g"


class FakeSageMaker:
    def __init__(self) -> None:
        self.policies: list[tuple[str, dict[str, Any]]] = []

    def put_model_package_group_policy(self, ModelPackageGroupName: str, ResourcePolicy: str) -> dict[str, str]:
        self.policies.append((ModelPackageGroupName, json.loads(ResourcePolicy)))
        return {}


def _routing(*stage_accounts: str) -> Any:
    if not stage_accounts:
        route: dict[str, Any] = {"model_package_group": "g", "target": {"kind": "endpoint", "endpoint_name": "ep"}}
    else:
        route = {
            "model_package_group": "g",
            "stages": [
                {
                    "name": f"stage{index}",
                    "role_arn": f"arn:aws:iam::{account}:role/modelrelay-deployment",
                    "target": {"kind": "endpoint", "endpoint_name": f"ep{index}"},
                }
                for index, account in enumerate(stage_accounts)
            ],
        }
    return parse_routing_config(json.dumps({"routes": [route]}))


def _deps(hub_account: str, *stage_accounts: str) -> tuple[Any, FakeSageMaker]:
    sagemaker = FakeSageMaker()
    hub = SimpleNamespace(sagemaker=sagemaker, account_id=hub_account, s3=None)
    deps = SimpleNamespace(
        settings=SimpleNamespace(account_id=STACK, region="us-east-1"),
        routing=_routing(*stage_accounts),
        hub=lambda: hub,
    )
    return deps, sagemaker


PLAN = PromotionPlan(decision="promote", reason="approved", package_arn="arn:p/g/3", group="g")


@pytest.mark.parametrize(
    ("hub_account", "stage_accounts", "readers"),
    [
        (HUB, (), {STACK}),  # push, cross-account hub: the spoke, as before stages
        (HUB, (STAGING, PRODUCTION), {STACK, STAGING, PRODUCTION}),
        (STACK, (), set()),  # pull (or a same-account hub) without stages: no policy
        (STACK, (STAGING, PRODUCTION), {STAGING, PRODUCTION}),  # pull with stages: the stage accounts
        (STACK, (STACK, PRODUCTION), {PRODUCTION}),  # a stage in the hub's own account needs no grant
        (HUB, (HUB, STAGING), {STACK, STAGING}),
    ],
)
def test_the_readers_are_the_spoke_and_the_stage_accounts_other_than_the_hubs(
    hub_account: str, stage_accounts: tuple[str, ...], readers: set[str]
) -> None:
    deps, _ = _deps(hub_account, *stage_accounts)
    assert hub_group_readers(PLAN, deps) == readers


def test_one_policy_allows_every_reader_to_describe_the_groups_packages() -> None:
    # Given a cross-account hub and a route with two stage accounts
    deps, sagemaker = _deps(HUB, STAGING, PRODUCTION)
    # When the hub group is shared
    share_hub_group(PLAN, deps, GROUP)
    # Then one policy names the spoke and both stage accounts, for DescribeModelPackage on the group's packages only
    ((group, policy),) = sagemaker.policies
    (statement,) = policy["Statement"]
    assert group == GROUP
    assert statement["Principal"] == {
        "AWS": [f"arn:aws:iam::{account}:root" for account in sorted((STACK, STAGING, PRODUCTION))]
    }
    assert statement["Action"] == ["sagemaker:DescribeModelPackage"]
    assert statement["Resource"] == f"arn:aws:sagemaker:us-east-1:{HUB}:model-package/{GROUP}/*"


def test_no_policy_is_written_when_only_the_hubs_account_reads() -> None:
    deps, sagemaker = _deps(STACK)
    share_hub_group(PLAN, deps, GROUP)
    assert sagemaker.policies == []


def test_one_account_is_a_single_principal_and_the_partition_follows_the_region() -> None:
    sagemaker = FakeSageMaker()
    allow_account_to_describe(sagemaker, GROUP, "cn-north-1", HUB, [STAGING, STAGING])  # type: ignore[arg-type]
    ((_, policy),) = sagemaker.policies
    assert policy["Statement"][0]["Principal"] == {"AWS": f"arn:aws-cn:iam::{STAGING}:root"}
    assert policy["Statement"][0]["Resource"].startswith(f"arn:aws-cn:sagemaker:cn-north-1:{HUB}:")
