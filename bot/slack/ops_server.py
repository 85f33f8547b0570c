"""/healthz, /readyz and /metrics for a Socket Mode process, which has no HTTP server of its own (adapter).

The web mode serves these beside /slack/events; a Socket Mode process only holds a websocket to
Slack, so with KB_OPS_PORT set it also listens on that port, from a daemon thread, for the same
three endpoints (`http_app.with_ops_endpoints`) and answers 404 to anything else.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from bot.slack.health import WSGIApp

logger = logging.getLogger(__name__)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        logger.debug("ops request: " + format, *args)


def not_found(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The app under the ops endpoints: there is nothing else to serve."""
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
    return [b"not found"]


class OpsServer:
    """Serves `app` on `host:port` (0: any free port) from a daemon thread until `stop()`."""

    def __init__(self, app: WSGIApp, *, host: str = "0.0.0.0", port: int) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"KB_OPS_PORT must be a TCP port (1-65535), got {port}")
        self._server = make_server(host, port, app, server_class=_Server, handler_class=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="kb-ops-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> OpsServer:
        self._thread.start()
        logger.info("serving /healthz, /readyz and /metrics on port %d", self.port)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
