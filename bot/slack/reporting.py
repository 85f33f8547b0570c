"""Reporting finished training runs back to the channel that asked for them (orch).

The training worker only writes the run's outcome; every bot process polls for finished,
unreported runs. `mark_reported` is the claim (an UPDATE that only one process wins), made before
posting, so a run is announced at most once however many web workers poll.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session, sessionmaker

from bot.slack.blocks import run_summary, section
from knowledge.training_runs import finished_unreported_runs, mark_reported

logger = logging.getLogger(__name__)


def report_finished_runs(sessions: sessionmaker[Session], client: WebClient) -> int:
    """Post each finished run someone is waiting for; returns how many this call reported."""
    reported = 0
    for run in finished_unreported_runs(sessions):
        if not run.notify_channel or not mark_reported(sessions, run.id):
            continue  # another process got it
        summary = run_summary(run)
        try:
            client.chat_postMessage(channel=run.notify_channel, text=f"Training run #{run.id} finished: {run.status}",
                                    blocks=[section(summary)])
        except SlackApiError as exc:
            logger.error("could not report training run %s to %s: %s", run.id, run.notify_channel,
                         exc.response.get("error"))
            continue
        reported += 1
    return reported
