"""template.yaml and the generated state machine as deployed: partitions, KMS grants, lease wait, parameters."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from cfnlint.decode.cfn_yaml import loads as load_cfn_yaml

import promotion

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_TEXT = (REPO / "template.yaml").read_text()
TEMPLATE: dict[str, Any] = load_cfn_yaml(TEMPLATE_TEXT)
ASL = json.loads((REPO / "statemachines/promotion.asl.json").read_text())


def _statements(function: str) -> list[Any]:
    return TEMPLATE["Resources"][function]["Properties"]["Policies"][0]["Statement"]


def test_no_s3_arn_hard_codes_the_aws_partition() -> None:
    # Bucket-name lists are joined per partition (Fn::Join's delimiter cannot be a function): every literal
    # "arn:aws:" sits in the branch for the aws partition of an IsAwsCnPartition/IsAwsUsGovPartition choice.
    for line in TEMPLATE_TEXT.splitlines():
        if "arn:aws:" in line and "AllowedPattern" not in line:
            assert "!If [IsAwsCnPartition" in line and "arn:aws-cn:" in line and "arn:aws-us-gov:" in line, line


def test_the_lease_wait_outlasts_the_longest_rollout_a_route_allows() -> None:
    (lease,) = [r for r in ASL["States"]["RolloutToEndpoint"]["Retry"] if r["ErrorEquals"] == ["EndpointLeaseBusy"]]
    assert lease["JitterStrategy"] == "NONE"  # with full jitter the total wait is random
    wait = promotion.retry_wait_seconds(lease)
    assert promotion.longest_rollout_seconds() == 28800
    assert wait >= promotion.longest_rollout_seconds() + 2 * 900  # the rollout and the lease's margins
    assert ASL["TimeoutSeconds"] >= wait + promotion.LEASE_HOLD_SECONDS


def test_retry_wait_follows_step_functions_backoff() -> None:
    retry = {"IntervalSeconds": 5, "BackoffRate": 2.0, "MaxDelaySeconds": 300, "MaxAttempts": 8}
    assert promotion.retry_wait_seconds(retry) == 5 + 10 + 20 + 40 + 80 + 160 + 300 + 300


def test_kms_grants_exist_only_with_their_parameter() -> None:
    kms = [
        s
        for function in ("PreparePromotionFunction", "RegisterInHubFunction", "StageOnMmeFunction")
        for s in _statements(function)
        if "kms:" in json.dumps(s)
    ]
    assert kms, "no KMS grant found"
    for statement in kms:
        _condition, granted, absent = statement["Fn::If"]
        assert absent == {"Ref": "AWS::NoValue"}
        assert granted["Condition"] == {
            "StringEquals": {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}}
        }
    rollout = [s for s in _statements("RolloutStepFunction") if "kms:" in json.dumps(s)]
    grants = {s["Fn::If"][1]["Action"]: s["Fn::If"] for s in rollout}
    assert set(grants) == {"kms:CreateGrant", "kms:DescribeKey"}
    assert grants["kms:CreateGrant"][1]["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    assert all(
        g[0] == "HasEndpointKmsKeys" and g[1]["Resource"] == {"Ref": "EndpointKmsKeyArns"} for g in grants.values()
    )


def test_ingest_concurrency_is_a_parameter_and_zero_means_unreserved() -> None:
    props = TEMPLATE["Resources"]["IngestFunction"]["Properties"]
    assert props["ReservedConcurrentExecutions"] == {
        "Fn::If": ["ReserveIngestConcurrency", {"Ref": "IngestReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    assert TEMPLATE["Conditions"]["ReserveIngestConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "IngestReservedConcurrency"}, 0]}]
    }


def test_the_default_hub_group_is_named_after_the_stack() -> None:
    assert TEMPLATE["Parameters"]["HubModelPackageGroupName"]["Default"] == ""
    env = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert env["HUB_MODEL_PACKAGE_GROUP"] == {
        "Fn::If": ["DefaultHubGroupName", {"Fn::Sub": "${AWS::StackName}-hub"}, {"Ref": "HubModelPackageGroupName"}]
    }
    assert not re.search(r"\$\{HubModelPackageGroupName\}", TEMPLATE_TEXT)


def test_the_ingest_rule_takes_every_key_under_the_prefix() -> None:
    pattern = TEMPLATE["Resources"]["IngestFunction"]["Properties"]["Events"]["ObjectCreated"]["Properties"]["Pattern"]
    assert pattern["detail"]["object"]["key"] == [{"prefix": {"Ref": "IngestPrefix"}}]


def test_the_hub_role_may_read_the_ingest_bucket() -> None:
    policy = TEMPLATE["Resources"]["IngestBucketHubReadPolicy"]
    assert policy["Condition"] == "UseHubRole"
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"AWS": {"Ref": "HubRoleArn"}}
    assert statement["Action"] == ["s3:GetObject", "s3:GetObjectVersion"]


def test_stage_on_mme_may_invoke_only_the_routes_mmes() -> None:
    # Given the routes' MME endpoints, Then StageOnMme's smoke-check statement names exactly those, and no other
    # statement of any function grants sagemaker:InvokeEndpoint
    from modelrelay.config import load_routing_config

    routes = load_routing_config(REPO / "config" / "routes.json").routes
    names = sorted({r.target.endpoint_name.lower() for r in routes if r.target.kind == "mme"})
    (smoke,) = [s for s in _statements("StageOnMmeFunction") if s.get("Sid") == "SmokeCheckTheRoutesMmes"]
    assert smoke["Action"] == "sagemaker:InvokeEndpoint"
    assert [arn["Fn::Sub"].rsplit("/", 1)[1] for arn in smoke["Resource"]] == names
    granted = [
        (name, s.get("Sid"))
        for name, resource in TEMPLATE["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
        for s in (resource["Properties"].get("Policies") or [{}])[0].get("Statement", [])
        if isinstance(s, dict) and "InvokeEndpoint" in json.dumps(s.get("Action"))
    ]
    assert granted == [("StageOnMmeFunction", "SmokeCheckTheRoutesMmes")]
