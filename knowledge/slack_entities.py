"""Slack's control sequences and escapes, shown as Slack shows them (pure).

Slack escapes `&`, `<` and `>` in every message text as `&amp;`, `&lt;`, `&gt;` and writes entities as
control sequences: `<@U123>` or `<@U123|name>`, `<#C123|general>`, `<!here>`, `<!subteam^S123|@team>`,
`<!date^…|fallback>`, `<https://…|label>`, `<mailto:a@b.c|a@b.c>`. Both places where Slack text
enters the product read them here: questions and pasted text (`bot.slack.slack_text`, which drops
the bot's own mention) and learned threads (`knowledge.slack_threads_text`, which shows people by
their display names).
"""

from __future__ import annotations

from collections.abc import Callable

NameLookup = Callable[[str], str | None]
"""A user id → display name, or None when unknown."""


def show_entity(sequence: str, *, names: NameLookup | None = None, omit_user: str | None = None) -> str:
    """The inside of one `<…>` control sequence as Slack shows it.

    A person is `@name`: the looked-up display name when `names` knows it, else the sequence's label,
    else the id; `omit_user` (the bot itself) becomes "".
    """
    target, _, label = sequence.partition("|")
    if target.startswith("@"):
        user = target[1:]
        if omit_user and user == omit_user:
            return ""
        return f"@{(names(user) if names else None) or label or user}"
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


def unescape(text: str) -> str:
    """The three entities Slack writes, `&amp;` last, so a literal "&lt;" someone typed (sent as `&amp;lt;`) stays."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
