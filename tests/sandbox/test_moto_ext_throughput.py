"""The emulator's throughput patches (moto_ext.throughput, and the server's persistent connections) change no answer,
only how often moto recomputes it and how many connections a client opens."""

from __future__ import annotations

import http.client
import json
import os
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.stepfunctions.parser.asl.parse.asl_parser import ASLParserException
from moto.stepfunctions.parser.asl.utils import json_path

from modelrelay_sandbox.moto_ext import throughput
from modelrelay_sandbox.server import SandboxServer, start_server

from .test_moto_ext_runtime import create_state_machine, wait_for_execution


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    sandbox = start_server(port=None, state_dir=tmp_path_factory.mktemp("sandbox-state"))
    yield sandbox
    sandbox.stop()


def test_a_host_is_routed_to_the_backend_moto_routes_it_to_and_moto_lists_its_folders_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given moto's own routing, computed without the cache
    app = DomainDispatcherApplication(create_backend_app)
    hosts = [
        "api.sagemaker.us-east-1.amazonaws.com",
        "runtime.sagemaker.us-east-1.amazonaws.com",
        "s3.amazonaws.com",
        "lambda.eu-west-1.amazonaws.com",
        "states.us-east-1.amazonaws.com",
        "sts",
        "moto_api",
        None,
    ]
    expected = {host: throughput._original_backend_for_host(app, host) for host in hosts}
    throughput.apply()

    # When every host is routed twice, with moto's directory listing counted
    listings = []
    real_listdir = os.listdir
    monkeypatch.setattr(os, "listdir", lambda path: listings.append(path) or real_listdir(path))
    throughput._backend_by_host.clear()
    first = {host: app.get_backend_for_host(host) for host in hosts}
    listed_first = len(listings)
    second = {host: app.get_backend_for_host(host) for host in hosts}

    # Then both answers are moto's, and the second round lists nothing
    assert first == expected == second
    assert expected["api.sagemaker.us-east-1.amazonaws.com"] == "sagemaker"
    assert listed_first > 0
    assert len(listings) == listed_first


def test_each_execution_gets_its_own_components_from_one_parse_of_the_definition_and_its_paths(
    server: SandboxServer, aws: Callable[..., Any], role_arn: str
) -> None:
    # Given a state machine whose result depends on its input and a Pass state's parameters
    definition = json.dumps(
        {
            "StartAt": "Echo",
            "States": {
                "Echo": {"Type": "Pass", "Parameters": {"value.$": "$.value", "fixed": "f"}, "Next": "Done"},
                "Done": {"Type": "Succeed"},
            },
        }
    )
    sfn = aws("stepfunctions")
    arn = create_state_machine(sfn, role_arn, definition)
    throughput._parse_tree.cache_clear()
    json_path.parse.cache_clear()  # type: ignore[attr-defined]

    # When it runs three times with different inputs
    executions = [
        sfn.start_execution(stateMachineArn=arn, input=json.dumps({"value": n}))["executionArn"] for n in range(3)
    ]
    outputs = [json.loads(wait_for_execution(sfn, e)["output"]) for e in executions]

    # Then each output is its own input's, the definition was parsed once and its JSONPath once
    assert outputs == [{"value": n, "fixed": "f"} for n in range(3)]
    info = throughput._parse_tree.cache_info()
    assert info.misses == 1 and info.hits == 2
    paths = json_path.parse.cache_info()  # type: ignore[attr-defined]
    assert paths.misses == 1 and paths.hits == 2


def test_a_definition_with_a_syntax_error_still_fails_and_is_not_cached() -> None:
    # Given a definition moto's parser refuses
    throughput._parse_tree.cache_clear()
    broken = '{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": tru}}}'

    # When it is parsed twice
    for _ in range(2):
        with pytest.raises(ASLParserException):
            throughput._parse_tree(broken)

    # Then both attempts parsed it (an exception is never cached)
    assert throughput._parse_tree.cache_info().misses == 2
    assert throughput._parse_tree.cache_info().currsize == 0


def test_a_connection_serves_many_requests_and_an_unread_body_never_leaks_into_the_next(server: SandboxServer) -> None:
    # Given one HTTP/1.1 connection to the sandbox
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)

    # When it sends a request, a POST with a body the server never reads, and another request
    answers = []
    for method, path, body in [
        ("GET", "/moto-api/config", None),
        ("POST", "/moto-api/no-such-thing", b"next-request-line? " * 500),
        ("GET", "/moto-api/config", None),
    ]:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        answers.append((response.status, response.will_close, response.read()))

    # Then all three were answered on the same open connection, the last one as the first
    assert [(status, will_close) for status, will_close, _ in answers] == [(201, False), (404, False), (201, False)]
    assert json.loads(answers[2][2]) == json.loads(answers[0][2])


def test_a_client_asking_to_close_gets_its_connection_closed(server: SandboxServer) -> None:
    # Given a connection whose request says Connection: close
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", "/moto-api/config", headers={"Connection": "close"})

    # When the answer arrives
    response = connection.getresponse()
    response.read()

    # Then the server closes it, as HTTP/1.1 requires
    assert response.status == 201
    assert response.will_close


def test_a_stopped_sandbox_closes_the_connections_it_kept_open(tmp_path: Path) -> None:
    # Given a second sandbox with a kept-alive connection
    sandbox = start_server(port=None, state_dir=tmp_path)
    connection = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=10)
    connection.request("GET", "/moto-api/config")
    first = connection.getresponse()
    first.read()
    assert not first.will_close

    # When the sandbox stops
    sandbox.stop()

    # Then the connection answers nothing more
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        connection.request("GET", "/moto-api/config")
        connection.getresponse()


def test_answers_on_a_kept_connection_are_not_held_back_by_nagle(server: SandboxServer) -> None:
    # Given one kept-alive connection
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)

    # When it makes 30 calls one after the other
    took = []
    for _ in range(30):
        started = time.perf_counter()
        connection.request("GET", "/moto-api/config")
        connection.getresponse().read()
        took.append(time.perf_counter() - started)

    # Then a call takes milliseconds, not the 40 ms of a body held back until the client's delayed ACK
    assert statistics.median(took) < 0.025, f"median {statistics.median(took) * 1000:.1f} ms"
