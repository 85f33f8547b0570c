"""`/kb experts`: which teammates "Ask a teammate" tags in a channel (orch + pure parsing).

`/kb experts` shows this channel's experts; `/kb experts #channel` another channel's; admins set
them with `/kb experts #channel @someone @some-group` (replacing the list) and clear them with
`/kb experts #channel none` (the admins are tagged again). People and groups must be picked from
Slack's autocomplete, so they arrive as ids (`<@U…>`, `<!subteam^S…>`; the manifest escapes the
command's text); a bare name cannot be resolved without reading the whole user list, so it is
refused with a hint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import Respond

from bot.slack.deps import SlackDeps
from bot.slack.escalation import mention
from bot.slack.mrkdwn import escape, truncate
from store.escalations import experts_for, set_experts

NOT_ADMIN = "Only admins can choose a channel's experts. Ask one of them, or see KB_ADMIN_USER_IDS in the README."
USAGE = ("Usage: `/kb experts #channel @someone @some-group` (admins), `/kb experts #channel none` to clear, "
         "`/kb experts` to see this channel's.")

_CHANNEL = re.compile(r"^<#([CG][A-Z0-9]+)(?:\|[^>]*)?>$|^([CG][A-Z0-9]{2,})$")
_USER = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$|^([UW][A-Z0-9]{2,})$")
_GROUP = re.compile(r"^<!subteam\^(S[A-Z0-9]+)(?:\|[^>]*)?>$|^(S[A-Z0-9]{2,})$")


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpertsArgument:
    """`/kb experts` text read: the channel named (if any), the experts, `none`, and words that are neither."""

    channel: str | None = None
    experts: list[str] = field(default_factory=list)
    clear: bool = False
    unknown: list[str] = field(default_factory=list)


def parse_experts(text: str) -> ExpertsArgument:
    """Read `#channel @a @b <!subteam^S…>` (escaped or as bare ids); anything else lands in `unknown` (pure)."""
    channel: str | None = None
    experts: list[str] = []
    unknown: list[str] = []
    clear = False
    for token in text.split():
        if channel is None and not experts and (found := _CHANNEL.match(token)):
            channel = found.group(1) or found.group(2)
        elif found := _USER.match(token) or _GROUP.match(token):
            experts.append(found.group(1) or found.group(2))
        elif token.lower() == "none":
            clear = True
        else:
            unknown.append(token)
    return ExpertsArgument(channel=channel, experts=experts, clear=clear, unknown=unknown)


def experts_command(deps: SlackDeps, command: dict[str, Any], argument: str, respond: Respond) -> None:
    """Show or (admins) set a channel's experts."""
    parsed = parse_experts(argument)
    channel = parsed.channel or command["channel_id"]
    if parsed.unknown:
        shown = escape(truncate(" ".join(parsed.unknown), 200))
        respond(text=f"I couldn't read {shown} as a channel, person or group: pick them from Slack's autocomplete."
                     f"\n{USAGE}", response_type="ephemeral")
        return
    if not parsed.experts and not parsed.clear:
        with deps.sessions() as session:
            current = experts_for(session, channel)
        who = " ".join(mention(e) for e in current) if current else "nobody yet (the admins are tagged)"
        respond(text=f"Experts of <#{channel}>: {who}", response_type="ephemeral")
        return
    if not deps.admins.is_admin(command["user_id"]):
        respond(text=NOT_ADMIN, response_type="ephemeral")
        return
    with deps.sessions() as session, session.begin():  # committed before the admin is told
        set_experts(session, channel, [] if parsed.clear else parsed.experts, by=command["user_id"])
    who = " ".join(mention(e) for e in parsed.experts) if not parsed.clear else "nobody (the admins are tagged)"
    respond(text=f"Experts of <#{channel}> are now {who}. “Ask a teammate” tags them there.",
            response_type="ephemeral")
