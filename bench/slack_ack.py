"""Slack-side latency: ack times under load, and how fast a mention becomes a visible and a final answer.

Runs the production WSGI app (`gunicorn 'bot.slack.wsgi:application'`, gthread) on loopback with the
default model (converted SmolLM2-135M-Instruct, or --model), a throw-away embedded Postgres seeded
with a small handbook, and the fake Slack Web API from tests/fakes (which timestamps every call the
bot makes). Measures:

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
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.database import bench_database
from bench.machine import machine_at_end, machine_at_start
from bench.readme_tables import write_result
from knowledge.embedding import SentenceTransformerEmbedder
from knowledge.ingest import ingest_text
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack
from tests.fakes.slack_requests import SIGNING_SECRET, SignedRequest, SlackRequests, mention, message, reaction

RESULTS = Path("bench/results/slack_ack.json")
"""Where the answer and ack figures go (the README quotes them)."""

REPO = Path(__file__).resolve().parents[1]
HANDBOOK = [
    ("Release process", "# Release process\n\nReleases are cut every second Tuesday. The release manager creates "
     "a branch named release/X.Y from main, bumps the version, writes the changelog and opens a release pull "
     "request that needs two approvals from the platform team."),
    ("Deploying", "# Deploying\n\nAfter the release pull request merges, CI builds the container image, runs the "
     "integration suite against staging and waits for a manual approval. Production deploys use a canary: five "
     "percent of traffic for thirty minutes, then the full rollout if error rates stay flat."),
    ("Rolling back", "# Rolling back\n\nIf the canary's error rate rises, the on-call engineer runs the rollback "
     "job, which redeploys the previous image and posts a summary in the incident channel."),
]
QUESTIONS = ["How is a release prepared?", "How do production deploys use the canary?",
             "What happens when the canary's error rate rises?"]
LONG_QUESTION = "Explain in detail, step by step, how a release is prepared, deployed with the canary and rolled back."


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_web(fake: FakeSlack, database_url: str, args: argparse.Namespace) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "SLACK_API_URL": fake.api_url, "SLACK_BOT_TOKEN": BOT_TOKEN,
           "SLACK_SIGNING_SECRET": SIGNING_SECRET, "KB_ADAPTER_POLL_INTERVAL_S": "30"}
    if args.model:
        env["KB_MODEL_PATH"] = args.model
    log = open(Path(tempfile.mkdtemp(prefix="bench-slack-")) / "gunicorn.log", "w")  # noqa: SIM115 - lives with the server
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "bot.slack.wsgi:application", "--worker-class", "gthread",
         "--workers", str(args.workers), "--threads", str(args.threads), "--timeout", "300",
         "--bind", f"127.0.0.1:{port}"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited; see {log.name}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2):
                return process, base + "/slack/events"
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the app did not come up in 300 s; see {log.name}")


def first_visible(fake: FakeSlack, ts: str) -> float | None:
    kinds = ("assistant.threads.setStatus", "chat.postMessage", "chat.startStream")
    times = [c.t for c in fake.calls if c.method in kinds and (c.body.get("thread_ts") == ts)]
    return min(times) if times else None


def first_text(fake: FakeSlack, ts: str) -> float | None:
    """When generated text first reached Slack: the stream's start, or the first edit of the placeholder."""
    placeholders = {c.reply["ts"] for c in fake.calls if c.method == "chat.postMessage"
                    and c.body.get("thread_ts") == ts and (c.reply or {}).get("ok")}
    times = [c.t for c in fake.calls if (c.method == "chat.startStream" and c.body.get("thread_ts") == ts)
             or (c.method == "chat.update" and c.body.get("ts") in placeholders)]
    return min(times) if times else None


def final_answer(fake: FakeSlack, ts: str) -> float | None:
    streams = {c.reply["ts"] for c in fake.calls if c.method in ("chat.startStream", "chat.postMessage")
               and c.body.get("thread_ts") == ts and (c.reply or {}).get("ok")}
    times = [c.t for c in fake.calls if c.method == "chat.update" and c.body.get("ts") in streams
             and c.body.get("blocks")]
    return min(times) if times else None


def streaming_started(fake: FakeSlack, ts: str) -> bool:
    """Generated text is on screen: a stream was opened, or the placeholder was edited."""
    return first_text(fake, ts) is not None


def ask(fake: FakeSlack, requests: SlackRequests, url: str, question: str) -> tuple[str, float]:
    ts = fake.add_message("C1", f"<@UBOT> {question}")["ts"]
    signed = requests.event(mention("C1", ts, question))
    sent = time.monotonic()
    assert signed.post(url).status == 200
    return ts, sent


def measure_answers(fake: FakeSlack, requests: SlackRequests, url: str, questions: list[str]) -> dict[str, float]:
    visible, text, final = [], [], []
    for question in questions:
        ts, sent = ask(fake, requests, url, question)
        done = fake.wait_until(lambda ts=ts: final_answer(fake, ts), timeout=180, what="final answer")
        visible.append(first_visible(fake, ts) - sent)
        text.append(first_text(fake, ts) - sent)
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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure_acks(fake: FakeSlack, requests: SlackRequests, url: str, count: int, concurrency: int) -> dict[str, Any]:
    """Ack latency of `count` signed requests sent `concurrency` at a time while a long answer is generating.

    Returns p50/p99/max ms and the request count per kind (event, command, all), the non-200 count,
    and whether the generation was still running when the last ack came back (else the burst did not
    overlap it and the figures say nothing about acks under load).
    """
    ts, _ = ask(fake, requests, url, LONG_QUESTION)
    fake.wait_until(lambda: streaming_started(fake, ts), timeout=120, what="the long generation to stream")
    batch = load_requests(requests, count)
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        replies = list(pool.map(lambda item: (item[0], item[1].post(url)), batch))
    still_generating = final_answer(fake, ts) is None
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
    fake.wait_until(lambda: final_answer(fake, ts), timeout=300, what="the long answer")
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
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        os.environ.pop(proxy, None)

    _, sessions, database_url = bench_database("slack-ack")
    embedder = SentenceTransformerEmbedder()
    for title, text in HANDBOOK:
        ingest_text(sessions, embedder, title=title, text=text, fmt="markdown", source="text",
                    uri=f"https://handbook.example.com/{title.lower().replace(' ', '-')}")
    fake = FakeSlack().start()
    requests = SlackRequests(SIGNING_SECRET, response_base=fake.base)
    process, url = start_web(fake, database_url, args)
    try:
        print(f"gunicorn gthread workers={args.workers} threads={args.threads}; cores={os.cpu_count()}")
        ask_warmup = ask(fake, requests, url, "What is the release process?")[0]
        fake.wait_until(lambda: final_answer(fake, ask_warmup), timeout=300, what="the warm-up answer")
        results: dict[str, Any] = {
            "settings": {"workers": args.workers, "threads": args.threads, "questions": args.questions,
                         "requests": args.requests, "model": args.model or "default"},
            "answers": measure_answers(fake, requests, url,
                                       list(itertools.islice(itertools.cycle(QUESTIONS), args.questions)))}
        print(f"wrote {write_result('slack_ack', {**results, 'machine': machine_at_end(machine)}, args.out)}")
        results["acks"] = measure_acks(fake, requests, url, args.requests, args.concurrency)
        print(f"wrote {write_result('slack_ack', {**results, 'machine': machine_at_end(machine)}, args.out)}")
    finally:
        process.terminate()
        process.wait(60)
        fake.stop()


if __name__ == "__main__":
    main()
