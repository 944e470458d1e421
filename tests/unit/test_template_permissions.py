"""Least privilege in template.yaml (issue 9): every role's statements, evaluated for a configuration (its Conditions
resolved), hold to tests/unit/expected_permissions.py and are scoped to what the routes name and what ModelRelay
creates."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode.cfn_yaml import loads as load_cfn_yaml

from modelrelay import derive
from modelrelay.adapters.alarms import own_alarm_names
from modelrelay.config import parse_routing_config
from modelrelay.domain import rollout
from tests.unit.expected_permissions import EXPECTED_ACTIONS

REPO = Path(__file__).resolve().parents[2]
TEXT = (REPO / "template.yaml").read_text()
HUB_ROLE = "arn:aws:iam::222233334444:role/modelrelay-hub"
# Every optional parameter set: the broadest configuration.
EVERYTHING = {
    "SourceArtifactKmsKeyArns": "arn:aws:kms:us-east-1:123456789012:key/a",
    "MmeBucketKmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/b",
    "HubBucketKmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/c",
    "EndpointKmsKeyArns": "arn:aws:kms:us-east-1:123456789012:key/d",
    "EndpointExecutionRoleArns": "arn:aws:iam::123456789012:role/sagemaker-execution",
    "DeploymentRoleArns": "arn:aws:iam::210987654321:role/modelrelay-deployment",
    "KmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/e",
    "SubnetIds": "subnet-1",
    "SecurityGroupIds": "sg-1",
    "JenkinsJobUrl": "https://jenkins.example.com/job/x",
    "ChatWebhookUrl": "https://chat.example.com/hook",
}
SAM_POLICY_TEMPLATES = {
    "LambdaInvokePolicy": ["lambda:InvokeFunction"],
    "SNSPublishMessagePolicy": ["sns:Publish"],
    "EventBridgePutEventsPolicy": ["events:PutEvents"],
}


# ---------- the template as deployed with some parameter values ----------
def _template(routes: Any = None) -> dict[str, Any]:
    text = derive.apply(TEXT, routes) if routes is not None else TEXT
    template: dict[str, Any] = json.loads(json.dumps(load_cfn_yaml(text)))
    return template


def _value(node: Any, params: dict[str, Any], conditions: dict[str, bool]) -> Any:
    if isinstance(node, dict) and len(node) == 1:
        ((key, arg),) = node.items()
        if key == "Ref" and arg in params:
            return params[arg]
        if key == "Fn::Join":
            return arg[0].join(str(_value(a, params, conditions)) for a in _value(arg[1], params, conditions))
        if key == "Fn::Equals":
            return _value(arg[0], params, conditions) == _value(arg[1], params, conditions)
        if key == "Fn::Not":
            return not _value(arg[0], params, conditions)
        if key == "Fn::And":
            return all(_value(a, params, conditions) for a in arg)
        if key == "Fn::Or":
            return any(_value(a, params, conditions) for a in arg)
        if key == "Condition":
            return conditions[arg]
    return node


def _conditions(template: dict[str, Any], given: dict[str, str]) -> dict[str, bool]:
    params: dict[str, Any] = {"AWS::Partition": "aws"}
    for name, parameter in template["Parameters"].items():
        value = given.get(name, parameter.get("Default", ""))
        params[name] = str(value).split(",") if parameter["Type"] == "CommaDelimitedList" else value
    conditions: dict[str, bool] = {}
    pending = dict(template["Conditions"])
    while pending:  # in dependency order
        for name, expression in list(pending.items()):
            if all(c in conditions for c in re.findall(r'"Condition": "(\w+)"', json.dumps(expression))):
                conditions[name] = bool(_value(expression, params, conditions))
                del pending[name]
    return conditions


def _resolve(node: Any, conditions: dict[str, bool]) -> Any:
    """``node`` with each Fn::If replaced by its branch and AWS::NoValue left out."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, yes, no = node["Fn::If"]
            return _resolve(yes if conditions[name] else no, conditions)
        out = {k: _resolve(v, conditions) for k, v in node.items()}
        return {k: v for k, v in out.items() if v != {"Ref": "AWS::NoValue"}}
    if isinstance(node, list):
        return [r for r in (_resolve(v, conditions) for v in node) if r != {"Ref": "AWS::NoValue"}]
    return node


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(given: dict[str, str] | None = None, routes: Any = None) -> dict[str, list[dict[str, Any]]]:
    """Each role's Allow/Deny statements as deployed with ``given`` parameter values (SAM policy templates as
    statements of their actions)."""
    template = _template(routes)
    conditions = _conditions(template, given or {})
    roles: dict[str, list[dict[str, Any]]] = {}
    for name, resource in template["Resources"].items():
        if not conditions.get(resource.get("Condition", ""), True):
            continue
        props = _resolve(resource.get("Properties", {}), conditions)
        if resource["Type"] in ("AWS::Serverless::Function", "AWS::Serverless::StateMachine"):
            found = roles.setdefault(name, [])
            for policy in props.get("Policies", []):
                for template_name, actions in SAM_POLICY_TEMPLATES.items():
                    if template_name in policy:
                        found.append({"Effect": "Allow", "Action": actions, "Resource": policy[template_name]})
                found += policy.get("Statement", [])
        elif resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                roles.setdefault(name, []).extend(policy["PolicyDocument"]["Statement"])
        elif resource["Type"] == "AWS::IAM::ManagedPolicy":
            for role in props["Roles"]:
                function = role["Ref"].removesuffix("Role")
                roles.setdefault(function, []).extend(props["PolicyDocument"]["Statement"])
    return roles


