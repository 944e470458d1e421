"""EventBridge delivers to Lambda and Step Functions targets.

AWS behaviour supplied here, and why moto 5.2.5 lacks it:

* **Target delivery.** moto's ``Rule.send_to_targets`` (moto/events/models.py)
  delivers only to SQS, CloudWatch Logs, archives, other buses and API
  destinations, and raises ``NotImplementedError`` for every other target (so a
  PutEvents that matches a rule with a Lambda target fails with HTTP 500).  We
  replace it: Lambda targets get an *asynchronous* invoke through
  ``lambda_runtime.invoke_async`` (EventBridge always invokes Lambda
  asynchronously), Step Functions targets start an execution through moto's
  stepfunctions backend (the parser backend when ``execute_state_machine`` is
  on, so the interpreter runs it), SNS topics get a publish.
* **Asynchronous delivery.** PutEvents, and the AWS service that emits an
  event, return once EventBridge has the event; EventBridge matches it and
  delivers to each target afterwards, at least once and in no guaranteed order
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-delivery-level.html:
  "Once an event is delivered to EventBridge, EventBridge matches it against
  rules and then follows the retry policy ..." for the targets;
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-retry-policy.html).
  moto delivers inside the API call, so a burst of UpdateModelPackage calls
  waited for every Step Functions execution to be created. Here rules are
  matched during the call (archives written then) and each delivery is queued
  for a pool of delivery threads.
* **Wire shape.** moto delivers events built from a template that drops
  ``account`` and keeps ``time`` as a float; targets here receive the envelope
  AWS sends: ``version, id, detail-type, source, account, time (ISO-8601 Z),
  region, resources, detail`` (+ ``replay-name`` for replayed events).
* **Input / InputPath / InputTransformer** for every target.  moto's
  ``EventTemplateParser`` drops falsy values, cannot render non-JSON templates,
  and is skipped for archives and replays; we render with AWS's rules
  (strings in quotes are inserted raw, values outside quotes as JSON, missing
  paths render as empty/null, predefined ``aws.events.*`` variables).
* **RetryPolicy and DeadLetterConfig.** moto has neither.  A failed delivery
  is retried (``MaximumRetryAttempts`` / ``MaximumEventAgeInSeconds``; AWS
  defaults 185 / 86 400 s) with short sandbox delays in a background thread,
  then sent to the target's DLQ with EventBridge's message attributes
  ``RULE_ARN``, ``TARGET_ARN``, ``ERROR_CODE``, ``ERROR_MESSAGE``,
  ``RETRY_ATTEMPTS`` and (when retries ran out) ``EXHAUSTED_RETRY_CONDITION``.
  As documented by AWS, errors that retrying cannot fix — the target resource
  does not exist, no permission, invalid input — are *not* retried: the event
  goes to the DLQ at once (``RETRY_ATTEMPTS`` = 0).
* **Disabled rules** do not deliver (moto ignores ``State``).
* **Pattern matching** on arrays of objects (``{"detail": {"Containers":
  {"Image": [...]}}}`` against a list of containers): moto's flattener stops
  at lists.  All other operators our rules use (exact values, arrays of
  values, ``prefix``, ``suffix`` incl. ``{"suffix": {"equals-ignore-case":
  ...}}``, ``anything-but``, ``wildcard``, ``exists``, ``numeric``, ``$or``)
  are already implemented by moto and are covered by tests.
* **Other buses as targets** (cross-bus / cross-account forwarding): moto
  re-puts a rebuilt event and loses ``resources``, ``time``, ``id`` and the
  source ``account``; we hand the original event to the target bus's rules,
  another account's bus only if its resource policy allows the sender
  (``cross_account``; otherwise ``NO_PERMISSIONS``, not retried).
* **Archives / StartReplay**: moto archives matching events and replays them
  synchronously; its replay ignores ``EventStartTime``/``EventEndTime`` and
  ``Destination.FilterArns`` and skips input transformation.  We honour all
  three.

``wait_idle(timeout)`` waits for queued deliveries and their retries (tests and scripts).
``put_service_event(...)`` is the entry point AWS services' events use
(sagemaker_events, s3_eventbridge): it puts an event on the default bus of an
account/region exactly as AWS does for service events.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from moto.events.models import EventPattern, EventsBackend, Replay, ReplayState, Rule, events_backends

LOG = logging.getLogger(__name__)

# Sandbox retry timing: AWS backs off exponentially over up to 24 h; here the
# first retry waits RETRY_BASE_DELAY seconds, doubling up to RETRY_MAX_DELAY.
RETRY_BASE_DELAY = 0.02
RETRY_MAX_DELAY = 0.25
DEFAULT_MAX_RETRY_ATTEMPTS = 185
DEFAULT_MAX_EVENT_AGE_SECONDS = 86_400
# A guard against rules that forward to their own bus (AWS detects loops).
MAX_BUS_HOPS = 5

_ENABLED_STATES = {"ENABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"}
_ENVELOPE = ("version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail")

_applied = False
_pending_lock = threading.Condition()
_pending = 0
_local = threading.local()


class DeliveryError(Exception):
    """A target delivery failed with an EventBridge DLQ ERROR_CODE."""

    def __init__(self, code: str, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable


# --------------------------------------------------------------------------- helpers


def iso_time(value: Any) -> str:
    """EventBridge's ``time`` format: ISO-8601 UTC, seconds, ``Z``."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, (int, float)):
        dt = datetime.fromtimestamp(float(value), tz=UTC)
    else:
        dt = datetime.now(tz=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(value: Any) -> float | None:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def wire_event(event: dict[str, Any]) -> dict[str, Any]:
    """The event as EventBridge hands it to targets (moto keeps internals in it)."""
    out: dict[str, Any] = {k: event[k] for k in _ENVELOPE if k in event}
    out["version"] = str(event.get("version", "0"))
    out["time"] = iso_time(event.get("time"))
    out.setdefault("resources", [])
    if "replay-name" in event:
        out["replay-name"] = event["replay-name"]
    return out


def _parse_arn(arn: str) -> tuple[str, str, str, str]:
    """(service, region, account, resource) of an ARN."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        raise DeliveryError("INVALID_PARAMETER", f"Invalid target ARN {arn}", False)
    return parts[2], parts[3], parts[4], parts[5]


def _error_code(exc: BaseException) -> str:
    for attr in ("error_type", "code"):
        value = getattr(exc, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(exc).__name__


def _classify(exc: BaseException) -> DeliveryError:
    """Map a target-side exception to EventBridge's DLQ codes and retry rule."""
    if isinstance(exc, DeliveryError):
        return exc
    name = f"{_error_code(exc)} {type(exc).__name__}"
    message = str(exc) or name
    if re.search(r"NotFound|DoesNotExist|NonExistent|UnknownFunction|NoSuch", name):
        return DeliveryError("RESOURCE_NOT_FOUND", message, False)
    if re.search(r"AccessDenied|NotAuthorized|Forbidden", name):
        return DeliveryError("NO_PERMISSIONS", message, False)
    if re.search(r"InvalidExecutionInput|InvalidArn|Validation|InvalidParameter|InvalidRequestContent", name):
        return DeliveryError("INVALID_PARAMETER", message, False)
    if re.search(r"Throttl|TooManyRequests|RateExceeded|Limit", name):
        return DeliveryError("THROTTLING", message, True)
    return DeliveryError("SDK_CLIENT_ERROR", message, True)


# ------------------------------------------------------------- input rendering

_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


def _json_path(event: dict[str, Any], path: str) -> tuple[bool, Any]:
    from jsonpath_ng.ext import parse  # moto's own dependency

    matches = [m.value for m in parse(path).find(event)]
    if not matches:
        return False, None
    if len(matches) == 1 and "*" not in path:
        return True, matches[0]
    return True, matches


def _render_template(template: str, values: dict[str, tuple[bool, Any]]) -> tuple[str, bool]:
    """Fill an InputTemplate; returns (text, template_is_json)."""
    is_json = template.strip()[:1] in ("{", "[")
    out: list[str] = []
    in_string = False
    pos = 0
    for match in _PLACEHOLDER.finditer(template):
        name = match.group(1)
        chunk = template[pos : match.start()]
        out.append(chunk)
        in_string = _toggle_string_state(chunk, in_string) if is_json else True
        pos = match.end()
        if name not in values:  # not a variable: AWS leaves the text as it is
            out.append(match.group(0))
            continue
        found, value = values[name]
        if in_string:
            if not found or value is None:
                text = "" if not found else "null"
            elif isinstance(value, str):
                text = value  # AWS does not escape values inserted into strings
            elif isinstance(value, (dict, list)):
                # AWS strips the inner quotes so the string stays valid
                text = json.dumps(value, ensure_ascii=False).replace('"', "")
            else:
                text = json.dumps(value)
        else:
            text = json.dumps(value, ensure_ascii=False) if found else "null"
        out.append(text)
    out.append(template[pos:])
    return "".join(out), is_json


def _toggle_string_state(chunk: str, in_string: bool) -> bool:
    escaped = False
    for ch in chunk:
        if escaped:
            escaped = False
        elif ch == "\\" and in_string:
            escaped = True
        elif ch == '"':
            in_string = not in_string
    return in_string


def render_input(rule: Rule, target: dict[str, Any], event: dict[str, Any]) -> tuple[str, bool]:
    """The payload EventBridge sends to ``target``: (text, text_is_json)."""
    wire = wire_event(event)
    if "Input" in target and target["Input"] is not None:
        return str(target["Input"]), True
    if target.get("InputPath"):
        found, value = _json_path(wire, target["InputPath"])
        return json.dumps(value if found else None, ensure_ascii=False), True
    transformer = target.get("InputTransformer")
    if transformer and transformer.get("InputTemplate") is not None:
        values: dict[str, tuple[bool, Any]] = {
            name: _json_path(wire, path) for name, path in (transformer.get("InputPathsMap") or {}).items()
        }
        without_detail = {k: v for k, v in wire.items() if k != "detail"}
        values.update(
            {
                "aws.events.rule-arn": (True, rule.arn),
                "aws.events.rule-name": (True, rule.name),
                "aws.events.event.ingestion-time": (True, iso_time(event.get("ingestion-time"))),
                "aws.events.event": (True, without_detail),
                "aws.events.event.json": (True, wire),
            }
        )
        text, is_json = _render_template(transformer["InputTemplate"], values)
        if is_json:
            try:
                json.loads(text)
            except ValueError as exc:
                raise DeliveryError("INVALID_JSON", f"Transformed input is not valid JSON: {exc}", False) from exc
        return text, is_json
    return json.dumps(wire, ensure_ascii=False), True


def _as_json_text(text: str, is_json: bool) -> str:
    # Lambda and Step Functions take JSON: a plain-text template arrives as a JSON string.
    return text if is_json else json.dumps(text, ensure_ascii=False)


# ------------------------------------------------------------------- deliverers


def _deliver_sqs(rule: Rule, target: dict[str, Any], event: dict[str, Any], text: str, is_json: bool) -> None:
    from moto.sqs.models import sqs_backends

    _, region, account, queue_name = _parse_arn(target["Arn"])
    backend = sqs_backends[account][region]
    queue = backend.get_queue(queue_name)  # raises QueueDoesNotExist
    group_id = (target.get("SqsParameters") or {}).get("MessageGroupId")
    dedup_id = None
    if queue_name.endswith(".fifo") and queue.attributes.get("ContentBasedDeduplication") != "true":
        dedup_id = str(event.get("id"))  # EventBridge uses the event id
    backend.send_message(queue_name=queue_name, message_body=text, group_id=group_id, deduplication_id=dedup_id)


def _deliver_lambda(rule: Rule, target: dict[str, Any], event: dict[str, Any], text: str, is_json: bool) -> None:
    from moto.awslambda.utils import get_backend

    _, region, account, resource = _parse_arn(target["Arn"])
    # Lambda's async Invoke rejects an unknown function synchronously: EventBridge
    # then sends the event to the DLQ without retrying.
    parts = resource.split(":")  # function:<name>[:<qualifier>]
    get_backend(account, region).get_function(target["Arn"], parts[2] if len(parts) > 2 else None)
    from . import lambda_runtime

    lambda_runtime.invoke_async(target["Arn"], _as_json_text(text, is_json).encode("utf-8"))


def _deliver_states(rule: Rule, target: dict[str, Any], event: dict[str, Any], text: str, is_json: bool) -> None:
    from moto.stepfunctions.responses import get_backend  # parser backend if execute_state_machine

    _, region, account, _resource = _parse_arn(target["Arn"])
    # EventBridge names executions itself; event id keeps them traceable.
    name = f"{event.get('id', '')}_{uuid.uuid4()}"[:80]
    get_backend(account, region).start_execution(
        state_machine_arn=target["Arn"], name=name, execution_input=_as_json_text(text, is_json)
    )


def _deliver_sns(rule: Rule, target: dict[str, Any], event: dict[str, Any], text: str, is_json: bool) -> None:
    from moto.sns.models import sns_backends

    _, region, account, _resource = _parse_arn(target["Arn"])
    sns_backends[account][region].publish(message=text, arn=target["Arn"])


def _deliver_logs(rule: Rule, target: dict[str, Any], event: dict[str, Any], text: str, is_json: bool) -> None:
    from moto.logs.models import logs_backends

    _, region, account, resource = _parse_arn(target["Arn"])
    group = resource.split(":", 1)[1] if ":" in resource else resource
    group = group.removesuffix(":*")
    backend = logs_backends[account][region]
    stream = str(uuid.uuid4())
    backend.create_log_stream(group, stream)
    backend.put_log_events(group, stream, [{"timestamp": int(time.time() * 1000), "message": text}])


def _deliver_bus(rule: Rule, target: dict[str, Any], event: dict[str, Any], text: str, is_json: bool) -> None:
    _, region, account, resource = _parse_arn(target["Arn"])
    bus_name = resource.split("/", 1)[1] if "/" in resource else resource
    bus = events_backends[account][region].event_buses.get(bus_name)
    if bus is None:
        raise DeliveryError("RESOURCE_NOT_FOUND", f"Event bus {target['Arn']} does not exist.", False)
    from .cross_account import check_bus_delivery

    check_bus_delivery(rule, target, bus)  # another account's bus: its resource policy must allow the sender
    hops = getattr(_local, "hops", 0)
    if hops >= MAX_BUS_HOPS:
        raise DeliveryError("THIRD_ACCOUNT_HOP_DETECTED", "Event forwarded too many times.", False)
    # The forwarded event keeps its id, source account, time and resources.
    forwarded = {k: v for k, v in event.items() if k != "replay-name"}
    _local.hops = hops + 1
    try:
        for other in list(bus.rules.values()):
            other.send_to_targets(forwarded)  # type: ignore[arg-type]
    finally:
        _local.hops = hops


def _deliver_api_destination(
    rule: Rule, target: dict[str, Any], event: dict[str, Any], text: str, is_json: bool
) -> None:
    from moto import settings

    if not settings.events_invoke_http():  # same switch as moto (MOTO_EVENTS_INVOKE_HTTP)
        return
    import requests

    _, region, account, resource = _parse_arn(target["Arn"])
    destination = events_backends[account][region].destinations[resource.split("/")[1]]
    params = target.get("HttpParameters") or {}
    try:
        response = requests.request(
            method=destination.http_method,
            url=destination.invocation_endpoint,
            params=params.get("QueryStringParameters") or None,
            headers=params.get("HeaderParameters") or None,
            data=text.encode("utf-8"),
            timeout=10,
        )
    except requests.RequestException as exc:
        raise DeliveryError("CONNECTION_FAILURE", str(exc), True) from exc
    if response.status_code >= 400:
        raise DeliveryError(
            "THROTTLING" if response.status_code == 429 else "SDK_CLIENT_ERROR",
            f"HTTP {response.status_code}",
            response.status_code == 429 or response.status_code >= 500,
        )


_Deliverer = Callable[[Rule, dict[str, Any], dict[str, Any], str, bool], None]


def _deliverer_for(arn: str) -> _Deliverer | None:
    service, _region, _account, resource = _parse_arn(arn)
    if service == "sqs":
        return _deliver_sqs
    if service == "lambda":
        return _deliver_lambda
    if service == "states":
        return _deliver_states
    if service == "sns":
        return _deliver_sns
    if service == "logs":
        return _deliver_logs
    if service == "events" and resource.startswith("event-bus/"):
        return _deliver_bus
    if service == "events" and resource.startswith("api-destination/"):
        return _deliver_api_destination
    return None


# --------------------------------------------------------------- retry and DLQ


def _send_to_dlq(
    rule: Rule,
    target: dict[str, Any],
    event: dict[str, Any],
    error: DeliveryError,
    attempts: int,
    exhausted: str | None,
) -> None:
    dlq_arn = (target.get("DeadLetterConfig") or {}).get("Arn")
    LOG.warning(
        "EventBridge delivery of %s to %s failed (%s: %s) after %d retries%s",
        event.get("id"),
        target.get("Arn"),
        error.code,
        error.message,
        attempts,
        f"; sending to DLQ {dlq_arn}" if dlq_arn else "; no DLQ, event dropped",
    )
    if not dlq_arn:
        return
    from moto.sqs.models import sqs_backends

    attributes = {
        "RULE_ARN": rule.arn,
        "TARGET_ARN": target["Arn"],
        "ERROR_CODE": error.code,
        "ERROR_MESSAGE": error.message[:1024],
        "RETRY_ATTEMPTS": str(attempts),
    }
    if exhausted:
        attributes["EXHAUSTED_RETRY_CONDITION"] = exhausted
    try:
        _, region, account, queue_name = _parse_arn(dlq_arn)
        sqs_backends[account][region].send_message(
            queue_name=queue_name,
            message_body=json.dumps(wire_event(event), ensure_ascii=False),
            message_attributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        )
    except Exception:  # AWS counts these as InvocationsFailedToBeSentToDLQ
        LOG.exception("Could not send event %s to DLQ %s", event.get("id"), dlq_arn)


def _attempt(deliver: _Deliverer, rule: Rule, target: dict[str, Any], event: dict[str, Any]) -> None:
    try:
        text, is_json = render_input(rule, target, event)
        deliver(rule, target, event, text, is_json)
    except Exception as exc:
        raise _classify(exc) from exc


def _retry_loop(
    deliver: _Deliverer, rule: Rule, target: dict[str, Any], event: dict[str, Any], first: DeliveryError
) -> None:
    global _pending
    try:
        policy = target.get("RetryPolicy") or {}
        max_attempts = int(policy.get("MaximumRetryAttempts", DEFAULT_MAX_RETRY_ATTEMPTS))
        max_age = float(policy.get("MaximumEventAgeInSeconds", DEFAULT_MAX_EVENT_AGE_SECONDS))
        born = _epoch(event.get("ingestion-time")) or time.time()
        error, retries, delay = first, 0, RETRY_BASE_DELAY
        while True:
            if retries >= max_attempts:
                _send_to_dlq(rule, target, event, error, retries, "MaximumRetryAttempts")
                return
            if time.time() - born >= max_age:
                _send_to_dlq(rule, target, event, error, retries, "MaximumEventAgeInSeconds")
                return
            time.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_DELAY)
            retries += 1
            try:
                _attempt(deliver, rule, target, event)
                return
            except DeliveryError as exc:
                error = exc
                if not exc.retryable:
                    _send_to_dlq(rule, target, event, error, retries, None)
                    return
    except Exception:
        LOG.exception("EventBridge retry loop crashed")
    finally:
        with _pending_lock:
            _pending -= 1
            _pending_lock.notify_all()


