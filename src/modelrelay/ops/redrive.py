"""Re-drive a ModelRelay dead-letter queue: deliver each message's original event to its target again.

``python -m modelrelay.ops.redrive --queue-url URL --target-arn ARN [--endpoint-url URL] [--max N]``

Works against AWS (no ``--endpoint-url``) or the sandbox. Events of AWS sources cannot be re-put on a bus
(``PutEvents`` refuses ``aws.*`` sources), so each event goes straight to the rule's target: a state machine
(``StartExecution``) or the ingest function (asynchronous ``Invoke``). Promotions and drops are idempotent, so
a message delivered twice is harmless. A message is deleted only after its re-delivery was accepted.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import boto3
from botocore.exceptions import ClientError


def original_event(body: str) -> dict[str, Any]:
    """The event inside a DLQ message: EventBridge DLQs hold it as is, Lambda on-failure records nest it."""
    message = json.loads(body)
    if isinstance(message, dict) and "requestPayload" in message:
        payload: dict[str, Any] = message["requestPayload"]
        return payload
    if not isinstance(message, dict):
        raise ValueError("message body is not a JSON object")
    return message


def redrive(sqs: Any, target: Any, queue_url: str, target_arn: str, limit: int) -> dict[str, int]:
    report = {"received": 0, "redriven": 0, "failed": 0}
    while report["received"] < limit:
        batch = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, limit - report["received"]),
            WaitTimeSeconds=1,
            VisibilityTimeout=60,
        ).get("Messages", [])
        if not batch:
            break
        for message in batch:
            report["received"] += 1
            try:
                event = original_event(message["Body"])
                if ":states:" in target_arn:
                    target.start_execution(stateMachineArn=target_arn, input=json.dumps(event))
                else:
                    target.invoke(FunctionName=target_arn, InvocationType="Event", Payload=json.dumps(event).encode())
            except (ValueError, ClientError) as error:
                report["failed"] += 1
                print(f"not re-driven (message {message['MessageId']} stays in the queue): {error}", file=sys.stderr)
                continue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            report["redriven"] += 1
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="modelrelay.ops.redrive", description=__doc__.split("\n")[0])
    parser.add_argument("--queue-url", required=True)
    parser.add_argument("--target-arn", required=True, help="promotion state machine ARN or ingest function ARN")
    parser.add_argument("--endpoint-url", default=None)
    parser.add_argument("--max", type=int, default=1000)
    args = parser.parse_args(argv)
    session = boto3.Session()
    sqs = session.client("sqs", endpoint_url=args.endpoint_url)
    target = session.client(
        "stepfunctions" if ":states:" in args.target_arn else "lambda", endpoint_url=args.endpoint_url
    )
    report = redrive(sqs, target, args.queue_url, args.target_arn, args.max)
    print(json.dumps(report))
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
