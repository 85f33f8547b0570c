"""`/kb learn`: choose the channels whose threads the bot learns, see their progress, stop; `/kb forget-me` (orch).

* `/kb learn #channel [from @person @group …] [since 12mo]` starts learning a channel: its threads
  (since 12 months back by default; `90d`, `6w`, `2y` or a date `2025-01-31` also work), optionally
  only the replies of the people and user groups named after `from`. Admins may start it anywhere;
  a channel's members may start it from inside that channel when an admin allowed it with
  `/kb learn members on`. The bot must be a member: when it is not (or cannot see a private
  channel), it says so and how to invite it. A public channel's threads serve the whole workspace;
  a private channel's only questions asked in that channel (`knowledge.search.conversation_scope`,
  the rule documents and training follow). The work itself (backfill, sync) is done by the bot's
  background task and the training worker (`knowledge.slack_threads_sync`); this only configures.
* `/kb learn list`: each channel's state: messages and threads learned, the last sync, the backfill's
  progress, the last error. Private channels are listed only to admins and inside that channel.
* `/kb learn stop #channel` (whoever may start it): everything learned from it is retired at once.
* `/kb forget-me`: nothing the person wrote is learned any more, and the documents holding their
  messages are retired now and rebuilt without them; the configured admins are told.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_bolt import Respond
from slack_sdk.errors import SlackApiError

from bot.slack.deps import SlackDeps
from bot.slack.mrkdwn import SECTION_LIMIT, escape, truncate
from knowledge.search import conversation_scope
from knowledge.slack_threads_sync import channel_gone, forget_person
from store.learned_channels import (
    ChannelRecord,
    ChannelStats,
    channel_stats,
    configure_channel,
    list_channels,
    members_may_learn,
    set_members_may_learn,
)
from store.schema import WORKSPACE_SCOPE

logger = logging.getLogger(__name__)

USAGE = ("Usage: `/kb learn #channel [from @person @group …] [since 12mo]` · `/kb learn list` · "
         "`/kb learn stop #channel` · admins: `/kb learn members on|off`")
DEFAULT_SINCE = timedelta(days=365)
_CHANNEL = re.compile(r"^<#([CG][A-Z0-9]+)(?:\|([^>]*))?>$")
_USER = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_GROUP = re.compile(r"^<!subteam\^(S[A-Z0-9]+)(?:\|[^>]*)?>$")
_SINCE = re.compile(r"^(\d{1,4})(d|w|mo|y)$")
_DAYS = {"d": 1.0, "w": 7.0, "mo": 365.25 / 12, "y": 365.25}
NOT_MEMBER = ("I'm not a member of <#{channel}>, so I can't read it. Invite me there (`/invite @kb` in <#{channel}>), "
              "then run this again.")
CANNOT_SEE = ("I can't see <#{channel}>: if it is a private channel, invite me there first (`/invite @kb` in it), "
              "then run this again.")


class LearnUsageError(ValueError):
    """The command's text is not what `/kb learn` understands; the message says what is wrong."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LearnRequest:
    """A parsed `/kb learn #channel …`."""

    channel: str
    name: str
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    since: timedelta | datetime = DEFAULT_SINCE

    def oldest(self, now: datetime) -> datetime:
        return self.since if isinstance(self.since, datetime) else now - self.since


def parse_channel(token: str) -> tuple[str, str]:
    """(id, name) of a `<#C…|name>` channel reference (how Slack sends a picked #channel)."""
    match = _CHANNEL.match(token)
    if not match:
        raise LearnUsageError(f"“{truncate(token, 40)}” is not a channel: pick it with # so Slack links it "
                              f"(like #deploys).\n{USAGE}")
    return match.group(1), match.group(2) or ""


