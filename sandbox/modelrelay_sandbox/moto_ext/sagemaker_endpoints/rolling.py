"""What UpdateEndpoint refuses for a rolling deployment (``DeploymentConfig.RollingUpdatePolicy``).

Imitates https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-exclusions.html ("If you're doing
a rolling deployment, there are additional feature-based exclusions: Serverless inference endpoints,
Multi-variant inference endpoints") and
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_RollingUpdatePolicy.html (``MaximumBatchSize``:
"Value must be between 5% to 50% of the variant's total instance count"). AWS documents the rules, not the
wording of its refusal: each is a ``ValidationException`` whose message (ours) names the rule. The batches, bakes
and rollback of an accepted rolling update are in :mod:`.stages` and :mod:`.deployment`.
"""

from __future__ import annotations

from typing import Any

from moto.sagemaker.exceptions import ValidationError


def validate_rolling(policy: dict[str, Any], config_variants: list[dict[str, Any]], config_name: str) -> None:
    """Refuse a RollingUpdatePolicy SageMaker excludes for the new endpoint config's variants."""
    if len(config_variants) > 1:
        raise ValidationError(
            f"Rolling deployments are not supported for multi-variant endpoints; endpoint configuration "
            f"{config_name} has {len(config_variants)} production variants."
        )
    for variant in config_variants:
        if variant.get("ServerlessConfig"):
            raise ValidationError(
                f"Rolling deployments are not supported for serverless endpoints; variant {variant['VariantName']} "
                f"of endpoint configuration {config_name} is serverless."
            )
        total = int(variant.get("InitialInstanceCount") or 0)
        batch = policy.get("MaximumBatchSize") or {}
        value = float(batch.get("Value") or 0)
        percent = value if batch.get("Type") == "CAPACITY_PERCENT" else (100.0 * value / total if total else 100.0)
        if not 5 <= percent <= 50:
            raise ValidationError(
                f"MaximumBatchSize must be between 5% and 50% of the instance count of variant "
                f"{variant['VariantName']} ({total}); {batch.get('Type')} {value:g} is {percent:g}%."
            )
