"""Under load every admitted question shows its place in line at once, updated as it moves, then its answer."""

from __future__ import annotations

import re
import time

import pytest

from bot.slack.work import BackgroundWork
from tests.fakes.slack_requests import mention
from tests.scripted_generator import ScriptedGenerator
from tests.slack.conftest import MakeBot

pytestmark = pytest.mark.usefixtures("documents")
QUESTION = "When do database backups run?"


def test_queued_questions_show_their_place_at_once_and_move_up(make_bot: MakeBot) -> None:
    bot = make_bot(generator=ScriptedGenerator("Backups run nightly at 02:00 UTC [1].", delay_s=0.05),
                   work=BackgroundWork(max_workers=1, max_queued=10))
    asked = []
    for _ in range(6):
        ts = str(bot.fake.add_message("C1", f"<@UBOT> {QUESTION}")["ts"])
        sent = time.monotonic()
        assert bot.dispatch(bot.requests.event(mention("C1", ts, QUESTION))).status == 200
        asked.append((ts, sent))
    bot.settle(60)

    posts = {c.body["thread_ts"]: c for c in bot.fake.calls_to("chat.postMessage") if "Queued" in c.body["text"]}
    waited = [(ts, sent) for ts, sent in asked if ts in posts]
    assert len(waited) >= 4, "with one worker, most of a burst of six waits"
    for ts, sent in waited:
        shown = posts[ts]
        assert shown.t - sent < 2.0, "the place in line is shown at once, not when a worker picks it up"
        final = bot.final_answer("C1", ts)
        assert final["ts"] == shown.reply["ts"], "the answer takes over the queue message"
        places = [int(m.group(1)) for r in final.get("revisions", [])
                  if (m := re.search(r"(\d+) questions? ahead", r.get("text") or ""))]
        first = int(re.search(r"(\d+) questions? ahead|yours is next", shown.body["text"]).group(1) or 0)
        assert places == sorted(places, reverse=True) and all(p < first for p in places), "it only moves up"
    last_ts = waited[-1][0]
    revisions = [r["text"] for r in bot.fake.bot_replies("C1", last_ts)[0]["revisions"]]
    assert any(re.search(r"about \d+ s", text) for text in revisions), "an estimate once answers were measured"
    assert any("yours is next" in text for text in revisions)
    assert len(bot.generator.calls) == 6, "every admitted question is answered"
