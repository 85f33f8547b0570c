"""Backfill of a learned channel against the fake Slack's rate tiers, paced and not, and a resume after `kill -9`.

    nice -n 10 .venv/bin/python -m bench.learn_backfill [--threads 2000] [--messages 10000] [--scale 60]

One channel of `--threads` threads holding `--messages` people's messages in all (plus joins and a
bot's messages the sync must leave out) is served by the fake Slack (tests/fakes), which enforces
Slack's per-method tiers on a `60 / --scale` second "minute" (Tier 3 `conversations.history` /
`.replies` / `.info` 50 calls, Tier 4 `users.info` 100, `chat.getPermalink` 200) and answers the
excess with HTTP 429 and `Retry-After`. Three runs, same data, same process:

1. **paced**: the product's reader (`knowledge.slack_threads_client.Pacer`) at 90% of the scaled tiers;
2. **unpaced** (the baseline): the same reader with pacing off, relying on the 429 retry handler alone;
3. **kill -9**: a child process backfills with pacing and is killed with SIGKILL once `--kill-after`
   threads are indexed; this process then resumes the backfill and checks that every thread is
   indexed exactly once (no duplicate document, no thread skipped).

Embedding is a deterministic hashing embedder (384 dims), so the figures measure the sync (Slack
calls, pacing, 429s, database writes), not the embedding model, whose speed `bench/ingest_speed.py`
measures. Writes bench/results/learn_backfill.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from bench.database import bench_database
from knowledge.slack_threads_client import TIER_PER_MINUTE, Pacer, SlackReader, make_client
from knowledge.slack_threads_sync import ChannelSync, SyncOptions, SyncReport
from store.database import make_engine, make_session_factory
from store.learned_channels import configure_channel, get_channel
from store.schema import EMBEDDING_DIM, Document, LearnedThread
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack

RESULTS = Path(__file__).resolve().parent / "results" / "learn_backfill.json"
CHANNEL = "C0BENCH"
FAKE_TIERS = {"conversations.history": 50, "conversations.replies": 50, "conversations.info": 50,
              "users.info": 100, "chat.getPermalink": 200, "usergroups.users.list": 20}
TOPICS = ["deploy", "database", "billing", "search", "auth", "queue", "cache", "ingress", "backup", "metrics"]


class HashingEmbedder:
    """Unit vectors from hashed word counts: deterministic, fast, no model (see the module docstring)."""

    def _vector(self, content: str) -> list[float]:
        vector = [0.0] * EMBEDDING_DIM
        for word in content.lower().split():
            digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
            vector[int.from_bytes(digest, "little") % EMBEDDING_DIM] += 1.0
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector]

    def embed_query(self, content: str) -> list[float]:
        return self._vector(content)

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._vector(content) for content in texts]


def seed(fake: FakeSlack, *, threads: int, messages: int, seed_value: int = 7) -> int:
    """`threads` threads with `messages` people's messages in all, plus noise; returns the threads worth indexing."""
    rng = random.Random(seed_value)
    fake.set_channel(CHANNEL, name="eng")
    people = [f"UPERSON{n:02d}" for n in range(20)]
    for n, person in enumerate(people):
        fake.add_user(person, display_name=f"Person {n}")
    replies_left = messages - threads
    start = time.time() - threads * 600.0
    for n in range(threads):
        topic = TOPICS[n % len(TOPICS)]
        root_ts = f"{start + n * 600:.6f}"
        fake.add_message(CHANNEL, f"Thread {n}: notes on handling the {topic} problem number {n} when it happens "
                                  f"again in production.", user=rng.choice(people), ts=root_ts)
        count = min(replies_left, rng.randint(0, 8)) if n < threads - 1 else replies_left
        replies_left -= count
        for r in range(count):
            fake.add_message(CHANNEL, f"For {topic} issue {n}, step {r}: run the {topic}-fix-{n}-{r} runbook and "
                                      f"check the dashboard afterwards.", user=rng.choice(people),
                             thread_ts=root_ts, ts=f"{start + n * 600 + r + 1:.6f}")
        if n % 40 == 0:
            fake.add_message(CHANNEL, "<@UNEW> has joined the channel", user="UNEW", subtype="channel_join",
                             ts=f"{start + n * 600 + 300:.6f}")
            fake.add_message(CHANNEL, f"Build {n} passed", user="UCI", bot_id="BCI", ts=f"{start + n * 600 + 301:.6f}")
    return threads


