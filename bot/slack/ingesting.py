"""Adding documents from Slack: pasted text, URLs and shared files, in the right scope (orch).

Combines the scope rule (`scopes`), Slack file downloads (`downloads`) and `knowledge.ingest`.
Each function returns the sentence to show the user and raises `IngestError` (whose message is
meant for users) when the document cannot be added; nothing is written in that case.
"""

from __future__ import annotations

import re
from typing import Any

from bot.slack.deps import SlackDeps
from bot.slack.downloads import download_slack_file
from bot.slack.mrkdwn import escape, truncate
from bot.slack.scopes import scope_label
from knowledge.errors import IngestError
from knowledge.ingest import IngestResult, ingest_bytes, ingest_url

_SLACK_LINK = re.compile(r"^<(https?://[^|>\s]+)(?:\|[^>]*)?>$")
_BARE_URL = re.compile(r"^https?://\S+$")


def url_argument(text: str) -> str | None:
    """The URL when `text` is one URL (Slack may send it as `<url>` or `<url|label>`), else None."""
    text = text.strip()
    if match := _SLACK_LINK.match(text):
        return match.group(1)
    return text if _BARE_URL.match(text) else None


def describe(result: IngestResult, scope: str) -> str:
    """One sentence about what became of a document."""
    title = f"*{escape(truncate(result.title, 150))}*"
    if result.status == "unchanged":
        return f"{title} is already in the knowledge base, unchanged."
    if result.status == "duplicate":
        return f"That is already in the knowledge base as {title}."
    verb = "Updated" if result.status == "replaced" else "Added"
    passages = f"{result.chunk_count} passage{'s' if result.chunk_count != 1 else ''}"
    return f"{verb} {title} ({passages}); it is used for {scope_label(scope)}."


def pasted_title(text: str, limit: int = 120) -> str:
    """The title of pasted text: its first non-empty line, without Markdown heading marks, cut at a word."""
    first = next((line.strip().lstrip("#").strip() for line in text.splitlines() if line.strip()), "")
    if len(first) <= limit:
        return first or "pasted text"
    return first[:limit].rsplit(" ", 1)[0] + "…"


def add_text(deps: SlackDeps, *, text: str, title: str | None, channel: str, user: str) -> str:
    """Add pasted text; without a title given, its first line is the title (as the form promises)."""
    title = title or pasted_title(text)
    data = text.encode()
    if len(data) > deps.ingest.max_bytes:
        raise IngestError(f"the text is {len(data):,} bytes, over the {deps.ingest.max_bytes:,}-byte limit")
    scope = deps.scopes.scope_for(channel)
    result = ingest_bytes(deps.sessions, deps.embedder, data, name="pasted text", source="text",
                          max_bytes=deps.ingest.max_bytes, title=title, scope=scope, added_by=user)
    return describe(result, scope)


def add_url(deps: SlackDeps, *, url: str, title: str | None, channel: str, user: str) -> str:
    scope = deps.scopes.scope_for(channel)
    result = ingest_url(deps.sessions, deps.embedder, url, allowlist=deps.ingest.url_allowlist,
                        max_bytes=deps.ingest.max_bytes, timeout_s=deps.ingest.fetch_timeout_s, title=title,
                        scope=scope, added_by=user)
    return describe(result, scope)


def add_slack_file(deps: SlackDeps, *, file: dict[str, Any], channel: str, user: str,
                   title: str | None = None) -> str:
    """Download a file shared in Slack and add it; `file` may hold only an id (files.info fills it in)."""
    if not (file.get("url_private_download") or file.get("url_private")):
        file = deps.client.files_info(file=file["id"])["file"]
    name = str(file.get("name") or file.get("title") or file["id"])
    size = int(file.get("size") or 0)
    if size > deps.ingest.max_bytes:
        raise IngestError(f"{name}: is {size:,} bytes, over the {deps.ingest.max_bytes:,}-byte limit")
    download = download_slack_file(str(file.get("url_private_download") or file["url_private"]),
                                   token=deps.client.token or "", name=name, max_bytes=deps.ingest.max_bytes,
                                   timeout_s=deps.ingest.fetch_timeout_s,
                                   expect_html=str(file.get("filetype", "")).lower() in ("html", "htm"))
    scope = deps.scopes.scope_for(channel)
    result = ingest_bytes(deps.sessions, deps.embedder, download.data, name=name, source="slack_file",
                          max_bytes=deps.ingest.max_bytes, content_type=file.get("mimetype") or download.content_type,
                          uri=str(file.get("permalink") or f"slack-file:{file['id']}"),
                          title=title, scope=scope, added_by=user)
    return describe(result, scope)