def _first_attempt(rule: Rule, target: dict[str, Any], event: dict[str, Any]) -> None:
    """The first attempt of a delivery counted in ``_pending``; a retryable failure hands it (and the count) to a
    retry loop, anything else uncounts it."""
    global _pending
    handed_over = False
    try:
        deliver = _deliverer_for(target["Arn"])
        if deliver is None:
            LOG.warning("EventBridge target %s is not supported by the sandbox; event dropped", target["Arn"])
            return
        try:
            _attempt(deliver, rule, target, event)
        except DeliveryError as exc:
            if not exc.retryable:
                _send_to_dlq(rule, target, event, exc, 0, None)
                return
            threading.Thread(
                target=_retry_loop, args=(deliver, rule, target, event, exc), name="eb-retry", daemon=True
            ).start()
            handed_over = True
    finally:
        if not handed_over:
            with _pending_lock:
                _pending -= 1
                _pending_lock.notify_all()


# Matched events wait here for a delivery thread: (rule, target, event, bus hops so far).
_deliveries: queue.SimpleQueue[tuple[Rule, dict[str, Any], dict[str, Any], int]] = queue.SimpleQueue()
_delivery_threads: list[threading.Thread] = []
DELIVERY_THREADS = 8


def _deliver_later(rule: Rule, target: dict[str, Any], event: dict[str, Any]) -> None:
    """Queue one delivery: the API call that produced the event returns without waiting for its targets."""
    global _pending
    with _pending_lock:
        _pending += 1
        if not _delivery_threads:
            for n in range(DELIVERY_THREADS):
                thread = threading.Thread(target=_delivery_worker, name=f"eb-delivery-{n}", daemon=True)
                thread.start()
                _delivery_threads.append(thread)
    _deliveries.put((rule, target, event, getattr(_local, "hops", 0)))


