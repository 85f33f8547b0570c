"""App Home render time for an admin with 100k answers and 10k votes in the database (target: p95 < 500 ms).

Times what `bot.slack.home.publish_home` does before its `views.publish` call: `home_data` and
`admin_data` (every query, the knowledge-gap clustering) and `home_view` (the blocks). The gap
questions are embedded with the real MiniLM embedder; each web process embeds a question once and
keeps its vector, so the first render (cold) is reported apart from the ≥ 20 timed ones (warm).
A breakdown times each query on its own, so a miss points at what to index.

Before/after in one run: the database is migrated to `--baseline` (the schema without this
bench's indexes), loaded, measured, then migrated to head, analysed and measured again; when the
two revisions are the same it is measured once.

Data (synthetic, loaded with SQL): 300 documents, 100k answers over 180 days by 500 askers in 40
channels and DMs (8% abstained), 10k current votes on distinct answers over 90 days (30% 👎 with
reasons), 3 adapters with their deployment log and 10 finished training runs.

Run: `python -m bench.app_home [--renders 30] [--answers 100000] [--votes 10000]`; writes
bench/results/app_home.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from bot.slack.gap_finder import GapFinder
from bot.slack.home import OUTCOME_DAYS, admin_data, home_data
from bot.slack.home_blocks import home_view
from knowledge.embedding import SentenceTransformerEmbedder
from knowledge.schedule import DEFAULT_TRAINING_CRON
from store.adapter_registry import deployment_history, promotable_adapter, promote, register_adapter
from store.database import make_engine, make_session_factory, start_embedded_server
from store.insight import (
    answer_outcomes,
    documents_by_scope,
    downvote_reasons,
    feedback_by_channel,
    latest_document_titles,
    questions_of,
    recent_feedback_weeks,
)
from store.interactions import gap_questions
from store.migrate import upgrade
from store.schema import WORKSPACE_SCOPE
from store.training_runs import latest_finished_run, recent_training_runs

RESULTS = Path(__file__).parent / "results" / "app_home.json"
ADMIN = "U0001"
TARGET_P95_MS = 500.0


def load(engine: Engine, sessions: sessionmaker[Session], *, answers: int, votes: int) -> None:
    """The synthetic workspace (see the module docstring), in a few INSERT … SELECT statements."""
    with engine.begin() as connection:
        connection.execute(text("""
            INSERT INTO documents (source, title, uri, content_hash, scope, created_at)
            SELECT 'text', 'Runbook ' || g, 'https://wiki.example.com/' || g, md5(g::text),
                   CASE WHEN g % 10 = 0 THEN 'C' || lpad((g % 40)::text, 2, '0') ELSE 'workspace' END,
                   now() - (g || ' hours')::interval
            FROM generate_series(1, 300) g"""))
        connection.execute(text("""
            INSERT INTO answers (channel, thread_ts, asker, scope, question, prompt, completion, abstained,
                                 latency_ms, created_at)
            SELECT CASE WHEN g % 9 = 0 THEN 'D' || lpad((g % 500)::text, 4, '0')
                        ELSE 'C' || lpad((g % 40)::text, 2, '0') END,
                   (1700000000 + g) || '.000100', 'U' || lpad((g % 500)::text, 4, '0'), 'workspace',
                   'How do I ' || (ARRAY['deploy','restore','rotate','configure','debug','scale'])[1 + g % 6]
                     || ' the ' || (ARRAY['billing','search','auth','queue','cache','reports','mail'])[1 + g % 7]
                     || ' service in region ' || (g % 13) || '?',
                   'prompt ' || g, 'completion ' || g, g % 12 = 0, 400 + (g % 5000),
                   now() - ((CAST(:span AS bigint) * (:answers - g) / :answers) || ' seconds')::interval
            FROM generate_series(1, :answers) g"""),
                           {"answers": answers, "span": 180 * 86400})
        connection.execute(text("""
            INSERT INTO votes (answer_id, user_id, value, reason, source, updated_at)
            SELECT 1 + (g * 7919) % :answers, 'V' || lpad((g % 300)::text, 4, '0'),
                   CASE WHEN g % 10 < 3 THEN -1 ELSE 1 END,
                   CASE WHEN g % 10 < 3 THEN (ARRAY['incorrect','outdated','not_found','unclear'])[1 + g % 4] END,
                   'button', now() - ((g % (90 * 24)) || ' hours')::interval
            FROM generate_series(1, :votes) g"""), {"answers": answers, "votes": votes})
        connection.execute(text("""
            INSERT INTO training_runs (status, trigger, requested_by, metrics, message, created_at, finished_at,
                                       reported_at)
            SELECT CASE WHEN g % 3 = 0 THEN 'rejected' ELSE 'succeeded' END, 'schedule', NULL,
                   jsonb_build_object('gate_gain', 0.02, 'gate_gain_lower', 0.011, 'held_out_good', 40,
                                      'held_out_bad', 38),
                   'run ' || g, now() - ((10 - g) || ' days')::interval, now() - ((10 - g) || ' days')::interval,
                   now()
            FROM generate_series(1, 10) g"""))
    with sessions.begin() as session:
        for number in (1, 2, 3):
            adapter = register_adapter(session, name=f"kb-v{number}", path=f"/adapters/kb-v{number}",
                                       base_model="smol", metrics={"gate": {"passed": True, "reasons": []}})
            promote(session, adapter.id, actor="training", reason=f"training run {number}: gate passed")
    with engine.connect() as connection:
        connection.execute(text("ANALYZE"))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(fn: Callable[[], Any], repeats: int) -> dict[str, float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(percentile(times, 0.95), 1),
            "max_ms": round(max(times), 1)}


def breakdown(sessions: sessionmaker[Session], gaps: GapFinder, repeats: int) -> dict[str, dict[str, float]]:
    """Each read of the Home tab alone, to see which one a slow render waits on."""
    since = datetime.now(UTC) - timedelta(days=OUTCOME_DAYS)

    def in_session(fn: Callable[[Session], Any]) -> Callable[[], Any]:
        def run() -> Any:
            with sessions() as session:
                return fn(session)
        return run

    reads: dict[str, Callable[[], Any]] = {
        "documents_by_scope": in_session(documents_by_scope),
        "latest_document_titles": in_session(lambda session: latest_document_titles(session, scope=WORKSPACE_SCOPE)),
        "questions_of": in_session(lambda session: questions_of(session, ADMIN)),
        "feedback_by_week": in_session(recent_feedback_weeks),
        "feedback_by_channel": in_session(feedback_by_channel),
        "downvote_reasons": in_session(downvote_reasons),
        "answer_outcomes": in_session(lambda session: answer_outcomes(session, since=since)),
        "gap_questions": in_session(lambda session: gap_questions(session, limit=500)),
        "recent_training_runs": in_session(lambda session: recent_training_runs(session, limit=3)),
        "latest_finished_run": in_session(latest_finished_run),
        "deployment_history": in_session(lambda session: deployment_history(session, limit=5)),
        "promotable_adapter": in_session(promotable_adapter),
        "gap_clusters (gap_questions + clustering, vectors cached)": gaps.clusters,
    }
    return {name: timed(read, repeats) for name, read in reads.items()}


def measure(sessions: sessionmaker[Session], gaps: GapFinder, renders: int) -> dict[str, Any]:
    def render() -> dict[str, Any]:
        admin = admin_data(sessions, gaps=gaps, training_cron=DEFAULT_TRAINING_CRON)
        return home_view(home_data(sessions, ADMIN), admin)

    start = time.perf_counter()
    view = render()  # embeds the gap questions this process has not seen yet
    cold_ms = round((time.perf_counter() - start) * 1000, 1)
    warm = timed(render, renders)
    return {"cold_render_ms": cold_ms, "renders": renders, **warm, "blocks": len(view["blocks"]),
            "meets_target": warm["p95_ms"] < TARGET_P95_MS,
            "breakdown": breakdown(sessions, gaps, max(5, renders // 4))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=30)
    parser.add_argument("--answers", type=int, default=100_000)
    parser.add_argument("--votes", type=int, default=10_000)
    parser.add_argument("--baseline", default="head", help="revision measured first (the schema before indexing)")
    args = parser.parse_args()

    url = start_embedded_server(Path(tempfile.mkdtemp(prefix="bench-app-home-")))
    upgrade(url, args.baseline)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    started = time.perf_counter()
    load(engine, sessions, answers=args.answers, votes=args.votes)
    load_s = round(time.perf_counter() - started, 1)
    gaps = GapFinder(sessions, SentenceTransformerEmbedder())

    results: dict[str, Any] = {"answers": args.answers, "votes": args.votes, "load_s": load_s,
                               "target_p95_ms": TARGET_P95_MS, "measured_at": datetime.now(UTC).isoformat()}
    results[f"at_{args.baseline}"] = measure(sessions, gaps, args.renders)
    print(json.dumps(results, indent=2))
    if args.baseline != "head":
        upgrade(url, "head")
        with engine.connect() as connection:
            connection.execute(text("ANALYZE"))
        results["at_head"] = measure(sessions, gaps, args.renders)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
