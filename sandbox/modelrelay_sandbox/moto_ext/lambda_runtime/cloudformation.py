"""``AWS::Lambda::Function`` keeps ``Layers`` and ``DeadLetterConfig`` when deployed from a template.

Imitates https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-lambda-function.html
(moto's ``create_from_cloudformation_json`` passes only a few properties on).
"""

from __future__ import annotations

from typing import Any

from moto.awslambda.models import LambdaFunction


def patch_cloudformation_function_properties() -> None:
    """``AWS::Lambda::Function`` keeps ``Layers`` and ``DeadLetterConfig``: moto's
    ``create_from_cloudformation_json`` passes only a few properties on, so a function
    deployed from a template would run without its layers and DLQ."""
    original = LambdaFunction.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_from_cloudformation_json(
        cls: type[LambdaFunction],
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> LambdaFunction:
        fn: LambdaFunction = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        properties = cloudformation_json.get("Properties", {})
        kept = {key: properties[key] for key in ("Layers", "DeadLetterConfig") if properties.get(key)}
        if kept:
            fn.update_configuration(kept)
        return fn

    LambdaFunction.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)  # type: ignore[method-assign,assignment]
