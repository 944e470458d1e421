"""A rollout as AWS runs it, without AWS: the requests StartRollout builds from a real-shaped endpoint
(events/sagemaker/endpoint-vpc-kms/) keep every setting and pass botocore's validation, hostile text included;
the hub package must be Completed first; an alarm rollback and a failed deployment are told apart by facts."""

from __future__ import annotations

import json
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.validate import validate_parameters

from modelrelay.adapters import sagemaker as sagemaker_adapter
from modelrelay.config import parse_routing_config
from modelrelay.domain import rollout
from modelrelay.domain.deps import RolloutDeps
from modelrelay.errors import HubPackageNotReady, PreflightFailed
from modelrelay.steps import ArtifactRef, HubResult, PromotionPlan, RolloutState

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "events" / "sagemaker" / "endpoint-vpc-kms"
MODEL = botocore.session.get_session().get_service_model("sagemaker")
HUB_PACKAGE = "arn:aws:sagemaker:us-east-1:222233334444:model-package/modelrelay-hub/7"
PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/fraud-realtime-vpc/3"
HOSTILE = "exé\ncution\t<script>alert(1)</script> 🚀 " + "x" * 2048 + "\n\t<end>\u0000🚀"  # bad at both ends


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURE / f"{name}.json").read_text())
    return document


# ----------------------------------------------------------------------------- the fixture is AWS-shaped


def _unknown_fields(value: Any, shape: Any, path: str) -> list[str]:
    if shape.type_name == "structure":
        assert isinstance(value, dict), path
        unknown = [f"{path}.{k}" for k in value if k not in shape.members]
        for key, item in value.items():
            if key in shape.members:
                unknown += _unknown_fields(item, shape.members[key], f"{path}.{key}")
        missing = [f"{path}.{k} (required)" for k in shape.required_members if k not in value]
        return unknown + missing
    if shape.type_name == "list":
        return [e for i, item in enumerate(value) for e in _unknown_fields(item, shape.member, f"{path}[{i}]")]
    if shape.type_name == "map":
        return [e for k, item in value.items() for e in _unknown_fields(item, shape.value, f"{path}.{k}")]
    if shape.type_name == "timestamp":
        datetime.fromisoformat(value)
    return []


@pytest.mark.parametrize(
    ("document", "operation"),
    [
        ("describe-endpoint", "DescribeEndpoint"),
        ("describe-endpoint-config", "DescribeEndpointConfig"),
        ("describe-model", "DescribeModel"),
        ("list-tags-model", "ListTags"),
        ("list-tags-endpoint-config", "ListTags"),
    ],
)
def test_the_endpoint_fixture_has_only_fields_aws_returns(document: str, operation: str) -> None:
    assert _unknown_fields(load(document), MODEL.operation_model(operation).output_shape, operation) == []


def test_the_endpoint_fixture_is_a_vpc_endpoint_with_network_isolation_kms_data_capture_and_two_instances() -> None:
    model, config, endpoint = load("describe-model"), load("describe-endpoint-config"), load("describe-endpoint")
    assert model["VpcConfig"]["Subnets"] and model["EnableNetworkIsolation"] is True
    assert config["KmsKeyId"] and config["DataCaptureConfig"]["EnableCapture"] is True
    assert endpoint["ProductionVariants"][0]["CurrentInstanceCount"] >= 2
    assert endpoint["EndpointConfigName"] == config["EndpointConfigName"]
    assert config["ProductionVariants"][0]["ModelName"] == model["ModelName"]


# ----------------------------------------------------------------------------- fakes


def _not_found(operation: str, what: str) -> ClientError:
    return ClientError({"Error": {"Code": "ValidationException", "Message": f"Could not find {what}"}}, operation)


