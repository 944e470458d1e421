"""The sandbox's Lambda concurrency, as Lambda's: the account's quota, reservations, throttling, no orphans.

Against a real in-process server, with a small account quota so a burst is a handful of invocations.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from modelrelay_sandbox.environment import wait_for
from modelrelay_sandbox.moto_ext import lambda_runtime, wait_idle
from modelrelay_sandbox.moto_ext.lambda_runtime.spec import reserved_in_account
from modelrelay_sandbox.server import SandboxServer, start_server

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's account for unknown keys
NO_RETRIES = Config(retries={"total_max_attempts": 1})
SLOW = "import time\ndef handler(e, c):\n    time.sleep(e.get('sleep', 0))\n    return 'done'\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    sandbox = start_server(port=None, state_dir=tmp_path_factory.mktemp("sandbox-state"))
    default = lambda_runtime.CONFIG.account_concurrency
    yield sandbox
    lambda_runtime.configure(account_concurrency=default)
    sandbox.stop()


@pytest.fixture
def quota(server: SandboxServer) -> Iterator[Callable[[int], None]]:
    """Set the account's quota for one test, on top of what functions of earlier tests still reserve (moto's
    backends outlive a module's server); every worker of the previous test is gone first."""
    default = lambda_runtime.CONFIG.account_concurrency

    def set_quota(limit: int) -> None:
        lambda_runtime.shutdown_workers()
        already_reserved = reserved_in_account(ACCOUNT, REGION)
        lambda_runtime.configure(account_concurrency=limit + already_reserved)

    yield set_quota
    wait_idle(30)
    lambda_runtime.configure(account_concurrency=default)


