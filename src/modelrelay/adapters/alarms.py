"""CloudWatch adapter: the alarms that guard endpoint rollouts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelrelay.config import AlarmDefaults

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.client import CloudWatchClient
else:
    CloudWatchClient = Any


def missing(cloudwatch: CloudWatchClient, names: list[str]) -> list[str]:
    """Which of the named alarms do not exist."""
    return [name for name in names if not cloudwatch.describe_alarms(AlarmNames=[name]).get("MetricAlarms")]


def ensure_endpoint_alarms(
    cloudwatch: CloudWatchClient, endpoint: str, variant: str, thresholds: AlarmDefaults
) -> list[str]:
    """Create (or update) ModelRelay's own 5XX and p99 latency alarms on an endpoint variant; return their names."""
    dimensions: list[Any] = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
    errors, latency = f"modelrelay-{endpoint}-5xx", f"modelrelay-{endpoint}-latency-p99"
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
