"""Slack message text as people wrote it: entities and control sequences decoded, once, where text enters (pure).

Slack escapes `&`, `<` and `>` in every message text as `&amp;`, `&lt;`, `&gt;` and encodes mentions
and links as control sequences: `<@U123>` or `<@U123|name>`, `<#C123|general>`, `<!here>`,
`<!subteam^S123|@team>`, `<!date^…|fallback>`, `<https://…|label>`, `<mailto:a@b.c|a@b.c>`. Questions,
pasted documents, corrections and thread history all pass through `decode`, so prompts, stored
questions (training data) and documents hold what the person typed, never `&amp;&amp;`.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"<([^<>]+)>")


def _control(sequence: str, bot_user_id: str | None) -> str:
    target, _, label = sequence.partition("|")
    if target.startswith("@"):
        user = target[1:]
        if bot_user_id and user == bot_user_id:
            return ""
        return f"@{label or user}"
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


def decode(text: str, *, bot_user_id: str | None = None) -> str:
    """`text` with control sequences made readable (the bot's own mention removed) and entities unescaped.

    Only the three entities Slack writes are decoded, `&amp;` last, so a literal "&lt;" that a
    person typed (sent as `&amp;lt;`) stays "&lt;".
    """
    readable = _CONTROL.sub(lambda match: _control(match.group(1), bot_user_id), text)
    return readable.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def decode_question(text: str, *, bot_user_id: str | None) -> str:
    """A question or reply: decoded, the bot's mention removed, whitespace collapsed."""
    return " ".join(decode(text, bot_user_id=bot_user_id).split())
