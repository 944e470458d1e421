"""A warm Lambda execution environment for one function: the sandbox's Python runtime.

Started by :mod:`modelrelay_sandbox.moto_ext.lambda_runtime` as
``python <this file> --proto-in FD --proto-out FD`` (``python -m
modelrelay_sandbox.lambda_worker`` works the same). It plays the part of
Lambda's Python runtime interface client (``awslambdaric``):

* configuration comes from the environment exactly as on Lambda (``_HANDLER``,
  ``LAMBDA_TASK_ROOT``, ``AWS_LAMBDA_FUNCTION_NAME``...); ``sys.path`` is set from
  ``PYTHONPATH`` as computed by the parent (function code first);
* the handler module is imported once (the init phase), then each invocation
  calls ``handler(event, context)`` in this same process (warm starts);
* errors are reported in the Lambda Python runtime's shape
  ``{"errorMessage", "errorType", "requestId", "stackTrace"}``.

Protocol: JSON lines on two dedicated pipe file descriptors, so whatever the
handler prints (fd 1/2, captured by the parent as the function's log) cannot
corrupt it.

* worker -> parent, once: ``{"type": "init", "ok": true, "pid": N}`` or
  ``{"type": "init", "ok": false, "error": {...}}``;
* parent -> worker: ``{"type": "invoke", "request_id", "deadline_ms",
  "invoked_function_arn", "event": "<json text>", "client_context": ..., "trace_id": ...}``;
* worker -> parent: ``{"type": "result", "request_id", "ok": true, "payload": "<json text>"}``
  or ``{"type": "result", "request_id", "ok": false, "error": {...}}``.

After each invocation the worker flushes stdout/stderr and writes
:data:`LOG_END_MARKER` + request id + newline to fd 1 (possibly after an
unterminated line of the handler's output), so the parent knows it has every
log line of that invocation. Only the standard library is used here: the
function's own ``sys.path`` must not be polluted by the sandbox.
"""

from __future__ import annotations

import argparse
import decimal
import importlib
import json
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, BinaryIO

LOG_END_MARKER = "\x00modelrelay-sandbox-log-end "

_current_request_id = ""


class LambdaContext:
    """The ``context`` argument, with the attributes of the Lambda Python runtime's."""

    def __init__(
        self,
        request_id: str,
        deadline_ms: int,
        invoked_function_arn: str,
        client_context: Any = None,
        identity: Any = None,
    ) -> None:
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        # Lambda's runtime reads it from the environment: it is a str there too.
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.client_context = client_context
        self.identity = identity
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, msg: str) -> None:
        sys.stdout.write(str(msg))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},"
            f"log_group_name={self.log_group_name},log_stream_name={self.log_stream_name},"
            f"function_name={self.function_name},memory_limit_in_mb={self.memory_limit_in_mb},"
            f"function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},"
            f"client_context={self.client_context},identity={self.identity}])"
        )


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _current_request_id
        return True


def _install_root_log_handler() -> None:
    """Lambda's runtime puts a handler on the root logger with this format."""
    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(_RequestIdFilter())
    logging.getLogger().addHandler(handler)
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL")
    if level:
        logging.getLogger().setLevel(level.upper())


class _Fault(Exception):
    def __init__(self, error_type: str, message: str, stack: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.stack = stack or []


def _error(message: str, error_type: str, stack: list[str], request_id: str) -> dict[str, Any]:
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": stack,
    }


def _user_stack(tb: Any) -> list[str]:
    """The traceback without this runtime's own frames, as Lambda's runtime formats it."""
    frames = traceback.extract_tb(tb)
    own = os.path.abspath(__file__)
    user = [f for f in frames if os.path.abspath(f.filename) != own]
    return traceback.format_list(user)


def _load_handler(spec: str) -> Callable[[Any, LambdaContext], Any]:
    """Import ``module.function`` the way awslambdaric's ``_get_handler`` does."""
    try:
        modname, fname = spec.rsplit(".", 1)
    except ValueError as exc:
        raise _Fault("Runtime.MalformedHandlerName", f"Bad handler '{spec}': {exc}") from exc
    if modname.split(".")[0] in sys.builtin_module_names:
        raise _Fault(
            "Runtime.BuiltInModuleConflict",
            f"Cannot use built-in module {modname} as a handler module",
        )
    try:
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as exc:
        raise _Fault("Runtime.ImportModuleError", f"Unable to import module '{modname}': {exc}") from exc
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise _Fault("Runtime.UserCodeSyntaxError", f"Syntax error in module '{modname}': {exc}", trace) from exc
    try:
        handler = getattr(module, fname)
    except AttributeError as exc:
        raise _Fault("Runtime.HandlerNotFound", f"Handler '{fname}' missing on module '{modname}'") from exc
    if not callable(handler):
        raise _Fault("Runtime.HandlerNotFound", f"Handler '{fname}' missing on module '{modname}'")
    return handler