def _delivery_worker() -> None:
    while True:
        rule, target, event, hops = _deliveries.get()
        _local.hops = hops  # a bus target forwards with the hop count of the event it received
        try:
            _first_attempt(rule, target, event)
        except Exception:  # never lose the worker
            LOG.exception("EventBridge delivery to %s crashed", target.get("Arn"))
        finally:
            _local.hops = 0


def wait_idle(timeout: float) -> bool:
    """Wait until no delivery is queued, in flight or waiting to be retried; True if idle in time."""
    deadline = time.monotonic() + timeout
    with _pending_lock:
        while _pending > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            _pending_lock.wait(remaining)
    return True


# ------------------------------------------------------------------ the patches


def _send_to_targets(self: Rule, original_event: dict[str, Any], transform_input: bool = True) -> None:
    """Replacement for moto's ``Rule.send_to_targets`` (``transform_input`` is ignored:
    AWS applies input transformation to replayed events too)."""
    if self.state not in _ENABLED_STATES:
        return
    if not self.event_pattern.matches_event(wire_event(original_event)):  # type: ignore[arg-type]
        return
    for target in list(self.targets):
        arn = str(target.get("Arn", ""))
        if arn.startswith("arn:") and arn.split(":")[2:3] == ["events"] and arn.endswith(":::"):
            _archive(self, original_event)
            continue
        _deliver_later(self, target, original_event)


