"""The sandbox's local AWS: moto's server, extended, in a background thread of this process.

moto runs in *this* process (not as ``moto_server``) so the extensions of
:mod:`modelrelay_sandbox.moto_ext` patch the very objects that serve requests.

    server = start_server()            # port from MODELRELAY_SANDBOX_PORT, else 5055
    boto3.client("lambda", endpoint_url=server.url, region_name="us-east-1", ...)
    server.stop()

``start_server(port=None)`` in tests picks a free port. Port 5055: moto's own
default (5000) and LocalStack's (4566) are often taken on developer machines by
those very tools; 5055 is unassigned by IANA and easy to spot as "the sandbox".
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import threading
import time
import traceback
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.exceptions import InternalServerError
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wsgi import LimitedStream

from .moto_ext import apply_all, lambda_runtime, stepfunctions

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STATE_DIR = REPO_ROOT / ".sandbox"
DEFAULT_PORT = 5055
PORT_ENV = "MODELRELAY_SANDBOX_PORT"
# Lambda's account-level concurrency in the sandbox (default: lambda_runtime's RuntimeConfig).
LAMBDA_CONCURRENCY_ENV = "MODELRELAY_SANDBOX_LAMBDA_CONCURRENCY"


class SandboxPortBusy(RuntimeError):
    """The port asked for is already in use by another program."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            f"port {port} on {host} is already in use: stop what listens there "
            f"(`ss -ltnp 'sport = :{port}'`) or choose another port ({PORT_ENV}=...)"
        )
        self.host = host
        self.port = port


class _QuietRequestHandler(MotoRequestHandler):
    """moto's request handler without the access log line per request."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


# Open client connections per server (id of the WSGI server): a stopped sandbox closes them, as a stopped
# endpoint would, instead of answering on them.
_open_lock = threading.Lock()
_open_connections: dict[int, set[socket.socket]] = {}


def _close_open_connections(server: BaseWSGIServer) -> None:
    with _open_lock:
        connections = _open_connections.pop(id(server), set())
    for connection in connections:
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)


class _KeepAliveRequestHandler(_QuietRequestHandler):
    """werkzeug's request handler with HTTP/1.1 persistent connections, as AWS's endpoints keep them.

    werkzeug's development server answers every request with ``Connection: close`` (it cannot tell the rest of an
    unread request body from the next request line), so every SDK call paid a new TCP connection and a new server
    thread: under a burst, a fifth of the process's time. Here a request's body is bounded by its
    ``Content-Length`` and whatever the application left unread is consumed before the next request is read, so
    the connection can stay open (RFC 9112, section 9.3). A chunked request body, a client's ``Connection: close``,
    HTTP/1.0 and any error still close it.
    """

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm holds the body back
        # until the client's delayed ACK (40 ms per call) once the connection is no longer closed after each answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with _open_lock:
            _open_connections.setdefault(id(self.server), set()).add(self.connection)

    def finish(self) -> None:
        with _open_lock:
            _open_connections.get(id(self.server), set()).discard(self.connection)
        super().finish()

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        environ = self.environ = self.make_environ()
        body: LimitedStream | None = None
        if not environ.get("wsgi.input_terminated"):  # not a chunked body: Content-Length (or none) bounds it
            length = str(environ.get("CONTENT_LENGTH") or "0")
            body = LimitedStream(cast(IO[bytes], self.rfile), int(length) if length.isdigit() else 0)
            environ["wsgi.input"] = body
        keep_alive = body is not None and not self.close_connection
        response: dict[str, Any] = {}
        sent = False
        chunked = False

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if exc_info and sent:
                raise exc_info[1].with_traceback(exc_info[2])
            response["status"], response["headers"] = status, headers
            return write

        def write(data: bytes) -> None:
            nonlocal sent, chunked
            if not sent:
                code_text, _, reason = str(response["status"]).partition(" ")
                code = int(code_text)
                self.send_response(code, reason)
                names = set()
                for name, value in response["headers"]:
                    self.send_header(name, value)
                    names.add(name.lower())
                if not ("content-length" in names or self.command == "HEAD" or 100 <= code < 200 or code in (204, 304)):
                    chunked = True
                    self.send_header("Transfer-Encoding", "chunked")
                if not keep_alive:
                    self.send_header("Connection", "close")
                self.end_headers()
                sent = True
            if data:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)

        try:
            result = self.server.app(environ, start_response)
            try:
                for data in result:
                    write(data)
                if not sent:
                    write(b"")
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            if body is not None:
                body.exhaust()  # the unread rest of this request's body, never the next request
        except (ConnectionError, TimeoutError) as exc:
            self.close_connection = True
            self.connection_dropped(exc, environ)
            return
        except Exception:  # noqa: BLE001 - as werkzeug: a 500 if nothing was sent yet, the traceback in the log, then close
            self.close_connection = True
            self.log_error("Error on request:\n%s", traceback.format_exc())
            if not sent:
                keep_alive = False
                for data in InternalServerError()(environ, start_response):
                    write(data)
                self.wfile.flush()
            return
        if not keep_alive:
            self.close_connection = True


def default_port() -> int:
    """The CLI's port: env ``MODELRELAY_SANDBOX_PORT``, else 5055."""
    return int(os.environ.get(PORT_ENV) or DEFAULT_PORT)