def _decimal_default(obj: Any) -> Any:
    # Lambda's runtime serialises Decimal (e.g. from DynamoDB) as a JSON number.
    if isinstance(obj, decimal.Decimal):
        return int(obj) if obj == obj.to_integral_value() else float(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _log_error(error: dict[str, Any]) -> None:
    # Lambda's runtime logs an unhandled error as one "[ERROR]" record.
    lines = [f"[ERROR] {error['errorType']}: {error['errorMessage']}"]
    if error["stackTrace"]:
        lines.append("Traceback (most recent call last):")
        lines.extend(s.rstrip("\n") for s in error["stackTrace"])
    sys.stdout.write("\r".join(lines) + "\n")


def _invoke(handler: Callable[[Any, LambdaContext], Any], msg: dict[str, Any]) -> dict[str, Any]:
    global _current_request_id
    request_id = msg["request_id"]
    _current_request_id = request_id
    if msg.get("trace_id"):
        os.environ["_X_AMZN_TRACE_ID"] = msg["trace_id"]
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    context = LambdaContext(
        request_id=request_id,
        deadline_ms=int(msg["deadline_ms"]),
        invoked_function_arn=msg["invoked_function_arn"],
        client_context=msg.get("client_context"),
    )
    try:
        event = json.loads(msg["event"])
        result = handler(event, context)
    except Exception:  # noqa: BLE001 - like Lambda's runtime: any handler error is the result
        _etype, value, tb = sys.exc_info()
        error = _error(str(value), type(value).__name__, _user_stack(tb), request_id)
        _log_error(error)
        return {"type": "result", "request_id": request_id, "ok": False, "error": error}
    try:
        payload = json.dumps(result, default=_decimal_default)
    except (TypeError, ValueError) as exc:
        error = _error(f"Unable to marshal response: {exc}", "Runtime.MarshalError", [], request_id)
        _log_error(error)
        return {"type": "result", "request_id": request_id, "ok": False, "error": error}
    return {"type": "result", "request_id": request_id, "ok": True, "payload": payload}


def _send(out: BinaryIO, message: dict[str, Any]) -> None:
    out.write(json.dumps(message).encode("utf-8") + b"\n")
    out.flush()


def _end_of_logs(request_id: str) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.write(1, f"{LOG_END_MARKER}{request_id}\n".encode())


def _exit_with_parent(parent_pid: int) -> None:
    """Leave no orphan: exit as soon as the sandbox that started this environment is gone, even mid-invocation
    (it may have been killed, OOM-killed or crashed, and nobody will ever read this worker's answer).

    Polls the parent pid instead of ``prctl(PR_SET_PDEATHSIG)``, which fires when the *thread* that spawned the
    child exits, and the sandbox spawns workers from short-lived request threads."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(137)

    if os.getppid() != parent_pid:
        os._exit(137)
    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proto-in", type=int, required=True)
    parser.add_argument("--proto-out", type=int, required=True)
    parser.add_argument("--parent-pid", type=int, default=None)
    args = parser.parse_args(argv)
    if args.parent_pid is not None:
        _exit_with_parent(args.parent_pid)

    # sys.path exactly as the parent computed it (function code first); drops
    # this file's own directory, which must not shadow the function's modules.
    sys.path[:] = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    task_root = os.environ.get("LAMBDA_TASK_ROOT")
    if task_root:
        os.chdir(task_root)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    _install_root_log_handler()

    proto_in = os.fdopen(args.proto_in, "rb")
    proto_out = os.fdopen(args.proto_out, "wb")

    try:
        handler = _load_handler(os.environ.get("_HANDLER", ""))
    except _Fault as fault:
        error = _error(fault.message, fault.error_type, fault.stack, "")
        _log_error(error)
        _end_of_logs("init")
        _send(proto_out, {"type": "init", "ok": False, "error": error})
        return 0
    except Exception:  # noqa: BLE001 - any error raised by the module at import is the init error
        _etype, value, tb = sys.exc_info()
        error = _error(str(value), type(value).__name__, _user_stack(tb), "")
        _log_error(error)
        _end_of_logs("init")
        _send(proto_out, {"type": "init", "ok": False, "error": error})
        return 0
    _end_of_logs("init")
    _send(proto_out, {"type": "init", "ok": True, "pid": os.getpid()})

    for line in proto_in:
        msg = json.loads(line)
        if msg.get("type") != "invoke":
            continue
        response = _invoke(handler, msg)
        _end_of_logs(msg["request_id"])
        _send(proto_out, response)
    return 0


if __name__ == "__main__":
    sys.exit(main())
