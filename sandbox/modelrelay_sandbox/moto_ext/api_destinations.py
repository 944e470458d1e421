"""EventBridge API destinations deliver to HTTP receivers on 127.0.0.1, with the connection's credentials.

The emulation follows AWS's "API destinations as targets in Amazon EventBridge" page
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-api-destinations.html) and the
``CreateConnection`` / ``CreateApiDestination`` API reference:

* **Authorization from the connection.** ``BASIC`` sends ``Authorization: Basic base64(user:password)``;
  ``API_KEY`` sends the header ``ApiKeyName: ApiKeyValue``; the connection's ``InvocationHttpParameters``
  (header, query string and body parameters) are merged with the target's ``HttpParameters``, the connection's
  values taking precedence. ``OAUTH_CLIENT_CREDENTIALS`` is not emulated (the delivery fails, not retried).
* **The request.** The API destination's ``HttpMethod`` and ``InvocationEndpoint`` (path ``*`` wildcards
  filled from ``PathParameterValues``), the rendered target input as the body, and the headers EventBridge
  adds: ``Content-Type: application/json; charset=utf-8`` and ``User-Agent: Amazon/EventBridge/ApiDestinations``.
* **Retries.** As the page says: 401, 407, 409, 429 and 5xx responses (and connection failures) are retried
  under the target's ``RetryPolicy``, then dead-lettered; other 4xx are not retried (straight to the DLQ).
* **InvocationRateLimitPerSecond** spaces the calls of one destination (AWS queues them; so does this).

moto 5.2.5 stores connections and API destinations but calls their endpoint only with
``MOTO_EVENTS_INVOKE_HTTP``, without credentials or retries, and its CloudFormation has neither
``AWS::Events::Connection`` nor ``AWS::Events::ApiDestination``: both are supplied here (``Arn``, ``SecretArn``;
moto's connection creates the Secrets Manager secret, as EventBridge does).

The sandbox has no internet: only ``http(s)://127.0.0.1``/``localhost`` endpoints are called; any other host
fails the delivery (not retried, so it lands in the DLQ at once). :class:`WebhookReceiver` is such a receiver:
it records every request (``GET /_requests`` returns them as JSON) and answers 200.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel
from moto.events.models import Rule, events_backends

from . import eventbridge_targets
from .eventbridge_targets import DeliveryError

LOCAL_HOSTS = {"127.0.0.1", "localhost"}
RETRIED_STATUSES = {401, 407, 409, 429}
USER_AGENT = "Amazon/EventBridge/ApiDestinations"

_lock = threading.Lock()
_applied = False
_last_call: dict[str, float] = {}


# ---------------------------------------------------------------- CloudFormation
class _Model:
    def __init__(self, physical_id: str, attributes: dict[str, str]) -> None:
        self.physical_resource_id = physical_id
        self._attributes = attributes

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Arn", "SecretArn")

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self._attributes[attribute_name]

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource: Any, new_resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
        region_name: str,
    ) -> Any:  # fmt: skip
        create = cls.create_from_cloudformation_json  # type: ignore[attr-defined]
        return create(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        return None


class ConnectionModel(_Model, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Events::Connection"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> ConnectionModel:
        props = cloudformation_json["Properties"]
        name = props.get("Name") or resource_name
        connection = events_backends[account_id][region_name].create_connection(
            name, props.get("Description", ""), props["AuthorizationType"], props.get("AuthParameters", {})
        )
        return cls(connection.name, {"Arn": connection.arn, "SecretArn": connection.secret_arn})


class ApiDestinationModel(_Model, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Events::ApiDestination"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> ApiDestinationModel:
        props = cloudformation_json["Properties"]
        name = props.get("Name") or resource_name
        described = events_backends[account_id][region_name].create_api_destination(
            name,
            props.get("Description", ""),
            props["ConnectionArn"],
            props["InvocationEndpoint"],
            str(props.get("InvocationRateLimitPerSecond", 300)),
            props["HttpMethod"],
        )
        return cls(name, {"Arn": described["ApiDestinationArn"]})


# ---------------------------------------------------------------- delivery
def _connection(account: str, region: str, arn: str) -> Any:
    for connection in events_backends[account][region].connections.values():
        if connection.arn == arn:
            return connection
    raise DeliveryError("RESOURCE_NOT_FOUND", f"connection {arn} not found", False)


def _merge_parameters(target_params: dict[str, Any], connection: Any) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, query) from the target's HttpParameters, then the connection's (which take precedence)."""
    headers = dict(target_params.get("HeaderParameters") or {})
    query = dict(target_params.get("QueryStringParameters") or {})
    invocation = (connection.auth_parameters or {}).get("InvocationHttpParameters") or {}
    for item in invocation.get("HeaderParameters") or []:
        headers[item["Key"]] = item["Value"]
    for item in invocation.get("QueryStringParameters") or []:
        query[item["Key"]] = item["Value"]
    auth = connection.auth_parameters or {}
    if connection.authorization_type == "BASIC":
        basic = auth.get("BasicAuthParameters") or {}
        token = base64.b64encode(f"{basic.get('Username', '')}:{basic.get('Password', '')}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    elif connection.authorization_type == "API_KEY":
        key = auth.get("ApiKeyAuthParameters") or {}
        headers[key["ApiKeyName"]] = key["ApiKeyValue"]
    else:
        raise DeliveryError("SDK_CLIENT_ERROR", f"{connection.authorization_type} is not emulated", False)
    return headers, query


def _wait_for_rate(arn: str, per_second: float) -> None:
    with _lock:
        now = time.monotonic()
        start = max(now, _last_call.get(arn, 0.0) + 1.0 / per_second)
        _last_call[arn] = start
    if start > now:
        time.sleep(start - now)


def deliver(rule: Rule, target: dict[str, Any], event: dict[str, Any], text: str, is_json: bool) -> None:
    """Call the API destination of ``target`` with the rendered input ``text`` (see the module docstring)."""
    import requests

    _, region, account, resource = target["Arn"].split(":", 5)[2:6]
    name = resource.split("/")[1]
    destination = events_backends[account][region].destinations.get(name)
    if destination is None:
        raise DeliveryError("RESOURCE_NOT_FOUND", f"API destination {name} not found", False)
    params = target.get("HttpParameters") or {}
    headers, query = _merge_parameters(params, _connection(account, region, destination.connection_arn))
    url = destination.invocation_endpoint
    for value in params.get("PathParameterValues") or []:
        url = url.replace("*", value, 1)
    parts = urlsplit(url)
    if parts.hostname not in LOCAL_HOSTS:
        raise DeliveryError(
            "SDK_CLIENT_ERROR", f"the sandbox calls only 127.0.0.1 receivers, not {parts.hostname}", False
        )
    query = dict(parse_qsl(parts.query)) | query
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT} | headers
    _wait_for_rate(destination.arn, float(destination.invocation_rate_limit_per_second or 300))
    try:
        response = requests.request(
            destination.http_method,
            parts._replace(query=urlencode(query)).geturl(),
            headers=headers,
            data=text.encode("utf-8"),
            timeout=5,  # AWS waits at most 5 s for an API destination
        )
    except requests.RequestException as exc:
        raise DeliveryError("CONNECTION_FAILURE", str(exc), True) from exc
    status = response.status_code
    if status >= 400:
        retryable = status in RETRIED_STATUSES or status >= 500
        code = "THROTTLING" if status == 429 else "SDK_CLIENT_ERROR"
        raise DeliveryError(code, f"HTTP {status} from {url}", retryable)


def apply() -> None:
    """Deliver API destination targets with credentials; let CloudFormation create connections and destinations."""
    global _applied
    with _lock:
        if _applied:
            return
        _applied = True
    eventbridge_targets._deliver_api_destination = deliver
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()


# ---------------------------------------------------------------- a receiver for tests and the demo
class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that records every request and answers 200 (``GET /_requests`` lists them)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        received = self.requests
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
                parts = urlsplit(self.path)
                with lock:
                    received.append(
                        {
                            "method": self.command,
                            "path": parts.path,
                            "query": dict(parse_qsl(parts.query)),
                            "headers": dict(self.headers.items()),
                            "body": body,
                            "time": time.time(),
                        }
                    )
                self._reply(200, b"ok")

            def _reply(self, status: int, payload: bytes, kind: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                if self.path.startswith("/_requests"):
                    with lock:
                        payload = json.dumps(received).encode()
                    self._reply(200, payload, "application/json")
                else:
                    self._record()

            do_POST = do_PUT = _record

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
