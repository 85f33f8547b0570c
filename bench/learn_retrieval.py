"""Retrieval of learned Slack threads: questions answered only by a thread, thread in the top 5?

    nice -n 10 .venv/bin/python -m bench.learn_retrieval

`bench/data/slack_threads.jsonl` holds team threads (a root and its replies, with people's names)
and, for most of them, a question a teammate would ask whose answer is only in that thread,
worded differently from it; the rest are distractor threads (chit-chat, announcements on the
same topics). The fake Slack serves them as one channel; the product's sync (`/kb learn`'s
`ChannelSync`, real embedder, real Postgres) learns them, then each question is searched as the
bot searches (`knowledge.search.search_passages`, from another channel).

Same-run baseline: the same messages indexed one document per message (what a connector that
ignores threads does); a question counts as found when any message of its thread is in the top 5.

Writes bench/results/learn_retrieval.json: hit@1, hit@5 and MRR for both.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.database import bench_database
from knowledge.embedding import SentenceTransformerEmbedder
from knowledge.ingest import ingest_text
from knowledge.search import search_passages
from knowledge.slack_threads_client import Pacer, SlackReader, make_client
from knowledge.slack_threads_sync import ChannelSync, SyncOptions
from store.learned_channels import configure_channel
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack

DATA = Path(__file__).resolve().parent / "data" / "slack_threads.jsonl"
RESULTS = Path(__file__).resolve().parent / "results" / "learn_retrieval.json"
NAMES = {"UDANA": "Dana", "UERIK": "Erik", "UMAYA": "Maya", "UJON": "Jon", "UPRIYA": "Priya", "UNEWBIE": "Sam",
         "UHR": "People team", "ULEAD": "Alex", "USEC": "Security", "UML": "Noor"}


def load() -> list[dict[str, Any]]:
    return [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]


def seed(fake: FakeSlack, threads: list[dict[str, Any]]) -> dict[str, str]:
    """Post every thread in #eng; returns thread id → root ts."""
    fake.set_channel("C0ENG", name="eng")
    for user, name in NAMES.items():
        fake.add_user(user, display_name=name)
    roots: dict[str, str] = {}
    start = time.time() - len(threads) * 3600
    for n, thread in enumerate(threads):
        ts = f"{start + n * 3600:.6f}"
        fake.add_message("C0ENG", thread["root"][1], user=thread["root"][0], ts=ts)
        for r, (user, reply) in enumerate(thread["replies"]):
            fake.add_message("C0ENG", reply, user=user, thread_ts=ts, ts=f"{start + n * 3600 + r + 1:.6f}")
        roots[thread["id"]] = ts
    return roots


def score(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks)
    return {"questions": n, "hit_at_1": round(sum(r == 1 for r in ranks) / n, 3),
            "hit_at_5": round(sum(r is not None and r <= 5 for r in ranks) / n, 3),
            "mrr": round(sum(1 / r for r in ranks if r is not None) / n, 3)}


def rank_of(passages: list[Any], wanted: set[str]) -> int | None:
    return next((n for n, passage in enumerate(passages, start=1) if passage.uri in wanted), None)


def main() -> None:
    threads = load()
    questions = [t for t in threads if t.get("question")]
    _, sessions, _ = bench_database("learn-retrieval")
    embedder = SentenceTransformerEmbedder()
    fake = FakeSlack().start()
    try:
        roots = seed(fake, threads)
        with sessions.begin() as session:
            configure_channel(session, channel="C0ENG", name="eng", kind="public", scope="workspace",
                              trusted_users=(), trusted_groups=(), oldest_ts="0", added_by="UBENCH")
        reader = SlackReader(make_client(BOT_TOKEN, base_url=fake.api_url), Pacer(rate_scale=1000))
        report = ChannelSync(sessions, embedder, reader, SyncOptions(debounce_s=0.0)).sync_channel("C0ENG")
        as_threads = []
        for thread in questions:
            uri = f"https://fake.slack.com/archives/C0ENG/p{roots[thread['id']].replace('.', '')}"
            passages = search_passages(sessions, embedder, thread["question"], channel="C0OTHER", limit=5)
            as_threads.append(rank_of(passages, {uri}))

        with sessions.begin() as session:  # the baseline: one document per message
            session.execute(text("TRUNCATE chunks, documents RESTART IDENTITY CASCADE"))
        message_uris: dict[str, set[str]] = {}
        for thread in threads:
            uris = message_uris.setdefault(thread["id"], set())
            for n, (user, body) in enumerate([thread["root"], *thread["replies"]]):
                uri = f"message:{thread['id']}:{n}"
                ingest_text(sessions, embedder, title=f"#eng · {NAMES[user]}", text=f"{NAMES[user]}: {body}",
                            fmt="markdown", uri=uri, source="slack_message")
                uris.add(uri)
        as_messages = [rank_of(search_passages(sessions, embedder, t["question"], channel="C0OTHER", limit=5),
                               message_uris[t["id"]]) for t in questions]
    finally:
        fake.stop()
    result = {"threads": len(threads), "questions": len(questions), "indexed_threads": report.indexed,
              "threads_as_documents": score(as_threads), "messages_as_documents_baseline": score(as_messages),
              "missed_as_threads": [t["id"] for t, r in zip(questions, as_threads, strict=True)
                                    if r is None or r > 5]}
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
