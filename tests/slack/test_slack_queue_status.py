"""Under load every admitted question shows its place in line at once, updated as it moves, then its answer."""

from __future__ import annotations

import re
import threading
import time

import pytest

from bot.slack.blocks import SUMMARY_BUSY_NOTE
from bot.slack.notices import BUSY
from bot.slack.work import BackgroundWork
from tests.fakes.slack_requests import mention
from tests.scripted_generator import HeldGenerator, ScriptedGenerator
from tests.slack.conftest import MakeBot

pytestmark = pytest.mark.usefixtures("documents")
QUESTION = "When do database backups run?"


def test_queued_questions_show_their_place_at_once_and_move_up(make_bot: MakeBot) -> None:
    bot = make_bot(generator=ScriptedGenerator("Backups run nightly at 02:00 UTC [1].", delay_s=0.05),
                   work=BackgroundWork(max_workers=1, max_queued=10))
    release = threading.Event()
    bot.work.submit(release.wait, 30)  # the only worker is busy when the burst arrives
    asked = []
    try:
        for _ in range(6):
            ts = str(bot.fake.add_message("C1", f"<@UBOT> {QUESTION}")["ts"])
            sent = time.monotonic()
            assert bot.dispatch(bot.requests.event(mention("C1", ts, QUESTION))).status == 200
            asked.append((ts, sent))
        assert bot.listeners.wait_idle(30)
    finally:
        release.set()
    bot.settle(60)

    posts = {c.body["thread_ts"]: c for c in bot.fake.calls_to("chat.postMessage") if "Queued" in c.body["text"]}
    waited = [(ts, sent) for ts, sent in asked if ts in posts]
    assert len(waited) == 6, "with the one worker busy, the whole burst waits"
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
    # Edits are paced, so one question may jump from "1 ahead" straight to its answer; across the
    # burst, some waiting question must have been told it is next.
    every_revision = [r.get("text") or "" for ts, _ in waited
                      for r in bot.fake.bot_replies("C1", ts)[0].get("revisions", [])]
    assert any("yours is next" in text for text in every_revision + [posts[ts].body["text"] for ts, _ in waited])
    assert len(bot.generator.calls) == 6, "every admitted question is answered"


def test_a_burst_of_200_questions_gets_a_status_or_busy_at_once_and_no_admitted_question_is_lost(
        make_bot: MakeBot) -> None:
    """The issue's load probe: 200 signed mentions at once into the production-sized pools (4 answering + 32
    waiting; 9 writing summaries). Every admitted question gets its evidence; those the model has no place
    for keep it as their answer, saying the model was busy."""
    bot = make_bot(generator=ScriptedGenerator("Backups run nightly at 02:00 UTC [1].", delay_s=0.02))
    asked = []
    started = time.monotonic()
    for _ in range(200):
        ts = str(bot.fake.add_message("C1", f"<@UBOT> {QUESTION}")["ts"])
        assert bot.dispatch(bot.requests.event(mention("C1", ts, QUESTION))).status == 200
        asked.append((ts, time.monotonic()))
    burst_s = time.monotonic() - started
    bot.settle(180)

    first_reply: dict[str, float] = {}
    for call in bot.fake.calls_to("chat.postMessage"):
        thread = call.body.get("thread_ts")
        if thread and thread not in first_reply:
            first_reply[thread] = call.t
    statuses = {c.body["thread_ts"]: c.t for c in bot.fake.calls_to("assistant.threads.setStatus")}
    busy = {c.body["thread_ts"] for c in bot.fake.calls_to("chat.postMessage") if c.body["text"] == BUSY}
    admitted = [ts for ts, _ in asked if ts not in busy]
    assert len(admitted) >= 4 + 32, f"the pool admits at least what it can hold ({burst_s:.1f} s burst)"
    for ts, sent in asked:
        shown = min(t for t in (first_reply.get(ts), statuses.get(ts)) if t is not None)
        assert shown - sent < 5.0, "every question shows something (a status, its place, or busy) at once"
    summarised = 0
    for ts in admitted:
        replies = bot.fake.bot_replies("C1", ts)
        final = bot.final_answer("C1", ts)
        assert len(replies) == 1 and "02:00 UTC" in final["text"], "one answer each, the evidence at least"
        summarised += SUMMARY_BUSY_NOTE not in str(final["blocks"])
    assert summarised >= 9, "the model's places were all used"
    assert len(bot.generator.calls) == summarised, "no admitted question is dropped or summarised twice"


def test_the_next_questions_evidence_does_not_wait_for_the_model(make_bot: MakeBot) -> None:
    """One answering worker, and the model busy with the first question's summary: the second question still
    gets its evidence at once, because the summary is written on the summaries pool, not on the worker."""
    held = HeldGenerator()
    bot = make_bot(generator=held, work=BackgroundWork(max_workers=1, max_queued=10))
    asked = []
    for _ in range(2):
        ts = str(bot.fake.add_message("C1", f"<@UBOT> {QUESTION}")["ts"])
        assert bot.dispatch(bot.requests.event(mention("C1", ts, QUESTION))).status == 200
        asked.append(ts)
        assert held.started.wait(10)
    try:
        bot.fake.wait_until(lambda: all("02:00 UTC" in str(bot.fake.bot_replies("C1", ts)) for ts in asked),
                            timeout=10, what="both questions' evidence while the model is still held")
        assert not held.release.is_set() and len(held.calls) <= 2
    finally:
        held.release.set()
    bot.settle(30)
    for ts in asked:
        final = bot.final_answer("C1", ts)
        assert "02:00 UTC" in final["text"] and SUMMARY_BUSY_NOTE not in str(final["blocks"]), "summarised"
    assert len(held.calls) == 2
