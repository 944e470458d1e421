"""No grant that no code path uses (issue 9): per role, the actions template.yaml grants against the actions the
sandbox runs of ``make test`` used, as IAM enforcement recorded them.

``make test`` runs the product's integration and e2e tests and the operator command's tests with IAM enforced and the
decision log at ``MODELRELAY_SANDBOX_IAM_LOG`` (``.sandbox/iam-usage/make-test.jsonl``), then this module. The grants
are ``tests/unit/expected_permissions.py``'s table, which ``tests/unit/test_template_permissions.py`` holds equal to
what the template can grant. An action granted but never used fails, unless it is listed below as not exercisable in
the sandbox, with the reason; an exemption that the runs did use fails too, so the list cannot go stale.
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from pathlib import Path

import pytest

from modelrelay_sandbox.policies import POLICY_DIR
from tests.unit.expected_permissions import EXPECTED_ACTIONS

LOG_ENV = "MODELRELAY_SANDBOX_IAM_LOG"

_NO_KMS = "the sandbox deploys without KmsKeyArn and its buckets use SSE-S3: no KMS call is made through the service"
_NO_SFN_LOGS = "the emulator's Step Functions does not deliver execution logs (no log delivery is ever configured)"
_OVER_5_GIB = "only a copy above 5 GiB is multipart; a failed one is aborted (the sandbox's artifacts are small)"

# (role, action) -> why the sandbox runs cannot use it. Each is a configuration or an event the sandbox does not
# produce; the code path is named in expected_permissions.py (or the policy document).
NOT_EXERCISED: dict[tuple[str, str], str] = {
    **{
        (role, action): _NO_KMS
        for role, actions in EXPECTED_ACTIONS.items()
        for action in actions
        if action.startswith("kms:") and action not in ("kms:CreateGrant", "kms:DescribeKey")
    },
    ("RolloutStepFunction", "kms:CreateGrant"): "SageMaker's own KMS calls for a cloned KmsKeyId are not emulated",
    ("RolloutStepFunction", "kms:DescribeKey"): "SageMaker's own KMS calls for a cloned KmsKeyId are not emulated",
    **{("PromotionStateMachine", a): _NO_SFN_LOGS for a in EXPECTED_ACTIONS["PromotionStateMachine"] if "logs:" in a},
    **{(role, "s3:AbortMultipartUpload"): _OVER_5_GIB for role in ("IngestFunction", "RegisterInHubFunction")},
    ("StageOnMmeFunction", "s3:AbortMultipartUpload"): _OVER_5_GIB,
    ("IngestFunction", "sqs:SendMessage"): (
        "Lambda's OnFailure destination, after a drop's invocation failed three times; the re-drive tests put "
        "failure records in the dead-letter queue themselves"
    ),
    ("RecordOutcomeFunction", "sagemaker:DeleteModelPackage"): (
        "a same-account hub's package removed after a later step failed; the failure tests run on the push "
        "sandbox, whose hub is in another account (the hub role deletes there)"
    ),
    ("RegisterInHubFunction", "sagemaker:DescribeModelPackage"): (
        "a same-account hub's package found from an earlier attempt (a re-run); the re-run tests use the push "
        "sandbox's cross-account hub"
    ),
    ("RegisterInHubFunction", "sagemaker:PutModelPackageGroupPolicy"): (
        "a same-account hub with staged routes: the pull sandbox routes no stages, and the push sandbox's hub is in "
        "another account (the hub role puts the policy)"
    ),
    ("RolloutStepFunction", "sagemaker:DeleteInferenceComponent"): (
        "a losing inference component that came up and then lost (its alarm fired after it served); the sandbox's "
        "failing component fails before it exists"
    ),
    ("StageStepFunction", "states:SendTaskFailure"): (
        "a gate refused through the registry (ModelLifeCycle Rejected); the tests refuse gates with `modelrelay deny`"
    ),
    ("StageStepFunction", "sqs:SendMessage"): "the GateDecision rule's dead letters, after its retries fail",
    ("StageStepFunction", "s3:GetObject"): (
        "a stage test that sends the package's SamplePayloadUrl; the staged routes' tests send a fixed payload"
    ),
    ("StageStepFunction", "sagemaker:DescribeModelPackage"): (
        "a stage test that sends the package's SamplePayloadUrl; the staged routes' tests send a fixed payload"
    ),
    ("PreparePromotionFunction", "s3:ListBucket"): (
        "a package whose artifact object does not exist (told 404, not 403); no sandbox test registers one"
    ),
    ("RecordOutcomeFunction", "s3:ListBucket"): (
        "the clean-up of a copy that is already gone (its tag read answers 404, not 403)"
    ),
}

# Roles whose permissions are documents the README shows (docs/policies/), created by the sandbox from them.
DOCUMENTED_ROLES = {
    "hub role": ("modelrelay-hub-writer", "hub-role-permissions.json"),
    "stage deployment role": ("modelrelay-deployment", "stage-deployment-role-permissions.json"),
}
DOCUMENTED_NOT_EXERCISED: dict[tuple[str, str], str] = {
    ("hub role", "kms:Decrypt"): _NO_KMS,
    ("hub role", "kms:GenerateDataKey"): _NO_KMS,
    ("hub role", "s3:AbortMultipartUpload"): _OVER_5_GIB,
    ("stage deployment role", "s3:AbortMultipartUpload"): _OVER_5_GIB,
    ("stage deployment role", "sagemaker:DescribeModelPackage"): (
        "CreateModel from the hub package: the sandbox checks the hub group's policy for it (moto_ext.cross_account),"
        " not the caller's own grant"
    ),
    ("stage deployment role", "cloudwatch:PutMetricAlarm"): (
        "ModelRelay's own guardrail alarms, created only for a stage endpoint whose route names none; the "
        "sandbox's stage endpoints name theirs"
    ),
    ("stage deployment role", "cloudwatch:DescribeAlarmHistory"): (
        "the alarm history is read when a stage's rollout must tell a fired alarm from a failed deployment; the "
        "staged tests' rollouts do not reach it"
    ),
    ("stage deployment role", "s3:GetObjectTagging"): (
        "undoing a stage's own MME copy (created_by) after a later failure in that stage; the staged tests fail "
        "and roll back endpoint stages"
    ),
}


def _decisions() -> list[dict[str, str]]:
    path = os.environ.get(LOG_ENV)
    if not path or not Path(path).is_file():
        pytest.fail(f"no decision log: run through `make test` (it sets {LOG_ENV} for the sandbox runs first)")
    lines = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    if len(lines) < 1000:
        pytest.fail(f"{path} has {len(lines)} decisions: the sandbox runs did not run with IAM enforced")
    return lines


def _role_of(principal: str) -> str | None:
    """The template's logical role of a principal ARN (CloudFormation names roles <stack>-<LogicalId>Role-<suffix>)."""
    name = principal.rsplit("/", 1)[-1]
    for role in EXPECTED_ACTIONS:
        if re.search(rf"-{role}(Role)?-", name):
            return role
    return None


