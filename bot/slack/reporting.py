"""Reporting finished training runs to every channel that asked and to the admin channel (orch).

The training worker only writes the run's outcome; every bot process polls for finished,
unreported runs. `mark_reported` is the claim (an UPDATE that only one process wins), made before
posting, so a run is announced at most once however many web workers poll. Each channel that asked
for the run (the first `/kb retrain` and any that joined it while it was queued or running) gets
the report, and so does the configured admin channel, which also hears about scheduled runs
nobody asked for. A channel that fails (the bot was removed from it) does not stop the others.

The report is built from the database (`run_report`), never a path on the worker's disk. Its
charts (loss per step, votes per week) are uploaded as images with `files_upload_v2` to the admin
channel (to the first channel that asked when no admin channel is set), right after the report;
where that went is recorded on the run for the admins' Home tab. A failed upload is logged and the
report stands without its charts.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.orm import Session, sessionmaker

from bot.slack.run_charts import run_charts
from bot.slack.run_report import report_blocks
from store.training_runs import RunRecord, finished_unreported_runs, mark_reported, record_report_post

logger = logging.getLogger(__name__)


def audience(run: RunRecord, admin_channel: str | None) -> list[str]:
    """The channels to tell about `run`, each once: those that asked, in order, then the admin channel."""
    channels = list(dict.fromkeys([*run.notify_channels, *([run.notify_channel] if run.notify_channel else [])]))
    if admin_channel and admin_channel not in channels:
        channels.append(admin_channel)
    return channels


def upload_charts(sessions: sessionmaker[Session], client: WebClient, run: RunRecord, channel: str,
                  ts: str) -> None:
    """Upload the run's charts into `channel` and record the report's place and the files on the run."""
    charts = run_charts(sessions, run)
    files: dict[str, str] = {}
    if charts:
        try:
            response = client.files_upload_v2(file_uploads=list(charts.values()), channel=channel,
                                              initial_comment=f"Charts of training run #{run.id}")
            uploaded: list[dict[str, Any]] = response.get("files") or []
            files = {name: str(file["id"]) for name, file in zip(charts, uploaded, strict=False)}
        except (SlackClientError, OSError) as exc:  # an API error; the upload POST refused (urllib's HTTPError)
            reason = exc.response.get("error") if isinstance(exc, SlackApiError) else repr(exc)
            logger.error("could not upload the charts of training run %s to %s: %s", run.id, channel, reason)
    with sessions.begin() as session:
        record_report_post(session, run.id, {"channel": channel, "ts": ts, "files": files})


def report_finished_runs(sessions: sessionmaker[Session], client: WebClient, *,
                         admin_channel: str | None = None) -> int:
    """Post each finished run someone is waiting for; returns how many runs this call reported."""
    reported = 0
    with sessions() as session:
        finished = finished_unreported_runs(session, every_run=bool(admin_channel))
    for run in finished:
        channels = audience(run, admin_channel)
        if not channels:
            continue  # nobody to tell
        with sessions.begin() as session:  # the claim is committed before anything is posted
            claimed = mark_reported(session, run.id)
        if not claimed:
            continue  # another process got it
        blocks = report_blocks(run)
        text = f"Training run #{run.id} finished: {run.status}"
        charts_to = admin_channel or channels[0]
        for channel in channels:
            try:
                posted = client.chat_postMessage(channel=channel, text=text, blocks=blocks)
            except SlackApiError as exc:
                logger.error("could not report training run %s to %s: %s", run.id, channel,
                             exc.response.get("error"))
                continue
            if channel == charts_to:
                upload_charts(sessions, client, run, channel, str(posted["ts"]))
        reported += 1
    return reported
