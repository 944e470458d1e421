"""Emulator throughput: work moto repeats on every request or execution, done once.

No AWS behaviour is added or changed here; each patch returns what moto's own code returns, only without
recomputing it. They matter under a burst (issue 13: a thousand approvals at once), when one Python process
serves every request, runs every state machine execution and delivers every event:

* **Request routing.** moto's ``DomainDispatcherApplication.get_application`` holds one lock for every request
  while ``get_backend_for_host`` lists moto's package directory (``os.listdir`` + ``isdir`` on some 200
  folders) and then tries the URL pattern of every backend. The answer depends on the host alone, so it is
  cached per host: the lock is then held for a dictionary lookup. Profiled at 200 approvals: 30 % of the
  process's samples were requests waiting on that lock.
* **State machine definitions.** moto's interpreter (``ExecutionWorker._get_evaluation_entrypoint``) lexes
  and parses the definition with ANTLR for every execution: about a fifth of the process's samples under the
  same burst. The parse tree depends on the definition text alone and the interpreter only reads it, so it is
  parsed once per definition; the tree is still turned into fresh evaluation components for each execution
  (moto's ``Preprocessor``), so no execution shares state with another. A definition with syntax errors is
  never cached and fails exactly as before.
* **JSONPath expressions.** The interpreter evaluates every ``InputPath``, ``Parameters`` binding and
  ``ResultPath`` with ``jsonpath_ng``'s ``parse``, which builds a new PLY parser (its LR tables) for each call.
  A parsed expression is only read by ``find``/``update``, so each distinct path is parsed once.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor
from moto.stepfunctions.parser.asl.utils import json_path
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

_PATCH_MARK = "__modelrelay_throughput__"
_lock = threading.Lock()

_original_backend_for_host = DomainDispatcherApplication.get_backend_for_host


# host -> backend name (or None). Every DomainDispatcherApplication routes with the same module-wide URL patterns.
_backend_by_host: dict[str | None, Any] = {}


def _get_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
    try:
        return _backend_by_host[host]
    except KeyError:
        backend = _backend_by_host[host] = _original_backend_for_host(self, host)
        return backend


@functools.lru_cache(maxsize=64)
def _parse_tree(definition: str) -> Any:
    """The ANTLR parse tree of ``definition`` (raises, and caches nothing, when it has syntax errors)."""
    return AmazonStateLanguageParser.parse(definition)[1]


def _get_evaluation_entrypoint(self: ExecutionWorker) -> Any:
    return Preprocessor().visit(_parse_tree(self._evaluation_details.state_machine_details.definition))


def apply() -> None:
    """Install the patches (idempotent)."""
    with _lock:
        if getattr(DomainDispatcherApplication.get_backend_for_host, _PATCH_MARK, False):
            return
        setattr(_get_backend_for_host, _PATCH_MARK, True)
        DomainDispatcherApplication.get_backend_for_host = _get_backend_for_host  # type: ignore[method-assign]
        ExecutionWorker._get_evaluation_entrypoint = _get_evaluation_entrypoint  # type: ignore[method-assign]
        for module in (json_path, result_path):
            module.parse = functools.lru_cache(maxsize=4096)(module.parse)  # type: ignore[attr-defined]
