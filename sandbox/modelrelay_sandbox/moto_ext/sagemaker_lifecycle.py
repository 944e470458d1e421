"""A model package's registry stage (``ModelLifeCycle``), and the cause of a failed task token.

Imitates https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ModelLifeCycle.html (``Stage``,
``StageStatus``, ``StageDescription``; set by ``CreateModelPackage`` and ``UpdateModelPackage``, returned by
``DescribeModelPackage``; the staging of a version in the Model Registry, "Stage" and "Status" in SageMaker Studio,
https://docs.aws.amazon.com/sagemaker/latest/dg/model-registry-staging-construct.html) and its EventBridge event:
a change of the stage emits "SageMaker Model Package State Change" whose detail (the package as described) carries
the new ``ModelLifeCycle``. moto 5.2.5 ignores the parameter on both calls and never returns it.

And https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskFailure.html: the ``cause`` reaches
the failed task (a Catch's ``Cause``); moto's response handler drops it and passes ``error`` only.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.sagemaker.models import ModelPackage
from moto.sagemaker.responses import SageMakerResponse
from moto.stepfunctions.responses import StepFunctionResponse

from . import sagemaker_events

_applied = False


def _lifecycle(value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict) or not value.get("Stage") or not value.get("StageStatus"):
        return None
    return {k: str(value[k]) for k in ("Stage", "StageStatus", "StageDescription") if value.get(k) is not None}


def _wrap_response(original: Any) -> Any:
    def handler(self: SageMakerResponse) -> ActionResult:
        lifecycle = _lifecycle(self._get_param("ModelLifeCycle"))
        result: ActionResult = original(self)
        if lifecycle is None:
            return result
        backend = self.sagemaker_backend
        name = self._get_param("ModelPackageArn") or self._get_param("ModelPackageName")
        arn = backend.model_package_name_mapping.get(name, name)
        package = backend.model_packages.get(arn)
        if package is None:  # CreateModelPackage: the newest package of the group
            group = self._get_param("ModelPackageGroupName")
            candidates = [p for p in backend.model_packages.values() if p.model_package_group_name == group]
            package = max(candidates, key=lambda p: p.creation_time) if candidates else None
        if package is not None and getattr(package, "model_life_cycle", None) != lifecycle:
            package.model_life_cycle = lifecycle  # type: ignore[attr-defined]
            package.modifications_done()
            sagemaker_events._emit(backend, package)
        return result

    return handler


def _describe(original: Any) -> Any:
    def gen_response_object(self: ModelPackage) -> dict[str, Any]:
        response: dict[str, Any] = original(self)
        lifecycle = getattr(self, "model_life_cycle", None)
        if lifecycle:
            response["ModelLifeCycle"] = dict(lifecycle)
        return response

    return gen_response_object


def _send_task_failure(self: StepFunctionResponse) -> Any:
    backend: Any = self.stepfunction_backend  # the interpreter's backend (execute_state_machine): it takes a cause
    backend.send_task_failure(
        self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
    )
    return ActionResult({})


def apply() -> None:
    """Install the patches (idempotent)."""
    global _applied
    if _applied:
        return
    SageMakerResponse.update_model_package = _wrap_response(SageMakerResponse.update_model_package)  # type: ignore[method-assign]
    SageMakerResponse.create_model_package = _wrap_response(SageMakerResponse.create_model_package)  # type: ignore[method-assign]
    ModelPackage.gen_response_object = _describe(ModelPackage.gen_response_object)  # type: ignore[method-assign]
    StepFunctionResponse.send_task_failure = _send_task_failure  # type: ignore[method-assign]
    _applied = True
