"""IAM enforced by the sandbox (moto_ext.iam_enforcement), against a real in-process server with enforcement on.

Each test sets up principals and policies through the IAM API as an administrator would, then calls AWS as
those principals with boto3 and checks what AWS answers: the error code and message of a refusal, the success of
what the policies allow, and the decision log.
"""

from __future__ import annotations

import io
import json
import textwrap
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from modelrelay_sandbox.moto_ext import iam_enforcement
from modelrelay_sandbox.moto_ext.iam_enforcement import decision_log
from modelrelay_sandbox.server import SandboxServer, start_server

REGION = "us-east-1"
ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
ADMIN_KEY, ADMIN_SECRET = "AKIAIAMTESTADMIN0001", "iam-test-admin-secret"
OTHER_ADMIN_KEY, OTHER_ADMIN_SECRET = "AKIAIAMTESTADMIN0002", "iam-test-other-admin-secret"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    state = tmp_path_factory.mktemp("iam-sandbox")
    sandbox = start_server(port=None, state_dir=state)
    iam_enforcement.create_admin(ACCOUNT, "admin", ADMIN_KEY, ADMIN_SECRET)
    iam_enforcement.create_admin(OTHER_ACCOUNT, "admin", OTHER_ADMIN_KEY, OTHER_ADMIN_SECRET)
    iam_enforcement.configure(enforce=True, log_path=state / "iam-usage.jsonl")
    try:
        yield sandbox
    finally:
        iam_enforcement.configure(enforce=False)  # other test modules of this process run moto's way
        sandbox.stop()


Client = Callable[..., Any]


def client_factory(server: SandboxServer, key: str, secret: str, token: str | None = None) -> Client:
    session = boto3.Session(
        aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token, region_name=REGION
    )

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=server.url)

    return client


@pytest.fixture(scope="module")
def admin(server: SandboxServer) -> Client:
    return client_factory(server, ADMIN_KEY, ADMIN_SECRET)


@pytest.fixture(scope="module")
def other_admin(server: SandboxServer) -> Client:
    return client_factory(server, OTHER_ADMIN_KEY, OTHER_ADMIN_SECRET)


def uid() -> str:
    return uuid.uuid4().hex[:8]


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def trust(principal: dict[str, Any], **condition: Any) -> str:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    return policy(statement)


def make_role(admin: Client, *statements: dict[str, Any], account: str = ACCOUNT, trust_doc: str | None = None) -> str:
    """A role whose inline policy holds ``statements``; its ARN."""
    name = f"role-{uid()}"
    iam = admin("iam")
    arn: str = iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=trust_doc or trust({"AWS": f"arn:aws:iam::{account}:root"}),
    )["Role"]["Arn"]
    if statements:
        iam.put_role_policy(RoleName=name, PolicyName="work", PolicyDocument=policy(*statements))
    return arn


def as_role(server: SandboxServer, admin: Client, role_arn: str, **kwargs: Any) -> Client:
    creds = admin("sts").assume_role(RoleArn=role_arn, RoleSessionName="worker", **kwargs)["Credentials"]
    return client_factory(server, creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])


def error(call: Callable[[], Any]) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as raised:
        call()
    response = raised.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"].get("Message", ""),
    )


# ----------------------------------------------------------------------------- authentication


def test_an_unknown_access_key_is_refused_with_each_services_error(server: SandboxServer) -> None:
    # Given credentials no account has issued
    stranger = client_factory(server, "AKIANOBODYISSUEDTHIS", "made-up")
    # When they call S3, a JSON service and a query service, Then each answers as AWS does
    assert error(lambda: stranger("s3").list_buckets())[:2] == ("InvalidAccessKeyId", 403)
    assert error(lambda: stranger("dynamodb").list_tables())[:2] == ("UnrecognizedClientException", 400)
    assert error(lambda: stranger("sts").get_caller_identity())[:2] == ("InvalidClientTokenId", 403)


def test_a_known_key_with_a_wrong_secret_is_refused(server: SandboxServer) -> None:
    # Given the administrator's key signed with the wrong secret
    forger = client_factory(server, ADMIN_KEY, "not-the-secret")
    # When it calls, Then the signature does not match
    assert error(lambda: forger("s3").list_buckets())[:2] == ("SignatureDoesNotMatch", 403)
    assert error(lambda: forger("sagemaker").list_models())[0] == "InvalidSignatureException"
    assert error(lambda: forger("iam").list_roles())[:2] == ("SignatureDoesNotMatch", 403)


