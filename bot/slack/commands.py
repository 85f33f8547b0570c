"""The `/kb` slash command: add, search, status, history, gaps, retrain, rollback, channel, help (orch).

Every subcommand acks inside Bolt's listener pool at once (help and usage errors *are* the ack);
database, model and admin lookups run on the background pool and answer with `respond()`, which
works even in channels the bot has not joined. Gaps, retrain and rollback are for admins (`admins`;
gaps quote questions asked in private channels and DMs). The bot only queues the training run (or
adds this channel to the open one), and the training worker does the work; `reporting` announces
the outcome in every channel that asked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.slack.adding import start_add
from bot.slack.admin_actions import queue_retrain, roll_back_model, roll_back_ranking
from bot.slack.answer_sources import channel_scopes
from bot.slack.blocks import HELP_TEXT, search_blocks, status_blocks
from bot.slack.channel_command import channel_command
from bot.slack.deps import SlackDeps
from bot.slack.experts_command import experts_command
from bot.slack.gap_blocks import gap_blocks
from bot.slack.learn_command import USAGE as LEARN_USAGE
from bot.slack.learn_command import forget_me_command, learn_command
from bot.slack.mrkdwn import escape, truncate
from bot.slack.notices import APOLOGY, notice_for
from bot.slack.removing import USAGE as REMOVE_USAGE
from bot.slack.removing import remove_command
from bot.slack.run_history import training_history
from bot.slack.status import kb_status
from bot.slack.verified_admin import verified_command
from bot.slack.work import WorkRejected
from knowledge.search import search_passages

logger = logging.getLogger(__name__)

SEARCH_RESULTS = 5
NOT_ADMIN = "Only admins can {what}. Ask one of them, or see KB_ADMIN_USER_IDS in the README."


def search(deps: SlackDeps, command: dict[str, Any], query: str, respond: Respond) -> None:
    channel = command["channel_id"]
    passages = search_passages(deps.sessions, deps.embedder, query, channel=channel, limit=SEARCH_RESULTS,
                               scopes=channel_scopes(deps, channel))
    respond(text=f"{len(passages)} results for “{truncate(query, 100)}”", blocks=search_blocks(query, passages),
            response_type="ephemeral")


def status(deps: SlackDeps, command: dict[str, Any], _: str, respond: Respond) -> None:
    respond(text="Knowledge base status", blocks=status_blocks(kb_status(deps.sessions)), response_type="ephemeral")


def history(deps: SlackDeps, command: dict[str, Any], _: str, respond: Respond) -> None:
    respond(text="Training history", blocks=training_history(deps.sessions), response_type="ephemeral")


def gaps(deps: SlackDeps, command: dict[str, Any], _: str, respond: Respond) -> None:
    if not deps.admins.is_admin(command["user_id"]):
        respond(text=NOT_ADMIN.format(what="see knowledge gaps"), response_type="ephemeral")
        return
    clusters = deps.gaps.clusters()
    respond(text=f"{len(clusters)} knowledge gaps", blocks=gap_blocks(clusters), response_type="ephemeral")


def retrain(deps: SlackDeps, command: dict[str, Any], _: str, respond: Respond) -> None:
    user, channel = command["user_id"], command["channel_id"]
    if not deps.admins.is_admin(user):
        respond(text=NOT_ADMIN.format(what="start a training run"), response_type="ephemeral")
        return
    respond(text=queue_retrain(deps, user=user, channel=channel), response_type="ephemeral")


def roll_back(deps: SlackDeps, command: dict[str, Any], argument: str, respond: Respond) -> None:
    """`/kb rollback` serves the previous adapter; `/kb rollback ranking` the previous ranking model."""
    user = command["user_id"]
    if not deps.admins.is_admin(user):
        respond(text=NOT_ADMIN.format(what="roll back the model"), response_type="ephemeral")
        return
    if argument.lower() not in ("", "ranking"):
        respond(text="Usage: `/kb rollback` (the answering model) or `/kb rollback ranking` (the ranking model)",
                response_type="ephemeral")
        return
    roll = roll_back_ranking if argument.lower() == "ranking" else roll_back_model
    text, changed = roll(deps, user=user, reason=f"/kb rollback {argument}".strip())
    respond(text=text, response_type="in_channel" if changed else "ephemeral")


Job = Callable[[SlackDeps, dict[str, Any], str, Respond], None]
BACKGROUND: dict[str, Job] = {"search": search, "status": status, "history": history, "gaps": gaps, "retrain": retrain,
                              "rollback": roll_back, "verified": verified_command,
                              "experts": experts_command, "channel": channel_command, "remove": remove_command,
                              "learn": learn_command,
                              "forget-me": forget_me_command}
USAGE = {"search": "Usage: `/kb search <what to look for>`", "remove": REMOVE_USAGE, "learn": LEARN_USAGE}


def run_job(job: Job, deps: SlackDeps, command: dict[str, Any], argument: str, respond: Respond) -> None:
    """Run a subcommand's slow part; failures become an apology (logged with the trace)."""
    try:
        job(deps, command, argument, respond)
    except Exception:
        logger.exception("/kb %s in %s failed", job.__name__, command.get("channel_id"))
        respond(text=APOLOGY, response_type="ephemeral")


def dispatch(deps: SlackDeps, *, ack: Ack, respond: Respond, command: dict[str, Any]) -> None:
    """Route `/kb <subcommand> <argument>`; unknown subcommands get the help text."""
    subcommand, _, argument = (command.get("text") or "").strip().partition(" ")
    subcommand, argument = subcommand.lower(), argument.strip()
    if subcommand in ("", "help"):
        ack(text=HELP_TEXT)
    elif subcommand == "add":
        start_add(deps, ack=ack, respond=respond, command=command, argument=argument)
    elif subcommand in BACKGROUND:
        if subcommand in USAGE and not argument:
            ack(text=USAGE[subcommand])
            return
        ack()
        try:
            deps.work.submit(run_job, BACKGROUND[subcommand], deps, command, argument, respond)
        except WorkRejected as exc:
            respond(text=notice_for(exc), response_type="ephemeral")
    else:
        ack(text=f"I don't know `/kb {escape(truncate(subcommand, 40))}`.\n\n{HELP_TEXT}")


def register(app: App, deps: SlackDeps) -> None:
    """Attach `/kb`."""

    @app.command("/kb")
    def handle_kb(ack: Ack, respond: Respond, command: dict[str, Any]) -> None:
        try:
            dispatch(deps, ack=ack, respond=respond, command=command)
        except Exception:
            logger.exception("/kb failed in %s", command.get("channel_id"))
            if ack.response is None:
                ack(text=APOLOGY)
            else:
                respond(text=APOLOGY, response_type="ephemeral")
