"""A run's report in Slack: posted to the admin channel with its charts uploaded through files_upload_v2, never a
server path, and shown on the admins' Home tab.

The run is asked for with a signed `/kb retrain`, executed by the real pipeline on a tiny model
(`process_next_run`), and reported by the bot's reporter against the strict fake Slack.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.slack.client import make_web_client
from bot.slack.reporting import report_finished_runs
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack
from tests.fakes.slack_contract import manifest_bot_scopes
from tests.runs import run_record
from tests.slack.conftest import MakeBot
from tests.slack.harness import SlackHarness
from tests.slack.test_slack_home import home_opened, shown
from tests.tiny_models import build_tiny_causal_lm
from tests.training.feedback_fixtures import LOOP, feedback_items, seed_feedback
from training.pipeline import LoopPaths, process_next_run

ADMIN = "UADMIN"
ADMIN_CHANNEL = "CADMINS"
PNG = b"\x89PNG"


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-base"))


def _paths(root: Path, base: Path) -> LoopPaths:
    return LoopPaths(base_model=base, datasets_root=root / "datasets", adapters_root=root / "adapters",
                     reports_root=root / "reports")


def _report(bot: SlackHarness) -> int:
    client = make_web_client(BOT_TOKEN, base_url=bot.fake.api_url)
    return report_finished_runs(bot.sessions, client, admin_channel=ADMIN_CHANNEL)


def _posted(fake: FakeSlack) -> dict[str, str]:
    return {call.body["channel"]: json.dumps(call.body["blocks"], ensure_ascii=False)
            for call in fake.calls_to("chat.postMessage")}


def test_a_trained_run_is_reported_with_gate_figures_counts_and_uploaded_charts(
        make_bot: MakeBot, engine: Engine, tmp_path: Path, tiny_base: Path) -> None:
    bot = make_bot(admin_user_ids=(ADMIN,))
    bot.fake.admins.add(ADMIN)
    seed_feedback(bot.sessions, feedback_items(24))
    bot.command("retrain", user=ADMIN, channel="C9")
    paths = _paths(tmp_path, tiny_base)
    outcome = process_next_run(engine, paths=paths, config=LOOP)
    assert outcome is not None and outcome.status in ("succeeded", "rejected"), outcome

    assert _report(bot) == 1
    posted = _posted(bot.fake)
    assert set(posted) == {"C9", ADMIN_CHANNEL}
    for text in posted.values():
        assert f"Training run #{outcome.run_id} (admin by <@{ADMIN}>)" in text
        assert "*Gate: passed*" in text or "*Gate: rejected*" in text
        assert "*Before → after* (`base` → candidate)" in text and "reward margin: " in text
        assert "*Dataset:* train 👍 8 · 👎 8 · corrections 0; eval 👍 4 · 👎 4" in text
        assert "*By channel:* <#C" in text
        assert str(tmp_path) not in text and "report.md" not in text, "never a path on the worker's disk"

    [complete] = bot.fake.calls_to("files.completeUploadExternal")
    assert complete.body["channel_id"] == ADMIN_CHANNEL and complete.reply["ok"]
    loss, feedback = complete.reply["files"]
    assert loss["name"] == f"training-run-{outcome.run_id}-loss.png" and feedback["name"].endswith("-feedback.png")
    assert all(bot.fake.files[f["id"]]["content"].startswith(PNG) for f in (loss, feedback))
    [lengths] = [[int(c.body["length"]) for c in bot.fake.calls_to("files.getUploadURLExternal")]]
    assert lengths == [len(bot.fake.files[loss["id"]]["content"]), len(bot.fake.files[feedback["id"]]["content"])]
    report_message, charts_message = bot.fake.messages[ADMIN_CHANNEL]
    assert charts_message["text"] == f"Charts of training run #{outcome.run_id}" and charts_message["upload"]
    assert not [m for m in bot.fake.messages["C9"] if m.get("files")], "charts go to the admin channel only"

    run = run_record(bot.sessions, outcome.run_id)
    assert run.report_post == {"channel": ADMIN_CHANNEL, "ts": report_message["ts"],
                               "files": {"loss": loss["id"], "feedback": feedback["id"]}}
    folder = Path(run.report_path).parent  # the worker saved both charts in the run's folder too
    assert (folder / "loss.png").read_bytes()[:4] == PNG and (folder / "feedback.png").read_bytes()[:4] == PNG
    assert "![feedback per week](feedback.png)" in Path(run.report_path).read_text()

    view = home_opened(bot, ADMIN)
    text = shown(view)
    assert f"Latest training report (run #{outcome.run_id})" in text and "reward margin: " in text
    link = f"<https://slack.com/archives/{ADMIN_CHANNEL}/p{report_message['ts'].replace('.', '')}|Posted in"
    assert link in text
    [image] = [b for b in view["blocks"] if b["type"] == "image"]
    assert image["slack_file"] == {"id": loss["id"]} and len(view["blocks"]) <= 100
    assert "Latest training report" not in shown(home_opened(bot, "USOMEONE"))


def test_a_refused_upload_leaves_the_report_standing_without_charts(make_bot: MakeBot, engine: Engine,
                                                                   tmp_path: Path) -> None:
    bot = make_bot(admin_user_ids=(ADMIN,))
    bot.fake.admins.add(ADMIN)
    bot.fake.scopes = manifest_bot_scopes() - {"files:write"}  # an install from before the scope was added
    seed_feedback(bot.sessions, feedback_items(2))  # votes to chart, too few to train: the run is skipped
    bot.command("retrain", user=ADMIN, channel="C9")
    outcome = process_next_run(engine, paths=_paths(tmp_path, tmp_path / "no-model"), config=LOOP)
    assert outcome is not None and outcome.status == "skipped"

    assert _report(bot) == 1
    assert "*skipped*" in _posted(bot.fake)[ADMIN_CHANNEL]
    [refused] = bot.fake.calls_to("files.getUploadURLExternal")
    assert refused.reply["error"] == "missing_scope" and not bot.fake.calls_to("files.completeUploadExternal")
    run = run_record(bot.sessions, outcome.run_id)
    assert run.report_post["files"] == {} and run.report_post["channel"] == ADMIN_CHANNEL
    view = home_opened(bot, ADMIN)
    assert "Latest training report" in shown(view) and not [b for b in view["blocks"] if b["type"] == "image"]
