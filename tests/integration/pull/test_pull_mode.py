"""Pull mode (issue 11): ModelRelay in the hub account pulls approved packages from its spokes.

The spokes forward their Model Package State Change events to the hub's bus (spoke/template.yaml) and grant the hub
read access (docs/policies/pull-spoke-*.json); the hub describes each package across accounts, copies its artifact
with its own credentials and registers it in its own registry. A spoke the hub does not list is refused by the bus,
and, if its event reaches the state machine another way, by the code.
"""

from __future__ import annotations

import json
import time

from modelrelay_sandbox import pull
from tests.integration.pull.conftest import Pull, sha256


def _metadata(described: dict[str, object]) -> dict[str, str]:
    return dict(described.get("CustomerMetadataProperties") or {})  # type: ignore[call-overload]


def test_a_package_approved_in_each_spoke_is_pulled_into_the_hub_registry(pulled: Pull) -> None:
    for spoke in pull.SPOKE_ACCOUNT_IDS:
        # Given a package the spoke's pipeline registered and a data scientist approved
        arn, data = pulled.register(spoke)
        # When its approval event reaches the hub through the spoke's forwarding rule
        (execution,) = pulled.settled_executions(arn)
        # Then the promotion succeeded in the hub account
        assert execution["status"] == "SUCCEEDED", execution
        # And the hub registry holds the whole package, in a hub group of its own spoke and group
        (hub_package,) = pulled.hub_packages(pulled.hub_group(spoke))
        assert spoke in hub_package["ModelPackageGroupName"]
        assert hub_package["ModelApprovalStatus"] == "Approved"
        metadata = _metadata(hub_package)
        # with its provenance naming the spoke account and package
        assert metadata["modelrelay:source-account"] == spoke
        assert metadata["modelrelay:source-package-arn"] == arn
        assert metadata["modelrelay:sha256"] == sha256(data)
        source = pulled.client(spoke, "sagemaker").describe_model_package(ModelPackageName=arn)
        (container,) = hub_package["InferenceSpecification"]["Containers"]
        (source_container,) = source["InferenceSpecification"]["Containers"]
        assert {k: v for k, v in container.items() if k != "ModelDataUrl"} == {
            k: v for k, v in source_container.items() if k != "ModelDataUrl"
        }
        # and the exact bytes, copied into the hub's bucket with the hub's own credentials
        bucket, key = container["ModelDataUrl"].removeprefix("s3://").split("/", 1)
        assert bucket == pulled.out["HubBucketName"]
        assert pulled.hub("s3").get_object(Bucket=bucket, Key=key)["Body"].read() == data
        # And the status is on the hub package: the spoke's package is read-only to the hub
        assert metadata["modelrelay:status"] == "PromotionSucceeded"
        assert not any(k.startswith("modelrelay:") for k in _metadata(source))
        # And the model serves from the hub's MME
        pointer = pulled.hub("dynamodb").get_item(
            TableName=pulled.out["StateTableName"],
            Key={"pk": {"S": f"pointer#{pull.PULL_MME_ENDPOINT}#{pull.spoke_group(spoke)}"}},
            ConsistentRead=True,
        )["Item"]
        assert pointer["current"]["M"]["package_arn"]["S"] == arn


def test_a_spoke_not_on_the_allow_list_is_refused_by_the_hubs_bus(pulled: Pull) -> None:
    spoke = pull.UNLISTED_SPOKE_ACCOUNT_ID
    # Given a spoke stack deployed in an account the hub does not list
    dead_letters = pulled.topology.spokes[spoke].outputs["ForwardToHubDeadLetterQueueUrl"]
    # When a package is approved there
    arn, _ = pulled.register(spoke)
    # Then the hub's bus refuses the forwarded event (its policy admits only the listed spokes): it waits in the
    # spoke's dead-letter queue with EventBridge's NO_PERMISSIONS
    sqs = pulled.client(spoke, "sqs")
    messages = sqs.receive_message(
        QueueUrl=dead_letters, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=1
    ).get("Messages", [])
    refused = [m for m in messages if arn in m["Body"]]
    assert refused, messages
    assert refused[0]["MessageAttributes"]["ERROR_CODE"]["StringValue"] == "NO_PERMISSIONS"
    # And no promotion started in the hub, nothing was registered there
    time.sleep(1)
    assert pulled.executions_for(arn) == []
    assert pulled.hub_packages(pulled.hub_group(spoke)) == []


def test_an_unlisted_spokes_event_that_reaches_the_state_machine_is_refused_by_the_code(pulled: Pull) -> None:
    spoke = pull.UNLISTED_SPOKE_ACCOUNT_ID
    # Given an approval event of the unlisted spoke that reached the state machine without the bus (e.g. started by
    # hand, or re-driven from a dead-letter queue)
    arn, _ = pulled.register(spoke)
    source = pulled.client(spoke, "sagemaker").describe_model_package(ModelPackageName=arn)
    event = {
        "version": "0",
        "id": "forged-1",
        "detail-type": "SageMaker Model Package State Change",
        "source": "aws.sagemaker",
        "account": spoke,
        "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [arn],
        "detail": json.loads(json.dumps(source, default=str)),
    }
    pulled.notifications()
    # When the hub's state machine runs it
    pulled.hub("stepfunctions").start_execution(
        stateMachineArn=pulled.out["PromotionStateMachineArn"], input=json.dumps(event)
    )
    (execution,) = pulled.settled_executions(arn)
    # Then the promotion is refused with its specific reason, and a person is told
    assert execution["status"] != "SUCCEEDED"
    told = "\n".join(pulled.notifications())
    assert "spoke_not_allowed" in told and spoke in told
    # And nothing was written: no hub group or package, no claim, nothing on the spoke's package
    assert pulled.hub_packages(pulled.hub_group(spoke)) == []
    claim = pulled.hub("dynamodb").get_item(
        TableName=pulled.out["StateTableName"], Key={"pk": {"S": f"package#{arn}"}}, ConsistentRead=True
    )
    assert "Item" not in claim
    assert not any(
        k.startswith("modelrelay:")
        for k in _metadata(pulled.client(spoke, "sagemaker").describe_model_package(ModelPackageName=arn))
    )


def test_a_duplicate_event_promotes_once(pulled: Pull) -> None:
    spoke = pull.SPOKE_ACCOUNT_IDS[1]
    # Given a package of a spoke that was pulled once
    arn, _ = pulled.register(spoke)
    (first,) = pulled.settled_executions(arn)
    assert first["status"] == "SUCCEEDED"
    hub_group = pulled.hub_group(spoke)
    before = {p["ModelPackageArn"] for p in pulled.hub_packages(hub_group)}
    # When the same event is delivered again
    pulled.hub("stepfunctions").start_execution(
        stateMachineArn=pulled.out["PromotionStateMachineArn"], input=first["input"]
    )
    executions = pulled.settled_executions(arn, count=2)
    # Then the second delivery ends quietly and the hub holds the package once
    assert all(e["status"] == "SUCCEEDED" for e in executions), executions
    assert {p["ModelPackageArn"] for p in pulled.hub_packages(hub_group)} == before
    assert sum(_metadata(p)["modelrelay:source-package-arn"] == arn for p in pulled.hub_packages(hub_group)) == 1
