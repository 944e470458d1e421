"""What ``template.yaml`` needs from the routes, derived from ``config/routes.json`` (the single source of truth).

- the approval rule's ``ModelPackageGroupName`` filter: exact names and the routes' literal prefixes (EventBridge
  prefix matching, https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html), kept
  within EventBridge's default event-pattern size quota of 2,048 characters
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html): when the list would not fit, names are
  cut to shared prefixes (a broader filter; PreparePromotion ends a group that matches no route quietly);
- the ARNs of the MMEs StageOnMme may invoke for a smoke check (its ``sagemaker:InvokeEndpoint`` statement);
- the resources the functions' IAM statements are scoped to (see README *Permissions*): the routed groups' packages
  (exact names and pattern prefixes), the endpoints the routes name, the endpoint configs, models and inference
  components ModelRelay creates for them (named after the endpoint or component: ``<name[:38]>-<sha>-<execution>``,
  ``domain/rollout.py``), and the alarms (the routes' own and ModelRelay's ``modelrelay-<endpoint>-...``). SageMaker
  ARNs carry names in lower case. Each list is cut to shared prefixes when it would exceed ``IAM_LIST_LIMIT``
  characters (a role's inline policies may hold 10,240 in all);
- the defaults of the bucket parameters (``SourceArtifactBuckets``, ``MmeArtifactBuckets``), each within
  CloudFormation's 4,096-byte parameter value quota
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html).

``python -m modelrelay.derive --write`` rewrites the marked blocks of ``template.yaml``; ``--check`` (``make
validate``, the layer build) fails when they are stale. The sandbox applies :func:`apply` to the template it
deploys, with its own routes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelrelay.adapters.alarms import own_alarm_names
from modelrelay.config import (
    EndpointTarget,
    InferenceComponentTarget,
    Route,
    RoutingConfig,
    literal_prefix,
    load_routing_config,
)
from modelrelay.errors import ConfigError

RULE_PATTERN_LIMIT = 2048  # EventBridge "Event pattern size", default (adjustable to 4,096)
IAM_LIST_LIMIT = 1800  # characters of one derived IAM resource list, resolved (a role's inline policies: 10,240)
# The longest values the ARNs' placeholders take, to size a list as IAM counts it.
_RESOLVED = {"${AWS::Partition}": "aws-us-gov", "${AWS::Region}": "ap-southeast-2", "${AWS::AccountId}": "0" * 12}
SAGEMAKER_ARN = "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:"
CLOUDWATCH_ARN = "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:"
CREATED_NAME_CHARS = 38  # models / endpoint configs ModelRelay creates: <endpoint or component[:38]>-<sha>-<execution>
PARAMETER_VALUE_LIMIT = 4096  # CloudFormation "Parameter value" size, bytes
APPROVAL_STATUSES = ["Approved", "Rejected", "PendingManualApproval"]
Matcher = str | dict[str, str]

_BLOCK = re.compile(
    r"(?P<indent>[ ]*)# BEGIN derived: (?P<name>[a-z-]+)[^\n]*\n.*?[ ]*# END derived: (?P=name)\n", re.S
)
_HEADER = "(python -m modelrelay.derive --write; edit config/routes.json, not this block)"


def approval_pattern(matchers: list[Matcher]) -> dict[str, Any]:
    """The approval rule's event pattern as EventBridge stores it."""
    return {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "detail": {"ModelPackageGroupName": matchers, "ModelApprovalStatus": APPROVAL_STATUSES},
    }


def pattern_size(matchers: list[Matcher]) -> int:
    return len(json.dumps(approval_pattern(matchers)))


def _minimal(entries: set[tuple[str, bool]]) -> list[Matcher]:
    """Entries (text, is-prefix) without those a shorter prefix already covers, sorted."""
    prefixes = sorted(text for text, is_prefix in entries if is_prefix)
    kept: list[str] = []
    for prefix in prefixes:  # sorted: a covering prefix comes first
        if not any(prefix.startswith(shorter) for shorter in kept):
            kept.append(prefix)
    exact = sorted(text for text, is_prefix in entries if not is_prefix and not any(text.startswith(p) for p in kept))
    return [*exact, *({"prefix": p} for p in kept)]


