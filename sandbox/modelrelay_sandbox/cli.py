"""``python -m modelrelay_sandbox.cli run|up|down``: the sandbox in the foreground, detached, or stopped."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from modelrelay_sandbox.deploy import REPO
from modelrelay_sandbox.server import SandboxPortBusy, default_port

STATE_DIR = REPO / ".sandbox"
OUTPUTS = STATE_DIR / "outputs.json"
PID_FILE = STATE_DIR / "sandbox.pid"
BUILD_DIR = STATE_DIR / "build"  # `make sandbox-build`: sam build with sandbox/routes.json


def usage(outputs: dict[str, object]) -> str:
    url, region = outputs["endpoint_url"], outputs["region"]
    bucket, prefix = outputs["ingest_bucket"], outputs["ingest_prefix"]
    aws = f"aws --endpoint-url {url} --region {region}"
    return f"""
ModelRelay sandbox is up at {url} (stack '{outputs["stack_name"]}', account {outputs["account_id"]}, hub account \
{outputs["hub_account_id"]}). Contract for scripts: {OUTPUTS}

  export AWS_ACCESS_KEY_ID={outputs["access_key_id"]} AWS_SECRET_ACCESS_KEY={outputs["secret_access_key"]}

  # drop a model (make one first: python -m modelrelay_sandbox.artifact_factory > model.tar.gz)
  {aws} s3 cp model.tar.gz s3://{bucket}/{prefix}housing-newyork-ny/model.tar.gz
  # see the package it became, then approve it
  {aws} sagemaker list-model-packages --model-package-group-name housing-newyork-ny
  {aws} sagemaker update-model-package --model-approval-status Approved --model-package-arn <ARN>
  # what serves, what happened and why (the operator's command; --json for scripts)
  modelrelay --sandbox status
  modelrelay --sandbox history housing-newyork-ny
  # where the model's TargetModel points now
  modelrelay --sandbox resolve NewYork_NY
  # what a person would be told
  {aws} sqs receive-message --queue-url {outputs["notifications_queue_url"]} --max-number-of-messages 10
"""


def run(port: int, ready_file: Path | None) -> int:
    from modelrelay_sandbox import environment
    from modelrelay_sandbox.moto_ext import cloudformation, fault_injection

    started = time.monotonic()
    try:
        env = environment.start(port=port, state_dir=STATE_DIR, build_dir=BUILD_DIR if BUILD_DIR.exists() else None)
    except SandboxPortBusy as busy:
        print(f"error: {busy}", file=sys.stderr)
        return 2
    injector = fault_injection.enable_from_env(env.server)
    if injector is not None:
        print(
            f"Fault injection on: {injector.rate:.0%} of AWS calls answer throttling/5xx "
            f"(MODELRELAY_SANDBOX_FAULT_RATE)"
        )
    STATE_DIR.mkdir(exist_ok=True)
    OUTPUTS.write_text(json.dumps(env.outputs, indent=2) + "\n")
    print(
        f"Deployed in {time.monotonic() - started:.1f} s. Applied by the sandbox where moto's CloudFormation "
        "ignores it:"
    )
    for line in cloudformation.APPLIED:
        print(f"  - {line}")
    print(usage(env.outputs), flush=True)
    if ready_file:
        ready_file.write_text("ready\n")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    env.stop()
    print("sandbox stopped", flush=True)
    return 0


def _listener_pid(port: int) -> int | None:
    """The pid of the process listening on 127.0.0.1:``port`` (Linux /proc; None when unknown or not ours)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                inodes.add(fields[9])
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return int(proc.name)
        except OSError:
            continue
    return None


def _is_sandbox(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return "modelrelay_sandbox" in cmdline


def _running_pid(port: int) -> int | None:
    """The detached sandbox's pid: from the pid file if that process lives, else whoever serves the port."""
    if PID_FILE.exists():
        try:
            pid = int(PID_FILE.read_text())
            os.kill(pid, 0)
            if _is_sandbox(pid):
                return pid
        except (ValueError, ProcessLookupError, PermissionError):
            pass
    listener = _listener_pid(port)
    return listener if listener is not None and _is_sandbox(listener) else None


def up(port: int, timeout: float = 120.0) -> int:
    running = _running_pid(port)
    if running is not None:
        where = json.loads(OUTPUTS.read_text())["endpoint_url"] if OUTPUTS.exists() else f"port {port}"
        print(f"a sandbox is already running (pid {running}, {where}); left as it is. `make sandbox-down` stops it.")
        return 0
    if _listener_pid(port) is not None:
        print(f"error: port {port} is in use by another program; set MODELRELAY_SANDBOX_PORT", file=sys.stderr)
        return 2
    STATE_DIR.mkdir(exist_ok=True)
    ready = STATE_DIR / "ready"
    ready.unlink(missing_ok=True)
    OUTPUTS.unlink(missing_ok=True)
    log = (STATE_DIR / "sandbox.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "modelrelay_sandbox.cli", "run", "--port", str(port), "--ready-file", str(ready)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=REPO,
    )
    PID_FILE.write_text(str(process.pid))
    deadline = time.monotonic() + timeout
    while not ready.exists():
        if process.poll() is not None:
            print(
                f"error: the sandbox exited with {process.returncode}; see {STATE_DIR / 'sandbox.log'}:",
                file=sys.stderr,
            )
            print((STATE_DIR / "sandbox.log").read_text()[-2000:], file=sys.stderr)
            PID_FILE.unlink(missing_ok=True)
            return 1
        if time.monotonic() > deadline:
            down(port)
            print(f"error: the sandbox was not ready within {timeout:.0f} s", file=sys.stderr)
            return 1
        time.sleep(0.2)
    print(usage(json.loads(OUTPUTS.read_text())))
    return 0


def down(port: int) -> int:
    """Stop the detached sandbox: the pid file's process, or (files gone) the sandbox serving ``port``."""
    pid = _running_pid(port)
    if pid is None:
        PID_FILE.unlink(missing_ok=True)
        print(f"no sandbox is running (no live pid file, nothing of ours on port {port})")
        return 0
    try:
        group = os.getpgid(pid)
        os.killpg(group, signal.SIGTERM)  # the server and its Lambda workers share the process group
        for _ in range(50):
            os.kill(pid, 0)
            time.sleep(0.1)
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass
    PID_FILE.unlink(missing_ok=True)
    OUTPUTS.unlink(missing_ok=True)
    print(f"sandbox (pid {pid}, port {port}) stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="modelrelay_sandbox.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("run", "up", "down"):
        command = commands.add_parser(name)
        command.add_argument("--port", type=int, default=default_port())
        if name == "run":
            command.add_argument("--ready-file", type=Path)
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.port, args.ready_file)
    if args.command == "up":
        return up(args.port)
    return down(args.port)


if __name__ == "__main__":
    raise SystemExit(main())
