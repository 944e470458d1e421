"""Tell people (SNS) and systems (a ``ModelRelay`` event on the bus) what happened."""

from __future__ import annotations

import json
from typing import Any

EVENT_SOURCE = "modelrelay"


def publish(sns: Any, events: Any, topic_arn: str, bus_name: str, detail_type: str, detail: dict[str, Any]) -> None:
    subject = f"ModelRelay: {detail_type}"
    lines = [f"{key}: {value}" for key, value in detail.items() if value not in (None, "", [])]
    response = events.put_events(
        Entries=[
            {
                "Source": EVENT_SOURCE,
                "DetailType": detail_type,
                "Detail": json.dumps(detail, default=str),
                "EventBusName": bus_name,
                "Resources": [str(detail["package_arn"])] if detail.get("package_arn") else [],
            }
        ]
    )
    if response.get("FailedEntryCount"):
        raise RuntimeError(f"EventBridge refused the {detail_type} event: {response.get('Entries')}")
    sns.publish(
        TopicArn=topic_arn,
        Subject=subject[:99],
        Message=subject + "\n\n" + "\n".join(lines),
        MessageAttributes={"detail_type": {"DataType": "String", "StringValue": detail_type}},
    )
