"""CloudWatch adapter: the alarms that guard endpoint rollouts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from modelrelay.config import AlarmDefaults

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.client import CloudWatchClient
else:
    CloudWatchClient = Any


def missing(cloudwatch: CloudWatchClient, names: list[str]) -> list[str]:
    """Which of the named alarms do not exist."""
    return [name for name in names if not cloudwatch.describe_alarms(AlarmNames=[name]).get("MetricAlarms")]


def own_alarm_names(endpoint: str, kind: str = "") -> tuple[str, str]:
    """The names of ModelRelay's own 5XX and p99 latency alarms on an endpoint (``kind``: ``""`` or ``"shadow"``);
    the template's IAM statements allow PutMetricAlarm on exactly these (``modelrelay.derive``)."""
    prefix = f"modelrelay-{endpoint}-{kind + '-' if kind else ''}"
    return f"{prefix}5xx", f"{prefix}latency-p99"


def ensure_endpoint_alarms(
    cloudwatch: CloudWatchClient, endpoint: str, variant: str, thresholds: AlarmDefaults, kind: str = ""
) -> list[str]:
    """Create (or update) ModelRelay's own 5XX and p99 latency alarms on an endpoint variant; return their names.

    ``kind="shadow"`` names them ``modelrelay-<endpoint>-shadow-5xx``/``-shadow-latency-p99``: a shadow variant
    publishes ``AWS/SageMaker`` metrics under its own ``VariantName`` (model-shadow-deployment.html)."""
    dimensions: list[Any] = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
    errors, latency = own_alarm_names(endpoint, kind)
    cloudwatch.put_metric_alarm(
        AlarmName=errors,
        AlarmDescription=f"ModelRelay rollout guardrail: 5XX errors on {endpoint}/{variant}",
        Namespace="AWS/SageMaker",
        MetricName="Invocation5XXErrors",
        Dimensions=dimensions,
        Statistic="Sum",
        Period=thresholds.period_seconds,
        EvaluationPeriods=thresholds.evaluation_periods,
        Threshold=thresholds.invocation_5xx_errors,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
    )
    cloudwatch.put_metric_alarm(
        AlarmName=latency,
        AlarmDescription=f"ModelRelay rollout guardrail: p99 model latency on {endpoint}/{variant}",
        Namespace="AWS/SageMaker",
        MetricName="ModelLatency",
        Dimensions=dimensions,
        ExtendedStatistic="p99",
        Period=thresholds.period_seconds,
        EvaluationPeriods=thresholds.evaluation_periods,
        Threshold=thresholds.model_latency_p99_ms * 1000,  # ModelLatency is reported in microseconds
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    return [errors, latency]


def fired_since(cloudwatch: CloudWatchClient, names: list[str], since_epoch: float) -> list[str]:
    """Which of the named alarms went to ``ALARM`` at or after ``since_epoch`` (``DescribeAlarmHistory``
    ``StateUpdate`` items whose new state is ``ALARM``), or are in ``ALARM`` now (``DescribeAlarms``).

    This is how a rollout tells an alarm rollback from a failed deployment: both end ``InService`` on the old
    endpoint config, and ``FailureReason``'s wording is SageMaker's to change (it may even be empty).
    """
    start = datetime.fromtimestamp(since_epoch, UTC)
    fired = []
    for name in names:
        described = cloudwatch.describe_alarms(AlarmNames=[name])
        current = [*described.get("MetricAlarms", []), *described.get("CompositeAlarms", [])]
        if any(alarm.get("StateValue") == "ALARM" for alarm in current) or _went_to_alarm(cloudwatch, name, start):
            fired.append(name)
    return fired


def _went_to_alarm(cloudwatch: CloudWatchClient, name: str, start: datetime) -> bool:
    pages = cloudwatch.get_paginator("describe_alarm_history").paginate(
        AlarmName=name, HistoryItemType="StateUpdate", StartDate=start
    )
    for page in pages:
        for item in page.get("AlarmHistoryItems", []):
            try:
                data = json.loads(item.get("HistoryData") or "{}")
            except json.JSONDecodeError:
                continue
            if (data.get("newState") or {}).get("stateValue") == "ALARM":
                return True
    return False