@dataclass
class SandboxServer:
    """A running sandbox server; ``url`` is the endpoint for every AWS client."""

    host: str
    port: int
    state_dir: Path
    _server: BaseWSGIServer = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host  # noqa: S104 - wildcard → loopback URL
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        """Stop serving, then kill the Lambda workers (idempotent)."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()
        _close_open_connections(self._server)
        lambda_runtime.shutdown_workers()


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket, or :class:`SandboxPortBusy` at once (werkzeug would ``sys.exit``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # Like werkzeug: reuse a port in TIME_WAIT, but never one somebody listens on.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        # A deep accept queue: under a burst (a thousand executions calling Lambda at once) the accepting thread
        # is slow to get the GIL, and with a short queue the kernel drops connections that AWS's endpoints take.
        sock.listen(4096)
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            raise SandboxPortBusy(host, port) from exc
        raise
    return sock


def _wait_until_answering(url: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/moto-api/config", timeout=2) as response:  # noqa: S310 - our own http URL
                json.load(response)
                return
        except (urllib.error.URLError, OSError, json.JSONDecodeError) as exc:
            last = exc
            time.sleep(0.05)
    raise RuntimeError(f"the sandbox server at {url} did not answer within {timeout:.0f} s: {last!r}")


def start_server(
    port: int | None = None,
    host: str = "127.0.0.1",
    state_dir: Path = DEFAULT_STATE_DIR,
    *,
    log_requests: bool = False,
) -> SandboxServer:
    """Apply the moto extensions, serve moto on ``host:port`` in a daemon thread of
    this process and return once it answers. ``port=None`` picks a free port.

    Lambda code caches and function logs go under ``state_dir``
    (``lambda-code/``, ``logs/``, ``lambda-home/``). A port in use raises
    :class:`SandboxPortBusy` immediately. ``log_requests`` prints werkzeug's
    access log line for every request to stderr.
    """
    apply_all()
    sock = _bind(host, port or 0)
    actual_port = int(sock.getsockname()[1])
    try:
        app = DomainDispatcherApplication(create_backend_app)
        server = make_server(
            host,
            actual_port,
            app,
            threaded=True,
            request_handler=MotoRequestHandler if log_requests else _KeepAliveRequestHandler,
            fd=sock.fileno(),
        )
    finally:
        sock.close()  # werkzeug serves on its own duplicate of the descriptor
    state_dir = Path(state_dir)
    url_host = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - wildcard → loopback URL
    url = f"http://{url_host}:{actual_port}"
    concurrency = os.environ.get(LAMBDA_CONCURRENCY_ENV)
    lambda_runtime.configure(
        endpoint_url=url,
        code_cache_dir=state_dir / "lambda-code",
        log_dir=state_dir / "logs",
        home_dir=state_dir / "lambda-home",
        account_concurrency=int(concurrency) if concurrency else None,
    )
    stepfunctions.configure(actual_port)
    thread = threading.Thread(target=server.serve_forever, name=f"sandbox-server-{actual_port}", daemon=True)
    thread.start()
    sandbox = SandboxServer(host=host, port=actual_port, state_dir=state_dir, _server=server, _thread=thread)
    try:
        _wait_until_answering(sandbox.url)
    except RuntimeError:
        sandbox.stop()
        raise
    return sandbox


__all__ = ["DEFAULT_PORT", "SandboxPortBusy", "SandboxServer", "default_port", "start_server"]
