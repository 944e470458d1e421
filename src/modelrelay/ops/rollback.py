"""Manual rollback: ``python -m modelrelay.ops.rollback --group G --state-machine-arn ARN [--endpoint-url URL]``.

Starts the promotion state machine with a manual rollback request (``modelrelay.events.ManualRollbackRequest``,
``{"request": "rollback", "group": G}``): an MME route's pointer
moves back to the previous target whose package is still Approved; an endpoint route is rolled back to the
previous winning endpoint config with the route's guardrails. Waits for the outcome and prints it.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time

import boto3

from modelrelay.events import ManualRollbackRequest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="modelrelay.ops.rollback", description=__doc__.split("\n")[0])
    parser.add_argument("--group", required=True)
    parser.add_argument("--state-machine-arn", required=True)
    parser.add_argument("--endpoint-url", default=None)
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args(argv)
    sfn = boto3.Session().client("stepfunctions", endpoint_url=args.endpoint_url)
    request = ManualRollbackRequest(request="rollback", group=args.group, requested_by=getpass.getuser())
    execution = sfn.start_execution(stateMachineArn=args.state_machine_arn, input=request.model_dump_json())
    deadline = time.monotonic() + args.timeout
    while (described := sfn.describe_execution(executionArn=execution["executionArn"]))["status"] == "RUNNING":
        if time.monotonic() > deadline:
            print(f"still running: {execution['executionArn']}", file=sys.stderr)
            return 2
        time.sleep(2)
    print(
        json.dumps(
            {
                "execution": execution["executionArn"],
                "status": described["status"],
                "error": described.get("error"),
                "cause": described.get("cause"),
            }
        )
    )
    return 0 if described["status"] == "SUCCEEDED" else 1


if __name__ == "__main__":
    raise SystemExit(main())
