"""Inference-component routes: the configuration, the requests (checked against botocore's service model), the
room check and the classification of what DescribeInferenceComponent says."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from modelrelay.config import InferenceComponentTarget, parse_routing_config
from modelrelay.domain.inference_component import check_room, classify, deployment_config
from modelrelay.errors import ConfigError, PreflightFailed
from modelrelay.steps import RolloutState

SERVICE = botocore.session.get_session().get_service_model("sagemaker")


def target(**changes: Any) -> InferenceComponentTarget:
    values: dict[str, Any] = {
        "kind": "inference_component",
        "endpoint_name": "shared-ic",
        "compute": {"NumberOfCpuCoresRequired": 1, "MinMemoryRequiredInMb": 2048},
        "copies": 2,
        "rollout": {"wait_interval_seconds": 60, "alarm_names": ["ic-errors"]},
    } | changes
    return InferenceComponentTarget.model_validate(values)


def routes(route_target: dict[str, Any], **route: Any) -> str:
    import json

    return json.dumps({"routes": [{"target": route_target, **({"model_package_group": "fraud-ic"} | route)}]})


def problems(operation: str, params: dict[str, Any]) -> str:
    report = ParamValidator().validate(params, SERVICE.operation_model(operation).input_shape)
    return report.generate_report()


def test_the_update_request_is_what_update_inference_component_accepts() -> None:
    # Given a component route
    route_target = target(
        rollout={
            "wait_interval_seconds": 60,
            "alarm_names": ["ic-errors"],
            "rollback_maximum_batch_size": {"type": "CAPACITY_PERCENT", "value": 100},
        }
    )
    # When its DeploymentConfig and specification are built
    request = {
        "InferenceComponentName": "fraud-ic",
        "Specification": {"ModelName": "m", "ComputeResourceRequirements": route_target.compute.to_api()},
        "RuntimeConfig": {"CopyCount": route_target.copies},
        "DeploymentConfig": deployment_config(route_target, ["ic-errors"]),
    }
    # Then botocore's model of UpdateInferenceComponent accepts it, and CreateInferenceComponent its part
    assert problems("UpdateInferenceComponent", request) == ""
    create = {k: v for k, v in request.items() if k != "DeploymentConfig"} | {"EndpointName": "shared-ic"}
    assert problems("CreateInferenceComponent", create) == ""
    assert request["DeploymentConfig"]["RollingUpdatePolicy"]["MaximumBatchSize"] == {"Type": "COPY_COUNT", "Value": 1}


def test_a_pattern_route_needs_a_component_name_template_and_renders_it() -> None:
    # Given a pattern route with a fixed component name, and one with a template
    fixed = {
        "kind": "inference_component",
        "endpoint_name": "e",
        "component_name": "same",
        "compute": {"MinMemoryRequiredInMb": 1024},
        "rollout": {"alarm_names": ["a"]},
    }
    # Then the fixed one is refused, naming the field; the template renders per group
    with pytest.raises(ConfigError, match="component_name"):
        parse_routing_config(routes(fixed, model_package_group=None, pattern="fraud-*"))
    config = parse_routing_config(
        routes(fixed | {"component_name": "ic-{match}"}, model_package_group=None, pattern="fraud-*")
    )
    resolved = config.route_for("fraud-eu")
    assert isinstance(resolved.target, InferenceComponentTarget)
    assert (resolved.target.component_name, resolved.model_name) == ("ic-eu", "ic-eu")


def test_a_route_without_alarms_or_with_too_short_a_timeout_is_refused() -> None:
    # Then a route without alarms (a component's rollout would never roll back) is refused
    with pytest.raises(ValueError, match="alarm_names"):
        target(rollout={"alarm_names": []})
    # And so is one whose batches' bakes exceed the timeout (4 copies, 1 per batch, 300 s each > 600 s)
    with pytest.raises(ValueError, match="maximum_execution_timeout_seconds"):
        target(
            copies=4,
            rollout={"wait_interval_seconds": 300, "maximum_execution_timeout_seconds": 600, "alarm_names": ["a"]},
        )


VARIANT = {"VariantName": "AllTraffic", "InstanceType": "ml.m5.xlarge", "InitialInstanceCount": 2}


def other(cpus: float, memory: int, copies: int) -> dict[str, Any]:
    return {
        "Specification": {
            "ComputeResourceRequirements": {"NumberOfCpuCoresRequired": cpus, "MinMemoryRequiredInMb": memory}
        },
        "RuntimeConfig": {"DesiredCopyCount": copies},
    }


def test_room_counts_other_components_and_the_extra_rolling_batch() -> None:
    # Given 2 x ml.m5.xlarge (8 vCPUs, 32 GiB in all) and a route of 2 copies of 1 vCPU / 2 GiB
    route_target = target()
    # Then it fits beside a component holding 4 vCPUs, with one extra copy while a batch rolls
    check_room(VARIANT, [other(1, 1024, 4)], route_target.compute, 2, 1)
    # And not beside one holding 6 vCPUs (6 + 3 > 8): refused before any write, by name
    with pytest.raises(PreflightFailed) as refused:
        check_room(VARIANT, [other(2, 1024, 3)], route_target.compute, 2, 1)
    assert refused.value.reason == "endpoint_no_room"
    # And managed instance scaling's maximum counts as the fleet
    scaling = VARIANT | {"ManagedInstanceScaling": {"Status": "ENABLED", "MinInstanceCount": 1, "MaxInstanceCount": 4}}
    check_room(scaling, [other(2, 1024, 3)], route_target.compute, 2, 1)


def test_a_copy_larger_than_an_instance_is_refused() -> None:
    big = target(compute={"NumberOfAcceleratorDevicesRequired": 1, "MinMemoryRequiredInMb": 1024})
    with pytest.raises(PreflightFailed) as refused:
        check_room(VARIANT, [], big.compute, 1, 0)
    assert refused.value.reason == "component_does_not_fit_instance"


ROLLOUT = RolloutState(status="InProgress", endpoint_name="e", component_name="c", old_model="old", new_model="new")


@pytest.mark.parametrize(
    ("status", "model", "fired", "expected"),
    [
        ("Updating", "old", [], ("InProgress", "in_progress")),
        ("Creating", "new", [], ("InProgress", "in_progress")),
        ("InService", "new", [], ("Succeeded", "in_service")),
        ("InService", "old", ["c-errors"], ("RolledBack", "alarm_rollback")),
        ("InService", "old", [], ("Failed", "deployment_failed")),
        ("Failed", "new", [], ("Failed", "deployment_failed")),
        ("InService", "someone-else", [], ("Failed", "unexpected_model")),
    ],
)
def test_the_outcome_is_what_the_component_says(
    status: str, model: str, fired: list[str], expected: tuple[str, str]
) -> None:
    described = {"InferenceComponentStatus": status, "Specification": {"ModelName": model}}
    assert classify(described, ROLLOUT, fired)[:2] == expected


def test_a_deleted_component_is_a_failure_never_success() -> None:
    assert classify(None, ROLLOUT, [])[:2] == ("Failed", "component_deleted")
