"""A WSGI wrapper answering `GET /healthz` (liveness) and `GET /readyz` (readiness) before Slack's handler (adapter).

`/healthz` says only that the process serves requests: a load balancer restarting a worker whose
database is down would not help. `/readyz` runs the readiness checks it was given (see
`readiness`: a real query on the database, the model answering) and answers 200 "ready", or 503
naming each failing check, so traffic is only routed to workers that can answer. Everything else
goes to the wrapped app (Bolt's `SlackRequestHandler` behind the request guard).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"

ReadinessCheck = tuple[str, Callable[[], str | None]]
"""A named check: returns None when ready, else the reason it is not."""


def _send(start_response: Callable[..., Any], status: str, body: bytes, content_type: str) -> Iterable[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


def with_health_check(app: WSGIApp, *, ready: Sequence[ReadinessCheck] = ()) -> WSGIApp:
    """`app` plus a 200 "ok" on GET /healthz and the readiness checks `ready` on GET /readyz."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "GET" and environ.get("PATH_INFO") == HEALTH_PATH:
            return _send(start_response, "200 OK", b"ok", "text/plain")
        if environ.get("REQUEST_METHOD") == "GET" and environ.get("PATH_INFO") == READY_PATH:
            failing = {name: reason for name, check in ready if (reason := check()) is not None}
            if failing:
                body = json.dumps({"ready": False, "failing": failing}).encode()
                return _send(start_response, "503 Service Unavailable", body, "application/json")
            return _send(start_response, "200 OK", json.dumps({"ready": True}).encode(), "application/json")
        return app(environ, start_response)

    return application
