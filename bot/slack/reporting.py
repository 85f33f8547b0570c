"""Reporting finished training runs to every channel that asked and to the admin channel (orch).

The training worker only writes the run's outcome; every bot process polls for finished,
unreported runs. `mark_reported` is the claim (an UPDATE that only one process wins), made before
posting, so a run is announced at most once however many web workers poll. Each channel that asked
for the run (the first `/kb retrain` and any that joined it while it was queued or running) gets
the outcome, and so does the configured admin channel, which also hears about scheduled runs
nobody asked for. A channel that fails (the bot was removed from it) does not stop the others.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session, sessionmaker

from bot.slack.blocks import run_summary, section
from knowledge.training_runs import RunRecord, finished_unreported_runs, mark_reported

logger = logging.getLogger(__name__)


def audience(run: RunRecord, admin_channel: str | None) -> list[str]:
    """The channels to tell about `run`, each once: those that asked, in order, then the admin channel."""
    channels = list(dict.fromkeys([*run.notify_channels, *([run.notify_channel] if run.notify_channel else [])]))
    if admin_channel and admin_channel not in channels:
        channels.append(admin_channel)
    return channels


def report_finished_runs(sessions: sessionmaker[Session], client: WebClient, *,
                         admin_channel: str | None = None) -> int:
    """Post each finished run someone is waiting for; returns how many runs this call reported."""
    reported = 0
    for run in finished_unreported_runs(sessions, every_run=bool(admin_channel)):
        channels = audience(run, admin_channel)
        if not channels or not mark_reported(sessions, run.id):
            continue  # nobody to tell, or another process got it
        blocks = [section(run_summary(run))]
        text = f"Training run #{run.id} finished: {run.status}"
        for channel in channels:
            try:
                client.chat_postMessage(channel=channel, text=text, blocks=blocks)
            except SlackApiError as exc:
                logger.error("could not report training run %s to %s: %s", run.id, channel,
                             exc.response.get("error"))
        reported += 1
    return reported
