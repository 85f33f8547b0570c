"""Slack message text as people wrote it: entities and control sequences decoded, once, where text enters (pure).

Slack escapes `&`, `<` and `>` in every message text as `&amp;`, `&lt;`, `&gt;` and encodes mentions
and links as control sequences: `<@U123>` or `<@U123|name>`, `<#C123|general>`, `<!here>`,
`<!subteam^S123|@team>`, `<!date^…|fallback>`, `<https://…|label>`, `<mailto:a@b.c|a@b.c>`. Questions,
pasted documents, corrections and thread history all pass through `decode`, so prompts, stored
questions (training data) and documents hold what the person typed, never `&amp;&amp;`.
"""

from __future__ import annotations

import re

from knowledge.slack_entities import show_entity, unescape

_CONTROL = re.compile(r"<([^<>]+)>")


def decode(text: str, *, bot_user_id: str | None = None) -> str:
    """`text` with control sequences made readable (the bot's own mention removed) and entities unescaped.

    Only the three entities Slack writes are decoded, `&amp;` last, so a literal "&lt;" that a
    person typed (sent as `&amp;lt;`) stays "&lt;".
    """
    return unescape(_CONTROL.sub(lambda match: show_entity(match.group(1), omit_user=bot_user_id), text))


def decode_question(text: str, *, bot_user_id: str | None) -> str:
    """A question or reply: decoded, the bot's mention removed, whitespace collapsed."""
    return " ".join(decode(text, bot_user_id=bot_user_id).split())