def reset(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        session.execute(text("TRUNCATE learned_threads, learned_channels, chunks, documents RESTART IDENTITY CASCADE"))


def configure(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        configure_channel(session, channel=CHANNEL, name="eng", kind="public", scope="workspace", trusted_users=(),
                          trusted_groups=(), oldest_ts="0", added_by="UBENCH")


def sync(api_url: str, sessions: sessionmaker[Session], *, rate_scale: float | None) -> ChannelSync:
    """The product's sync; `rate_scale` None turns pacing off (the baseline)."""
    scale = rate_scale if rate_scale is not None else 1e9
    reader = SlackReader(make_client(BOT_TOKEN, base_url=api_url, rate_limit_retries=8), Pacer(rate_scale=scale))
    return ChannelSync(sessions, HashingEmbedder(), reader, SyncOptions(debounce_s=0.0, min_words=3,
                                                                        step_threads=250))


def backfill(job: ChannelSync, sessions: sessionmaker[Session]) -> list[SyncReport]:
    reports = []
    while True:
        reports.append(job.run_pending())
        with sessions() as session:
            record = get_channel(session, CHANNEL)
        if record is None or record.backfill_done or reports[-1].errors:
            return reports


def indexed(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        return {"documents": session.scalar(select(func.count()).select_from(Document)) or 0,
                "distinct_uris": session.scalar(select(func.count(func.distinct(Document.uri)))) or 0,
                "threads_with_document": session.scalar(select(func.count()).select_from(LearnedThread).where(
                    LearnedThread.document_id.is_not(None))) or 0}


def measured_run(fake: FakeSlack, sessions: sessionmaker[Session], *, rate_scale: float | None,
                 window_s: float) -> dict[str, Any]:
    reset(sessions)
    configure(sessions)
    tiers = fake.rate_limit(FAKE_TIERS, window_s=window_s)
    calls_before = Counter(c.method for c in fake.calls)
    job = sync(fake.api_url, sessions, rate_scale=rate_scale)
    started = time.perf_counter()
    reports = backfill(job, sessions)
    elapsed = time.perf_counter() - started
    calls = Counter(c.method for c in fake.calls) - calls_before
    return {"seconds": round(elapsed, 2), "errors": [r.errors for r in reports if r.errors],
            "http_429": dict(tiers.refused), "calls": dict(calls), "paced_wait_s": round(job.reader.pacer.waited_s, 2),
            **indexed(sessions)}


def child(api_url: str, database_url: str, rate_scale: float) -> None:
    """The process that gets killed: backfills until done (it never is)."""
    sessions = make_session_factory(make_engine(database_url))
    backfill(sync(api_url, sessions, rate_scale=rate_scale), sessions)


def kill_and_resume(fake: FakeSlack, sessions: sessionmaker[Session], database_url: str, *, rate_scale: float,
                    window_s: float, kill_after: int, expected: int) -> dict[str, Any]:
    reset(sessions)
    configure(sessions)
    fake.rate_limit(FAKE_TIERS, window_s=window_s)
    process = subprocess.Popen([sys.executable, "-m", "bench.learn_backfill", "--child", fake.api_url, database_url,
                                str(rate_scale)], env={**os.environ})
    while indexed(sessions)["threads_with_document"] < kill_after:
        if process.poll() is not None:
            raise RuntimeError(f"the child exited early ({process.returncode})")
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    with sessions() as session:
        resume_ts = get_channel(session, CHANNEL).resume_ts  # type: ignore[union-attr]
    at_kill = indexed(sessions)
    started = time.perf_counter()
    reports = backfill(sync(fake.api_url, sessions, rate_scale=rate_scale), sessions)
    after = indexed(sessions)
    with sessions() as session:
        uris = list(session.scalars(select(Document.uri)))
    duplicates = sum(count - 1 for count in Counter(uris).values() if count > 1)
    return {"killed_after_threads": at_kill["threads_with_document"], "resume_ts": resume_ts,
            "resume_seconds": round(time.perf_counter() - started, 2),
            "errors": [r.errors for r in reports if r.errors],
            **after, "duplicate_documents": duplicates, "skipped_threads": expected - after["threads_with_document"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--scale", type=float, default=60.0, help="Slack's minute shrunk to 60/scale seconds")
    parser.add_argument("--kill-after", type=int, default=800)
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the result JSON goes")
    parser.add_argument("--child", nargs=3, metavar=("API_URL", "DATABASE_URL", "RATE_SCALE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], float(args.child[2]))
        return
    _, sessions, url = bench_database("learn-backfill")
    fake = FakeSlack().start()
    try:
        expected = seed(fake, threads=args.threads, messages=args.messages)
        window_s = 60.0 / args.scale
        paced_scale = args.scale * 0.9
        result = {
            "threads": args.threads, "messages": args.messages, "scale": args.scale,
            "fake_tiers_per_window": FAKE_TIERS, "window_s": window_s,
            "paced_rates_per_minute": {m: r * paced_scale for m, r in TIER_PER_MINUTE.items()},
            "paced": measured_run(fake, sessions, rate_scale=paced_scale, window_s=window_s),
            "unpaced_baseline": measured_run(fake, sessions, rate_scale=None, window_s=window_s),
            "kill_9_resume": kill_and_resume(fake, sessions, url, rate_scale=paced_scale, window_s=window_s,
                                             kill_after=args.kill_after, expected=expected),
        }
    finally:
        fake.stop()
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