def _fit(entries: set[tuple[str, bool]], size: Callable[[list[Matcher]], int], limit: int, what: str) -> list[Matcher]:
    """``entries`` (text, is-prefix) made minimal; cut to shorter shared prefixes until ``size`` fits ``limit``."""
    matchers = _minimal(entries)
    if size(matchers) <= limit:
        return matchers
    longest = max(len(text) for text, _ in entries)
    for cut in range(longest, 0, -1):
        shorter = {(text[:cut], True) if len(text) > cut else (text, is_prefix) for text, is_prefix in entries}
        matchers = _minimal(shorter)
        if size(matchers) <= limit:
            return matchers
    raise ConfigError(f"{what} cannot fit {limit} characters")  # pragma: no cover


def _group_entries(routes: list[Route]) -> set[tuple[str, bool]]:
    return {
        (route.model_package_group, False) if route.model_package_group else (literal_prefix(str(route.pattern)), True)
        for route in routes
    }


def group_matchers(config: RoutingConfig, limit: int = RULE_PATTERN_LIMIT) -> list[Matcher]:
    """Exact names and pattern prefixes; cut to shorter shared prefixes until the whole pattern fits ``limit``."""
    return _fit(_group_entries(config.routes), pattern_size, limit, "the approval rule's group filter")


def covers(matchers: list[Matcher], group_or_pattern: str) -> bool:
    """Whether a rule filter delivers every group of an exact name or a pattern (by its literal prefix)."""
    is_pattern = "*" in group_or_pattern
    text = literal_prefix(group_or_pattern) if is_pattern else group_or_pattern
    for matcher in matchers:
        if isinstance(matcher, dict):
            if text.startswith(matcher["prefix"]):
                return True
        elif not is_pattern and matcher == text:
            return True
    return False


def parameters(config: RoutingConfig) -> dict[str, str]:
    """The bucket parameters' values: every bucket a route names, once; and the staged routes' deployment roles."""
    source = sorted({b for route in config.routes for b in route.allowed_artifact_buckets})
    # A staged route's targets are its stages', in their own accounts (reached through their deployment roles).
    mme = sorted({r.target.bucket for r in config.routes if r.target.kind == "mme" and not r.stages})
    roles = sorted({stage.role_arn for route in config.routes for stage in route.stages})
    values = {"SourceArtifactBuckets": ",".join(source), "MmeArtifactBuckets": ",".join(mme)}
    if roles:
        values["DeploymentRoleArns"] = ",".join(roles)
    for name, value in values.items():
        if len(value.encode()) > PARAMETER_VALUE_LIMIT:
            raise ConfigError(f"{name} would be {len(value.encode())} bytes (CloudFormation allows 4,096)")
    return values


def _blocks(config: RoutingConfig) -> dict[str, list[str]]:
    values = parameters(config)
    return {
        "approval-groups": [f"ModelPackageGroupName: {json.dumps(group_matchers(config))}"],
        "bucket-parameters": [
            "SourceArtifactBuckets:",
            "  Type: CommaDelimitedList",
            f"  Default: {json.dumps(values['SourceArtifactBuckets'])}",
            "  Description: Buckets (besides the ingest bucket) approved packages' ModelDataUrl may point at "
            "(read-only); derived from the routes' allowed_artifact_buckets.",
            "MmeArtifactBuckets:",
            "  Type: CommaDelimitedList",
            f"  Default: {json.dumps(values['MmeArtifactBuckets'])}",
            "  Description: Buckets holding the multi-model endpoints' prefixes ModelRelay stages into; derived "
            "from the MME routes' target.bucket.",
        ],
        "mme-endpoint-arns": [f"- !Sub {json.dumps(arn)}" for arn in mme_endpoint_arns(config)],
        **{name: [f"- !Sub {json.dumps(arn)}" for arn in arns] for name, arns in iam_resources(config).items()},
    }


