"""A WSGI wrapper that answers `GET /healthz` before Slack's handler sees the request (adapter).

Load balancers and the test harness poll it to know a worker has loaded its models; everything
else goes to Bolt's `SlackRequestHandler` (POST /slack/events, signature-checked).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
HEALTH_PATH = "/healthz"


def with_health_check(app: WSGIApp) -> WSGIApp:
    """`app` plus a 200 "ok" on GET /healthz."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "GET" and environ.get("PATH_INFO") == HEALTH_PATH:
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
            return [b"ok"]
        return app(environ, start_response)

    return application
