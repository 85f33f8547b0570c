"""A WSGI wrapper answering `GET /healthz`, `GET /readyz` and `GET /metrics` before Slack's handler (adapter).

`/healthz` says only that the process serves requests: a load balancer restarting a worker whose
database is down would not help. `/readyz` runs the readiness checks it was given (see
`readiness`: a real query on the database, the model answering, the adapter follower alive, the
adapter it applied really serving) and answers 200 with `{"ready": true}` plus what the process
serves, or 503 naming each failing check, so traffic is only routed to workers that can answer.
`/metrics` is the Prometheus exposition (`metrics_endpoint`). Everything else goes to the wrapped
app (Bolt's `SlackRequestHandler` behind the request guard).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
METRICS_PATH = "/metrics"

ReadinessCheck = tuple[str, Callable[[], str | None]]
"""A named check: returns None when ready, else the reason it is not."""


def _send(start_response: Callable[..., Any], status: str, body: bytes, content_type: str) -> Iterable[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


def with_health_check(app: WSGIApp, *, ready: Sequence[ReadinessCheck] = (),
                      serving: Callable[[], dict[str, Any]] | None = None,
                      metrics: Callable[[], tuple[bytes, str]] | None = None) -> WSGIApp:
    """`app` plus a 200 "ok" on GET /healthz, the readiness checks `ready` on GET /readyz, and
    the body `metrics` returns (text, content type) on GET /metrics when given.

    Args:
        serving: what the process serves (e.g. its adapter), added to /readyz's body as "serving".
    """

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "GET" and environ.get("PATH_INFO") == HEALTH_PATH:
            return _send(start_response, "200 OK", b"ok", "text/plain")
        if environ.get("REQUEST_METHOD") == "GET" and environ.get("PATH_INFO") == READY_PATH:
            failing = {name: reason for name, check in ready if (reason := check()) is not None}
            extra = {"serving": serving()} if serving is not None else {}
            if failing:
                body = json.dumps({"ready": False, "failing": failing, **extra}).encode()
                return _send(start_response, "503 Service Unavailable", body, "application/json")
            return _send(start_response, "200 OK", json.dumps({"ready": True, **extra}).encode(), "application/json")
        if metrics is not None and environ.get("REQUEST_METHOD") == "GET" and environ.get("PATH_INFO") == METRICS_PATH:
            body, content_type = metrics()
            return _send(start_response, "200 OK", body, content_type)
        return app(environ, start_response)

    return application
