"""CloudFormation applies what the template declares, where moto's CloudFormation ignores it.

moto 5.2.5 creates these resource types only partly or not at all; the sandbox supplies each, and records
what it applied in ``APPLIED`` so the startup output lists it (nothing is silently missing):

- ``AWS::S3::Bucket``: moto keeps encryption and tags only. Supplied: ``VersioningConfiguration``,
  ``NotificationConfiguration.EventBridgeConfiguration``, ``PublicAccessBlockConfiguration``.
- ``AWS::StepFunctions::StateMachine``: moto reads ``DefinitionString`` only. Supplied:
  ``DefinitionS3Location`` (what ``sam package``/the SAM transform produce) and ``DefinitionSubstitutions``.
- Types moto skips with a warning, supplied as small models: ``AWS::Lambda::EventInvokeConfig``,
  ``AWS::SageMaker::ModelPackageGroup``, ``AWS::SNS::Subscription``, ``AWS::SQS::QueuePolicy``,
  ``AWS::S3::BucketPolicy``, ``AWS::Events::EventBusPolicy``,
  ``AWS::CloudWatch::Alarm``.
- ``AWS::Lambda::LayerVersion``: ``Ref`` returns the layer version ARN, as CloudFormation does.
- ``AWS::Events::Archive``: moto expects ``EventPattern`` as a string; CloudFormation gives an object.
- ``AWS::EventSchemas::Registry`` / ``AWS::EventSchemas::Schema``: moto has no schemas service; the registry
  and each schema's content are kept in ``EVENT_SCHEMAS`` (registry -> schema name -> content) for tests.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from moto.awslambda.models import LayerVersion
from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel
from moto.events.models import Archive
from moto.s3.models import FakeBucket, s3_backends
from moto.stepfunctions.models import StateMachine

APPLIED: list[str] = []
_lock = threading.Lock()
_applied = False


def _note(text: str) -> None:
    with _lock:
        if text not in APPLIED:
            APPLIED.append(text)


class _SupplementModel:
    """Mixin of the models moto lacks: created from resolved properties; Ref is the physical id.

    Each model also subclasses ``CloudFormationModel`` directly: moto finds models by direct subclassing.
    """

    TYPE = ""

    def __init__(self, physical_id: str, attributes: dict[str, str] | None = None) -> None:
        self.physical_resource_id = physical_id
        self._attributes = attributes or {}

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self._attributes[attribute_name]

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        create = cls.create_from_cloudformation_json  # type: ignore[attr-defined]
        return create(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        return None


class EventInvokeConfigModel(_SupplementModel, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::EventInvokeConfig"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> EventInvokeConfigModel:
        from moto.awslambda.utils import get_backend  # the simple (docker-less) backend when configured

        props = cloudformation_json["Properties"]
        config = {
            k: v
            for k, v in props.items()
            if k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
        }
        get_backend(account_id, region_name).put_function_event_invoke_config(props["FunctionName"], config)
        _note(f"AWS::Lambda::EventInvokeConfig for {props['FunctionName']}: {sorted(config)}")
        return cls(f"{props['FunctionName']}:{props.get('Qualifier', '$LATEST')}")


class ModelPackageGroupModel(_SupplementModel, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SageMaker::ModelPackageGroup"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> ModelPackageGroupModel:
        from moto.sagemaker.models import sagemaker_backends

        props = cloudformation_json["Properties"]
        name = props.get("ModelPackageGroupName", resource_name)
        backend = sagemaker_backends[account_id][region_name]
        arn = backend.create_model_package_group(name, props.get("ModelPackageGroupDescription", ""))
        _note(f"AWS::SageMaker::ModelPackageGroup {name}")
        return cls(arn, {"ModelPackageGroupArn": arn})


class SubscriptionModel(_SupplementModel, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::Subscription"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> SubscriptionModel:
        from moto.sns.models import sns_backends

        props = cloudformation_json["Properties"]
        subscription = sns_backends[account_id][region_name].subscribe(
            props["TopicArn"], props["Endpoint"], props["Protocol"]
        )
        _note(f"AWS::SNS::Subscription {props['Protocol']} -> {props['Endpoint']}")
        return cls(subscription.arn)


class QueuePolicyModel(_SupplementModel, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SQS::QueuePolicy"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> QueuePolicyModel:
        from moto.sqs.models import sqs_backends

        props = cloudformation_json["Properties"]
        backend = sqs_backends[account_id][region_name]
        for queue_url in props["Queues"]:
            backend.set_queue_attributes(queue_url.rsplit("/", 1)[-1], {"Policy": json.dumps(props["PolicyDocument"])})
        _note(f"AWS::SQS::QueuePolicy on {len(props['Queues'])} queue(s)")
        return cls(resource_name)


class BucketPolicyModel(_SupplementModel, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::S3::BucketPolicy"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> BucketPolicyModel:
        props = cloudformation_json["Properties"]
        s3_backends[account_id]["global"].put_bucket_policy(
            props["Bucket"], json.dumps(props["PolicyDocument"]).encode()
        )
        _note(f"AWS::S3::BucketPolicy on {props['Bucket']}")
        return cls(resource_name)


class EventBusPolicyModel(_SupplementModel, CloudFormationModel):
    """One statement of an event bus's resource policy (``StatementId`` + ``Statement``), added to the bus's other
    statements, as CloudFormation does (``PutPermission`` with a ``Policy`` statement)."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Events::EventBusPolicy"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> EventBusPolicyModel:
        from moto.events.models import EventBusPolicyStatement, events_backends

        props = cloudformation_json["Properties"]
        bus = events_backends[account_id][region_name].describe_event_bus(props.get("EventBusName") or "default")
        statement = dict(props["Statement"], Sid=props["StatementId"])
        bus._statements[props["StatementId"]] = EventBusPolicyStatement.from_dict(statement)
        _note(f"AWS::Events::EventBusPolicy {props['StatementId']} on {bus.name}")
        return cls(props["StatementId"])


