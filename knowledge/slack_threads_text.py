"""Slack message text as people read it in Slack, for indexing learned threads (pure).

Slack sends every message's `text` escaped (`&amp;`, `&lt;`, `&gt;`) with control sequences for
entities: `<@U123>` (a person: shown by their display name, looked up with `names`), `<#C123|general>`,
`<!subteam^S123|@oncall>`, `<!here>`, `<!date^…|fallback>`, `<https://…|label>`, `<mailto:…|…>`.
`decode` turns them into what Slack shows, then unescapes the three entities (`&amp;` last, so a
literal "&lt;" someone typed stays "&lt;"). Code blocks (```…```, which Slack allows mid-line) become
fenced Markdown blocks on their own lines, so the chunker and the evidence quoting keep them whole;
inline code and *bold* / _italic_ marks stay as written.

`bot.slack.slack_text` decodes questions the same way without name lookups (the bot package may not be
imported from here).
"""

from __future__ import annotations

import re
from collections.abc import Callable

_CONTROL = re.compile(r"<([^<>\n]+)>")
_FENCE = "```"

NameLookup = Callable[[str], str | None]
"""A user id → display name, or None when unknown."""


def _entity(sequence: str, names: NameLookup) -> str:
    target, _, label = sequence.partition("|")
    if target.startswith("@"):
        user = target[1:]
        return f"@{names(user) or label or user}"
    if target.startswith("#"):
        return f"#{label or target[1:]}"
    if target.startswith("!"):
        command = target[1:]
        if command.startswith("subteam^"):
            return label or f"@{command.split('^', 1)[1]}"
        if command.startswith("date^"):
            return label
        return f"@{command}" if command in ("here", "channel", "everyone") else (label or command)
    if target.startswith("mailto:"):
        return label or target[len("mailto:"):]
    if label and label != target:
        return f"{label} ({target})"
    return target


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def decode(text: str, names: NameLookup) -> str:
    """`text` with entities shown as Slack shows them and code blocks fenced on their own lines."""
    readable = _unescape(_CONTROL.sub(lambda match: _entity(match.group(1), names), text))
    parts = readable.split(_FENCE)
    if len(parts) < 3:  # no complete code block
        return readable.strip()
    pieces: list[str] = []
    for index, part in enumerate(parts):
        if index % 2 == 0 or index == len(parts) - 1:  # prose (an unclosed fence stays prose)
            if part.strip():
                pieces.append(part.strip())
        else:
            code = part.strip("\n")
            if code.strip():
                pieces.append(f"{_FENCE}\n{code}\n{_FENCE}")
    return "\n".join(pieces)


def mentioned_users(text: str) -> list[str]:
    """User ids mentioned as `<@U…>` in raw Slack text, in order, once each."""
    found: list[str] = []
    for match in _CONTROL.finditer(text):
        target = match.group(1).partition("|")[0]
        if target.startswith("@") and target[1:] not in found:
            found.append(target[1:])
    return found
