"""Integration fixtures: the real template deployed into the moto sandbox, real ASL, real handlers."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from modelrelay.config import Settings
from modelrelay.domain.hub import hub_group_name
from modelrelay_sandbox import environment
from modelrelay_sandbox.artifact_factory import good_artifact
from modelrelay_sandbox.environment import SandboxEnvironment, wait_for


@dataclass
class Stack:
    """Clients and names of the deployed stack, plus helpers that act and wait like a user would."""

    env: SandboxEnvironment

    def client(self, service: str) -> Any:
        return environment.session().client(service, endpoint_url=self.env.url)

    def hub_client(self, service: str) -> Any:
        """The hub account's administrator: tests inspect the hub with more than ModelRelay's hub role may do."""
        return environment.hub_admin_session().client(service, endpoint_url=self.env.url)

    def hub_role_client(self, service: str) -> Any:
        """ModelRelay's hub role (assumed with its ExternalId): for tests that act in the hub as ModelRelay does."""
        return environment.hub_session(self.env.url).client(service, endpoint_url=self.env.url)

    @property
    def out(self) -> dict[str, Any]:
        return self.env.outputs

    def drop(self, group: str, data: bytes, name: str = "model.tar.gz") -> str:
        key = f"{self.out['ingest_prefix']}{group}/{name}"
        self.client("s3").put_object(Bucket=self.out["ingest_bucket"], Key=key, Body=data)
        return key

    def packages(self, group: str, hub: bool = False) -> list[dict[str, Any]]:
        sagemaker = self.hub_client("sagemaker") if hub else self.client("sagemaker")
        found: list[dict[str, Any]] = []
        for page in sagemaker.get_paginator("list_model_packages").paginate(ModelPackageGroupName=group):
            found.extend(page["ModelPackageSummaryList"])
        return found

    def hub_group(self, group: str) -> str:
        """The hub group that mirrors a source group (created by RegisterInHub on first use)."""
        return hub_group_name(self.out["hub_model_package_group"], group)

    def describe(self, arn: str, hub: bool = False) -> dict[str, Any]:
        sagemaker = self.hub_client("sagemaker") if hub else self.client("sagemaker")
        result: dict[str, Any] = sagemaker.describe_model_package(ModelPackageName=arn)
        return result

    def package_with_sha(self, group: str, sha256: str, hub: bool = False, timeout: float = 90) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            for summary in self.packages(group, hub=hub):
                described = self.describe(summary["ModelPackageArn"], hub=hub)
                if (described.get("CustomerMetadataProperties") or {}).get("modelrelay:sha256") == sha256:
                    return described
            return None

        return wait_for(find, timeout=timeout, what=f"a package with sha256 {sha256[:12]} in {group}")  # type: ignore[no-any-return]

    def executions_for(self, package_arn: str) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        found = []
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=self.out["state_machine_arn"]):
            for execution in page["executions"]:
                described = sfn.describe_execution(executionArn=execution["executionArn"])
                if package_arn in described.get("input", ""):
                    found.append(described)
        return found

    def settled_executions(self, package_arn: str, count: int = 1, timeout: float = 60) -> list[dict[str, Any]]:
        """Wait until at least ``count`` executions for the package exist and none is running."""

        def settled() -> list[dict[str, Any]] | None:
            executions = self.executions_for(package_arn)
            if len(executions) >= count and all(e["status"] != "RUNNING" for e in executions):
                return executions
            return None

        return wait_for(settled, timeout=timeout, what=f"promotion executions of {package_arn}")  # type: ignore[no-any-return]

    def notifications(self) -> list[dict[str, Any]]:
        """Drain the notification queue (what a person would be told)."""
        sqs = self.client("sqs")
        messages = []
        while True:
            batch = sqs.receive_message(
                QueueUrl=self.out["notifications_queue_url"], MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not batch:
                return messages
            for message in batch:
                messages.append(message)
                sqs.delete_message(QueueUrl=self.out["notifications_queue_url"], ReceiptHandle=message["ReceiptHandle"])

    def keys(self, bucket: str, prefix: str, hub: bool = False) -> list[str]:
        s3 = self.hub_client("s3") if hub else self.client("s3")
        keys: list[str] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return keys

    def pending_version(self, group: str) -> tuple[dict[str, Any], str]:
        """Drop a unique artifact for ``group`` and wait for its PendingManualApproval package (and quiet run)."""
        data = good_artifact({"model.joblib": uuid.uuid4().bytes * 64})
        sha = hashlib.sha256(data).hexdigest()
        self.drop(group, data, name=f"{sha[:8]}.tar.gz")
        package = self.package_with_sha(group, sha)
        self.settled_executions(package["ModelPackageArn"])
        return package, sha

    def approve(self, package: dict[str, Any]) -> list[dict[str, Any]]:
        """Approve like a data scientist; return the package's settled executions (pending + approval)."""
        self.client("sagemaker").update_model_package(
            ModelPackageArn=package["ModelPackageArn"], ModelApprovalStatus="Approved"
        )
        return self.settled_executions(package["ModelPackageArn"], count=2, timeout=120)

    def approved_failing_package(self, group: str, key_prefix: str) -> tuple[str, str]:
        """An Approved package whose container fails its health check (the sandbox fails images named
        ``fail-deployment``), registered as the SDK does; returns (package ARN, sha256 of its artifact)."""
        data = good_artifact({"model.joblib": uuid.uuid4().bytes * 64})
        key = f"{key_prefix}/{uuid.uuid4()}.tar.gz"
        self.client("s3").put_object(Bucket=environment.DS_BUCKET, Key=key, Body=data)
        arn = self.client("sagemaker").create_model_package(
            ModelPackageGroupName=group,
            ModelApprovalStatus="Approved",
            InferenceSpecification={
                "Containers": [
                    {
                        "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/fail-deployment",
                        "ModelDataUrl": f"s3://{environment.DS_BUCKET}/{key}",
                    }
                ],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )["ModelPackageArn"]
        return str(arn), hashlib.sha256(data).hexdigest()

    def pointer(self, model: str) -> dict[str, Any] | None:
        item = (
            self.client("dynamodb")
            .get_item(
                TableName=self.out["state_table"],
                Key={"pk": {"S": f"pointer#{self.out['mme']['endpoint_name']}#{model}"}},
                ConsistentRead=True,
            )
            .get("Item")
        )
        return item


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = environment.start(port=None, state_dir=Path(tmp_path_factory.mktemp("sandbox")))
    try:
        yield Stack(env)
    finally:
        env.stop()


def message_bodies(messages: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(m.get("Body", "")) + m.get("Body", "") for m in messages]


def stack_settings(out: dict[str, Any]) -> Settings:
    """The settings the deployed functions read from their environment, for wiring domain code in a test."""
    return Settings(
        region=out["region"],
        account_id=out["account_id"],
        ingest_bucket=out["ingest_bucket"],
        ingest_prefix=out["ingest_prefix"],
        hub_bucket=out["hub_bucket"],
        hub_model_package_group=out["hub_model_package_group"],
        state_table=out["state_table"],
        notification_topic_arn=out["notification_topic_arn"],
        event_bus_name="default",
    )
