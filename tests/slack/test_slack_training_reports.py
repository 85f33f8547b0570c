"""Training outcomes reach Slack: every channel that asked, the admin channel (cron runs too), failures with their
report; and `/kb retrain` is not fooled by a run whose worker died.

Runs are requested through `/kb retrain` on the real app and executed by the real pipeline
(`process_next_run`); what the bot posts is read from the fake Slack's transcript.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.slack.client import make_web_client
from bot.slack.reporting import report_finished_runs
from bot.slack.settings import SlackSettings
from store.schema import TrainingRun
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack
from tests.runs import run_record
from tests.slack.conftest import MakeBot
from tests.training.dead_worker import kill_and_wait, start_worker_holding_a_run
from tests.training.feedback_fixtures import LOOP, feedback_items, seed_feedback
from training.pipeline import LoopPaths, process_next_run, request_run

ADMIN_CHANNEL = "CADMINS"


@pytest.fixture
def paths(tmp_path: Path) -> LoopPaths:
    """Loop paths whose base model does not exist: runs skip before needing it, or fail for want of it."""
    return LoopPaths(base_model=tmp_path / "no-base-model", datasets_root=tmp_path / "datasets",
                     adapters_root=tmp_path / "adapters", reports_root=tmp_path / "reports")


def _posts(fake: FakeSlack) -> list[tuple[str, str]]:
    calls = fake.calls_to("chat.postMessage")
    return [(call.body["channel"], call.body["blocks"][0]["text"]["text"]) for call in calls]


def _report(sessions: sessionmaker[Session], fake: FakeSlack, **options: str) -> int:
    return report_finished_runs(sessions, make_web_client(BOT_TOKEN, base_url=fake.api_url), **options)


def test_every_channel_that_asked_and_the_admin_channel_hear_the_outcome(
        make_bot: MakeBot, engine: Engine, paths: LoopPaths, monkeypatch: pytest.MonkeyPatch) -> None:
    bot = make_bot(admin_user_ids=("UADMIN", "UOTHER"))
    bot.command("retrain", user="UADMIN", channel="C9")
    bot.command("retrain", user="UOTHER", channel="C10")  # while the first request is still queued
    bot.command("retrain", user="UADMIN", channel="C9")
    [run] = bot.rows(TrainingRun)
    first, joined, again = (response["text"] for response in bot.fake.responses())
    assert first == f"Queued training run #{run.id}. I'll post the outcome in this channel when it finishes."
    assert joined == (f"Training run #{run.id} is already queued; I'll post its outcome in this channel too when "
                      "it finishes.")
    assert again == joined
    assert (run.requesters, run.notify_channels) == (["UADMIN", "UOTHER"], ["C9", "C10"])

    outcome = process_next_run(engine, paths=paths, config=LOOP)  # the worker: no feedback yet, so skipped
    assert outcome is not None and outcome.run_id == run.id and outcome.status == "skipped"

    monkeypatch.setenv("KB_ADMIN_CHANNEL", ADMIN_CHANNEL)
    assert _report(bot.sessions, bot.fake, admin_channel=SlackSettings().kb_admin_channel) == 1
    posts = _posts(bot.fake)
    assert [channel for channel, _ in posts] == ["C9", "C10", ADMIN_CHANNEL]
    assert all(f"Training run #{run.id} (admin by <@UADMIN>): *skipped*" in text for _, text in posts)
    assert all("no rated answers yet" in text and "report.md" not in text for _, text in posts)
    assert _report(bot.sessions, bot.fake, admin_channel=ADMIN_CHANNEL) == 0, "reported once"


def test_a_scheduled_run_is_announced_in_the_admin_channel(make_bot: MakeBot, engine: Engine,
                                                           paths: LoopPaths) -> None:
    bot = make_bot()
    scheduled = request_run(engine, paths, trigger="schedule")  # what the worker's cron task does
    process_next_run(engine, paths=paths, config=LOOP)
    assert _report(bot.sessions, bot.fake) == 0 and _posts(bot.fake) == []  # nobody asked, no admin channel

    assert _report(bot.sessions, bot.fake, admin_channel=ADMIN_CHANNEL) == 1
    [(channel, text)] = _posts(bot.fake)
    assert channel == ADMIN_CHANNEL and f"Training run #{scheduled.id} (schedule): *skipped*" in text


def test_a_failed_run_is_announced_with_a_report_that_holds_the_error(make_bot: MakeBot, engine: Engine,
                                                                      paths: LoopPaths) -> None:
    bot = make_bot(admin_user_ids=("UADMIN",))
    seed_feedback(bot.sessions, feedback_items(24))  # enough to build a dataset; then the base model is missing
    bot.command("retrain", user="UADMIN", channel="C9")
    outcome = process_next_run(engine, paths=paths, config=LOOP)
    assert outcome is not None and outcome.status == "failed"

    assert _report(bot.sessions, bot.fake, admin_channel=ADMIN_CHANNEL) == 1
    posts = _posts(bot.fake)
    assert [channel for channel, _ in posts] == ["C9", ADMIN_CHANNEL]
    text = posts[0][1]
    assert "*failed*" in text and "ConfigurationError" in text and "no-base-model" in text
    report = Path(run_record(bot.sessions, outcome.run_id).report_path)
    assert str(report.parent) not in text, "the report is in the message, not a path on the worker's disk"
    written = report.read_text()
    assert "# Training run" in written and ": failed" in written and "## Error" in written
    assert "Traceback" in written and "ConfigurationError" in written and "## Dataset" in written
    assert (report.parent / "report.json").is_file()


def test_retrain_replaces_a_run_whose_worker_died_instead_of_waiting_for_it(make_bot: MakeBot, database_url: str,
                                                                            engine: Engine, paths: LoopPaths) -> None:
    bot = make_bot(admin_user_ids=("UADMIN",))
    bot.command("retrain", user="UADMIN", channel="C9")
    worker, dead_id = start_worker_holding_a_run(database_url)
    try:
        bot.command("retrain", user="UADMIN", channel="C10")
        assert "is already running; I'll post its outcome in this channel too" in bot.fake.responses()[1]["text"]
        kill_and_wait(worker, lambda: run_record(bot.sessions, dead_id).worker_alive is False)
    finally:
        worker.kill()
    bot.command("retrain", user="UADMIN", channel="C11")
    assert bot.fake.responses()[2]["text"].startswith(f"Queued training run #{dead_id + 1}.")
    dead = run_record(bot.sessions, dead_id)
    assert dead.status == "failed" and "killed or crashed" in dead.message

    # Both channels that waited for the dead run are told it failed; the worker's recovery writes its report.
    process_next_run(engine, paths=paths, config=LOOP)  # recovers first, then runs #dead_id + 1
    assert Path(run_record(bot.sessions, dead_id).report_path).read_text().count("killed or crashed") >= 1
    assert _report(bot.sessions, bot.fake) == 2
    posts = _posts(bot.fake)
    assert [channel for channel, text in posts if f"#{dead_id} " in text] == ["C9", "C10"]
    assert [channel for channel, text in posts if f"#{dead_id + 1} " in text] == ["C11"]
