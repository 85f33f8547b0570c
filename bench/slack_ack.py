"""Slack-side latency: ack times under load, and how fast a mention becomes a visible and a final answer.

Runs the production WSGI app (`gunicorn 'bot.slack.wsgi:application'`, gthread) on loopback with the
default model (converted SmolLM2-135M-Instruct, or --model), a throw-away embedded Postgres seeded
with a small handbook, and the fake Slack Web API from tests/fakes (which timestamps every call the
bot makes; the stage is bench/slack_harness.py, the transcript is read by bench/slack_transcript.py).
Measures:

* mention → first visible reply (thread status, placeholder or first streamed text) and → final
  answer (the chat.update carrying the answer blocks), over a few questions after a warm-up;
* ack latency p50/p99 of signed event and slash-command requests (200 by default) sent while a
  long generation is running in the same worker (targets: p99 < 300 ms; Slack's limit is 3 s).

Run from the repository root: `python -m bench.slack_ack [--requests 200] [--questions 3] [--out PATH]`.
Writes both parts, the settings and the machine's load at start and end to bench/results/slack_ack.json
(the answers as soon as they are measured, then again with the acks) and its table, rendered by
bench/readme_tables.py, to slack_ack.md.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.machine import machine_at_end, machine_at_start
from bench.readme_tables import write_result
from bench.slack_harness import SlackStack, ask, percentile, slack_stack, warm_up
from bench.slack_transcript import final_answer, first_text, first_visible, streaming_started
from tests.fakes.slack_requests import SignedRequest, SlackRequests, message, reaction

RESULTS = Path("bench/results/slack_ack.json")
"""Where the answer and ack figures go (the README quotes them)."""

QUESTIONS = ["How is a release prepared?", "How do production deploys use the canary?",
             "What happens when the canary's error rate rises?"]
LONG_QUESTION = "Explain in detail, step by step, how a release is prepared, deployed with the canary and rolled back."


def measure_answers(stack: SlackStack, questions: list[str]) -> dict[str, float]:
    visible, text, final = [], [], []
    fake = stack.fake
    for question in questions:
        ts, sent = ask(stack, question)
        done = fake.wait_until(lambda ts=ts: final_answer(fake.calls, ts), timeout=180, what="final answer")
        visible.append(first_visible(fake.calls, ts) - sent)
        text.append(first_text(fake.calls, ts) - sent)
        final.append(done - sent)
    print(f"mention -> first visible reply: median {statistics.median(visible) * 1000:.0f} ms, "
          f"max {max(visible) * 1000:.0f} ms  (target < 1000 ms)")
    print(f"mention -> first answer text:   median {statistics.median(text):.2f} s, max {max(text):.2f} s")
    print(f"mention -> final answer:        median {statistics.median(final):.1f} s, max {max(final):.1f} s")
    return {"questions": len(questions), "first_visible_ms_median": round(statistics.median(visible) * 1000, 1),
            "first_visible_ms_max": round(max(visible) * 1000, 1),
            "first_text_s_median": round(statistics.median(text), 3), "first_text_s_max": round(max(text), 3),
            "final_s_median": round(statistics.median(final), 2), "final_s_max": round(max(final), 2)}


def load_requests(requests: SlackRequests, count: int) -> list[tuple[str, SignedRequest]]:
    """Half events (ignored quickly: reactions on other messages, chatter), half /kb commands."""
    made: list[tuple[str, SignedRequest]] = []
    for n in range(count):
        if n % 2 == 0:
            event = reaction("reaction_added", "C1", f"1600000000.{n:06d}", "+1", item_user="USOMEONE") if n % 4 \
                else message("C1", f"1600000001.{n:06d}", "chatter in the channel")
            made.append(("event", requests.event(event)))
        else:
            made.append(("command", requests.command("help" if n % 4 == 1 else "status")))
    return made


def measure_acks(stack: SlackStack, count: int, concurrency: int) -> dict[str, Any]:
    """Ack latency of `count` signed requests sent `concurrency` at a time while a long answer is generating.

    Returns p50/p99/max ms and the request count per kind (event, command, all), the non-200 count,
    and whether the generation was still running when the last ack came back (else the burst did not
    overlap it and the figures say nothing about acks under load).
    """
    fake = stack.fake
    ts, _ = ask(stack, LONG_QUESTION)
    fake.wait_until(lambda: streaming_started(fake.calls, ts), timeout=120, what="the long generation to stream")
    batch = load_requests(stack.requests, count)
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        replies = list(pool.map(lambda item: (item[0], item[1].post(stack.url)), batch))
    still_generating = final_answer(fake.calls, ts) is None
    bad = [r.status for _, r in replies if r.status != 200]
    figures: dict[str, Any] = {"concurrency": concurrency, "non_200": len(bad),
                               "generation_running_at_last_ack": still_generating}
    for kind in ("event", "command", "all"):
        times = [r.elapsed_s * 1000 for k, r in replies if kind in (k, "all")]
        figures[kind] = {"requests": len(times), "p50_ms": round(percentile(times, 0.5), 1),
                         "p99_ms": round(percentile(times, 0.99), 1), "max_ms": round(max(times), 1)}
        print(f"ack {kind:<7} n={len(times):<4} p50 {percentile(times, 0.5):6.1f} ms   "
              f"p99 {percentile(times, 0.99):6.1f} ms   max {max(times):6.1f} ms")
    print(f"non-200 acks: {len(bad)}; generation still running when the last ack returned: {still_generating}")
    fake.wait_until(lambda: final_answer(fake.calls, ts), timeout=300, what="the long answer")
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--questions", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4, help="parallel ack requests")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--model", default="", help="model folder (default: the converted SmolLM2)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="result file [default: %(default)s]")
    args = parser.parse_args(argv)
    machine = machine_at_start()
    with slack_stack("slack-ack", workers=args.workers, threads=args.threads, model=args.model) as stack:
        print(f"gunicorn gthread workers={args.workers} threads={args.threads}; cores={os.cpu_count()}")
        warm_up(stack)
        results: dict[str, Any] = {
            "settings": {"workers": args.workers, "threads": args.threads, "questions": args.questions,
                         "requests": args.requests, "model": args.model or "default"},
            "answers": measure_answers(stack, list(itertools.islice(itertools.cycle(QUESTIONS), args.questions)))}
        print(f"wrote {write_result('slack_ack', {**results, 'machine': machine_at_end(machine)}, args.out)}")
        results["acks"] = measure_acks(stack, args.requests, args.concurrency)
        print(f"wrote {write_result('slack_ack', {**results, 'machine': machine_at_end(machine)}, args.out)}")


if __name__ == "__main__":
    main()
