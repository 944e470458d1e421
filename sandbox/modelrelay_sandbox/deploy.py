"""Deploy the real ``template.yaml`` into the emulator: SAM transform, code upload, CloudFormation stack.

The same path as ``sam package`` + ``sam deploy``: local ``CodeUri``/``ContentUri``/``DefinitionUri`` become
S3 locations in an artifacts bucket, the SAM transform (aws-sam-translator) produces plain CloudFormation,
and the stack is created through the CloudFormation API.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from cfnlint.decode.cfn_yaml import loads as load_cfn_yaml
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from modelrelay import derive
from modelrelay.check_routes import main as check_routes
from modelrelay.config import load_routing_config

REPO = Path(__file__).resolve().parents[2]
LAYER_ID = "ModelRelayLayer"


@dataclass
class Deployment:
    stack_name: str
    outputs: dict[str, str]
    resources: dict[str, str]  # logical id -> physical id


def _zip_dir(
    root: Path, prefix: str = "", extra: dict[str, bytes] | None = None, exclude: tuple[str, ...] = ()
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            skipped = {"__pycache__", *exclude}.intersection(path.relative_to(root).parts)
            if path.is_file() and not skipped and path.name != "Makefile":
                archive.write(path, prefix + str(path.relative_to(root)))
        for name, data in (extra or {}).items():
            archive.writestr(prefix + name, data)
    return buffer.getvalue()


def package_code(template: dict[str, Any], routes_file: Path, build_dir: Path | None) -> dict[str, bytes]:
    """Zip each function and the layer: from ``sam build`` output when given, else from the source tree."""
    if check_routes([str(routes_file)]) != 0:
        raise SystemExit(f"routing configuration {routes_file} is invalid (see above)")
    zips: dict[str, bytes] = {}
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            source = build_dir / logical_id if build_dir else REPO / props["CodeUri"]
            zips[logical_id] = _zip_dir(source)
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            if build_dir:
                zips[logical_id] = _zip_dir(build_dir / logical_id)
            else:
                # What the layer's Makefile ships: the product package (src/modelrelay) and the routes.
                zips[logical_id] = _zip_dir(
                    REPO / "src" / "modelrelay",
                    "python/modelrelay/",
                    exclude=("ops",),
                    extra={"routes.json": routes_file.read_bytes()},
                )
    return zips


def deploy_stack(
    session: boto3.Session,
    endpoint_url: str,
    stack_name: str,
    parameters: dict[str, str],
    routes_file: Path,
    build_dir: Path | None = None,
    template_path: Path = REPO / "template.yaml",
) -> Deployment:
    # What `make routes` writes into template.yaml for config/routes.json, derived here from the sandbox's routes
    # (spoke/template.yaml holds only some of the blocks).
    partial = template_path.resolve() != (REPO / "template.yaml").resolve()
    derived = derive.apply(template_path.read_text(), load_routing_config(routes_file), partial=partial)
    template = json.loads(json.dumps(load_cfn_yaml(derived)))
    s3 = session.client("s3", endpoint_url=endpoint_url)
    account = session.client("sts", endpoint_url=endpoint_url).get_caller_identity()["Account"]
    bucket = f"modelrelay-sandbox-artifacts-{account}"
    if session.region_name == "us-east-1":  # S3 rejects a LocationConstraint for its home region
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": session.region_name})

    for logical_id, data in package_code(template, routes_file, build_dir).items():
        key = f"{stack_name}/{logical_id}.zip"
        s3.put_object(Bucket=bucket, Key=key, Body=data)
        props = template["Resources"][logical_id]["Properties"]
        props["CodeUri" if "CodeUri" in props else "ContentUri"] = f"s3://{bucket}/{key}"
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::StateMachine":
            key = f"{stack_name}/{logical_id}.asl.json"
            s3.put_object(Bucket=bucket, Key=key, Body=(REPO / resource["Properties"]["DefinitionUri"]).read_bytes())
            resource["Properties"]["DefinitionUri"] = {"Bucket": bucket, "Key": key}

    translator = Translator(None, Parser(), boto_session=session)
    translated = translator.translate(template, parameter_values=dict(parameters), get_managed_policy_map=lambda: {})
    cloudformation = session.client("cloudformation", endpoint_url=endpoint_url)
    cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(translated),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"stack {stack_name} is {stack['StackStatus']}: {stack.get('StackStatusReason')}")
    resources: dict[str, str] = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for item in page["StackResourceSummaries"]:
            resources[item["LogicalResourceId"]] = item.get("PhysicalResourceId", "")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return Deployment(stack_name=stack_name, outputs=outputs, resources=resources)
