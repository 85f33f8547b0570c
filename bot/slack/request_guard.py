"""A WSGI guard in front of Bolt: size cap, signature check, then a well-formed body, or a plain 4xx (adapter).

Bolt parses a request's body before its signature middleware runs, so junk from anyone on the
internet (a JSON array, broken JSON, a non-numeric `X-Slack-Request-Timestamp`) reached the
parser and came back as HTTP 500 with a logged traceback. This guard answers such requests
itself, in this order, without logging a trace:

1. `Content-Length` missing or not a number → 411 / 400; over `max_body_bytes` → 413, before
   reading the body (so a 10 MB upload costs nothing);
2. signature headers missing, a timestamp that is not a number, outside Slack's 5-minute window
   or a signature that does not match the exact body → 401;
3. only then the body is parsed: JSON must be an object, a form's `payload` must be a JSON
   object → 400.

Everything that passes goes to Bolt unchanged (the body is handed on in a fresh `wsgi.input`),
and Bolt verifies the signature again. Other paths and GETs go straight through.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from slack_sdk.signature import SignatureVerifier

from bot.slack.health import WSGIApp

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
"""Slack's own payloads are a few KB (a /kb add form holds at most 3,000 characters of text)."""


def _reply(start_response: Callable[..., Any], status: str, message: str) -> Iterable[bytes]:
    body = json.dumps({"error": message}).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _refusal(environ: dict[str, Any], verifier: SignatureVerifier, max_body_bytes: int) -> tuple[str, str, bytes]:
    """("", "", body) for a request fit for Bolt, else (status, reason, b"")."""
    length = environ.get("CONTENT_LENGTH") or ""
    if not length:
        return "411 Length Required", "a body length is required", b""
    if not length.isdigit():
        return "400 Bad Request", "invalid Content-Length", b""
    if int(length) > max_body_bytes:
        return "413 Content Too Large", f"body over {max_body_bytes} bytes", b""
    body = environ["wsgi.input"].read(int(length))
    timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP") or ""
    signature = environ.get("HTTP_X_SLACK_SIGNATURE") or ""
    if not timestamp.isdigit() or not signature or not verifier.is_valid(body, timestamp, signature):
        return "401 Unauthorized", "invalid request", b""
    if not _well_formed(body, environ.get("CONTENT_TYPE") or ""):
        return "400 Bad Request", "malformed body", b""
    return "", "", body


def _well_formed(body: bytes, content_type: str) -> bool:
    """Whether Bolt can parse `body`: a JSON object, or a form whose `payload` (if any) is a JSON object."""
    try:
        text = body.decode("utf-8")
        if content_type.startswith("application/json"):
            return isinstance(json.loads(text), dict)
        payload = parse_qs(text).get("payload")
        return payload is None or isinstance(json.loads(payload[0]), dict)
    except (UnicodeDecodeError, ValueError):
        return False


def with_request_guard(app: WSGIApp, *, signing_secret: str, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                       path: str = "/slack/events") -> WSGIApp:
    """`app` behind the checks of the module docstring for POSTs to `path`."""
    verifier = SignatureVerifier(signing_secret)

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != path:
            return app(environ, start_response)
        status, reason, body = _refusal(environ, verifier, max_body_bytes)
        if status:
            logger.info("refused a request to %s: %s (%s)", path, status, reason)
            return _reply(start_response, status, reason)
        environ["wsgi.input"] = io.BytesIO(body)
        return app(environ, start_response)

    return application
