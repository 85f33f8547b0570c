"""bench/burst.py reads each question's reply off the fake Slack's transcript and writes figures its renderer shows.

No app, model or database: the transcripts are a few `SlackCall`s shaped as the fake records the
bot's calls (bodies built with the bot's own block and notice builders), and the figures go
through the script's own `records`, `summarise` and `ratios` into bench/readme_tables.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.burst import Asked, BurstWatch, burst_questions, listen_overflows, ratios, records, spaced_sample, summarise
from bench.readme_tables import RENDERERS, write_result
from bench.slack_transcript import first_text, first_visible, reply_end, reply_timeline
from bot.slack.blocks import THINKING, answer_blocks, notice_blocks, progress_text
from bot.slack.notices import APOLOGY, BUSY
from bot.slack.queue_status import AnswerQueue
from tests.fakes.slack_api import SlackCall

MACHINE = {"cores": 2, "python": "3.11.7", "load_average_at_start": [1.5, 1.2, 1.0],
           "load_average_at_end": [2.25, 1.4, 1.1]}
ASKED = "1700000001.000001"


def _call(method: str, t: float, body: dict[str, Any], *, reply_ts: str | None = None, ok: bool = True) -> SlackCall:
    reply: dict[str, Any] = {"ok": ok} if ok else {"ok": False, "error": "invalid_blocks"}
    if reply_ts is not None:
        reply["ts"] = reply_ts
    return SlackCall(verb="POST", path=f"/api/{method}", method=method, auth="Bearer xoxb-test-token", body=body,
                     reply=reply, t=t)


def _answer(*, abstained: bool = False, feedback: str = "native", summary_skipped: str = "") -> list[dict[str, Any]]:
    return answer_blocks(answer_id=7, text="> Releases are cut every second Tuesday. [1]", citations=[],
                         adapter_name="base", abstained=abstained, feedback=feedback,  # type: ignore[arg-type]
                         summary_skipped=summary_skipped)


def _streamed(ts: str, end: list[SlackCall]) -> list[SlackCall]:
    """Native: thread status, a stream opened with the evidence, appended and stopped, then `end`."""
    return [_call("assistant.threads.setStatus", 10.05, {"channel_id": "C1", "thread_ts": ts, "status": "…"}),
            _call("chat.startStream", 10.3, {"channel": "C1", "thread_ts": ts, "markdown_text": "> quote [1]"},
                  reply_ts="S1"),
            _call("chat.appendStream", 11.0, {"channel": "C1", "ts": "S1", "markdown_text": " more"}),
            _call("chat.stopStream", 13.0, {"channel": "C1", "ts": "S1"}), *end]


def test_a_streamed_answer_reads_as_answered_with_the_evidence_as_first_text() -> None:
    calls = _streamed(ASKED, [_call("chat.update", 13.2, {"channel": "C1", "ts": "S1", "blocks": _answer()})])
    other = _call("chat.startStream", 10.1, {"channel": "C1", "thread_ts": "1700000002.000002",
                                             "markdown_text": "someone else's"}, reply_ts="S2")
    assert reply_timeline([other, *calls], ASKED, 10.0, timeout_s=60) == {
        "first_visible_s": 0.05, "first_text_s": 0.3, "final_s": 3.2, "outcome": "answered", "summary_skipped": False}


def test_a_queued_question_counts_neither_its_queue_place_nor_the_placeholder_as_answer_text() -> None:
    queue = AnswerQueue(workers=1)
    calls = [_call("chat.postMessage", 10.1, {"channel": "C1", "thread_ts": ASKED, "text": queue.describe(2)},
                   reply_ts="P1"),
             _call("chat.update", 14.0, {"channel": "C1", "ts": "P1", "text": queue.describe(1)}),
             _call("chat.update", 18.0, {"channel": "C1", "ts": "P1", "text": THINKING}),
             _call("chat.update", 18.4, {"channel": "C1", "ts": "P1", "text": progress_text("> quote [1]")}),
             _call("chat.update", 19.0, {"channel": "C1", "ts": "P1", "text": "no", "blocks": _answer()}, ok=False),
             _call("chat.update", 19.1, {"channel": "C1", "ts": "P1", "text": "no",
                                         "blocks": _answer(abstained=True, feedback="classic")})]
    assert first_visible(calls, ASKED) == 10.1
    assert first_text(calls, ASKED) == 18.4
    assert reply_end(calls, ASKED) is calls[-1], "a refused chat.update showed nothing"
    assert reply_timeline(calls, ASKED, 10.0, timeout_s=60)["outcome"] == "abstained"


def test_an_answer_left_with_its_evidence_alone_by_a_busy_model_is_counted_apart() -> None:
    calls = [_call("chat.postMessage", 10.1, {"channel": "C1", "thread_ts": ASKED, "text": THINKING}, reply_ts="P1"),
             _call("chat.update", 10.4, {"channel": "C1", "ts": "P1", "text": "x",
                                         "blocks": _answer(summary_skipped="busy")})]
    timeline = reply_timeline(calls, ASKED, 10.0, timeout_s=60)
    assert timeline["outcome"] == "answered" and timeline["summary_skipped"] is True


def test_the_final_answer_is_the_first_text_when_nothing_was_shown_before_it() -> None:
    calls = [_call("chat.postMessage", 10.1, {"channel": "C1", "thread_ts": ASKED, "text": THINKING}, reply_ts="P1"),
             _call("chat.update", 12.5, {"channel": "C1", "ts": "P1", "text": "x", "blocks": _answer()})]
    assert reply_timeline(calls, ASKED, 10.0, timeout_s=60) == {
        "first_visible_s": 0.1, "first_text_s": 2.5, "final_s": 2.5, "outcome": "answered", "summary_skipped": False}


def test_notices_read_as_busy_or_failed_and_silence_or_a_late_end_as_no_reply() -> None:
    busy = [_call("chat.postMessage", 10.2, {"channel": "C1", "thread_ts": ASKED, "text": BUSY,
                                             "blocks": notice_blocks(BUSY)}, reply_ts="N1")]
    assert reply_timeline(busy, ASKED, 10.0, timeout_s=60) == {
        "first_visible_s": 0.2, "first_text_s": None, "final_s": 0.2, "outcome": "busy", "summary_skipped": False}
    model_busy = _streamed(ASKED, [_call("chat.update", 13.1, {"channel": "C1", "ts": "S1", "text": BUSY,
                                                               "blocks": notice_blocks(BUSY)})])
    assert reply_timeline(model_busy, ASKED, 10.0, timeout_s=60)["outcome"] == "busy"
    failed = _streamed(ASKED, [_call("chat.update", 13.1, {"channel": "C1", "ts": "S1", "text": APOLOGY,
                                                           "blocks": notice_blocks(APOLOGY)})])
    assert reply_timeline(failed, ASKED, 10.0, timeout_s=60)["outcome"] == "failed"
    assert reply_timeline(failed[:1], ASKED, 10.0, timeout_s=60) == {
        "first_visible_s": 0.05, "first_text_s": None, "final_s": None, "outcome": "no reply", "summary_skipped": False}
    late = _streamed(ASKED, [_call("chat.update", 80.0, {"channel": "C1", "ts": "S1", "blocks": _answer()})])
    assert reply_timeline(late, ASKED, 10.0, timeout_s=60)["outcome"] == "no reply"


def _run(timelines: list[tuple[float, float | None, float | None, str, bool]]) -> list[dict[str, Any]]:
    """Per-question records as `records` writes them, from (sent, first text, end, kind, answerable) per question."""
    calls: list[SlackCall] = []
    asked = []
    for n, (sent, text, end, kind, answerable) in enumerate(timelines):
        ts = f"17000000{n:02d}.000001"
        asked.append(Asked(f"question {n}", answerable, ts, sent, 200, 12.0 + n))
        calls.append(_call("assistant.threads.setStatus", sent + 0.03, {"channel_id": "C1", "thread_ts": ts}))
        if text is not None:
            calls.append(_call("chat.startStream", sent + text, {"channel": "C1", "thread_ts": ts,
                                                                 "markdown_text": "> q"}, reply_ts=f"S{n}"))
        if end is not None:
            blocks = notice_blocks(BUSY) if kind == "busy" else _answer(abstained=kind == "abstained")
            method, body = ("chat.postMessage", {"channel": "C1", "thread_ts": ts, "text": BUSY}) if kind == "busy" \
                else ("chat.update", {"channel": "C1", "ts": f"S{n}"})
            calls.append(_call(method, sent + end, {**body, "blocks": blocks}, reply_ts=f"B{n}"))
    return records(sorted(calls, key=lambda c: c.t), asked, timeout_s=300)


def _figures() -> dict[str, Any]:
    burst = _run([(100.0, 0.4, 9.0, "answered", True), (100.1, 0.8, 20.0, "answered", True),
                  (100.2, 3.5, 40.0, "abstained", False), (100.3, None, 0.2, "busy", True),
                  (100.4, None, None, "none", True)])
    sequential = _run([(10.0, 0.1, 8.0, "answered", True), (18.0, 0.2, 0.5, "abstained", False)])
    summaries = {"burst": summarise(burst), "sequential": summarise(sequential)}
    settings = {"workers": 2, "threads": 8, "questions": 5, "senders": 5, "sequential_questions": 2,
                "timeout_s": 300.0, "model": "SmolLM2-135M-Instruct", "summary": True, "max_new_tokens": 128,
                "slack_workers": 4, "slack_queue": 32, "max_concurrent_generations": 1, "max_waiting_generations": 8,
                "torch_threads": 1, "stream_mode": "auto"}
    return {"settings": settings, **summaries, "ratios": ratios(summaries["burst"], summaries["sequential"]),
            "questions": {"burst": burst, "sequential": sequential}, "machine": MACHINE}


def test_a_run_is_summarised_from_its_records() -> None:
    burst = _figures()["burst"]
    assert burst["outcomes"] == {"answered": 2, "abstained": 1, "busy": 1, "failed": 0, "no reply": 1}
    assert burst["wall_s"] == 40.2, "first question sent → last reply's end"
    assert burst["questions_per_minute"] == round(60 * 3 / 40.2, 2)
    assert burst["admitted"] == 4, "turned away busy is not admitted; no reply is"
    assert burst["first_text_within_target"] == 2
    assert burst["first_text_s"] == {"p50": 0.8, "p95": 3.5, "max": 3.5}
    assert (burst["answerable_answered"], burst["answerable"], burst["unanswerable_abstained"]) == (2, 4, 1)


def test_the_renderer_shows_both_runs_their_ratios_and_the_settings(tmp_path: Path) -> None:
    figures = _figures()
    path = write_result("burst", figures, tmp_path / "burst.json")
    rendered = path.with_suffix(".md").read_text()
    assert json.loads(path.read_text()) == json.loads(json.dumps(figures))
    assert rendered == RENDERERS["burst_evidence_only"](figures) + "\n"
    assert "| questions (acked 200) | 5 (5) | 2 (2) | — |" in rendered
    assert "| told busy / failed / no reply in 300 s | 1 / 0 / 1 | 0 / 0 / 0 | — |" in rendered
    assert "| questions per minute sustained (answered + abstained, first sent → last reply) | 4.5 (over 40.2 s) | " \
           "14.1 (over 8.5 s) | ×0.32 |" in rendered
    assert "| first answer text (the quoted evidence) p50 / p95 / max, admitted | 0.80 / 3.50 / 3.50 s | " \
           "0.10 / 0.20 / 0.20 s | ×8.00 |" in rendered
    assert "| admitted with first text ≤ 1 s | 2 of 4 | 2 of 2 | — |" in rendered
    assert "`KB_SLACK_WORKERS` 4, `KB_SLACK_QUEUE` 32, `KB_MAX_CONCURRENT_GENERATIONS` 1" in rendered
    assert "None" not in rendered
    without_baseline = RENDERERS["burst"]({**figures, "sequential": None, "ratios": ratios(figures["burst"], None)})
    assert "| questions (acked 200) | 5 (5) | — | — |" in without_baseline


def test_the_burst_mixes_in_unanswerable_questions_and_the_baseline_sample_keeps_the_mix() -> None:
    questions = burst_questions(50)
    assert len(set(questions)) == 50 and sum(not answerable for _, answerable in questions) == 10
    sample = spaced_sample(questions, 10)
    assert len(sample) == 10 and sum(not answerable for _, answerable in sample) == 2
    assert sample == sorted(sample, key=questions.index), "asked in the burst's order"
    assert spaced_sample(questions[:5], 5) == questions[:5] and len(spaced_sample(questions, 1)) == 1


def test_the_renderer_says_where_the_cores_went_and_whether_unit_vectors_were_kept() -> None:
    figures = _figures()
    figures["settings"] = {**figures["settings"], "unit_vector_cache": True}
    figures["burst_cpu"] = {"wall_s": 1.7, "app_cpu_s": 2.1, "bench_cpu_s": 0.6, "other_cpu_s": 0.3, "cores": 2}
    rendered = RENDERERS["burst"](figures)
    assert "passages' unit vectors kept once embedded (emptied before the burst)" in rendered
    assert ("CPU during the burst's 1.70 s on 2 cores: the app 2.10 s, the bench's fake Slack and senders 0.60 s, "
            "the rest (Postgres, anything else on the host) 0.30 s; ") in rendered
    figures["settings"]["unit_vector_cache"] = False
    assert "passages' unit vectors embedded for every question" in RENDERERS["burst_no_unit_cache"](figures)


def test_the_watch_counts_the_apps_warnings_logged_during_the_burst_only(tmp_path: Path) -> None:
    """Lines before the burst, below WARNING, or not JSON (gunicorn's own) are not counted."""
    log = tmp_path / "gunicorn.log"

    def line(level: str, message: str, logger: str = "bot.unit_vector_cache") -> str:
        return json.dumps({"level": level, "logger": logger, "message": message}) + "\n"

    log.write_text(line("WARNING", "before the burst"))
    with BurstWatch(log) as watch, log.open("a") as out:
        out.write(line("WARNING", "unit vectors could not be stored: deadlock detected\nDETAIL: ..."))
        out.write(line("WARNING", "unit vectors could not be stored: deadlock detected\nDETAIL: other"))
        out.write(line("INFO", "answered"))
        out.write("[2026-11-30 00:00:00 +0000] [12] [INFO] Booting worker with pid: 12\n")
        out.write(line("ERROR", "listener failed", logger="bot.slack.app"))
    assert watch.figures["app_warnings"] == {
        "bot.unit_vector_cache: unit vectors could not be stored: deadlock detected": 2,
        "bot.slack.app: listener failed": 1}
    overflows = watch.figures["listen_overflows"]
    assert overflows is None or overflows >= 0
    assert listen_overflows() is None or isinstance(listen_overflows(), int)
    rendered = RENDERERS["burst"]({**_figures(), "burst_watch": watch.figures})
    assert ("app warnings and errors logged during the burst: 1 × bot.slack.app: listener failed; 2 × "
            "bot.unit_vector_cache: unit vectors could not be stored: deadlock detected;") in rendered
    quiet = RENDERERS["burst"]({**_figures(), "burst_watch": {"app_warnings": {}, "listen_overflows": 0}})
    assert "logged during the burst: none; connections dropped by a full listen queue: 0; " in quiet