def actions(statement: dict[str, Any]) -> list[str]:
    return [str(a) for a in _as_list(statement["Action"])]


def resources(statement: dict[str, Any]) -> list[str]:
    """Resource strings (Fn::Sub texts as written)."""
    found = []
    for item in _as_list(statement["Resource"]):
        if isinstance(item, dict) and "Fn::Sub" in item:
            sub = item["Fn::Sub"]
            found.append(sub if isinstance(sub, str) else sub[0])
        else:
            found.append(json.dumps(item) if isinstance(item, dict) else str(item))
    return found


CONFIGURATIONS = {
    "defaults": {},
    "same-account hub, everything set": EVERYTHING,
    "cross-account hub, everything set": EVERYTHING | {"HubRoleArn": HUB_ROLE, "HubBucketName": "hub-bucket"},
    "pull mode": {"HubMode": "pull", "SpokeAccountIds": "111122223333"},
}


# ---------- the tests ----------
@pytest.mark.parametrize("configuration", CONFIGURATIONS)
def test_every_role_grants_only_actions_of_the_expected_table(configuration: str) -> None:
    for role, found in statements(CONFIGURATIONS[configuration]).items():
        granted = {a for s in found if s["Effect"] == "Allow" for a in actions(s)}
        unexpected = granted - set(EXPECTED_ACTIONS[role])
        assert not unexpected, f"{role} ({configuration}) grants {sorted(unexpected)}, not in expected_permissions.py"


def test_every_action_of_the_table_is_granted_in_some_configuration() -> None:
    # The table is not stale: each action it lists is granted to its role in one of the configurations.
    granted: dict[str, set[str]] = {}
    for given in CONFIGURATIONS.values():
        for role, found in statements(given).items():
            granted.setdefault(role, set()).update(a for s in found if s["Effect"] == "Allow" for a in actions(s))
    for role, expected in EXPECTED_ACTIONS.items():
        assert set(expected) <= granted[role], f"{role}: {sorted(set(expected) - granted[role])} granted nowhere"


def test_no_arn_hard_codes_the_aws_partition() -> None:
    # Every ARN is built with ${AWS::Partition}; the one exception are bucket-name lists (Fn::Join's delimiter
    # cannot be a function), whose line chooses among the aws, aws-cn and aws-us-gov spellings by condition.
    for line in TEXT.splitlines():
        if "arn:aws:" in line and "AllowedPattern" not in line:
            assert "!If [IsAwsCnPartition" in line and "arn:aws-cn:" in line and "arn:aws-us-gov:" in line, line
    assert "arn:${AWS::Partition}:" in TEXT