class FakeSageMaker:
    """The endpoint of the fixture; records every write; ``meta`` is a real client's (its service model)."""

    def __init__(self, package_status: str = "Completed", model_tags: list[dict[str, str]] | None = None) -> None:
        self.meta = boto3.client("sagemaker", region_name="us-east-1").meta
        self.endpoint, self.config, self.model = (
            load("describe-endpoint"),
            load("describe-endpoint-config"),
            load("describe-model"),
        )
        self.tags = {
            self.model["ModelArn"]: load("list-tags-model")["Tags"] if model_tags is None else model_tags,
            self.config["EndpointConfigArn"]: load("list-tags-endpoint-config")["Tags"],
        }
        self.package_status = package_status
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def describe_endpoint(self, EndpointName: str) -> dict[str, Any]:
        return self.endpoint

    def describe_endpoint_config(self, EndpointConfigName: str) -> dict[str, Any]:
        if EndpointConfigName != self.config["EndpointConfigName"]:
            raise _not_found("DescribeEndpointConfig", EndpointConfigName)
        return self.config

    def describe_model(self, ModelName: str) -> dict[str, Any]:
        if ModelName != self.model["ModelName"]:
            raise _not_found("DescribeModel", ModelName)
        return self.model

    def describe_model_package(self, ModelPackageName: str) -> dict[str, Any]:
        return {"ModelPackageArn": ModelPackageName, "ModelPackageStatus": self.package_status}

    def get_paginator(self, name: str) -> Any:
        assert name == "list_tags"
        tags = self.tags

        class Pages:
            def paginate(self, ResourceArn: str) -> list[dict[str, Any]]:
                return [{"Tags": tags.get(ResourceArn, [])}]

        return Pages()

    def _record(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((operation, params))
        return {}

    def create_model(self, **params: Any) -> dict[str, Any]:
        return self._record("CreateModel", params)

    def create_endpoint_config(self, **params: Any) -> dict[str, Any]:
        return self._record("CreateEndpointConfig", params)

    def update_endpoint(self, **params: Any) -> dict[str, Any]:
        return self._record("UpdateEndpoint", params)


class FakeCloudWatch:
    def __init__(self, alarms: dict[str, str] | None = None, history: dict[str, list[str]] | None = None) -> None:
        self.alarms = alarms or {}  # name -> state now
        self.history = history or {}  # name -> new states since the rollout started

    def describe_alarms(self, AlarmNames: list[str]) -> dict[str, Any]:
        return {
            "MetricAlarms": [{"AlarmName": n, "StateValue": self.alarms[n]} for n in AlarmNames if n in self.alarms]
        }

    def put_metric_alarm(self, **params: Any) -> None:
        self.alarms.setdefault(params["AlarmName"], "OK")

    def get_paginator(self, name: str) -> Any:
        assert name == "describe_alarm_history"
        history = self.history

        class Pages:
            def paginate(self, AlarmName: str, HistoryItemType: str, StartDate: datetime) -> list[dict[str, Any]]:
                items = [
                    {"HistoryData": json.dumps({"newState": {"stateValue": state}})}
                    for state in history.get(AlarmName, [])
                ]
                return [{"AlarmHistoryItems": items}]

        return Pages()


class Hub:
    def __init__(self, sagemaker: FakeSageMaker) -> None:
        self.sagemaker = sagemaker


def deps(sagemaker: FakeSageMaker, cloudwatch: FakeCloudWatch | None = None) -> RolloutDeps:
    routing = parse_routing_config(
        json.dumps(
            {
                "routes": [
                    {
                        "model_package_group": "fraud-realtime-vpc",
                        "target": {
                            "kind": "endpoint",
                            "endpoint_name": "fraud-vpc",
                            "rollout": {"strategy": "CANARY", "canary_size_percent": 50, "alarm_names": ["a-5xx"]},
                        },
                    }
                ]
            }
        )
    )
    return RolloutDeps(
        settings=None,  # type: ignore[arg-type]
        routing=routing,
        sagemaker=sagemaker,  # type: ignore[arg-type]
        cloudwatch=cloudwatch or FakeCloudWatch({"a-5xx": "OK"}),  # type: ignore[arg-type]
        store=None,  # type: ignore[arg-type]
        hub=lambda: Hub(sagemaker),  # type: ignore[arg-type,return-value]
    )


def plan(package_arn: str = PACKAGE) -> PromotionPlan:
    return PromotionPlan(
        decision="promote",
        reason="approved",
        package_arn=package_arn,
        group="fraud-realtime-vpc",
        route_kind="endpoint",
        endpoint_name="fraud-vpc",
        artifact=ArtifactRef(bucket="b", key="k", size=1, sha256="ab" * 32),
    )


HUB = HubResult(
    hub_package_arn=HUB_PACKAGE,
    hub_artifact_uri="s3://hub/artifacts/x.tar.gz",
    created_hub_package=True,
    created_hub_object=True,
    provenance_id="p",
)


def _tag_text_ok(text: str, most: int) -> bool:
    return len(text) <= most and all(unicodedata.category(c)[0] in "LZN" or c in "_.:/=+-@" for c in text)


# ----------------------------------------------------------------------------- the requests StartRollout builds


def test_start_keeps_the_serving_models_role_network_and_tags_and_clones_every_config_field() -> None:
    fake = FakeSageMaker()
    state = rollout.start(plan(), HUB, "exec-1", deps(fake), now=1000.0)
    assert state.status == "InProgress"
    calls = dict(fake.calls)
    model, config = calls["CreateModel"], calls["CreateEndpointConfig"]
    served = load("describe-model")
    # the model: containers from the hub package; the serving model's role, VPC, isolation and tags
    assert model["Containers"] == [{"ModelPackageName": HUB_PACKAGE}]
    for key in ("ExecutionRoleArn", "VpcConfig", "EnableNetworkIsolation"):
        assert model[key] == served[key], key
    assert model["Tags"][:3] == load("list-tags-model")["Tags"]
    assert {t["Key"]: t["Value"] for t in model["Tags"][3:]} == {
        "modelrelay:package": PACKAGE,
        "modelrelay:execution": "exec-1",
    }
    # the endpoint config: the old one field for field, except its name and the model
    old = load("describe-endpoint-config")
    expected = {k: v for k, v in old.items() if k not in ("EndpointConfigArn", "CreationTime")}
    expected["EndpointConfigName"] = model["ModelName"]
    expected["ProductionVariants"] = [v | {"ModelName": model["ModelName"]} for v in old["ProductionVariants"]]
    assert {k: v for k, v in config.items() if k != "Tags"} == expected
    assert config["Tags"][:2] == load("list-tags-endpoint-config")["Tags"]
    assert calls["UpdateEndpoint"]["EndpointConfigName"] == model["ModelName"]


def test_fields_the_config_has_are_carried_even_when_no_code_names_them_and_read_only_ones_are_not() -> None:
    fake = FakeSageMaker()
    fake.config = fake.config | {
        "MetricsConfig": {"EnableEnhancedMetrics": True},
        "ShadowProductionVariants": [
            {
                "VariantName": "Shadow",
                "ModelName": "shadow-model",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
        "SomethingReadOnly": "x",  # not a CreateEndpointConfig member: never sent
    }
    fake.config["ProductionVariants"] = [v | {"CurrentInstanceCount": 2} for v in fake.config["ProductionVariants"]]
    rollout.start(plan(), HUB, "exec-2", deps(fake), now=1000.0)
    config = dict(fake.calls)["CreateEndpointConfig"]
    assert config["MetricsConfig"] == {"EnableEnhancedMetrics": True}
    assert config["ShadowProductionVariants"][0]["ModelName"] == "shadow-model"  # shadows keep their model
    assert "SomethingReadOnly" not in config and "CurrentInstanceCount" not in config["ProductionVariants"][0]


@pytest.mark.parametrize(
    ("package_arn", "execution", "tag_count"),
    [
        (PACKAGE, "exec-plain", 3),
        (PACKAGE + "\n" + HOSTILE, HOSTILE, 3),  # newlines, tabs, markup, emoji, 2 KB
        (PACKAGE, "ünïcødé-执行-🙂", 49),  # a serving model already near SageMaker's 50-tag limit
    ],
)
def test_every_request_passes_botocore_validation_and_sagemakers_tag_rules(
    package_arn: str, execution: str, tag_count: int
) -> None:
    tags = [{"Key": f"k{i}", "Value": f"v{i}"} for i in range(tag_count)] + [
        {"Key": "aws:cloudformation:stack-name", "Value": "s"}  # AWS's own: never sent back
    ]
    fake = FakeSageMaker(model_tags=tags)
    rollout.start(plan(package_arn), HUB, execution, deps(fake), now=1000.0)
    assert [op for op, _ in fake.calls] == ["CreateModel", "CreateEndpointConfig", "UpdateEndpoint"]
    for operation, params in fake.calls:
        validate_parameters(params, MODEL.operation_model(operation).input_shape)  # raises on a bad request
        for tag in params.get("Tags", []):
            assert _tag_text_ok(tag["Key"], 128) and _tag_text_ok(tag["Value"], 256), tag
            assert not tag["Key"].startswith("aws:")
        assert len(params.get("Tags", [])) <= 50
    model_tags = dict(fake.calls)["CreateModel"]["Tags"]
    assert {"modelrelay:package", "modelrelay:execution"} <= {t["Key"] for t in model_tags}


# ----------------------------------------------------------------------------- the hub package must be Completed


@pytest.mark.parametrize("status", ["Pending", "InProgress"])
def test_a_hub_package_not_completed_yet_is_waited_for_and_nothing_is_created(status: str) -> None:
    fake = FakeSageMaker(package_status=status)
    with pytest.raises(HubPackageNotReady, match=status):
        rollout.start(plan(), HUB, "exec-3", deps(fake), now=1000.0)
    assert fake.calls == []


def test_a_failed_hub_package_fails_the_rollout_by_name_before_any_write() -> None:
    fake = FakeSageMaker(package_status="Failed")
    with pytest.raises(PreflightFailed) as caught:
        rollout.start(plan(), HUB, "exec-4", deps(fake), now=1000.0)
    assert caught.value.reason == "hub_package_failed"
    assert fake.calls == []


def test_hub_package_not_ready_is_retried_by_the_state_machine() -> None:
    asl = json.loads((REPO / "statemachines" / "promotion.asl.json").read_text())
    retried = [e for r in asl["States"]["StartRollout"]["Retry"] for e in r["ErrorEquals"]]
    assert "HubPackageNotReady" in retried


# ----------------------------------------------------------------------------- alarm rollback vs failed deployment

IN_FLIGHT = RolloutState(
    status="InProgress",
    endpoint_name="fraud-vpc",
    old_config="fraud-vpc-v0",
    new_config="new",
    alarm_names=["a-5xx"],
    started_at=1000,
    deadline=10**10,
)


class Store:
    def renew_lease(self, *args: Any) -> bool:
        return True


@pytest.mark.parametrize(
    ("cloudwatch", "status", "code"),
    [
        (FakeCloudWatch({"a-5xx": "OK"}, {"a-5xx": ["ALARM", "OK"]}), "RolledBack", "alarm_rollback"),  # fired, cleared
        (FakeCloudWatch({"a-5xx": "ALARM"}), "RolledBack", "alarm_rollback"),  # in ALARM now
        (FakeCloudWatch({"a-5xx": "OK"}, {"a-5xx": ["INSUFFICIENT_DATA"]}), "Failed", "deployment_failed"),
    ],
)
def test_back_on_the_old_config_is_an_alarm_rollback_only_when_a_guard_alarm_fired(
    cloudwatch: FakeCloudWatch, status: str, code: str
) -> None:
    fake = FakeSageMaker()
    reason = "The primary container for production variant AllTraffic did not pass the ping health check."
    fake.endpoint = fake.endpoint | {"FailureReason": reason}
    d = deps(fake, cloudwatch)
    d.store = Store()  # type: ignore[assignment]
    checked = rollout.check(IN_FLIGHT, "exec", d, now=2000.0)
    assert (checked.status, checked.reason_code) == (status, code)
    assert checked.failure_reason == reason and f'"{reason}"' in (checked.reason or "")
    assert checked.fired_alarms == (["a-5xx"] if code == "alarm_rollback" else [])


def test_tag_value_keeps_what_sagemaker_accepts() -> None:
    assert sagemaker_adapter.tag_value("arn:aws:sagemaker:us-east-1:1:model-package/g/1") == (
        "arn:aws:sagemaker:us-east-1:1:model-package/g/1"
    )
    assert sagemaker_adapter.tag_value("a\nb\tc🙂") == "a_b_c_"
    assert len(sagemaker_adapter.tag_value("x" * 1000)) == 256


@pytest.mark.parametrize("vpc", [None, {}])
def test_a_serving_model_outside_a_vpc_gives_a_model_outside_a_vpc(vpc: dict[str, Any] | None) -> None:
    fake = FakeSageMaker()
    fake.model = {k: v for k, v in fake.model.items() if k not in ("VpcConfig", "EnableNetworkIsolation")}
    if vpc is not None:
        fake.model["VpcConfig"] = vpc  # moto's answer for "none"; the SDK would refuse it sent back
    rollout.start(plan(), HUB, "exec-5", deps(fake), now=1000.0)
    model = dict(fake.calls)["CreateModel"]
    assert "VpcConfig" not in model and "EnableNetworkIsolation" not in model
    validate_parameters(model, MODEL.operation_model("CreateModel").input_shape)