def mme_endpoint_arns(config: RoutingConfig) -> list[str]:
    """The MMEs StageOnMme may invoke for a smoke check (``sagemaker:InvokeEndpoint``), one ARN each (SageMaker
    ARNs carry names in lower case); a placeholder that matches no endpoint when no route is an MME route."""
    names = sorted({r.target.endpoint_name.lower() for r in config.routes if r.target.kind == "mme"})
    prefix = "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:endpoint/"
    return [prefix + name for name in names or ["modelrelay-no-mme-route"]]


def _glob(matcher: Matcher) -> str:
    return f"{matcher['prefix']}*" if isinstance(matcher, dict) else matcher


def resolved_size(arns: list[str]) -> int:
    """Characters of an ARN list in a policy as IAM counts them (placeholders at their longest values)."""
    text = json.dumps(arns, separators=(",", ":"))
    for placeholder, value in _RESOLVED.items():
        text = text.replace(placeholder, value)
    return len(text)


def _list_size(arn_of: Callable[[Matcher], list[str]]) -> Callable[[list[Matcher]], int]:
    return lambda matchers: resolved_size([arn for m in matchers for arn in arn_of(m)])


def _arns(entries: set[tuple[str, bool]], arn_of: Callable[[Matcher], list[str]], what: str, none: str) -> list[str]:
    """One ARN list (each entry's ARNs), within ``IAM_LIST_LIMIT``; ``none``: a name that matches nothing
    ModelRelay touches, when there are no entries (a statement needs a resource)."""
    if not entries:
        entries = {(none, False)}
    matchers = _fit(entries, _list_size(arn_of), IAM_LIST_LIMIT, what)
    return [arn for matcher in matchers for arn in arn_of(matcher)]


def _component(route: Route) -> tuple[str, bool]:
    """An inference component route's component name (exact route), or what every name it renders starts with
    (pattern route: the template's text before its first placeholder, plus the pattern's literal prefix when that
    placeholder is ``{group}``)."""
    if route.model_package_group is not None:
        target = route.for_group(route.model_package_group).target
        assert isinstance(target, InferenceComponentTarget)
        return target.component_name, False
    assert isinstance(route.target, InferenceComponentTarget)
    template = route.target.component_name
    head, _, rest = template.partition("{")
    if rest.startswith("group}"):
        head += literal_prefix(str(route.pattern))
    return head, True


