"""Pull mode: the hub stack (HubMode=pull) and its spokes, deployed into the session's sandbox (the ``stack``
fixture's server: one sandbox per process), with helpers that act like the spokes' data scientists."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from modelrelay.config import Settings
from modelrelay.domain.hub import hub_group_for
from modelrelay_sandbox import pull
from modelrelay_sandbox.artifact_factory import good_artifact
from modelrelay_sandbox.environment import wait_for
from tests.integration.conftest import Stack


@dataclass
class Pull:
    topology: pull.PullTopology

    def client(self, account: str, service: str) -> Any:
        return self.topology.client(account, service)

    def hub(self, service: str) -> Any:
        return self.client(pull.PULL_HUB_ACCOUNT_ID, service)

    @property
    def out(self) -> dict[str, str]:
        return self.topology.hub.outputs

    def settings(self) -> Settings:
        return Settings(
            region="us-east-1",
            account_id=pull.PULL_HUB_ACCOUNT_ID,
            ingest_bucket=self.out["IngestBucketName"],
            hub_bucket=self.out["HubBucketName"],
            hub_model_package_group=self.out["HubModelPackageGroupName"],
            state_table=self.out["StateTableName"],
            notification_topic_arn=self.out["NotificationTopicArn"],
            event_bus_name="default",
            hub_mode="pull",
            spoke_account_ids=pull.SPOKE_ACCOUNT_IDS,
        )

    def hub_group(self, spoke: str) -> str:
        return hub_group_for(self.settings(), spoke, pull.spoke_group(spoke))

    def register(self, spoke: str, approval: str = "Approved") -> tuple[str, bytes]:
        """A package as the SageMaker SDK registers it in the spoke (a scikit-learn model in the spoke's bucket, at
        a training job's output key); returns (package ARN, artifact bytes)."""
        data = good_artifact({"model.joblib": uuid.uuid4().bytes * 64})
        key = f"training/churn-{uuid.uuid4().hex[:8]}/output/model.tar.gz"
        self.client(spoke, "s3").put_object(Bucket=pull.spoke_bucket(spoke), Key=key, Body=data)
        arn = self.client(spoke, "sagemaker").create_model_package(
            ModelPackageGroupName=pull.spoke_group(spoke),
            ModelPackageDescription="churn model trained by the spoke's pipeline",
            ModelApprovalStatus=approval,
            InferenceSpecification={
                "Containers": [
                    {
                        "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
                        "ModelDataUrl": f"s3://{pull.spoke_bucket(spoke)}/{key}",
                        "Framework": "SKLEARN",
                        "FrameworkVersion": "1.2-1",
                        "Environment": {
                            "SAGEMAKER_PROGRAM": "inference.py",
                            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                            "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                            "SAGEMAKER_REGION": "us-east-1",
                        },
                    }
                ],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
                "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large"],
                "SupportedTransformInstanceTypes": ["ml.m5.large"],
            },
        )["ModelPackageArn"]
        return str(arn), data

    def executions_for(self, package_arn: str) -> list[dict[str, Any]]:
        sfn = self.hub("stepfunctions")
        found = []
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=self.out["PromotionStateMachineArn"]):
            for execution in page["executions"]:
                described = sfn.describe_execution(executionArn=execution["executionArn"])
                if package_arn in described.get("input", ""):
                    found.append(described)
        return found

    def settled_executions(self, package_arn: str, count: int = 1, timeout: float = 90) -> list[dict[str, Any]]:
        def settled() -> list[dict[str, Any]] | None:
            executions = self.executions_for(package_arn)
            if len(executions) >= count and all(e["status"] != "RUNNING" for e in executions):
                return executions
            return None

        return wait_for(settled, timeout=timeout, what=f"hub executions of {package_arn}")  # type: ignore[no-any-return]

    def hub_packages(self, hub_group: str) -> list[dict[str, Any]]:
        sagemaker = self.hub("sagemaker")
        try:
            summaries = sagemaker.list_model_packages(ModelPackageGroupName=hub_group)["ModelPackageSummaryList"]
        except sagemaker.exceptions.ClientError:
            return []
        return [sagemaker.describe_model_package(ModelPackageName=s["ModelPackageArn"]) for s in summaries]

    def notifications(self) -> list[str]:
        sqs = self.hub("sqs")
        bodies = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.topology.notifications_queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not batch:
                return bodies
            for message in batch:
                bodies.append(message["Body"])
                sqs.delete_message(
                    QueueUrl=self.topology.notifications_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="session")
def pulled(stack: Stack) -> Iterator[Pull]:
    """The pull-mode hub and spokes, in the session's sandbox."""
    yield Pull(pull.deploy(stack.env.url))
