"""What `/kb channel …` asks for, read from the command's text (pure).

    /kb channel [#channel]                                     show the channel's settings
    /kb channel [#channel] sources workspace|channel-only       read workspace documents, or only its own
    /kb channel [#channel] sources add #private …  remove #private …
                                                               also read (or stop reading) other private channels'
    /kb channel [#channel] unmentioned on|off                   answer questions that do not mention the bot

Without `#channel` the command is about the channel it is typed in. Channels must be picked from
Slack's autocomplete, so they arrive linked (`<#C…|name>`; the manifest escapes the command's
text); a bare `#name` cannot be resolved and is refused with that hint. `workspace` or
`channel-only` and `add`/`remove` may come together (`sources channel-only add #ops-private`).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.slack.learn_command import LearnUsageError, parse_channel
from bot.slack.mrkdwn import escape, truncate

USAGE = ("Usage: `/kb channel [#channel]` shows its settings; admins: `/kb channel [#channel] sources "
         "workspace|channel-only`, `/kb channel [#channel] sources add #private-channel` (or `remove`), "
         "`/kb channel [#channel] unmentioned on|off`.")
BASES = ("workspace", "channel-only")


class ChannelUsageError(ValueError):
    """The text is not what `/kb channel` understands; the message says what is wrong and how to write it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelRequest:
    """A read `/kb channel …`: the channel named (None: where it was typed) and the change asked, if any.

    Attributes:
        base: "workspace" or "channel-only" when the sources' base is set, else None.
        add / remove: channel ids whose documents to start / stop reading.
        unmentioned: True/False for `unmentioned on|off`, None when not asked.
    """

    channel: str | None = None
    base: str | None = None
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    unmentioned: bool | None = None

    @property
    def changes_sources(self) -> bool:
        return self.base is not None or bool(self.add or self.remove)

    @property
    def shows(self) -> bool:
        """Nothing to change: show the settings."""
        return not self.changes_sources and self.unmentioned is None


def channel_reference(token: str) -> str | None:
    """The channel id of a linked `<#C…|name>` (as `/kb learn` reads it), None when `token` is not one."""
    try:
        return parse_channel(token)[0]
    except LearnUsageError:
        return None


def _not_a_channel(token: str) -> ChannelUsageError:
    return ChannelUsageError(f"I can't tell which channel “{escape(truncate(token, 40))}” is: pick it from Slack's "
                             f"autocomplete (type # and choose it) so it arrives linked.\n{USAGE}")


def _looks_like_channel(token: str) -> bool:
    return token.startswith(("#", "<#"))


def _sources(tokens: list[str]) -> ChannelRequest:
    """`workspace|channel-only`, `add #a #b`, `remove #c` in any order (each channel after add or remove)."""
    if not tokens:
        raise ChannelUsageError("Say which documents to answer from after `sources`: `workspace`, `channel-only`, "
                                f"`add #private-channel` or `remove #private-channel`.\n{USAGE}")
    base: str | None = None
    lists: dict[str, list[str]] = {"add": [], "remove": []}
    verb: str | None = None
    for token in tokens:
        word = token.lower()
        if word in BASES:
            if base is not None and base != word:
                raise ChannelUsageError("Choose one of `workspace` and `channel-only`, not both.")
            base, verb = word, None
        elif word in lists:
            if verb is not None and not lists[verb]:
                raise ChannelUsageError(f"Name the channels after `{verb}` (pick them with #).")
            verb = word
        elif (channel := channel_reference(token)) is not None:
            if verb is None:
                raise ChannelUsageError(f"Say `add` or `remove` before <#{channel}>, e.g. "
                                        f"`/kb channel sources add <#{channel}>`.")
            lists[verb].append(channel)
        elif _looks_like_channel(token):
            raise _not_a_channel(token)
        else:
            raise ChannelUsageError(f"I don't understand “{escape(truncate(token, 40))}” after `sources`.\n{USAGE}")
    if verb is not None and not lists[verb]:
        raise ChannelUsageError(f"Name the channels after `{verb}` (pick them with #).")
    both = set(lists["add"]) & set(lists["remove"])
    if both:
        raise ChannelUsageError(f"<#{sorted(both)[0]}> is both added and removed: say one of them.")
    return ChannelRequest(base=base, add=tuple(dict.fromkeys(lists["add"])),
                          remove=tuple(dict.fromkeys(lists["remove"])))


def _unmentioned(tokens: list[str]) -> ChannelRequest:
    choice = " ".join(tokens).lower()
    if choice not in ("on", "off"):
        raise ChannelUsageError("Usage: `/kb channel [#channel] unmentioned on` or `… unmentioned off`.")
    return ChannelRequest(unmentioned=choice == "on")


def parse_channel_request(text: str) -> ChannelRequest:
    """`[#channel] [sources …|unmentioned on|off]` → ChannelRequest (ChannelUsageError when it is not that)."""
    tokens = text.split()
    channel: str | None = None
    if tokens and _looks_like_channel(tokens[0]):
        channel = channel_reference(tokens[0])
        if channel is None:
            raise _not_a_channel(tokens[0])
        tokens = tokens[1:]
    if not tokens:
        return ChannelRequest(channel=channel)
    what, rest = tokens[0].lower(), tokens[1:]
    if what == "sources":
        request = _sources(rest)
    elif what == "unmentioned":
        request = _unmentioned(rest)
    else:
        raise ChannelUsageError(f"I don't understand “{escape(truncate(tokens[0], 40))}”.\n{USAGE}")
    return ChannelRequest(channel=channel, base=request.base, add=request.add, remove=request.remove,
                          unmentioned=request.unmentioned)
