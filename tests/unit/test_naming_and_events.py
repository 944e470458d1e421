"""Key naming, ingest key mapping, provenance identity, and the event models against AWS's shapes."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from modelrelay.adapters.sagemaker import metadata_value, provenance_id
from modelrelay.config import parse_routing_config
from modelrelay.domain.hub import hub_key
from modelrelay.domain.ingest import group_for_key
from modelrelay.domain.mme import target_model
from modelrelay.errors import InvalidEvent, UnknownIngestKey, split_reason
from modelrelay.events import ModelPackageStateChangeEvent, S3ObjectCreatedEvent, parse_event

REPO = Path(__file__).resolve().parents[2]
ROUTES = parse_routing_config(
    json.dumps(
        {
            "routes": [
                {
                    "model_package_group": "housing-newyork-ny",
                    "target": {"kind": "mme", "endpoint_name": "e", "bucket": "mme-bucket", "model_name": "NewYork_NY"},
                    "ingest": {"image": "img:1"},
                },
                {
                    "model_package_group": "no-drops",
                    "target": {"kind": "mme", "endpoint_name": "e", "bucket": "mme-bucket"},
                },
            ]
        }
    )
)
SHA = "38aa5d2e4b2a1acc19b1ab6df502ef2116e5d279bc4ca182bef6499aeccbd478"


def test_target_model_keeps_the_model_name_first_and_is_versioned_and_content_addressed() -> None:
    assert target_model("NewYork_NY", 3, SHA) == "NewYork_NY/3-38aa5d2e4b2a.tar.gz"
    assert target_model("NewYork_NY", None, SHA) == "NewYork_NY/0-38aa5d2e4b2a.tar.gz"
    assert hub_key("housing-newyork-ny", SHA) == f"artifacts/housing-newyork-ny/{SHA}.tar.gz"


@pytest.mark.parametrize(
    "key",
    [
        "incoming/housing-newyork-ny/model.tar.gz",
        "incoming/housing-newyork-ny/a/b.TAR.GZ",
        "incoming/housing-newyork-ny/modèle v2+final.tar.gz",
    ],
)
def test_ingest_key_maps_to_its_group(key: str) -> None:
    assert group_for_key(key, "incoming/", ROUTES) == "housing-newyork-ny"


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("other/housing-newyork-ny/m.tar.gz", "outside the ingest prefix"),
        ("incoming/model.tar.gz", "not of the form"),
        ("incoming/housing-newyork-ny/model.zip", "does not end in .tar.gz"),
        ("incoming/unknown-group/model.tar.gz", "has no route; it is not created"),
        ("incoming/no-drops/model.tar.gz", "does not accept dropped artifacts"),
    ],
)
def test_unknown_or_malformed_ingest_keys_are_rejected(key: str, message: str) -> None:
    with pytest.raises(UnknownIngestKey, match=message):
        group_for_key(key, "incoming/", ROUTES)


def test_provenance_id_is_deterministic_and_order_independent() -> None:
    a = provenance_id({"sha256": SHA, "source-package-arn": "arn:1"})
    assert a == provenance_id({"source-package-arn": "arn:1", "sha256": SHA})
    assert a != provenance_id({"source-package-arn": "arn:2", "sha256": SHA})


def _sagemaker_accepts(value: str) -> bool:
    """botocore's MetadataPropertyValue: ``([\\p{L}\\p{Z}\\p{N}_.:\\/=+\\-@]*)`` with 1 to 256 characters."""
    return 1 <= len(value) <= 256 and all(unicodedata.category(ch)[0] in "LZN" or ch in "_.:/=+-@" for ch in value)


@pytest.mark.parametrize(
    "hostile",
    [
        "line one\nline two",
        "tab\there",
        "x" * 2048,
        "émoji 🚀 ünïcode 中文 עברית",
        "",
        "\x00nul",
        "quote\"and'",
        "Traceback (most recent call last):\n  File \"app.py\", line 1\n    raise RuntimeError('boom')",
    ],
)
def test_hostile_metadata_values_become_values_sagemaker_accepts(hostile: str) -> None:
    # Given text a failure detail may carry; When it is made a metadata value; Then SageMaker's pattern holds
    value = metadata_value(hostile)
    assert _sagemaker_accepts(value)
    assert "\n" not in value and "\t" not in value


def test_metadata_values_are_sanitised_and_bounded() -> None:
    assert metadata_value("s3://b/k%20x?versionId=1") == "s3://b/k_20x_versionId=1"
    assert len(metadata_value("x" * 1000)) == 256


def test_reason_round_trips_through_the_error_message() -> None:
    error = InvalidEvent("detail.ModelPackageArn: Field required")
    assert str(error) == "invalid_event: detail.ModelPackageArn: Field required"
    assert split_reason(str(error)) == ("invalid_event", "detail.ModelPackageArn: Field required")
    assert split_reason("Some foreign: error text")[0] == "error"
    # A crashed function's message is not a reason (it used to be recorded as reason "RequestId")
    crash = "RequestId: 3f2a9c1e-1111-2222-3333-444455556666 Error: Runtime exited with error: signal: killed"
    assert split_reason(crash) == ("error", crash)


@pytest.mark.parametrize("sample", ["events/sagemaker/approved.json", "events/sagemaker/rejected.json"])
def test_sagemaker_samples_parse(sample: str) -> None:
    event = parse_event(ModelPackageStateChangeEvent, json.loads((REPO / sample).read_text()), "SageMaker")
    assert event.detail.ModelPackageArn.endswith("model-package/housing-newyork-ny/3")


def test_malformed_sagemaker_event_names_the_missing_field() -> None:
    raw = json.loads((REPO / "events/sagemaker/malformed-missing-arn.json").read_text())
    with pytest.raises(InvalidEvent, match=r"detail\.ModelPackageArn: Field required"):
        parse_event(ModelPackageStateChangeEvent, raw, "SageMaker")


# The fields of AWS's documented samples ("SageMaker model package state change" in the SageMaker developer
# guide's EventBridge page; "Object Created" in the S3 user guide's EventBridge event structure). The checked
# copies under events/ are those samples, field for field.
ENVELOPE = {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
DOCUMENTED = {
    "sagemaker/approved.json": (
        "aws.sagemaker",
        "SageMaker Model Package State Change",
        {
            "ModelPackageGroupName",
            "ModelPackageVersion",
            "ModelPackageArn",
            "CreationTime",
            "InferenceSpecification",
            "ModelApprovalStatus",
            "ModelPackageStatus",
        },
    ),
    "s3/object-created.json": (
        "aws.s3",
        "Object Created",
        {"version", "bucket", "object", "request-id", "requester", "source-ip-address", "reason"},
    ),
}


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_checked_event_samples_have_the_documented_aws_shape(name: str) -> None:
    sample = json.loads((REPO / "events" / name).read_text())
    source, detail_type, detail_fields = DOCUMENTED[name]
    assert set(sample) == ENVELOPE
    assert (sample["source"], sample["detail-type"]) == (source, detail_type)
    assert detail_fields <= set(sample["detail"])


def test_s3_event_model_reads_version_and_key() -> None:
    event = parse_event(S3ObjectCreatedEvent, json.loads((REPO / "events/s3/object-created.json").read_text()), "S3")
    assert event.detail.object.version_id == "Hk3pW0u9R8pZr7Wq.Jx2mN1bV4cX6zA"
    assert event.detail.object.key == "incoming/housing-chicago-il/model.tar.gz"
