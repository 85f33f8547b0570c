"""A web site on loopback whose pages change, answer 304 to matching validators, and disappear.

Each page has a body, an ETag and/or a Last-Modified; a GET carrying `If-None-Match` equal to the
ETag (or `If-Modified-Since` equal to the Last-Modified, when the page has no ETag) gets 304 with no
body, as a real server's conditional GET does. `status` overrides a page's answer (404, 410, 500);
a path with no page is 404. Every request is recorded with its conditional headers.
"""

from __future__ import annotations

from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.web_site import LoopbackSite


@dataclass(slots=True)
class Page:
    body: bytes
    etag: str | None = None
    last_modified: str | None = None
    status: int = 200
    content_type: str = "text/markdown; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Request:
    path: str
    if_none_match: str | None
    if_modified_since: str | None
    status: int


class ChangingSite(LoopbackSite):
    """Serves `pages` by path; edit `pages[path]` between requests to change, 304 or remove them."""

    def __init__(self) -> None:
        self.pages: dict[str, Page] = {}
        self.requests: list[Request] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                page = site.pages.get(self.path)
                etag, since = self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
                status = 404 if page is None else page.status
                if page is not None and status == 200 and (
                        (page.etag and etag == page.etag) or (not page.etag and page.last_modified
                                                              and since == page.last_modified)):
                    status = 304
                site.requests.append(Request(self.path, etag, since, status))
                body = page.body if page is not None and status == 200 else b""
                self.send_response(status)
                if page is not None and status in (200, 304):
                    for name, value in (("ETag", page.etag), ("Last-Modified", page.last_modified)):
                        if value:
                            self.send_header(name, value)
                if status != 304:
                    self.send_header("Content-Type", page.content_type if page and status == 200 else "text/plain")
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler)