def _since(token: str) -> timedelta | datetime:
    match = _SINCE.match(token.lower())
    if match:
        return timedelta(days=int(match.group(1)) * _DAYS[match.group(2)])
    try:
        return datetime.strptime(token, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise LearnUsageError(f"“since {truncate(token, 20)}” is not a period: use e.g. `since 12mo`, `90d`, `6w`, "
                              "`2y` or a date `2025-01-31`.") from None


def parse_learn(argument: str) -> LearnRequest:
    """`#channel [from @person @group …] [since 12mo]` → LearnRequest (LearnUsageError when it is not that)."""
    tokens = argument.split()
    if not tokens:
        raise LearnUsageError(USAGE)
    channel, name = parse_channel(tokens[0])
    users: list[str] = []
    groups: list[str] = []
    since: timedelta | datetime = DEFAULT_SINCE
    rest = tokens[1:]
    mode = ""
    while rest:
        token = rest.pop(0)
        if token.lower() in ("from", "since"):
            mode = token.lower()
            if mode == "since":
                if not rest:
                    raise LearnUsageError("Say how far back after `since`, e.g. `since 12mo`.")
                since = _since(rest.pop(0))
            continue
        if mode == "from" and (user := _USER.match(token)):
            users.append(user.group(1))
        elif mode == "from" and (group := _GROUP.match(token)):
            groups.append(group.group(1))
        else:
            raise LearnUsageError(f"I don't understand “{truncate(token, 40)}” there. {USAGE}")
    if mode == "from" and not (users or groups):
        raise LearnUsageError("Name the trusted people after `from` (e.g. `from @dana @oncall`).")
    return LearnRequest(channel=channel, name=name, users=tuple(dict.fromkeys(users)),
                        groups=tuple(dict.fromkeys(groups)), since=since)


def _ts(moment: datetime) -> str:
    return f"{moment.timestamp():.6f}"


def _when(ts: str) -> str:
    return f"{datetime.fromtimestamp(float(ts), UTC):%Y-%m-%d}"


def _may_change(deps: SlackDeps, command: dict[str, Any], channel: str) -> bool:
    """Admins may; members of `channel` may from inside it, when an admin allowed it."""
    if deps.admins.is_admin(command["user_id"]):
        return True
    if command.get("channel_id") != channel:
        return False
    with deps.sessions() as session:
        return members_may_learn(session)


def _refusal(deps: SlackDeps) -> str:
    with deps.sessions() as session:
        allowed = members_may_learn(session)
    return ("Only admins can choose the channels I learn from" +
            (", or a channel's members from inside that channel." if allowed else
             ". An admin can let channel members do it with `/kb learn members on`."))


def start_learning(deps: SlackDeps, command: dict[str, Any], argument: str, respond: Respond) -> None:
    """`/kb learn #channel …` (see the module docstring)."""
    request = parse_learn(argument)
    if not _may_change(deps, command, request.channel):
        respond(text=_refusal(deps), response_type="ephemeral")
        return
    try:
        info = deps.client.conversations_info(channel=request.channel)["channel"]
    except SlackApiError as exc:
        if exc.response.get("error") in ("channel_not_found", "not_in_channel"):
            respond(text=CANNOT_SEE.format(channel=request.channel), response_type="ephemeral")
            return
        raise
    if info.get("is_im") or info.get("is_mpim"):
        respond(text="I learn from channels, not from direct messages.", response_type="ephemeral")
        return
    if not info.get("is_member"):
        respond(text=NOT_MEMBER.format(channel=request.channel), response_type="ephemeral")
        return
    kind = "private" if info.get("is_private") or info.get("is_group") else "public"
    scope = conversation_scope(request.channel, kind)
    now = datetime.now(UTC)
    with deps.sessions.begin() as session:
        record, new = configure_channel(
            session, channel=request.channel, name=str(info.get("name") or request.name), kind=kind, scope=scope,
            trusted_users=request.users, trusted_groups=request.groups, oldest_ts=_ts(request.oldest(now)),
            added_by=command["user_id"])
    who = ", ".join([f"<@{u}>" for u in request.users] + [f"<!subteam^{g}>" for g in request.groups])
    serves = ("everyone in the workspace" if scope == WORKSPACE_SCOPE else
              f"questions asked in <#{request.channel}> only (it is private)")
    respond(text=(f"{'Learning' if new else 'Now learning'} from <#{request.channel}>: threads since "
                  f"{_when(record.oldest_ts)}{f', replies by {who} only' if who else ''}. What I learn there serves "
                  f"{serves}; answers link to the thread. The backfill starts within a few seconds: "
                  "`/kb learn list` shows its progress, `/kb learn stop` undoes it."), response_type="ephemeral")


def _status(record: ChannelRecord) -> str:
    if record.status == "stopped":
        return "stopped"
    if record.status == "left":
        return "stopped: I was removed from the channel"
    if record.status == "deleted":
        return "stopped: the channel was deleted"
    if not record.backfill_done:
        return f"backfilling (back to {_when(record.resume_ts)} so far)" if record.resume_ts else "backfill starting"
    return "in sync"


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never synced"
    minutes = int((now - moment).total_seconds() // 60)
    if minutes < 1:
        return "synced just now"
    return f"synced {minutes} min ago" if minutes < 120 else f"synced {moment:%Y-%m-%d %H:%M} UTC"


def channel_line(record: ChannelRecord, stats: ChannelStats | None, now: datetime) -> str:
    """One channel of `/kb learn list`."""
    stats = stats or ChannelStats(threads=0, messages=0)
    who = ", ".join([f"<@{u}>" for u in record.trusted_users] + [f"<!subteam^{g}>" for g in record.trusted_groups])
    kind = "private" if record.scope != WORKSPACE_SCOPE else "public"
    line = (f"• <#{record.channel}> ({kind}) — {_status(record)} · "
            f"{stats.messages:,} messages in {stats.threads:,} threads since {_when(record.oldest_ts)}"
            f"{f' · from {who}' if who else ''} · {_ago(record.synced_at, now)}")
    if record.last_error and record.status == "active":
        line += f"\n   ⚠️ {escape(truncate(record.last_error, 200))}"
    return line


def list_learning(deps: SlackDeps, command: dict[str, Any], _: str, respond: Respond) -> None:
    """`/kb learn list`."""
    with deps.sessions() as session:
        records = list_channels(session)
        stats = channel_stats(session)
    admin = deps.admins.is_admin(command["user_id"])
    shown = [r for r in records if r.scope == WORKSPACE_SCOPE or admin or r.channel == command.get("channel_id")]
    if not shown:
        respond(text="I'm not learning from any channel yet. Start with `/kb learn #channel`.",
                response_type="ephemeral")
        return
    now = datetime.now(UTC)
    text = "*Channels I learn from*\n" + "\n".join(channel_line(r, stats.get(r.channel), now) for r in shown)
    respond(text=truncate(text, SECTION_LIMIT), response_type="ephemeral")


def stop_learning(deps: SlackDeps, command: dict[str, Any], argument: str, respond: Respond) -> None:
    """`/kb learn stop #channel`: retire everything learned there."""
    if not argument:
        raise LearnUsageError("Name the channel: `/kb learn stop #channel`.")
    channel, _ = parse_channel(argument.split()[0])
    if not _may_change(deps, command, channel):
        respond(text=_refusal(deps), response_type="ephemeral")
        return
    with deps.sessions() as session:
        known = any(r.channel == channel and r.status == "active" for r in list_channels(session))
    if not known:
        respond(text=f"I'm not learning from <#{channel}>.", response_type="ephemeral")
        return
    retired = channel_gone(deps.sessions, channel, status="stopped")
    respond(text=f"Stopped learning from <#{channel}>; the {retired:,} threads I had learned there are no longer "
                 "used in answers.", response_type="ephemeral")


def members_policy(deps: SlackDeps, command: dict[str, Any], argument: str, respond: Respond) -> None:
    """`/kb learn members on|off` (admins)."""
    if not deps.admins.is_admin(command["user_id"]):
        respond(text="Only admins can decide who may start learning a channel.", response_type="ephemeral")
        return
    choice = argument.strip().lower()
    if choice not in ("on", "off"):
        raise LearnUsageError("Usage: `/kb learn members on` or `/kb learn members off`.")
    with deps.sessions.begin() as session:
        set_members_may_learn(session, choice == "on", by=command["user_id"])
    respond(text="Channel members may now start `/kb learn` from inside their channel." if choice == "on" else
            "Only admins may start `/kb learn` now.", response_type="ephemeral")


_SUBCOMMANDS = {"list": list_learning, "stop": stop_learning, "members": members_policy}


def learn_command(deps: SlackDeps, command: dict[str, Any], argument: str, respond: Respond) -> None:
    """Route `/kb learn …`; a usage error is answered with what was wrong."""
    first, _, rest = argument.strip().partition(" ")
    job = _SUBCOMMANDS.get(first.lower())
    try:
        if job is not None:
            job(deps, command, rest.strip(), respond)
        else:
            start_learning(deps, command, argument, respond)
    except LearnUsageError as exc:
        respond(text=str(exc), response_type="ephemeral")


def forget_me_command(deps: SlackDeps, command: dict[str, Any], _: str, respond: Respond) -> None:
    """`/kb forget-me`: stop learning what the person writes and retire what was learned from them."""
    user = command["user_id"]
    retired = forget_person(deps.sessions, user)
    respond(text=(f"Done: {retired:,} learned thread{'s' if retired != 1 else ''} holding your messages "
                  f"{'are' if retired != 1 else 'is'} no longer used, and they are rebuilt without what you wrote. "
                  "I won't learn your messages in any channel from now on."), response_type="ephemeral")
    for admin in deps.admins.configured:
        try:
            deps.client.chat_postMessage(channel=admin, text=f"<@{user}> asked `/kb forget-me`: {retired:,} learned "
                                                             "threads were retired and are rebuilt without their "
                                                             "messages.")
        except SlackApiError as exc:
            logger.warning("telling admin %s about forget-me failed (%s)", admin, exc.response.get("error"))
    logger.info("forget-me by %s: %d learned threads retired", user, retired)