def used_actions() -> dict[str, set[str]]:
    """Actions allowed per role: the template's by logical id, the documented roles by their name."""
    documented = {name: label for label, (name, _) in DOCUMENTED_ROLES.items()}
    used: dict[str, set[str]] = defaultdict(set)
    for decision in _decisions():
        if decision["decision"] != "Allow":
            continue
        role = _role_of(decision["principal"]) or documented.get(decision["principal"].rsplit("/", 1)[-1])
        if role:
            used[role].add(decision["action"])
    return used


def documented_actions(document: str) -> set[str]:
    statements = json.loads((POLICY_DIR / document).read_text())["Statement"]
    return {a for st in statements if st["Effect"] == "Allow" for a in _as_list(st["Action"])}


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


@pytest.fixture(scope="module")
def used() -> dict[str, set[str]]:
    return used_actions()


@pytest.mark.parametrize("role", sorted(EXPECTED_ACTIONS))
def test_every_granted_action_was_used_or_is_explained(role: str, used: dict[str, set[str]]) -> None:
    # Given the actions the template may grant the role, and those the sandbox runs used
    granted = set(EXPECTED_ACTIONS[role])
    exempt = {action for (who, action) in NOT_EXERCISED if who == role}
    # Then every grant was used, or the sandbox cannot exercise it (and says why)
    unused = granted - used.get(role, set()) - exempt
    assert not unused, f"{role} is granted actions no sandbox run used: {sorted(unused)}"
    # And no exemption hides an action that was used after all
    assert not exempt & used.get(role, set()), f"{role}: exempted but used: {sorted(exempt & used[role])}"


@pytest.mark.parametrize("label", sorted(DOCUMENTED_ROLES))
def test_every_action_a_documented_policy_grants_was_used_or_is_explained(
    label: str, used: dict[str, set[str]]
) -> None:
    # Given a role the README documents (the sandbox creates it from the same file), and what it did
    granted = documented_actions(DOCUMENTED_ROLES[label][1])
    exempt = {action for (who, action) in DOCUMENTED_NOT_EXERCISED if who == label}
    # Then every action the document grants was used, or the sandbox cannot exercise it
    unused = granted - used.get(label, set()) - exempt
    assert not unused, f"the {label} document grants actions no sandbox run used: {sorted(unused)}"
    assert not exempt & used.get(label, set())


def test_no_role_used_an_action_outside_its_table(used: dict[str, set[str]]) -> None:
    # Given what each role did, Then nothing it was allowed to do is missing from the table (enforcement allowed it,
    # so the template granted it: the table and the template would disagree)
    extra = {
        role: sorted(actions - set(EXPECTED_ACTIONS[role]))
        for role, actions in used.items()
        if role in EXPECTED_ACTIONS
    }
    assert not {role: actions for role, actions in extra.items() if actions}
