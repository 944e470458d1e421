"""Which deployment the ``modelrelay`` command talks to: a stack on AWS, the sandbox, or any endpoint.

Every target is a CloudFormation stack: its outputs name the state machine, the state table, the queues; its
resources name the ingest function and the event archive. Credentials and region follow boto3's usual chain
(``--profile``/``AWS_PROFILE``, ``--region``/``AWS_REGION``/``AWS_DEFAULT_REGION``, the config file); the sandbox
target takes them, with the endpoint and the stack name, from ``.sandbox/outputs.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from modelrelay.config import RoutingConfig, load_routing_config
from modelrelay.errors import ConfigError
from modelrelay.ops.errors import ExitCode, UserError

DEFAULT_STACK = "modelrelay"
SANDBOX_OUTPUTS = Path(".sandbox/outputs.json")
USER_AGENT = "modelrelay-cli"


def _find_upwards(relative: Path) -> Path | None:
    """``relative`` in the current directory or a parent (the command may run from a subdirectory)."""
    for folder in (Path.cwd(), *Path.cwd().parents):
        if (folder / relative).exists():
            return folder / relative
    return None


@dataclass
class Target:
    """Clients and names of one deployed ModelRelay stack."""

    session: boto3.Session
    stack_name: str
    endpoint_url: str | None = None
    routes_file: Path | None = None
    sandbox: bool = False
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            config = Config(user_agent_extra=USER_AGENT, retries={"mode": "standard", "max_attempts": 5})
            self._clients[service] = self.session.client(service, endpoint_url=self.endpoint_url, config=config)
        return self._clients[service]

    @property
    def region(self) -> str:
        return str(self.session.region_name)

    @cached_property
    def stack(self) -> dict[str, Any]:
        try:
            stacks = self.client("cloudformation").describe_stacks(StackName=self.stack_name)["Stacks"]
        except NoCredentialsError as error:
            raise UserError(
                "no AWS credentials found",
                "configure them (aws configure, AWS_PROFILE, --profile) or use --sandbox",
                ExitCode.TARGET,
            ) from error
        except NoRegionError as error:
            raise UserError(
                "no AWS region configured", "pass --region or set AWS_REGION / AWS_DEFAULT_REGION", ExitCode.TARGET
            ) from error
        except ClientError as error:
            message = error.response.get("Error", {}).get("Message", str(error))
            if "does not exist" in message:
                raise UserError(
                    f"stack {self.stack_name} not found in {self.region}",
                    "check --stack-name and --region (sam deploy names the stack in samconfig.toml)",
                    ExitCode.TARGET,
                ) from error
            raise UserError(f"cannot read stack {self.stack_name}: {message}", None, ExitCode.TARGET) from error
        except BotoCoreError as error:
            raise UserError(
                f"cannot reach CloudFormation: {error}",
                "is the sandbox running (make sandbox-up)?" if self.endpoint_url else None,
                ExitCode.TARGET,
            ) from error
        stack: dict[str, Any] = stacks[0]
        return stack

    @cached_property
    def outputs(self) -> dict[str, str]:
        return {o["OutputKey"]: o["OutputValue"] for o in self.stack.get("Outputs", [])}

    def output(self, key: str) -> str:
        try:
            return self.outputs[key]
        except KeyError:
            raise UserError(
                f"stack {self.stack_name} has no output {key}",
                "is it a ModelRelay stack? deploy the current template.yaml",
                ExitCode.TARGET,
            ) from None

    @cached_property
    def parameters(self) -> dict[str, str]:
        return {p["ParameterKey"]: p.get("ParameterValue", "") for p in self.stack.get("Parameters", [])}

    @cached_property
    def resources(self) -> dict[str, str]:
        """Logical id -> physical id of the stack's resources (paginated)."""
        found: dict[str, str] = {}
        paginator = self.client("cloudformation").get_paginator("list_stack_resources")
        for page in paginator.paginate(StackName=self.stack_name):
            for summary in page["StackResourceSummaries"]:
                found[summary["LogicalResourceId"]] = summary.get("PhysicalResourceId", "")
        return found

    @property
    def state_machine_arn(self) -> str:
        return self.output("PromotionStateMachineArn")

    @property
    def state_table(self) -> str:
        return self.output("StateTableName")

    @property
    def ingest_bucket(self) -> str:
        return self.output("IngestBucketName")

    @property
    def ingest_prefix(self) -> str:
        return self.parameters.get("IngestPrefix") or "incoming/"

    @cached_property
    def routing(self) -> RoutingConfig:
        path = self.routes_file
        if path is None:
            path = _find_upwards(Path("sandbox/routes.json" if self.sandbox else "config/routes.json"))
        if path is None:
            raise UserError(
                "no routing configuration found",
                "pass --routes FILE (the routes.json the stack was built with)",
                ExitCode.USAGE,
            )
        try:
            return load_routing_config(path)
        except ConfigError as error:
            raise UserError(error.message, "fix the file or pass --routes FILE", ExitCode.USAGE) from error


def from_options(
    *,
    stack_name: str | None,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
    sandbox: bool,
    outputs_file: Path | None,
    routes_file: Path | None,
) -> Target:
    """The target the global options name: ``--sandbox`` (outputs.json), or a stack (on AWS or ``--endpoint-url``)."""
    if sandbox or outputs_file is not None:
        path = outputs_file or _find_upwards(SANDBOX_OUTPUTS) or SANDBOX_OUTPUTS
        try:
            outputs = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise UserError(
                f"{path} not found: no detached sandbox is running here",
                "start one with `make sandbox-up`, or pass --outputs FILE",
                ExitCode.TARGET,
            ) from None
        except json.JSONDecodeError as error:
            raise UserError(f"{path} is not JSON: {error}", "restart the sandbox", ExitCode.TARGET) from None
        session = boto3.Session(
            aws_access_key_id=outputs["access_key_id"],
            aws_secret_access_key=outputs["secret_access_key"],
            region_name=outputs["region"],
        )
        return Target(
            session=session,
            stack_name=stack_name or outputs["stack_name"],
            endpoint_url=endpoint_url or outputs["endpoint_url"],
            routes_file=routes_file,
            sandbox=True,
        )
    if stack_name is None and endpoint_url is None:
        raise UserError(
            "no target: say which deployment to talk to",
            "pass --stack-name NAME (AWS), --sandbox (the local sandbox) or --endpoint-url URL",
            ExitCode.USAGE,
        )
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except BotoCoreError as error:  # e.g. ProfileNotFound
        raise UserError(str(error), "check --profile / AWS_PROFILE", ExitCode.TARGET) from error
    if session.region_name is None:
        raise UserError(
            "no AWS region configured", "pass --region or set AWS_REGION / AWS_DEFAULT_REGION", ExitCode.TARGET
        )
    return Target(
        session=session, stack_name=stack_name or DEFAULT_STACK, endpoint_url=endpoint_url, routes_file=routes_file
    )