def iam_resources(config: RoutingConfig) -> dict[str, list[str]]:
    """The resources of the functions' scoped IAM statements, by derived block (README *Permissions*)."""
    routes = config.routes
    groups = {(text.lower(), is_prefix) for text, is_prefix in _group_entries(routes)}
    ingest = {(t.lower(), p) for t, p in _group_entries([r for r in routes if r.ingest is not None])}
    rollouts = [r for r in routes if isinstance(r.target, EndpointTarget | InferenceComponentTarget)]
    endpoints = {(r.target.endpoint_name.lower(), False) for r in routes}
    rollout_endpoints = {(r.target.endpoint_name.lower(), False) for r in rollouts}
    # What ModelRelay creates, named <endpoint or component[:38]>-<sha256[:12]>-<execution> (rollout._names).
    configs: set[tuple[str, bool]] = set()
    models: set[tuple[str, bool]] = set()
    own_alarms: set[tuple[str, bool]] = set()
    named_alarms: set[tuple[str, bool]] = set()
    components: set[tuple[str, bool]] = set()
    for route in rollouts:
        target = route.target
        if isinstance(target, EndpointTarget):
            configs.add((target.endpoint_name[:CREATED_NAME_CHARS].lower() + "-", True))
            models.add((target.endpoint_name[:CREATED_NAME_CHARS].lower() + "-", True))
            shadow = target.rollout.shadow
            kinds = [""] * (not target.rollout.alarm_names) + ["shadow"] * bool(shadow and not shadow.alarm_names)
            own_alarms |= {(n, False) for kind in kinds for n in own_alarm_names(target.endpoint_name, kind)}
            named_alarms |= {(n, False) for n in [*target.rollout.alarm_names, *(shadow.alarm_names if shadow else [])]}
        elif isinstance(target, InferenceComponentTarget):
            component, is_template = _component(route)
            components.add((component.lower(), is_template))
            models.add((component[:CREATED_NAME_CHARS].lower() + ("" if is_template else "-"), True))
            named_alarms |= {(n, False) for n in target.rollout.alarm_names}

    def sagemaker(kind: str, suffix: str = "") -> Callable[[Matcher], list[str]]:
        return lambda m: [f"{SAGEMAKER_ARN}{kind}/{_glob(m)}{suffix}"]

    def alarm(m: Matcher) -> list[str]:
        return [f"{CLOUDWATCH_ARN}alarm:{_glob(m)}"]

    none = "modelrelay-none"
    return {
        "routed-group-arns": _arns(groups, sagemaker("model-package-group"), "routed groups", none),
        "routed-package-arns": _arns(groups, sagemaker("model-package", "/*"), "routed packages", none),
        "ingest-group-arns": _arns(ingest, sagemaker("model-package-group"), "ingest groups", none),
        "ingest-package-arns": _arns(ingest, sagemaker("model-package", "/*"), "ingest packages", none),
        "routed-endpoint-arns": _arns(endpoints, sagemaker("endpoint"), "routed endpoints", none),
        "rollout-endpoint-arns": _arns(rollout_endpoints, sagemaker("endpoint"), "rollout endpoints", none),
        "created-config-arns": _arns(configs, sagemaker("endpoint-config"), "created endpoint configs", none),
        "created-model-arns": _arns(models, sagemaker("model"), "created models", none),
        "inference-component-arns": _arns(components, sagemaker("inference-component"), "components", none),
        "alarm-arns": _arns(own_alarms | named_alarms, alarm, "alarms", none),
        "own-alarm-arns": _arns(own_alarms, alarm, "own alarms", none),
    }


def apply(template: str, config: RoutingConfig, *, partial: bool = False) -> str:
    """``template`` with every derived block regenerated from ``config``; ``partial``: the template holds only some
    of the blocks (spoke/template.yaml holds the approval groups, which its forwarding rule matches)."""
    blocks = _blocks(config)
    found: set[str] = set()

    def render(block: re.Match[str]) -> str:
        indent, name = block.group("indent"), block.group("name")
        if name not in blocks:
            raise ConfigError(f"template.yaml has an unknown derived block '{name}'")
        found.add(name)
        lines = [f"# BEGIN derived: {name} {_HEADER}", *blocks[name], f"# END derived: {name}"]
        return "".join(f"{indent}{line}\n" for line in lines)

    rendered = _BLOCK.sub(render, template)
    missing = set(blocks) - found
    if partial and not found:
        raise ConfigError("the template has no derived block")
    if missing and not partial:
        raise ConfigError(f"template.yaml lacks the derived block(s) {sorted(missing)}")
    return rendered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modelrelay.derive", description=__doc__.splitlines()[0])
    parser.add_argument("--routes", default="config/routes.json")
    parser.add_argument("--template", default="template.yaml")
    parser.add_argument(
        "--partial", action="store_true", help="the template holds only some blocks (spoke/template.yaml)"
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true")
    mode.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    try:
        config = load_routing_config(args.routes)
        template = Path(args.template)
        current = template.read_text()
        wanted = apply(current, config, partial=args.partial)
    except ConfigError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    if args.write:
        if wanted != current:
            template.write_text(wanted)
        print(f"{template}: derived blocks from {args.routes} ({pattern_size(group_matchers(config))} characters)")
        return 0
    if wanted != current:
        print(
            f"error: {template} is stale for {args.routes}: run `python -m modelrelay.derive --write` (make routes)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
