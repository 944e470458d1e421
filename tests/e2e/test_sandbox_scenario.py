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
    subprocess.run([*cli, "up", "--port", env["MODELRELAY_SANDBOX_PORT"]], cwd=REPO, env=env, check=True,
                   timeout=180)
    try:
        yield json.loads((REPO / ".sandbox" / "outputs.json").read_text())
    finally:
        subprocess.run([*cli, "down"], cwd=REPO, env=env, check=True, timeout=60)


def test_drop_approve_promote_and_reject_like_a_user(outputs: dict[str, Any]) -> None:
    session = boto3.Session(aws_access_key_id=outputs["access_key_id"],
                            aws_secret_access_key=outputs["secret_access_key"], region_name=outputs["region"])

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
    creds = client("sts").assume_role(RoleArn=outputs["hub_role_arn"], RoleSessionName="e2e",
                                      ExternalId=outputs["hub_external_id"])["Credentials"]
    hub_s3 = boto3.client("s3", endpoint_url=outputs["endpoint_url"], region_name=outputs["region"],
                          aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                          aws_session_token=creds["SessionToken"])
    hub_s3.head_object(Bucket=outputs["hub_bucket"], Key=f"artifacts/{group['name']}/{sha}.tar.gz")
    # When a malicious artifact is dropped, Then it is tagged with the reason and not registered
    bad_key = f"{outputs['ingest_prefix']}{group['name']}/evil.tar.gz"
    s3.put_object(Bucket=outputs["ingest_bucket"], Key=bad_key,
                  Body=make_tar_gz({"model.joblib": b"x", "../../etc/cron.d/evil": b"* * * * * root id\n"}))
    tags = wait_for(lambda: s3.get_object_tagging(Bucket=outputs["ingest_bucket"], Key=bad_key)["TagSet"], "tags")
    assert {"Key": "modelrelay:reason", "Value": "path_traversal"} in tags