def test_a_session_key_without_its_token_is_refused(server: SandboxServer, admin: Client) -> None:
    # Given a role session's key and secret, used without the session token
    role = make_role(admin)
    creds = admin("sts").assume_role(RoleArn=role, RoleSessionName="worker")["Credentials"]
    tokenless = client_factory(server, creds["AccessKeyId"], creds["SecretAccessKey"])
    # When it calls, Then the key is not recognised
    assert error(lambda: tokenless("sts").get_caller_identity())[0] == "InvalidClientTokenId"


# ----------------------------------------------------------------------------- identity policies


def test_a_role_scoped_to_one_prefix_can_write_there_and_nowhere_else(server: SandboxServer, admin: Client) -> None:
    # Given a bucket and a role that may write under incoming/ and list only that prefix
    bucket = f"ingest-{uid()}"
    admin("s3").create_bucket(Bucket=bucket)
    role = make_role(
        admin,
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/incoming/*"},
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": f"arn:aws:s3:::{bucket}",
            "Condition": {"StringLike": {"s3:prefix": ["incoming/*"]}},
        },
    )
    s3 = as_role(server, admin, role)("s3")
    # When it writes under the prefix, Then it may
    s3.put_object(Bucket=bucket, Key="incoming/g/model.tar.gz", Body=b"x")
    assert s3.list_objects_v2(Bucket=bucket, Prefix="incoming/")["KeyCount"] == 1
    # When it writes or lists elsewhere, Then S3 answers AccessDenied
    assert error(lambda: s3.put_object(Bucket=bucket, Key="models/x.tar.gz", Body=b"x"))[:2] == ("AccessDenied", 403)
    assert error(lambda: s3.list_objects_v2(Bucket=bucket))[0] == "AccessDenied"
    # And it cannot read what it wrote (no s3:GetObject)
    assert error(lambda: s3.get_object(Bucket=bucket, Key="incoming/g/model.tar.gz"))[0] == "AccessDenied"


def test_a_denial_names_the_session_the_action_and_the_resource(server: SandboxServer, admin: Client) -> None:
    # Given a role with no DynamoDB permission and a table
    table = f"state-{uid()}"
    admin("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    role = make_role(admin, {"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"})
    # When it reads an item
    code, status, message = error(
        lambda: as_role(server, admin, role)("dynamodb").get_item(TableName=table, Key={"pk": {"S": "a"}})
    )
    # Then DynamoDB answers AccessDeniedException with AWS's message
    assert (code, status) == ("AccessDeniedException", 400)
    name = role.split("/")[-1]
    assert message == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{name}/worker is not authorized to perform: dynamodb:GetItem "
        f"on resource: arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table} because no identity-based policy allows "
        "the dynamodb:GetItem action"
    )


def test_s3_needs_put_object_tagging_to_tag_and_list_bucket_to_say_404(server: SandboxServer, admin: Client) -> None:
    # Given a bucket, and a role that may put and get its objects but neither tag them nor list the bucket
    bucket = f"tags-{uid()}"
    admin("s3").create_bucket(Bucket=bucket)
    role = make_role(
        admin, {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": f"arn:aws:s3:::{bucket}/*"}
    )
    s3 = as_role(server, admin, role)("s3")
    s3.put_object(Bucket=bucket, Key="plain", Body=b"x")
    # When it puts an object with tags, Then S3 refuses it (s3:PutObjectTagging), and nothing was written
    assert error(lambda: s3.put_object(Bucket=bucket, Key="tagged", Body=b"x", Tagging="a=b"))[:2] == (
        "AccessDenied",
        403,
    )
    assert "Contents" not in admin("s3").list_objects_v2(Bucket=bucket, Prefix="tagged")
    # When it heads a key that does not exist, Then S3 answers 403, not 404 (no s3:ListBucket)
    assert error(lambda: s3.head_object(Bucket=bucket, Key="missing"))[1] == 403
    # Given s3:ListBucket too, Then the missing key is a 404
    lister = make_role(
        admin,
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"},
    )
    assert error(lambda: as_role(server, admin, lister)("s3").head_object(Bucket=bucket, Key="missing"))[1] == 404
    # And an existing key is read with s3:GetObject alone
    assert s3.head_object(Bucket=bucket, Key="plain")["ContentLength"] == 1


def test_an_explicit_deny_wins_over_an_allow(server: SandboxServer, admin: Client) -> None:
    # Given a role allowed every S3 action but denied deletes under keep/
    bucket = f"keep-{uid()}"
    admin("s3").create_bucket(Bucket=bucket)
    role = make_role(
        admin,
        {"Effect": "Allow", "Action": "s3:*", "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]},
        {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": f"arn:aws:s3:::{bucket}/keep/*"},
    )
    s3 = as_role(server, admin, role)("s3")
    s3.put_object(Bucket=bucket, Key="keep/a", Body=b"x")
    s3.put_object(Bucket=bucket, Key="tmp/a", Body=b"x")
    # When it deletes, Then only the key outside keep/ goes
    s3.delete_object(Bucket=bucket, Key="tmp/a")
    assert error(lambda: s3.delete_object(Bucket=bucket, Key="keep/a"))[0] == "AccessDenied"


def test_pass_role_is_allowed_to_sagemaker_only(server: SandboxServer, admin: Client) -> None:
    # Given an execution role, and a role that may pass it only to SageMaker, create models and state machines
    execution = make_role(admin)
    role = make_role(
        admin,
        {"Effect": "Allow", "Action": ["sagemaker:CreateModel", "states:CreateStateMachine"], "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": execution,
            "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        },
    )
    worker = as_role(server, admin, role)
    # When it creates a SageMaker model with the role, Then it may
    worker("sagemaker").create_model(
        ModelName=f"m-{uid()}",
        ExecutionRoleArn=execution,
        PrimaryContainer={"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/x:1"},
    )
    # When it passes the role to Step Functions, Then iam:PassRole is denied
    definition = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    code, _, message = error(
        lambda: worker("stepfunctions").create_state_machine(
            name=f"sm-{uid()}", definition=definition, roleArn=execution
        )
    )
    assert code == "AccessDeniedException"
    assert f"iam:PassRole on resource: {execution}" in message


def test_sagemaker_resources_are_authorised_by_their_lower_cased_arns(server: SandboxServer, admin: Client) -> None:
    # Given a role scoped to endpoints named fraud-* and to the packages of group allowed-group
    group, other = f"allowed-group-{uid()}", f"other-group-{uid()}"
    for name in (group, other):
        admin("sagemaker").create_model_package_group(ModelPackageGroupName=name)
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
    role = make_role(
        admin,
        {"Effect": "Allow", "Action": "sagemaker:DescribeEndpoint", "Resource": f"{arn}:endpoint/fraud-*"},
        {"Effect": "Allow", "Action": "sagemaker:CreateModelPackage", "Resource": f"{arn}:model-package/{group}/*"},
    )
    sm = as_role(server, admin, role)("sagemaker")
    # When it describes Fraud-Canary (SageMaker authorises endpoint/fraud-canary), Then it gets past IAM
    assert error(lambda: sm.describe_endpoint(EndpointName="Fraud-Canary"))[0] == "ValidationException"
    # When it describes an endpoint outside the scope, Then it is denied
    code, _, message = error(lambda: sm.describe_endpoint(EndpointName="housing-mme"))
    assert code == "AccessDeniedException"
    assert f"on resource: {arn}:endpoint/housing-mme " in message
    # When it registers packages, Then only in its group (on the ARN the package gets: model-package/<group>/1)
    spec = {
        "Containers": [{"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/x:1"}],
        "SupportedContentTypes": ["text/csv"],
        "SupportedResponseMIMETypes": ["text/csv"],
    }
    created = sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=spec)
    assert created["ModelPackageArn"] == f"{arn}:model-package/{group}/1"
    code, _, message = error(lambda: sm.create_model_package(ModelPackageGroupName=other, InferenceSpecification=spec))
    assert code == "AccessDeniedException"
    assert f"on resource: {arn}:model-package/{other}/1 " in message


def test_update_endpoint_needs_the_endpoint_and_the_config_it_moves_to(server: SandboxServer, admin: Client) -> None:
    # Given a role that may update endpoint fraud-canary onto any config (AWS authorises both resources)
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
    role = make_role(
        admin,
        {
            "Effect": "Allow",
            "Action": "sagemaker:UpdateEndpoint",
            "Resource": [f"{arn}:endpoint/fraud-canary", f"{arn}:endpoint-config/*"],
        },
    )
    sm = as_role(server, admin, role)("sagemaker")
    # When it updates fraud-canary, Then IAM lets it through (SageMaker then finds no such endpoint)
    assert error(lambda: sm.update_endpoint(EndpointName="fraud-canary", EndpointConfigName="c1"))[0] == (
        "ValidationException"
    )
    # When it updates another endpoint, the config being allowed notwithstanding, Then it is denied on the endpoint
    code, _, message = error(lambda: sm.update_endpoint(EndpointName="payments-prod", EndpointConfigName="c1"))
    assert code == "AccessDeniedException"
    assert f"on resource: {arn}:endpoint/payments-prod " in message


def test_resource_account_condition_scopes_to_the_accounts_listed(server: SandboxServer, admin: Client) -> None:
    # Given a role allowed to describe packages of any account, on condition aws:ResourceAccount is OTHER_ACCOUNT
    role = make_role(
        admin,
        {
            "Effect": "Allow",
            "Action": "sagemaker:DescribeModelPackage",
            "Resource": f"arn:aws:sagemaker:{REGION}:*:model-package/*",
            "Condition": {"StringEquals": {"aws:ResourceAccount": [OTHER_ACCOUNT]}},
        },
    )
    sm = as_role(server, admin, role)("sagemaker")
    own = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/some-group/1"
    # When it describes a package of its own account, Then the condition does not match: denied
    assert error(lambda: sm.describe_model_package(ModelPackageName=own))[0] == "AccessDeniedException"
    # When it describes a package of the listed account, Then IAM's identity side allows it (the package's group
    # policy, absent here, then refuses the cross-account read: a resource-policy denial, not the condition's)
    theirs = f"arn:aws:sagemaker:{REGION}:{OTHER_ACCOUNT}:model-package/some-group/1"
    code, _, message = error(lambda: sm.describe_model_package(ModelPackageName=theirs))
    assert "no identity-based policy" not in message, (code, message)


def test_creating_a_sagemaker_resource_with_tags_needs_add_tags(server: SandboxServer, admin: Client) -> None:
    # Given a role that may create model package groups but not tag them
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
    role = make_role(admin, {"Effect": "Allow", "Action": "sagemaker:CreateModelPackageGroup", "Resource": f"{arn}:*"})
    sm = as_role(server, admin, role)("sagemaker")
    # When it creates a group with tags, Then it is denied sagemaker:AddTags, and no group exists
    tagged = f"tagged-{uid()}"
    code, _, message = error(
        lambda: sm.create_model_package_group(ModelPackageGroupName=tagged, Tags=[{"Key": "k", "Value": "v"}])
    )
    assert code == "AccessDeniedException" and "sagemaker:AddTags" in message
    assert error(lambda: admin("sagemaker").describe_model_package_group(ModelPackageGroupName=tagged))[0]
    # When it creates one without tags, Then it is created
    sm.create_model_package_group(ModelPackageGroupName=f"plain-{uid()}")


def test_dynamodb_leading_keys_scope_items(server: SandboxServer, admin: Client) -> None:
    # Given a table and a role that may read only items whose key starts with hub#
    table = f"t-{uid()}"
    admin("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    role = make_role(
        admin,
        {
            "Effect": "Allow",
            "Action": "dynamodb:GetItem",
            "Resource": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}",
            "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["hub#*"]}},
        },
    )
    ddb = as_role(server, admin, role)("dynamodb")
    # When it reads, Then hub# items may be read and others not
    ddb.get_item(TableName=table, Key={"pk": {"S": "hub#1"}})
    assert error(lambda: ddb.get_item(TableName=table, Key={"pk": {"S": "pointer#1"}}))[0] == "AccessDeniedException"


# ----------------------------------------------------------------------------- trust and resource policies


def test_assume_role_needs_the_external_id(server: SandboxServer, admin: Client, other_admin: Client) -> None:
    # Given a role in another account trusting this account with an ExternalId
    role = make_role(
        other_admin,
        account=OTHER_ACCOUNT,
        trust_doc=trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, StringEquals={"sts:ExternalId": "the-secret-id"}),
    )
    sts = admin("sts")
    # When this account's administrator assumes it without or with a wrong ExternalId, Then AWS refuses
    for kwargs in ({}, {"ExternalId": "guess"}):
        code, status, message = error(
            lambda kwargs=kwargs: sts.assume_role(RoleArn=role, RoleSessionName="x1", **kwargs)
        )
        assert (code, status) == ("AccessDenied", 403)
        assert f"is not authorized to perform: sts:AssumeRole on resource: {role}" in message
    # When it passes the right one, Then it gets credentials of the other account
    creds = sts.assume_role(RoleArn=role, RoleSessionName="x1", ExternalId="the-secret-id")["Credentials"]
    who = client_factory(server, creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])("sts")
    assert who.get_caller_identity()["Account"] == OTHER_ACCOUNT


def test_cross_account_reads_need_the_bucket_policy(server: SandboxServer, admin: Client, other_admin: Client) -> None:
    # Given a bucket in this account and a role in the other account allowed to read it by its own policy
    bucket = f"shared-{uid()}"
    admin("s3").create_bucket(Bucket=bucket)
    admin("s3").put_object(Bucket=bucket, Key="models/a.tar.gz", Body=b"model")
    role = make_role(
        other_admin,
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"},
        account=OTHER_ACCOUNT,
    )
    reader = as_role(server, other_admin, role)("s3")
    # When it reads before the bucket policy allows it, Then S3 refuses
    assert error(lambda: reader.get_object(Bucket=bucket, Key="models/a.tar.gz"))[0] == "AccessDenied"
    # When the bucket owner allows that role, Then it reads
    admin("s3").put_bucket_policy(
        Bucket=bucket,
        Policy=policy(
            {
                "Effect": "Allow",
                "Principal": {"AWS": role},
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/models/*",
            }
        ),
    )
    assert reader.get_object(Bucket=bucket, Key="models/a.tar.gz")["Body"].read() == b"model"


# ----------------------------------------------------------------------------- the sandbox's own callers


def zip_of(code: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", textwrap.dedent(code))
    return buffer.getvalue()


WRITER = """
    import boto3
    from botocore.exceptions import ClientError

    def handler(event, context):
        s3 = boto3.client("s3")
        out = {}
        for key in event["keys"]:
            try:
                s3.put_object(Bucket=event["bucket"], Key=key, Body=b"x")
                out[key] = "ok"
            except ClientError as exc:
                out[key] = exc.response["Error"]["Code"]
        return out
"""


def test_a_lambda_function_acts_with_its_roles_permissions(server: SandboxServer, admin: Client) -> None:
    # Given a function whose execution role may write only under allowed/
    bucket = f"fn-{uid()}"
    admin("s3").create_bucket(Bucket=bucket)
    role = make_role(
        admin,
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/allowed/*"},
        trust_doc=trust({"Service": "lambda.amazonaws.com"}),
    )
    name = f"writer-{uid()}"
    admin("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": zip_of(WRITER)},
        Timeout=30,
    )
    # When it writes inside and outside its scope
    response = admin("lambda").invoke(
        FunctionName=name, Payload=json.dumps({"bucket": bucket, "keys": ["allowed/a", "other/a"]}).encode()
    )
    # Then S3 took what the role allows and refused the rest
    assert json.loads(response["Payload"].read()) == {"allowed/a": "ok", "other/a": "AccessDenied"}


def wait_for_execution(sfn: Any, arn: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return described
        time.sleep(0.2)


def test_state_machine_integrations_act_as_its_role(server: SandboxServer, admin: Client, tmp_path: Path) -> None:
    # Given two topics and a state machine whose role may publish only to the first
    sns = admin("sns")
    allowed = sns.create_topic(Name=f"allowed-{uid()}")["TopicArn"]
    forbidden = sns.create_topic(Name=f"forbidden-{uid()}")["TopicArn"]
    role = make_role(
        admin,
        {"Effect": "Allow", "Action": "sns:Publish", "Resource": allowed},
        trust_doc=trust({"Service": "states.amazonaws.com"}),
    )
    definition = {
        "StartAt": "Publish",
        "States": {
            "Publish": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {"TopicArn.$": "$.topic", "Message": "hello"},
                "End": True,
            }
        },
    }
    sfn = admin("stepfunctions")
    machine = sfn.create_state_machine(name=f"sm-{uid()}", definition=json.dumps(definition), roleArn=role)[
        "stateMachineArn"
    ]
    # When it publishes to each topic
    runs = {
        topic: wait_for_execution(
            sfn, sfn.start_execution(stateMachineArn=machine, input=json.dumps({"topic": topic}))["executionArn"]
        )
        for topic in (allowed, forbidden)
    }
    # Then the allowed topic got it and the other was refused to the role
    assert runs[allowed]["status"] == "SUCCEEDED"
    assert runs[forbidden]["status"] == "FAILED"
    log = decision_log.read(decision_log.path() or "")
    assert {"decision": "Deny", "principal": role, "action": "sns:Publish", "resource": forbidden}.items() <= next(
        r for r in reversed(log) if r["resource"] == forbidden
    ).items()


def test_the_decision_log_records_allowed_requests_by_role(server: SandboxServer, admin: Client) -> None:
    # Given a role allowed to create one queue
    name = f"q-{uid()}"
    role = make_role(
        admin, {"Effect": "Allow", "Action": "sqs:CreateQueue", "Resource": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"}
    )
    # When it creates it
    as_role(server, admin, role)("sqs").create_queue(QueueName=name)
    # Then the log holds the decision under the role's ARN (not the session's)
    records = decision_log.read(decision_log.path() or "")
    mine = [r for r in records if r["principal"] == role]
    assert [(r["decision"], r["action"], r["resource"], r["operation"]) for r in mine] == [
        ("Allow", "sqs:CreateQueue", f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}", "sqs.CreateQueue")
    ]
    assert mine[0]["session"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role.split('/')[-1]}/worker"