class AlarmModel(_SupplementModel, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> AlarmModel:
        from moto.cloudwatch.models import cloudwatch_backends

        props = cloudformation_json["Properties"]
        name = props.get("AlarmName", resource_name)
        alarm = cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=name,
            namespace=props.get("Namespace", ""),
            metric_name=props.get("MetricName", ""),
            comparison_operator=props["ComparisonOperator"],
            evaluation_periods=int(props["EvaluationPeriods"]),
            period=int(props.get("Period", 60)),
            threshold=float(props.get("Threshold", 0)),
            statistic=props.get("Statistic", "Average"),
            description=props.get("AlarmDescription", ""),
            dimensions=[{"Name": d["Name"], "Value": d["Value"]} for d in props.get("Dimensions", [])],
            alarm_actions=props.get("AlarmActions", []),
            treat_missing_data=props.get("TreatMissingData"),
        )
        _note(f"AWS::CloudWatch::Alarm {name}")
        return cls(name, {"Arn": alarm.alarm_arn})


EVENT_SCHEMAS: dict[str, dict[str, str]] = {}


class SchemaRegistryModel(_SupplementModel, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EventSchemas::Registry"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("RegistryName", "RegistryArn")

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> SchemaRegistryModel:
        name = cloudformation_json["Properties"].get("RegistryName", resource_name)
        EVENT_SCHEMAS.setdefault(name, {})
        arn = f"arn:aws:schemas:{region_name}:{account_id}:registry/{name}"
        _note(f"AWS::EventSchemas::Registry {name}")
        return cls(arn, {"RegistryName": name, "RegistryArn": arn})


class SchemaModel(_SupplementModel, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EventSchemas::Schema"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("SchemaArn", "SchemaName", "SchemaVersion")

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> SchemaModel:
        props = cloudformation_json["Properties"]
        EVENT_SCHEMAS.setdefault(props["RegistryName"], {})[props["SchemaName"]] = props["Content"]
        arn = f"arn:aws:schemas:{region_name}:{account_id}:schema/{props['RegistryName']}/{props['SchemaName']}"
        return cls(arn, {"SchemaArn": arn, "SchemaName": props["SchemaName"], "SchemaVersion": "1"})


def _bucket_create(original: Any) -> Any:
    def create(
        cls: Any,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        bucket = original.__func__(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        props = cloudformation_json.get("Properties", {})
        backend = s3_backends[account_id]["global"]
        if (props.get("VersioningConfiguration") or {}).get("Status"):
            backend.put_bucket_versioning(bucket.name, props["VersioningConfiguration"]["Status"])
            _note(f"S3 versioning on {bucket.name}")
        notification = props.get("NotificationConfiguration") or {}
        if (notification.get("EventBridgeConfiguration") or {}).get("EventBridgeEnabled") in (True, "true"):
            backend.put_bucket_notification_configuration(bucket.name, {"EventBridgeConfiguration": {}})
            _note(f"S3 EventBridge notifications on {bucket.name}")
        if props.get("PublicAccessBlockConfiguration"):
            backend.put_public_access_block(
                bucket.name, {k: str(v).lower() for k, v in props["PublicAccessBlockConfiguration"].items()}
            )
            _note(f"S3 public access block on {bucket.name}")
        return bucket

    return classmethod(create)


def _definition_from(props: dict[str, Any], account_id: str) -> str:
    definition = props.get("DefinitionString")
    location = props.get("DefinitionS3Location")
    if not definition and location:
        bucket = s3_backends[account_id]["global"].get_object(location["Bucket"], location["Key"])
        definition = bucket.value.decode() if bucket else ""
    elif not definition and props.get("Definition"):
        definition = json.dumps(props["Definition"])
    substitutions = props.get("DefinitionSubstitutions") or {}
    # Same rule as Step Functions: ${Name} placeholders replaced by the substitution values.
    return re.sub(r"\$\{([A-Za-z0-9_]+)\}", lambda m: str(substitutions.get(m.group(1), m.group(0))), definition or "")


def _state_machine_create(original: Any) -> Any:
    def create(
        cls: Any,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        from moto.stepfunctions.responses import get_backend  # the executing (ASL interpreter) backend if enabled

        props = cloudformation_json["Properties"]
        name = props.get("StateMachineName", resource_name)
        _note(
            f"Step Functions state machine {name}: DefinitionS3Location + DefinitionSubstitutions, "
            "LoggingConfiguration, TracingConfiguration, in the backend that executes the ASL"
        )
        return get_backend(account_id, region_name).create_state_machine(
            name=name,
            definition=_definition_from(props, account_id),
            roleArn=props.get("RoleArn", ""),
            tags=[{"key": t["Key"], "value": t["Value"]} for t in props.get("Tags", [])],
            loggingConfiguration=_lower_keys(props.get("LoggingConfiguration")),
            tracingConfiguration=_lower_keys(props.get("TracingConfiguration")),
            sm_type=props.get("StateMachineType", "STANDARD"),
        )

    return classmethod(create)


def _lower_keys(value: Any) -> Any:
    """CloudFormation spells API fields with a capital (``Level``); the API with a lower-case first letter."""
    if isinstance(value, dict):
        return {k[:1].lower() + k[1:]: _lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_keys(v) for v in value]
    return value


def _archive_create(original: Any) -> Any:
    def create(
        cls: Any,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        props = cloudformation_json["Properties"]
        if isinstance(props.get("EventPattern"), dict):  # CloudFormation takes a JSON object; moto a string
            props["EventPattern"] = json.dumps(props["EventPattern"])
            _note(f"AWS::Events::Archive {resource_name} with an object EventPattern")
        return original.__func__(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

    return classmethod(create)


def apply() -> None:
    global _applied
    with _lock:
        if _applied:
            return
        _applied = True
    FakeBucket.create_from_cloudformation_json = _bucket_create(  # type: ignore[method-assign]
        FakeBucket.__dict__["create_from_cloudformation_json"]
    )
    StateMachine.create_from_cloudformation_json = _state_machine_create(  # type: ignore[method-assign]
        StateMachine.__dict__["create_from_cloudformation_json"]
    )
    Archive.create_from_cloudformation_json = _archive_create(  # type: ignore[method-assign]
        Archive.__dict__["create_from_cloudformation_json"]
    )
    # Ref of a layer version is its ARN (moto returns the Python object, which breaks Function.Layers).
    LayerVersion.physical_resource_id = property(lambda self: self.arn)  # type: ignore[attr-defined]
    # moto builds its type map once from CloudFormationModel subclasses: rebuild it with the models above.
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
