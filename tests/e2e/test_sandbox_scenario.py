"""The sandbox over HTTP only, like a user: `cli up`, read .sandbox/outputs.json, act with boto3, `cli down`.

Nothing from the project is imported: results are checked through the AWS APIs the sandbox serves.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_tar_gz(members: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def outputs() -> Iterator[dict[str, Any]]:
    env = dict(os.environ, MODELRELAY_SANDBOX_PORT=str(free_port()))
    cli = [sys.executable, "-m", "modelrelay_sandbox.cli"]
    subprocess.run([*cli, "up", "--port", env["MODELRELAY_SANDBOX_PORT"]], cwd=REPO, env=env, check=True, timeout=180)
    try:
        yield json.loads((REPO / ".sandbox" / "outputs.json").read_text())
    finally:
        subprocess.run([*cli, "down"], cwd=REPO, env=env, check=True, timeout=60)


def test_drop_approve_promote_and_reject_like_a_user(outputs: dict[str, Any]) -> None:
    session = boto3.Session(
        aws_access_key_id=outputs["access_key_id"],
        aws_secret_access_key=outputs["secret_access_key"],
        region_name=outputs["region"],
    )

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=outputs["endpoint_url"])

    s3, sagemaker, dynamodb = client("s3"), client("sagemaker"), client("dynamodb")
    group = next(g for g in outputs["groups"] if g["route"] == "mme" and not g["auto_approve"])
    # Given a model artifact, When it is dropped in the ingest bucket
    data = make_tar_gz({"model.joblib": uuid.uuid4().bytes * 100, "code/inference.py": b"def model_fn(d): ...\n"})
    sha = hashlib.sha256(data).hexdigest()
    key = f"{outputs['ingest_prefix']}{group['name']}/e2e-{sha[:8]}.tar.gz"
    s3.put_object(Bucket=outputs["ingest_bucket"], Key=key, Body=data)

    def package() -> dict[str, Any] | None:
        for summary in sagemaker.list_model_packages(ModelPackageGroupName=group["name"])["ModelPackageSummaryList"]:
            described = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
            if described.get("CustomerMetadataProperties", {}).get("modelrelay:sha256") == sha:
                return described  # type: ignore[no-any-return]
        return None

    # Then a pending package appears
    pending = wait_for(package, "the registered package")
    assert pending["ModelApprovalStatus"] == "PendingManualApproval"
    # When it is approved, Then the model's TargetModel pointer moves to its immutable versioned key
    sagemaker.update_model_package(ModelPackageArn=pending["ModelPackageArn"], ModelApprovalStatus="Approved")
    pointer_key = {"pk": {"S": f"pointer#{group['endpoint_name']}#{group['model_name']}"}}

    def pointer() -> str | None:
        item = dynamodb.get_item(TableName=outputs["state_table"], Key=pointer_key, ConsistentRead=True)
        target = item.get("Item", {}).get("current", {}).get("M", {}).get("target_model", {}).get("S")
        return target if target and sha[:12] in target else None

    target_model = wait_for(pointer, "the pointer move")
    assert target_model == f"{group['model_name']}/{pending['ModelPackageVersion']}-{sha[:12]}.tar.gz"
    s3.head_object(Bucket=outputs["mme"]["bucket"], Key=outputs["mme"]["prefix"] + target_model)
    # And the hub account holds the artifact (read through the documented role)
    creds = client("sts").assume_role(
        RoleArn=outputs["hub_role_arn"], RoleSessionName="e2e", ExternalId=outputs["hub_external_id"]
    )["Credentials"]
    hub_s3 = boto3.client(
        "s3",
        endpoint_url=outputs["endpoint_url"],
        region_name=outputs["region"],
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    hub_s3.head_object(Bucket=outputs["hub_bucket"], Key=f"artifacts/{group['name']}/{sha}.tar.gz")
    # When a malicious artifact is dropped, Then it is tagged with the reason and not registered
    bad_key = f"{outputs['ingest_prefix']}{group['name']}/evil.tar.gz"
    s3.put_object(
        Bucket=outputs["ingest_bucket"],
        Key=bad_key,
        Body=make_tar_gz({"model.joblib": b"x", "../../etc/cron.d/evil": b"* * * * * root id\n"}),
    )
    tags = wait_for(lambda: s3.get_object_tagging(Bucket=outputs["ingest_bucket"], Key=bad_key)["TagSet"], "tags")
    assert {"Key": "modelrelay:reason", "Value": "path_traversal"} in tags


def _client(outputs: dict[str, Any], service: str) -> Any:
    return boto3.Session(
        aws_access_key_id=outputs["access_key_id"],
        aws_secret_access_key=outputs["secret_access_key"],
        region_name=outputs["region"],
    ).client(service, endpoint_url=outputs["endpoint_url"])


def _package_with_sha(outputs: dict[str, Any], group: str, sha: str) -> dict[str, Any]:
    sagemaker = _client(outputs, "sagemaker")

    def find() -> dict[str, Any] | None:
        for page in sagemaker.get_paginator("list_model_packages").paginate(ModelPackageGroupName=group):
            for summary in page["ModelPackageSummaryList"]:
                described = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
                if described.get("CustomerMetadataProperties", {}).get("modelrelay:sha256") == sha:
                    return described  # type: ignore[no-any-return]
        return None

    return wait_for(find, f"a package in {group}")  # type: ignore[no-any-return]


def _drop(outputs: dict[str, Any], group: str) -> str:
    data = make_tar_gz({"model.joblib": uuid.uuid4().bytes * 100})
    sha = hashlib.sha256(data).hexdigest()
    _client(outputs, "s3").put_object(
        Bucket=outputs["ingest_bucket"], Body=data, Key=f"{outputs['ingest_prefix']}{group}/e2e-{sha[:8]}.tar.gz"
    )
    return sha


def _rollout_status(outputs: dict[str, Any], arn: str) -> str | None:
    metadata = _client(outputs, "sagemaker").describe_model_package(ModelPackageName=arn)["CustomerMetadataProperties"]
    return metadata.get("modelrelay:rollout")


def test_auto_approved_drop_is_promoted_without_a_human(outputs: dict[str, Any]) -> None:
    group = next(g for g in outputs["groups"] if g["route"] == "mme" and g["auto_approve"])
    sha = _drop(outputs, group["name"])
    package = _package_with_sha(outputs, group["name"], sha)
    assert package["ModelApprovalStatus"] == "Approved"
    resolve = outputs["resolve_command"].replace("{model}", group["model_name"])
    dynamodb = _client(outputs, "dynamodb")
    key = {"pk": {"S": f"pointer#{group['endpoint_name']}#{group['model_name']}"}}
    wait_for(
        lambda: (
            sha[:12]
            in str(dynamodb.get_item(TableName=outputs["state_table"], Key=key, ConsistentRead=True).get("Item", {}))
        ),
        "the pointer",
    )
    assert group["model_name"] in resolve  # the documented one-call resolution names the model's pointer


def test_canary_rollout_succeeds_then_an_alarm_rolls_the_next_one_back(outputs: dict[str, Any]) -> None:
    canary = outputs["canary"]
    group = next(
        g for g in outputs["groups"] if g["route"] == "endpoint" and g["endpoint_name"] == canary["endpoint_name"]
    )
    sagemaker, cloudwatch = _client(outputs, "sagemaker"), _client(outputs, "cloudwatch")
    # Given an approved version on the canary route, Then the rollout succeeds on the new config
    sha = _drop(outputs, group["name"])
    package = _package_with_sha(outputs, group["name"], sha)
    sagemaker.update_model_package(ModelPackageArn=package["ModelPackageArn"], ModelApprovalStatus="Approved")
    assert wait_for(lambda: _rollout_status(outputs, package["ModelPackageArn"]), "the rollout", 120) == "Succeeded"
    serving = sagemaker.describe_endpoint(EndpointName=canary["endpoint_name"])
    assert serving["EndpointStatus"] == "InService" and sha[:12] in serving["EndpointConfigName"]
    # When the next version bakes while an alarm is in ALARM, Then it is rolled back and reported so
    cloudwatch.set_alarm_state(AlarmName=canary["alarm_names"][0], StateValue="ALARM", StateReason="e2e")
    try:
        bad_sha = _drop(outputs, group["name"])
        bad = _package_with_sha(outputs, group["name"], bad_sha)
        sagemaker.update_model_package(ModelPackageArn=bad["ModelPackageArn"], ModelApprovalStatus="Approved")
        assert wait_for(lambda: _rollout_status(outputs, bad["ModelPackageArn"]), "the rollback", 120) == "RolledBack"
    finally:
        cloudwatch.set_alarm_state(AlarmName=canary["alarm_names"][0], StateValue="OK", StateReason="e2e")
    after = sagemaker.describe_endpoint(EndpointName=canary["endpoint_name"])
    assert after["EndpointStatus"] == "InService"
    assert after["EndpointConfigName"] == serving["EndpointConfigName"]