def _archive(rule: Rule, event: dict[str, Any]) -> None:
    # moto's archive rule targets "arn:aws:events:<region>:::" with the archive in
    # its InputTransformer; find the archive that owns this rule.
    backend: EventsBackend = events_backends[rule.account_id][rule.region_name]
    for archive in backend.archives.values():
        if archive.rule is rule:
            archive.events.append(dict(event))  # type: ignore[arg-type]


def _flatten(node: Any, prefix: str = "", result: dict[str, Any] | None = None) -> dict[str, Any]:
    """moto's ``EventPattern._flatten_dict`` plus arrays of objects: AWS matches a
    pattern field against that field in every object of an array."""
    if result is None:
        result = {}
    if not isinstance(node, dict):
        return result
    for key, value in node.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value:
            _flatten(value, path, result)
        elif isinstance(value, list) and any(isinstance(item, dict) for item in value):
            for item in value:
                if isinstance(item, dict):
                    for sub_key, sub_value in _flatten(item, path, {}).items():
                        _merge(result, sub_key, sub_value)
                else:
                    _merge(result, path, item)
        else:
            _merge(result, path, value)
    return result


def _merge(result: dict[str, Any], key: str, value: Any) -> None:
    if key not in result:
        result[key] = value
        return
    existing = result[key]
    merged = existing if isinstance(existing, list) else [existing]
    result[key] = merged + (value if isinstance(value, list) else [value])