def zip_of(code: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", textwrap.dedent(code))
    return buffer.getvalue()


def create_function(aws: Callable[..., Any], role_arn: str, code: str = SLOW) -> str:
    name = f"fn-{uuid.uuid4().hex[:8]}"
    aws("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role_arn,
        Handler="app.handler",
        Code={"ZipFile": zip_of(code)},
        Timeout=30,
    )
    return name


def arn_of(aws: Callable[..., Any], name: str) -> str:
    return str(aws("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"])


def occupy(aws: Callable[..., Any], name: str, seconds: float) -> threading.Thread:
    """A synchronous invocation of ``name`` that keeps one execution environment busy for ``seconds``."""
    thread = threading.Thread(
        target=lambda: aws("lambda").invoke(FunctionName=name, Payload=json.dumps({"sleep": seconds}).encode())
    )
    thread.start()
    wait_for(lambda: lambda_runtime.worker_pids(arn_of(aws, name)), timeout=15, interval=0.02, what=f"{name} busy")
    return thread


def throttle_reason(aws: Callable[..., Any], name: str) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as raised:
        aws("lambda", config=NO_RETRIES).invoke(FunctionName=name, Payload=b"{}")
    response = raised.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response.get("Reason", "")


def test_the_account_quota_throttles_a_synchronous_invoke_of_any_unreserved_function(
    aws: Callable[..., Any], role_arn: str, quota: Callable[[int], None]
) -> None:
    # Given an account quota of 2, used up by two slow invocations of two different functions
    quota(2)
    first, second, third = (create_function(aws, role_arn) for _ in range(3))
    busy = [occupy(aws, first, 2.0), occupy(aws, second, 2.0)]

    # When a third function is invoked synchronously meanwhile
    status, code, reason = throttle_reason(aws, third)
    for thread in busy:
        thread.join()

    # Then Lambda answers 429 TooManyRequestsException for the account's limit
    assert (status, code, reason) == (429, "TooManyRequestsException", "ConcurrentInvocationLimitExceeded")
    # And once the burst is over the function runs
    assert json.loads(aws("lambda").invoke(FunctionName=third, Payload=b"{}")["Payload"].read()) == "done"


def test_a_reservation_is_taken_out_of_the_pool_the_others_share(
    aws: Callable[..., Any], role_arn: str, quota: Callable[[int], None]
) -> None:
    # Given an account quota of 3 and a function reserving 1 of it
    quota(3)
    reserved, shared_a, shared_b = (create_function(aws, role_arn) for _ in range(3))
    aws("lambda").put_function_concurrency(FunctionName=reserved, ReservedConcurrentExecutions=1)
    try:
        # When two unreserved invocations are running (all the unreserved pool: 3 - 1)
        busy = [occupy(aws, shared_a, 2.0), occupy(aws, shared_b, 2.0)]

        # Then a third unreserved invocation is throttled by the account limit
        assert throttle_reason(aws, shared_a)[2] == "ConcurrentInvocationLimitExceeded"
        # And the reserved function still runs (its reservation is its own)
        assert json.loads(aws("lambda").invoke(FunctionName=reserved, Payload=b"{}")["Payload"].read()) == "done"
        # And a second concurrent invocation of the reserved function meets its reservation's limit
        holder = occupy(aws, reserved, 1.5)
        assert throttle_reason(aws, reserved)[2] == "ReservedFunctionConcurrentInvocationLimitExceeded"
        for thread in [*busy, holder]:
            thread.join()
    finally:
        aws("lambda").delete_function_concurrency(FunctionName=reserved)


def test_asynchronous_events_beyond_the_quota_wait_and_all_run(
    aws: Callable[..., Any], role_arn: str, quota: Callable[[int], None]
) -> None:
    # Given an account quota of 2 and a function that records each event in a queue
    quota(2)
    sqs = aws("sqs")
    queue_url = sqs.create_queue(QueueName=f"ran-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    code = f"""
        import boto3, time
        def handler(e, c):
            time.sleep(0.3)
            boto3.client("sqs").send_message(QueueUrl="{queue_url}", MessageBody=str(e["n"]))
    """
    name = create_function(aws, role_arn, code)

    # When 8 events arrive at once (asynchronous invocation, as EventBridge delivers)
    for n in range(8):
        assert (
            aws("lambda").invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"n": n}))["StatusCode"]
            == 202
        )
    assert wait_idle(60)

    # Then every event ran exactly once (throttled events wait in Lambda's queue, none is lost)
    seen: list[str] = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        seen += [m["Body"] for m in batch]
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
    assert sorted(seen, key=int) == [str(n) for n in range(8)]
    # And never more than the quota ran at once
    assert len(lambda_runtime.worker_pids(arn_of(aws, name))) <= 2


def test_idle_environments_are_reclaimed_so_processes_stay_within_the_quota(
    aws: Callable[..., Any], role_arn: str, quota: Callable[[int], None]
) -> None:
    # Given an account quota of 2
    quota(2)
    limit = lambda_runtime.CONFIG.account_concurrency
    names = [create_function(aws, role_arn) for _ in range(limit + 2)]

    # When more functions than the quota are invoked one after the other (each leaves a warm, idle environment)
    for name in names:
        aws("lambda").invoke(FunctionName=name, Payload=b"{}")

    # Then no more worker processes than the quota are alive, the most recently used one among them
    alive = {name: lambda_runtime.worker_pids(arn_of(aws, name)) for name in names}
    assert sum(len(pids) for pids in alive.values()) <= limit
    assert alive[names[-1]]
    assert not alive[names[0]]


CHILD = """
import json, sys, time, zipfile, io, boto3
from modelrelay_sandbox.environment import wait_for
from modelrelay_sandbox.moto_ext import lambda_runtime
from modelrelay_sandbox.server import start_server

server = start_server(port=None, state_dir=sys.argv[1])
aws = dict(endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
role = boto3.client("iam", **aws).create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
buffer = io.BytesIO()
with zipfile.ZipFile(buffer, "w") as archive:
    archive.writestr("app.py", "import time\\ndef handler(e, c):\\n    time.sleep(120)\\n")
lam = boto3.client("lambda", **aws)
arn = lam.create_function(FunctionName="sleeper", Runtime="python3.12", Role=role, Handler="app.handler",
                          Code={"ZipFile": buffer.getvalue()}, Timeout=300)["FunctionArn"]
lam.invoke(FunctionName="sleeper", InvocationType="Event", Payload=b"{}")
print(json.dumps(wait_for(lambda: lambda_runtime.worker_pids(arn), timeout=30, what="worker")), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too (its parent, here init, reaps it).
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())


def test_workers_exit_when_the_sandbox_process_dies(tmp_path: Path) -> None:
    # Given a sandbox in another process with a worker busy in a long invocation
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
    )
    try:
        assert child.stdout is not None
        pids = json.loads(child.stdout.readline())
        assert pids and all(_alive(pid) for pid in pids)

        # When the sandbox process is killed outright (as by the OOM killer)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)

        # Then its workers are gone too, the long invocation notwithstanding
        wait_for(lambda: not any(_alive(pid) for pid in pids), timeout=10, interval=0.1, what="orphans to exit")
    finally:
        if child.poll() is None:
            child.kill()
