"""The MME smoke check's decisions, from SageMaker Runtime's answers (botocore's sagemaker-runtime error shapes)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from modelrelay.config import parse_routing_config
from modelrelay.domain.deps import PromotionDeps
from modelrelay.domain.mme import _smoke_check
from modelrelay.errors import ConfigError, MmeSmokeFailed
from modelrelay.steps import PromotionPlan

TARGET = "NewYork_NY/3-0123456789ab.tar.gz"


def _routing(smoke: dict[str, Any] | None) -> Any:
    target: dict[str, Any] = {"kind": "mme", "endpoint_name": "housing-mme", "bucket": "mme-bucket"}
    if smoke is not None:
        target["smoke"] = smoke
    return parse_routing_config(json.dumps({"routes": [{"model_package_group": "housing-ny", "target": target}]}))


class _Body:
    def read(self) -> bytes:
        return b"{}"


class FakeRuntime:
    """Answers InvokeEndpoint from a script: a dict is a 2xx, a (code, status, members) tuple an error."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls: list[dict[str, Any]] = []

    def invoke_endpoint(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, tuple):
            code, status, members = answer
            response = {"Error": {"Code": code, "Message": members.get("Message", "")}, **members}
            response["ResponseMetadata"] = {"HTTPStatusCode": status}
            raise ClientError(response, "InvokeEndpoint")
        return {"Body": _Body(), "ResponseMetadata": {"HTTPStatusCode": 200}}


def _run(runtime: FakeRuntime, smoke: dict[str, Any] | None) -> None:
    deps = PromotionDeps(
        settings=None,  # type: ignore[arg-type]
        routing=_routing(smoke),
        s3=None,
        sagemaker=None,
        store=None,  # type: ignore[arg-type]
        hub=lambda: None,  # type: ignore[arg-type,return-value]
        runtime=runtime,
    )
    plan = PromotionPlan(
        decision="promote",
        reason="approved",
        package_arn="arn:aws:sagemaker:us-east-1:123456789012:model-package/housing-ny/3",
        group="housing-ny",
        route_kind="mme",
        endpoint_name="housing-mme",
        target_model=TARGET,
    )
    _smoke_check(plan, deps)


SMOKE = {"payload": "1.0,2.0", "content_type": "text/csv", "timeout_seconds": 5}
LOAD_FAILURE = (
    "ModelError",
    424,
    {
        "Message": 'Received server error (507) from primary with message "Failed to load model"',
        "OriginalStatusCode": 507,
        "OriginalMessage": '{"code": 507, "message": "Failed to load model"}',
        "LogStreamArn": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/housing-mme",
    },
)


def test_a_2xx_passes_with_the_new_target_model_and_the_route_payload() -> None:
    runtime = FakeRuntime({})
    _run(runtime, SMOKE)
    assert runtime.calls == [
        {"EndpointName": "housing-mme", "TargetModel": TARGET, "Body": b"1.0,2.0", "ContentType": "text/csv"}
    ]


def test_a_route_without_smoke_check_invokes_nothing() -> None:
    runtime = FakeRuntime({})
    _run(runtime, None)
    assert runtime.calls == []


def test_a_model_the_container_cannot_load_is_mme_model_failed_to_load_quoting_the_endpoint() -> None:
    with pytest.raises(MmeSmokeFailed) as raised:
        _run(FakeRuntime(LOAD_FAILURE), SMOKE)
    assert raised.value.reason == "mme_model_failed_to_load"
    assert "Failed to load model" in str(raised.value) and "507" in str(raised.value)


def test_missing_model_data_is_mme_model_failed_to_load() -> None:
    missing = ("ValidationError", 400, {"Message": "Failed to download model data(bucket: b, key: k)."})
    with pytest.raises(MmeSmokeFailed) as raised:
        _run(FakeRuntime(missing), SMOKE)
    assert raised.value.reason == "mme_model_failed_to_load"


def test_a_loaded_model_answering_an_error_is_mme_smoke_failed() -> None:
    bad_answer = ("ModelError", 424, {"Message": "Received client error (400) from primary", "OriginalStatusCode": 400})
    with pytest.raises(MmeSmokeFailed) as raised:
        _run(FakeRuntime(bad_answer), SMOKE)
    assert raised.value.reason == "mme_smoke_failed"
    assert "Received client error (400)" in str(raised.value)


def test_model_not_ready_is_tried_again_until_it_answers() -> None:
    not_ready = ("ModelNotReadyException", 429, {"Message": "Model is still loading"})
    runtime = FakeRuntime(not_ready, not_ready, {})
    _run(runtime, SMOKE)
    assert len(runtime.calls) == 3


def test_a_smoke_check_names_exactly_one_payload() -> None:
    for smoke in ({"content_type": "text/csv"}, {"payload": "1", "use_sample_payload_url": True}):
        with pytest.raises(ConfigError, match="exactly one of payload"):
            _routing(smoke)
