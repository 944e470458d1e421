"""DescribeEndpoint's ``ProductionVariants`` and ``DataCaptureConfig`` for a config's variants, as deployed.

Imitates ``ProductionVariantSummary`` and ``DataCaptureConfigSummary`` of
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpoint.html: ``CurrentWeight``/
``DesiredWeight`` default to 1.0 (moto drops them when ``InitialVariantWeight`` is absent or 0),
``DeployedImages`` (with a stable fake digest), ``CaptureStatus`` and ``CurrentSamplingPercentage``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from moto.sagemaker.models import SageMakerModelBackend


def images_of(backend: SageMakerModelBackend, model_name: str) -> list[str]:
    """The images a model runs: its containers' ``Image``, or those of the model package a container names
    (``ModelPackageName``, an ARN possibly of another account, or a name in this account)."""
    model = backend._models.get(model_name)
    if model is None:
        return []
    images = []
    for container in [model.primary_container or {}, *(model.containers or [])]:
        if container.get("Image"):
            images.append(container["Image"])
        elif container.get("ModelPackageName"):
            package = _model_package(backend, container["ModelPackageName"])
            spec = getattr(package, "inference_specification", None) or {}
            images.extend(c["Image"] for c in spec.get("Containers") or [] if c.get("Image"))
    return images


def _model_package(backend: SageMakerModelBackend, name_or_arn: str) -> Any:
    from moto.sagemaker.models import sagemaker_backends

    owner = backend
    if name_or_arn.startswith("arn:"):
        parts = name_or_arn.split(":")
        owner = sagemaker_backends[parts[4]][parts[3]]
    arn = owner.model_package_name_mapping.get(name_or_arn, name_or_arn)
    return owner.model_packages.get(arn)


def _deployed_images(images: list[str], when: datetime) -> list[dict[str, Any]]:
    deployed = []
    for image in images:
        # A stable fake digest per image (same as sagemaker_events' ImageDigest).
        digest = "sha256:" + hashlib.sha256(image.encode()).hexdigest()
        repo = image.rsplit("@", 1)[0]
        if ":" in repo.rsplit("/", 1)[-1]:
            repo = repo.rsplit(":", 1)[0]
        deployed.append({"SpecifiedImage": image, "ResolvedImage": f"{repo}@{digest}", "ResolutionTime": when})
    return deployed


def variant_summaries(
    backend: SageMakerModelBackend, config_variants: list[dict[str, Any]], when: datetime
) -> list[dict[str, Any]]:
    """DescribeEndpoint's ProductionVariants for a config's variants, as deployed."""
    summaries = []
    for variant in config_variants:
        summary: dict[str, Any] = {"VariantName": variant["VariantName"]}
        images = images_of(backend, variant.get("ModelName", ""))
        if images:
            summary["DeployedImages"] = _deployed_images(images, when)
        weight = variant.get("InitialVariantWeight")
        summary["CurrentWeight"] = summary["DesiredWeight"] = float(1.0 if weight is None else weight)
        if variant.get("InitialInstanceCount") is not None:
            summary["CurrentInstanceCount"] = summary["DesiredInstanceCount"] = variant["InitialInstanceCount"]
        if variant.get("ServerlessConfig"):
            summary["CurrentServerlessConfig"] = summary["DesiredServerlessConfig"] = variant["ServerlessConfig"]
        summaries.append(summary)
    return summaries


def data_capture_summary(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """DescribeEndpoint's DataCaptureConfig (a DataCaptureConfigSummary) for a config's DataCaptureConfig."""
    if not config:
        return None
    enabled = bool(config.get("EnableCapture", True))
    summary = {
        "EnableCapture": enabled,
        "CaptureStatus": "Started" if enabled else "Stopped",
        "CurrentSamplingPercentage": config.get("InitialSamplingPercentage", 0),
        "DestinationS3Uri": config.get("DestinationS3Uri"),
        "KmsKeyId": config.get("KmsKeyId"),
    }
    return {k: v for k, v in summary.items() if v is not None}
