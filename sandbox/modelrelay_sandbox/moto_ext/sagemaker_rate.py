"""SageMaker's control-plane request rate: measured, and (optionally) throttled per account as SageMaker does.

SageMaker throttles its control-plane APIs per account and Region and answers ``400 ThrottlingException``
("Rate exceeded"; https://docs.aws.amazon.com/sagemaker/latest/APIReference/CommonErrors.html and
https://repost.aws/knowledge-center/sagemaker-python-throttlingexception). moto never throttles, so a burst
that would be throttled on AWS passes unnoticed, and nothing says how hard ModelRelay pushed.

This module puts a WSGI middleware in front of the running sandbox server (like :mod:`.fault_injection`) that
sees every SageMaker control-plane request (JSON protocol, ``X-Amz-Target: SageMaker.<Action>``; the runtime's
``InvokeEndpoint`` is another API with its own quotas and is not counted):

* **measures**: the time of each request per account, so :meth:`SageMakerRate.peak` gives the most requests
  seen in any one-second window and :meth:`SageMakerRate.count` the total;
* **throttles** (when ``rate`` is set): a token bucket per account (``rate`` requests per second, ``burst``
  tokens) answers a request beyond it with SageMaker's ``ThrottlingException`` *before* moto sees it (a
  throttled call has no effect, as on AWS). Throttled requests are counted apart (:attr:`throttled`).

Requests whose ``User-Agent`` carries the exclude marker (a test's or bench's own clients, see
:data:`.fault_injection.DEFAULT_EXCLUDE_USER_AGENT`) are neither counted nor throttled, so a measurement is the
load ModelRelay itself put on SageMaker. AWS publishes no fixed per-API rates for SageMaker's control plane;
the rate is the caller's assumption (the README's "Quotas" section states ModelRelay's).

Use::

    meter = sagemaker_rate.enable(server, rate=20.0, burst=20)   # or rate=None: measure only
    ...
    meter.peak(), meter.count(), meter.throttled
    sagemaker_rate.disable(server)
"""

from __future__ import annotations

import bisect
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from moto.iam.models import get_account_id_from

from .fault_injection import DEFAULT_EXCLUDE_USER_AGENT, _drain, _error_response

_WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_ACCESS_KEY = re.compile(r"Credential=([^/,\s]+)/")
_lock = threading.Lock()


class SageMakerRate:
    """WSGI middleware: counts SageMaker control-plane requests per account and throttles beyond ``rate``."""

    def __init__(
        self, app: _WSGIApp, rate: float | None, burst: int, exclude_user_agent: str = DEFAULT_EXCLUDE_USER_AGENT
    ) -> None:
        self.app = app
        self.rate = rate
        self.burst = burst
        self.exclude_user_agent = exclude_user_agent
        self.throttled = 0
        self._lock = threading.Lock()
        self._times: dict[str, list[float]] = defaultdict(list)
        self._buckets: dict[str, tuple[float, float]] = {}  # account -> (tokens, when)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        if not target.startswith("SageMaker.") or self.exclude_user_agent in environ.get("HTTP_USER_AGENT", ""):
            return self.app(environ, start_response)
        found = _ACCESS_KEY.search(environ.get("HTTP_AUTHORIZATION", ""))
        account = get_account_id_from(found.group(1)) if found else "unsigned"
        now = time.monotonic()
        with self._lock:
            if self._take(account, now):
                self._times[account].append(now)
                allowed = True
            else:
                self.throttled += 1
                allowed = False
        if allowed:
            return self.app(environ, start_response)
        _drain(environ)
        status, headers, body, _code = _error_response(
            {"service": "sagemaker", "protocol": "json", "content_type": environ.get("CONTENT_TYPE", "")},
            server_error=False,
        )
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]

    def _take(self, account: str, now: float) -> bool:
        if self.rate is None:
            return True
        tokens, since = self._buckets.get(account, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - since) * self.rate)
        if tokens < 1.0:
            self._buckets[account] = (tokens, now)
            return False
        self._buckets[account] = (tokens - 1.0, now)
        return True

    def reset(self) -> None:
        with self._lock:
            self._times.clear()
            self._buckets.clear()
            self.throttled = 0

    def count(self, account: str | None = None) -> int:
        with self._lock:
            return sum(len(times) for acc, times in self._times.items() if account in (None, acc))

    def peak(self, account: str | None = None, window: float = 1.0) -> int:
        """The most requests accepted in any ``window`` seconds (of one account, or of each, the highest)."""
        with self._lock:
            series = [times for acc, times in self._times.items() if account in (None, acc)]
        best = 0
        for times in series:  # appended in time order
            for i, start in enumerate(times):
                best = max(best, bisect.bisect_left(times, start + window, lo=i) - i)
        return best


def _wsgi_server(server: Any) -> Any:
    return getattr(server, "_server", server)


def meter(server: Any) -> SageMakerRate | None:
    """The middleware installed on ``server`` (possibly under other middlewares), if any."""
    app = _wsgi_server(server).app
    while app is not None:
        if isinstance(app, SageMakerRate):
            return app
        app = getattr(app, "app", None)
    return None


def enable(
    server: Any,
    rate: float | None = None,
    burst: int | None = None,
    exclude_user_agent: str = DEFAULT_EXCLUDE_USER_AGENT,
) -> SageMakerRate:
    """Measure (and with ``rate``, throttle) ``server``'s SageMaker control-plane requests; counters restart."""
    if rate is not None and rate <= 0:
        raise ValueError("rate must be positive (or None to measure only)")
    wsgi = _wsgi_server(server)
    with _lock:
        current = meter(server)
        size = burst if burst is not None else max(1, int(rate or 1))
        if current is not None:
            current.rate, current.burst, current.exclude_user_agent = rate, size, exclude_user_agent
            current.reset()
            return current
        wrapped = SageMakerRate(wsgi.app, rate, size, exclude_user_agent)
        wsgi.app = wrapped
        return wrapped


def disable(server: Any) -> SageMakerRate | None:
    """Remove the middleware (idempotent); its counters stay readable."""
    wsgi = _wsgi_server(server)
    with _lock:
        parent, app = wsgi, wsgi.app
        while app is not None and not isinstance(app, SageMakerRate):
            parent, app = app, getattr(app, "app", None)
        if app is not None:
            parent.app = app.app
        return app
