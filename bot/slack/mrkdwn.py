"""Slack mrkdwn text: escaping, links, Markdown-to-mrkdwn and splitting to Slack's size limits (pure).

Slack treats `&`, `<` and `>` as control characters, so any text from users, documents or the model
is escaped before it is placed in a block; links are the only `<…>` the bot writes itself. A section
block holds at most 3,000 characters and a message's fallback `text` is best kept under 4,000, so
long answers are split at paragraph, line or word boundaries rather than cut mid-word.
"""

from __future__ import annotations

import re
from urllib.parse import quote

SECTION_LIMIT = 3000
"""Most characters Slack accepts in one section block's text."""

FALLBACK_LIMIT = 3900
"""Most characters kept in a message's top-level `text` (notifications, history, screen readers)."""

_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$", re.MULTILINE)
_MD_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_FENCE = re.compile(r"(```.*?```)", re.DOTALL)
_QUOTE = re.compile(r"^&gt; ", re.MULTILINE)
_FENCE_LANGUAGE = re.compile(r"\A```[^\n`]+\n")


def escape(text: str) -> str:
    """`text` with Slack's control characters escaped, so it renders literally."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    """A clickable `<url|label>` for http(s) URLs; other URIs (uploads, pasted text) stay plain text."""
    if not url.lower().startswith(("http://", "https://")):
        return escape(label)
    # `|` and `>` would end the link early; percent-encode them (and spaces) in the URL.
    safe_url = quote(url, safe=":/?#[]@!$&'()*+,;=%~-._")
    return f"<{safe_url}|{escape(label).replace('|', '¦')}>"


def from_markdown(text: str) -> str:
    """Markdown-ish answer text as mrkdwn: escaped, `**bold**`→`*bold*`, headings bold, links and quotes kept.

    Code fences are escaped but otherwise left alone, so code inside them is not reformatted; the
    language after an opening fence (```` ```python ````) is dropped, as mrkdwn has no syntax highlighting
    and would show the word as the block's first line.
    """
    parts = _FENCE.split(text)
    return "".join(escape(_FENCE_LANGUAGE.sub("```\n", part)) if index % 2 else _prose(part)
                   for index, part in enumerate(parts))


def _prose(text: str) -> str:
    links: list[str] = []

    def keep_link(match: re.Match[str]) -> str:
        links.append(link(match.group(2), match.group(1)))
        return f"\x00{len(links) - 1}\x00"

    text = escape(_MD_LINK.sub(keep_link, text))
    text = _QUOTE.sub("> ", text)  # a line-initial "> " is a block quote in both Markdown and mrkdwn
    text = _HEADING.sub(lambda m: f"*{m.group(1)}*", text)
    text = _BOLD.sub(lambda m: f"*{m.group(1) or m.group(2)}*", text)
    return re.sub(r"\x00(\d+)\x00", lambda m: links[int(m.group(1))], text)


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters at a word boundary, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - 1)]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """`text` in pieces of at most `limit` characters, split at the latest paragraph, line or space."""
    if limit < 2:
        raise ValueError(f"limit must be >= 2, got {limit}")
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = next((at for sep in ("\n\n", "\n", " ") if (at := window.rfind(sep)) > limit // 3), limit)
        # Never leave an escaped entity like `&amp;` split across two blocks.
        amp = window.rfind("&", 0, cut)
        if amp > 0 and ";" not in window[amp:cut] and cut - amp <= 5:
            cut = amp
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces
