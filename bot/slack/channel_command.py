"""`/kb channel`: a channel's settings: its experts, the documents it answers from, un-mentioned questions (orch).

Anyone may see a channel's settings (a private channel's only from inside it, or admins); only
admins change them (syntax in `channel_args`):

* **Answer sources.** By default a question reads the workspace's documents and the channel's own.
  `sources channel-only` keeps a private channel to its own documents; `sources add #other` lets it
  also read another private channel's documents, which shows them to everyone in this channel: the
  confirmation says so in those words, and the other channel is told in a message there. Only a
  private channel may read another, and only one the bot is a member of (so it can check the
  channel exists and is private): a public channel's answers are seen by the whole workspace and
  train the workspace model. Removing takes effect with the next question.
* **Un-mentioned questions.** `unmentioned on` makes the bot answer questions posted in the channel
  without mentioning it, silently skipping those it has no answer for (`bot.slack.unmentioned`).
  The bot must be a member: Slack only sends it the messages of channels it is in.

The experts themselves stay with `/kb experts`. Settings are stored in `channel_settings`
(`store.channel_settings`) and read by every answer given in the channel (`answer_sources`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from slack_bolt import Respond
from slack_sdk.errors import SlackApiError

from bot.slack.answer_sources import scopes_from
from bot.slack.channel_args import ChannelRequest, ChannelUsageError, parse_channel_request
from bot.slack.deps import SlackDeps
from bot.slack.escalation import mention
from bot.slack.learn_command import CANNOT_SEE, NOT_MEMBER
from bot.slack.scopes import ConversationKind, kind_from_info
from store.channel_settings import (
    ChannelSettingsRecord,
    channels_reading,
    set_answer_unmentioned,
    set_sources,
    settings_for,
)

logger = logging.getLogger(__name__)

NOT_ADMIN = "Only admins can change a channel's settings. Ask one of them, or see KB_ADMIN_USER_IDS in the README."
PRIVATE_SETTINGS = "<#{channel}> is private: its settings are shown to admins, or from inside it."
NOT_A_CHANNEL = ("Channel settings are for channels: in a direct message every message to me is a question, "
                 "answered from the workspace's documents and the conversation's own.")
PUBLIC_CHANNEL_ONLY = ("<#{channel}> is public: what is added there is a workspace document, so it has no documents "
                       "of its own to keep to. `channel-only` is for private channels.")
PUBLIC_READS_PRIVATE = ("<#{channel}> is public: its answers are seen by the whole workspace and train the "
                        "workspace model, so it can't answer from a private channel's documents.")
SOURCE_IS_PUBLIC = ("<#{source}> is public: its documents are workspace documents already (`sources workspace` "
                    "reads them).")
SOURCE_IS_ITSELF = "<#{source}> always answers from its own documents: name another private channel."
SOURCE_NOT_READ = ("<#{channel}> doesn't answer from <#{source}>'s documents; `/kb channel <#{channel}>` shows what "
                   "it does.")
GRANT_NOTICE = ("<@{user}> let <#{channel}> answer from this channel's documents: what was added here can now be "
                "quoted in my answers there, to people who are not members here. An admin can undo it with "
                "`/kb channel <#{channel}> sources remove <#{source}>`.")


class ChannelRefused(ValueError):
    """The channel can't be used as asked; the message says why and what to do."""


def _conversation(deps: SlackDeps, channel: str, *, member: bool) -> tuple[ConversationKind, bool]:
    """(kind, whether the bot is a member) of `channel`; ChannelRefused when Slack won't show it or (with
    `member`) the bot is not in it."""
    try:
        info = deps.client.conversations_info(channel=channel)["channel"]
    except SlackApiError as exc:
        if exc.response.get("error") in ("channel_not_found", "not_in_channel"):
            raise ChannelRefused(CANNOT_SEE.format(channel=channel)) from None
        raise
    kind = kind_from_info(info)
    in_it = bool(info.get("is_member")) or kind in ("im", "mpim")
    if member and not in_it:
        raise ChannelRefused(NOT_MEMBER.format(channel=channel))
    return kind, in_it


def _channel_list(channels: Sequence[str]) -> str:
    return ", ".join(f"<#{c}>" for c in channels)


def sources_line(settings: ChannelSettingsRecord, kind: str | None) -> str:
    """What questions asked in the channel read, in words (pure)."""
    own = "this channel's own documents"
    base = f"workspace documents and {own}" if settings.sources_workspace else f"only {own}"
    granted = [c for c in settings.source_channels if c in scopes_from(settings, kind)]
    line = base + (f", and those of {_channel_list(granted)} (private; granted by an admin)" if granted else "")
    ignored = [c for c in settings.source_channels if c not in granted]
    if ignored:
        line += f". Not read while this channel is public: {_channel_list(ignored)}"
    return line


def settings_text(settings: ChannelSettingsRecord, *, kind: ConversationKind, member: bool,
                  read_by: Sequence[str]) -> str:
    """The `/kb channel` answer (pure)."""
    channel = settings.channel
    experts = " ".join(mention(e) for e in settings.experts) or "nobody yet (the admins are tagged)"
    unmentioned = ("answered in a thread when I have an answer; when I don't, I stay silent"
                   if settings.answer_unmentioned else "not answered: mention me to ask")
    lines = [f"*Settings of <#{channel}>* ({kind} channel)",
             f"• *Experts* (“Ask a teammate”): {experts}",
             f"• *Answers from*: {sources_line(settings, kind)}",
             f"• *Questions that don't mention me*: {unmentioned}"]
    if read_by:
        lines.append(f"• *Its documents are also read in*: {_channel_list(read_by)}")
    if not member:
        lines.append(f"⚠️ I'm not a member of <#{channel}>, so I can't answer there: invite me (`/invite @kb`).")
    if settings.updated_by:
        lines.append(f"Last changed by <@{settings.updated_by}>.")
    lines.append(f"Admins change them with `/kb channel <#{channel}> sources workspace|channel-only`, "
                 f"`/kb channel <#{channel}> sources add|remove #private-channel` and "
                 f"`/kb channel <#{channel}> unmentioned on|off`; experts with `/kb experts`.")
    return "\n".join(lines)


def show_settings(deps: SlackDeps, command: dict[str, Any], channel: str, respond: Respond) -> None:
    """`/kb channel [#channel]`."""
    kind, member = _conversation(deps, channel, member=False)
    if kind in ("im", "mpim"):
        raise ChannelRefused(NOT_A_CHANNEL)
    if kind == "private" and channel != command["channel_id"] and not deps.admins.is_admin(command["user_id"]):
        raise ChannelRefused(PRIVATE_SETTINGS.format(channel=channel))
    with deps.sessions() as session:
        settings = settings_for(session, channel)
        read_by = channels_reading(session, channel)
    respond(text=settings_text(settings, kind=kind, member=member, read_by=read_by), response_type="ephemeral")


def _check_sources(deps: SlackDeps, channel: str, kind: ConversationKind, request: ChannelRequest,
                   current: ChannelSettingsRecord) -> None:
    """Refuse (ChannelRefused) a sources change that would expose or mislead, before anything is written."""
    if request.base == "channel-only" and kind == "public":
        raise ChannelRefused(PUBLIC_CHANNEL_ONLY.format(channel=channel))
    if request.add and kind == "public":
        raise ChannelRefused(PUBLIC_READS_PRIVATE.format(channel=channel))
    for source in request.add:
        if source == channel:
            raise ChannelRefused(SOURCE_IS_ITSELF.format(source=source))
        source_kind, _ = _conversation(deps, source, member=True)
        if source_kind == "public":
            raise ChannelRefused(SOURCE_IS_PUBLIC.format(source=source))
        if source_kind in ("im", "mpim"):
            raise ChannelRefused(NOT_A_CHANNEL)
    for source in request.remove:
        if source not in current.source_channels:
            raise ChannelRefused(SOURCE_NOT_READ.format(channel=channel, source=source))


def change_sources(deps: SlackDeps, command: dict[str, Any], channel: str, kind: ConversationKind,
                   request: ChannelRequest, respond: Respond) -> None:
    """`/kb channel [#channel] sources …` (admins; the channel already checked)."""
    with deps.sessions() as session:
        current = settings_for(session, channel)
    _check_sources(deps, channel, kind, request, current)
    workspace = current.sources_workspace if request.base is None else request.base == "workspace"
    kept = [c for c in current.source_channels if c not in request.remove]
    granted = [c for c in request.add if c not in kept]
    user = command["user_id"]
    with deps.sessions.begin() as session:
        updated = set_sources(session, channel, workspace=workspace, channels=kept + granted, by=user)
    logger.info("channel %s answer sources set by %s: workspace=%s, channels=%s (granted %s, removed %s)",
                channel, user, workspace, list(updated.source_channels), granted, list(request.remove))
    text = f"<#{channel}> now answers from {sources_line(updated, kind)}."
    if granted:
        text += (f"\n⚠️ *{_channel_list(granted)} {'is' if len(granted) == 1 else 'are'} private.* From now on "
                 f"everyone who can read <#{channel}> can read what was added in {_channel_list(granted)} through "
                 "my answers (quoted passages and document titles), including people who are not members there. "
                 f"I told {'it' if len(granted) == 1 else 'them'} in a message. Undo with "
                 f"`/kb channel <#{channel}> sources remove {' '.join(f'<#{c}>' for c in granted)}`.")
    respond(text=text, response_type="ephemeral")
    for source in granted:
        try:
            deps.client.chat_postMessage(channel=source, text=GRANT_NOTICE.format(user=user, channel=channel,
                                                                                  source=source))
        except SlackApiError as exc:
            logger.warning("telling %s that %s reads its documents failed (%s)", source, channel,
                           exc.response.get("error"))


def change_unmentioned(deps: SlackDeps, command: dict[str, Any], channel: str, answer: bool,
                       respond: Respond) -> None:
    """`/kb channel [#channel] unmentioned on|off` (admins; the channel already checked)."""
    with deps.sessions.begin() as session:
        set_answer_unmentioned(session, channel, answer, by=command["user_id"])
    logger.info("channel %s un-mentioned answering %s by %s", channel, "on" if answer else "off", command["user_id"])
    if answer:
        text = (f"In <#{channel}> I now answer questions posted without mentioning me (a message ending in “?” or "
                "opening like “how do I …”), in a thread, when I have an answer from the documents. When I "
                "don't, I stay silent. In my threads there, replies that are not questions are left to people. "
                f"`/kb channel <#{channel}> unmentioned off` stops it.")
    else:
        text = f"In <#{channel}> I answer only questions that mention me again."
    respond(text=text, response_type="ephemeral")


def channel_command(deps: SlackDeps, command: dict[str, Any], argument: str, respond: Respond) -> None:
    """Show or (admins) change a channel's settings; bad input is answered with what was wrong."""
    try:
        request = parse_channel_request(argument)
        channel = request.channel or command["channel_id"]
        if request.shows:
            show_settings(deps, command, channel, respond)
            return
        if not deps.admins.is_admin(command["user_id"]):
            respond(text=NOT_ADMIN, response_type="ephemeral")
            return
        kind, _ = _conversation(deps, channel, member=True)
        if kind in ("im", "mpim"):
            raise ChannelRefused(NOT_A_CHANNEL)
        if request.unmentioned is not None:
            change_unmentioned(deps, command, channel, request.unmentioned, respond)
        else:
            change_sources(deps, command, channel, kind, request, respond)
    except (ChannelUsageError, ChannelRefused) as exc:
        respond(text=str(exc), response_type="ephemeral")
