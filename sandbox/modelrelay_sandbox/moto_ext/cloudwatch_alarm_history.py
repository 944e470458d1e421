"""CloudWatch DescribeAlarmHistory: every alarm state change, as AWS records it.

Imitates https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarmHistory.html and
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_AlarmHistoryItem.html: a ``StateUpdate``
item per state change (``SetAlarmState`` or an evaluation), ``HistorySummary`` "Alarm updated from OK to ALARM",
``HistoryData`` a JSON document with ``version``, ``oldState`` and ``newState`` (``stateValue``, ``stateReason``),
``AlarmType`` ``MetricAlarm``/``CompositeAlarm``; filters ``AlarmName``, ``AlarmTypes``, ``HistoryItemType``,
``StartDate``/``EndDate``; ``ScanBy`` (default ``TimestampDescending``); ``MaxRecords`` (1-100, default 50) with
``NextToken``. moto 5.2.5 has no DescribeAlarmHistory (the request fails) and keeps only the *previous* state.

ModelRelay reads it to tell an alarm rollback (a guard alarm went to ``ALARM`` during the deployment) from a
failed deployment: both end ``InService`` on the old endpoint config.
"""

from __future__ import annotations

import contextlib
import json
import threading
from datetime import UTC, datetime
from typing import Any

from moto.cloudwatch.models import Alarm, cloudwatch_backends
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult
from moto.core.utils import utcnow

_lock = threading.Lock()
_applied = False
_original_update_state = Alarm.update_state


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _when(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return _aware(value)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(float(value), UTC)
    text = str(value)
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        return _aware(datetime.fromisoformat(text.replace("Z", "+00:00")))


def _update_state(self: Alarm, reason: str, reason_data: str, state_value: str) -> None:
    old_value, old_reason = self.state_value, self.state_reason
    _original_update_state(self, reason, reason_data, state_value)
    new_state: dict[str, Any] = {"stateValue": state_value, "stateReason": reason}
    if reason_data:
        with contextlib.suppress(ValueError):
            new_state["stateReasonData"] = json.loads(reason_data)
    item = {
        "AlarmName": self.name,
        "AlarmType": "CompositeAlarm" if self.rule is not None else "MetricAlarm",
        "Timestamp": _aware(self.state_updated_timestamp or utcnow()),
        "HistoryItemType": "StateUpdate",
        "HistorySummary": f"Alarm updated from {old_value} to {state_value}",
        "HistoryData": json.dumps(
            {"version": "1.0", "oldState": {"stateValue": old_value, "stateReason": old_reason}, "newState": new_state}
        ),
    }
    with _lock:
        if not hasattr(self, "aws_history"):
            self.aws_history = []  # type: ignore[attr-defined]
        self.aws_history.append(item)  # type: ignore[attr-defined]


def describe_alarm_history(self: CloudWatchResponse) -> ActionResult:
    backend = cloudwatch_backends[self.current_account][self.region]
    name = self._get_param("AlarmName")
    types = self._get_param("AlarmTypes") or []
    item_type = self._get_param("HistoryItemType")
    start, end = _when(self._get_param("StartDate")), _when(self._get_param("EndDate"))
    limit = int(self._get_param("MaxRecords") or 50)
    offset = int(self._get_param("NextToken") or 0)
    with _lock:
        items = [
            item
            for alarm in list(backend.alarms.values())
            if name in (None, "", alarm.name)
            for item in getattr(alarm, "aws_history", [])
        ]
    items = [
        item
        for item in items
        if (not types or item["AlarmType"] in types)
        and (not item_type or item["HistoryItemType"] == item_type)
        and (start is None or item["Timestamp"] >= start)
        and (end is None or item["Timestamp"] <= end)
    ]
    items.sort(key=lambda i: i["Timestamp"], reverse=self._get_param("ScanBy") != "TimestampAscending")
    page = items[offset : offset + limit]
    result: dict[str, Any] = {"AlarmHistoryItems": page}
    if offset + limit < len(items):
        result["NextToken"] = str(offset + limit)
    return ActionResult(result)


def apply() -> None:
    """Install DescribeAlarmHistory (idempotent)."""
    global _applied
    with _lock:
        if _applied:
            return
        Alarm.update_state = _update_state  # type: ignore[method-assign]
        CloudWatchResponse.describe_alarm_history = describe_alarm_history  # type: ignore[attr-defined]
        _applied = True


__all__ = ["apply"]
