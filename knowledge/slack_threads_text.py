"""Slack message text as people read it in Slack, for indexing learned threads (pure).

Slack sends every message's `text` escaped (`&amp;`, `&lt;`, `&gt;`) with control sequences for
entities: `<@U123>` (a person: shown by their display name, looked up with `names`), `<#C123|general>`,
`<!subteam^S123|@oncall>`, `<!here>`, `<!date^…|fallback>`, `<https://…|label>`, `<mailto:…|…>`.
`decode` turns them into what Slack shows, then unescapes the three entities (`&amp;` last, so a
literal "&lt;" someone typed stays "&lt;"). Code blocks (```…```, which Slack allows mid-line) become
fenced Markdown blocks on their own lines, so the chunker and the evidence quoting keep them whole;
inline code and *bold* / _italic_ marks stay as written.

The entities themselves are read by `knowledge.slack_entities`, shared with the questions' decoder
(`bot.slack.slack_text`).
"""

from __future__ import annotations

import re

from knowledge.slack_entities import NameLookup, show_entity, unescape

_CONTROL = re.compile(r"<([^<>\n]+)>")
_FENCE = "```"


def decode(text: str, names: NameLookup) -> str:
    """`text` with entities shown as Slack shows them and code blocks fenced on their own lines."""
    readable = unescape(_CONTROL.sub(lambda match: show_entity(match.group(1), names=names), text))
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
