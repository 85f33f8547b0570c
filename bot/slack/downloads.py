"""Downloading a file users shared in Slack (adapter over httpx).

`url_private` needs `Authorization: Bearer <bot token>`; without access Slack answers 200 with an
HTML sign-in page rather than an error, so an HTML reply to a file download is treated as refused.
httpx drops the Authorization header on redirects to another origin, so the token never leaves
Slack's hosts. The body is streamed and abandoned past `max_bytes`.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from knowledge.errors import IngestError
from knowledge.fetching import read_capped_body


@dataclass(frozen=True, slots=True, kw_only=True)
class Download:
    data: bytes
    content_type: str


def download_slack_file(url: str, *, token: str, name: str, max_bytes: int, timeout_s: float,
                        expect_html: bool = False) -> Download:
    """The bytes of a Slack file.

    Args:
        name: the file name, used in error messages shown to the user.
        expect_html: the file itself is HTML (then an HTML reply is not taken for the sign-in page).

    Raises:
        IngestError: refused (sign-in page, HTTP error), too large, timed out or unreachable.
    """
    try:
        with httpx.Client(follow_redirects=True, timeout=httpx.Timeout(timeout_s)) as client, \
                client.stream("GET", url, headers={"Authorization": f"Bearer {token}"}) as response:
            if response.status_code >= 400:
                raise IngestError(f"{name}: Slack refused the download (HTTP {response.status_code})")
            content_type = response.headers.get("content-type", "")
            if content_type.startswith("text/html") and not expect_html:
                raise IngestError(f"{name}: Slack answered with a sign-in page; the app needs the files:read "
                                  "scope and access to the conversation the file is in")
            body = read_capped_body(response, where=name, max_bytes=max_bytes)
    except httpx.TimeoutException as exc:
        raise IngestError(f"{name}: the download from Slack timed out after {timeout_s:g} s") from exc
    except httpx.HTTPError as exc:
        raise IngestError(f"{name}: the download from Slack failed ({type(exc).__name__})") from exc
    return Download(data=body, content_type=content_type)