def test_pass_role_only_to_sagemaker_and_only_the_given_execution_roles() -> None:
    for given, expected in (({}, 0), (EVERYTHING, 1)):
        passing = [
            (role, s) for role, found in statements(given).items() for s in found if "iam:PassRole" in actions(s)
        ]
        assert len(passing) == expected
        for role, statement in passing:
            assert role == "RolloutStepFunction"
            assert statement["Resource"] == {"Ref": "EndpointExecutionRoleArns"}
            assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
            assert actions(statement) == ["iam:PassRole"]


WRITES = re.compile(r"^(sagemaker:(Create|Update|Delete|Add|Put)\w*|cloudwatch:PutMetricAlarm)$")
BROAD = re.compile(
    r"(^\*$|:(endpoint|endpoint-config|model|inference-component|model-package|model-package-group)/\*$|:alarm:\*$)"
)


@pytest.mark.parametrize("configuration", CONFIGURATIONS)
def test_sagemaker_and_alarm_writes_are_never_on_every_resource(configuration: str) -> None:
    for role, found in statements(CONFIGURATIONS[configuration]).items():
        for statement in found:
            writes = [a for a in actions(statement) if WRITES.match(a)]
            if not writes or statement["Effect"] != "Allow":
                continue
            for resource in resources(statement):
                broad = BROAD.search(resource)
                # UpdateEndpoint is authorised on the endpoint (the routes' own) and on the config it moves to,
                # which on a rollback is the owner's own config, named by the owner.
                if writes == ["sagemaker:UpdateEndpoint"] and resource.endswith(":endpoint-config/*"):
                    continue
                assert not broad, f"{role} {statement.get('Sid')}: {writes} on {resource}"


def _routes(*routes: dict[str, Any]) -> Any:
    return parse_routing_config(json.dumps({"version": 1, "routes": list(routes)}))


SCOPED_ROUTES = _routes(
    {"model_package_group": "Fraud-RT", "target": {"kind": "endpoint", "endpoint_name": "Fraud-Prod"}},
    {
        "pattern": "housing-*",
        "target": {"kind": "mme", "endpoint_name": "housing-mme", "bucket": "mme-bucket", "model_name": "{match}"},
    },
    {
        "model_package_group": "churn",
        "target": {"kind": "endpoint", "endpoint_name": "churn-prod", "rollout": {"alarm_names": ["churn-errors"]}},
    },
)


def test_update_model_package_only_on_the_routed_groups() -> None:
    # Given exact and pattern routes, Then UpdateModelPackage names exactly their packages (lower case, as SageMaker
    # spells ARNs), and the same-account hub's groups only without a hub role
    arn = "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:model-package/"
    routed = {arn + "fraud-rt/*", arn + "housing-*/*", arn + "churn/*"}
    hub = "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:model-package/${HubGroup}-*/*"
    for given, hub_too in (({}, True), ({"HubRoleArn": HUB_ROLE, "HubBucketName": "h"}, False)):
        for role, found in statements(given, SCOPED_ROUTES).items():
            updating = [s for s in found if "sagemaker:UpdateModelPackage" in actions(s)]
            granted = {r for s in updating for r in resources(s)}
            if role in ("RecordOutcomeFunction", "RolloutStepFunction", "StageStepFunction"):
                assert granted == routed | ({hub} if hub_too and role == "RolloutStepFunction" else set()), role
            else:
                assert not granted, role


def test_endpoint_writes_name_only_the_routes_endpoints_and_what_modelrelay_creates() -> None:
    found = statements({}, SCOPED_ROUTES)["RolloutStepFunction"]
    sm = "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:"
    by_action: dict[str, set[str]] = {}
    for statement in found:
        for action in actions(statement):
            by_action.setdefault(action, set()).update(resources(statement))
    endpoints = {sm + "endpoint/fraud-prod", sm + "endpoint/churn-prod"}
    assert by_action["sagemaker:UpdateEndpoint"] == endpoints | {sm + "endpoint-config/*"}
    assert by_action["sagemaker:DescribeEndpoint"] == endpoints
    own = {sm + "endpoint-config/fraud-prod-*", sm + "endpoint-config/churn-prod-*"}
    own |= {sm + "model/fraud-prod-*", sm + "model/churn-prod-*"}
    for action in ("CreateModel", "CreateEndpointConfig", "DeleteModel", "DeleteEndpointConfig", "AddTags"):
        assert by_action[f"sagemaker:{action}"] == own, action
    alarm = "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:"
    mine = {alarm + name for name in own_alarm_names("Fraud-Prod")}  # alarm names keep their case
    assert by_action["cloudwatch:PutMetricAlarm"] == mine
    assert by_action["cloudwatch:DescribeAlarms"] == mine | {alarm + "churn-errors"}