def _replay_events(self: Replay, archive: Any) -> None:
    """moto's ``Replay.replay_events`` plus the event time window and FilterArns."""
    backend: EventsBackend = events_backends[self.account_id][self.region]
    bus = backend.describe_event_bus(self.destination["Arn"].split("/")[-1])
    filter_arns = set(self.destination.get("FilterArns") or [])
    start, end = _epoch(self.event_start_time), _epoch(self.event_end_time)
    self.state = ReplayState.RUNNING
    for event in list(archive.events):
        when = _epoch(event.get("time"))
        if when is not None and ((start is not None and when < start) or (end is not None and when > end)):
            continue
        replayed = dict(event, id=str(uuid.uuid4()))
        replayed["replay-name"] = self.name
        for rule in list(bus.rules.values()):
            if filter_arns and rule.arn not in filter_arns:
                continue
            rule.send_to_targets(replayed)  # type: ignore[arg-type]
    self.state = ReplayState.COMPLETED
    self.end_time = time.time()


def put_service_event(
    account_id: str,
    region: str,
    *,
    source: str,
    detail_type: str,
    resources: list[str],
    detail: dict[str, Any],
    event_time: float | None = None,
) -> str:
    """Put an AWS service event on the default bus of ``account_id``/``region``
    (service events only ever go to the default bus). Returns the event id."""
    apply()
    event_id = str(uuid.uuid4())
    now = time.time()
    event: dict[str, Any] = {
        "version": "0",
        "id": event_id,
        "detail-type": detail_type,
        "source": source,
        "account": account_id,
        "time": event_time if event_time is not None else now,
        "region": region,
        "resources": list(resources),
        "detail": detail,
        "ingestion-time": now,
    }
    bus = events_backends[account_id][region].event_buses["default"]
    for rule in list(bus.rules.values()):
        rule.send_to_targets(dict(event))  # type: ignore[arg-type]
    return event_id


def apply() -> None:
    """Install the EventBridge delivery patches (idempotent)."""
    global _applied
    if _applied:
        return
    Rule.send_to_targets = _send_to_targets  # type: ignore[method-assign,assignment]
    EventPattern._flatten_dict = staticmethod(_flatten)  # type: ignore[method-assign]
    Replay.replay_events = _replay_events  # type: ignore[method-assign]
    _applied = True