def test_the_created_names_are_those_the_rollout_code_gives() -> None:
    # The derived globs follow domain/rollout.py's naming (<endpoint[:38]>-<sha[:12]>-<execution>), lower case
    name = rollout._names("A" * 50, "f" * 64, "exec-1234567890")
    (glob,) = [
        g
        for g in derive.iam_resources(
            _routes({"model_package_group": "g", "target": {"kind": "endpoint", "endpoint_name": "A" * 50}})
        )["created-model-arns"]
    ]
    assert re.fullmatch(glob.rsplit("/", 1)[1].replace("*", ".*"), name.lower())


def test_hub_statements_only_without_a_hub_role() -> None:
    # With a hub role every hub write is the hub role's: no function may write the hub bucket or registry itself
    hub_arns = ("${Hub}/artifacts/*", '${Hub}"', "model-package-group/${HubGroup}", "model-package/${HubGroup}")
    for given, present in (({}, True), ({"HubRoleArn": HUB_ROLE, "HubBucketName": "h"}, False)):
        writes = [
            (role, s.get("Sid"))
            for role, found in statements(given).items()
            for s in found
            if any(h in r for r in resources(s) for h in hub_arns)
            and s.get("Sid") != "ModelsFromHubPackages"  # CreateModel reads the hub package in either mode
        ]
        assert bool(writes) == present, writes
        assumes = [role for role, found in statements(given).items() for s in found if "sts:AssumeRole" in actions(s)]
        assert bool(assumes) != present


def test_the_vpc_and_the_key_are_optional_and_complete() -> None:
    template = _template()
    glob = template["Globals"]["Function"]
    assert glob["VpcConfig"]["Fn::If"][0] == "InVpc" and glob["KmsKeyArn"]["Fn::If"][0] == "HasKmsKey"
    # Outside a VPC the network-interface actions SAM's VPC policy grants are denied
    (deny,) = [s for s in statements({})["IngestFunction"] if s["Effect"] == "Deny"]
    assert "ec2:CreateNetworkInterface" in actions(deny)
    assert not [s for s in statements(EVERYTHING)["IngestFunction"] if s["Effect"] == "Deny"]
    # Every log group, queue and the table use the key when one is given
    conditions = _conditions(template, EVERYTHING)
    for name, resource in template["Resources"].items():
        props = _resolve(resource.get("Properties", {}), conditions)
        if resource["Type"] == "AWS::Logs::LogGroup":
            assert props["KmsKeyId"] == {"Ref": "KmsKeyArn"}, name
        if resource["Type"] == "AWS::SQS::Queue":
            assert props["KmsMasterKeyId"] == {"Ref": "KmsKeyArn"}, name
    table = _resolve(template["Resources"]["StateTable"]["Properties"], conditions)
    assert table["SSESpecification"]["KMSMasterKeyId"] == {"Ref": "KmsKeyArn"}


def test_role_policies_stay_within_iam_size_limits_for_thousands_of_routes() -> None:
    # 5,000 exact routes and many endpoint routes: each derived list is cut to shared prefixes, so a role's inline
    # policies stay within IAM's 10,240 characters
    routes = [
        {
            "model_package_group": f"legacy-model-{i:04d}",
            "target": {"kind": "endpoint", "endpoint_name": f"endpoint-{i:04d}"},
        }
        for i in range(300)
    ]
    routes += [
        {
            "model_package_group": f"mme-model-{i:04d}",
            "target": {"kind": "mme", "endpoint_name": "mme", "bucket": "mme-bucket", "model_name": f"M{i}"},
        }
        for i in range(5000)
    ]
    config = _routes(*routes)
    for name, arns in derive.iam_resources(config).items():
        assert derive.resolved_size(arns) <= derive.IAM_LIST_LIMIT, name
    found = statements(EVERYTHING, config)["RolloutStepFunction"]
    assert derive.resolved_size([json.dumps(found, separators=(",", ":"))]) <= 10240
