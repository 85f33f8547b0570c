"""Throughput under concurrency: a burst of questions at once against the same questions one at a time.

Runs the production WSGI app under gunicorn with 2 gthread workers (`--workers`) and the default
model, the seeded handbook and the fake Slack of bench/slack_harness.py (the stage bench/slack_ack.py
uses too), then:

1. asks a warm-up question per worker (sent together);
2. the baseline: the questions one at a time, each sent when the previous reply ended
   (`--sequential N` asks an evenly spaced sample of N of them instead of all);
3. the burst: `--questions` signed `app_mention` events (default 50: teammate-style questions on
   the handbook, one in five about something it does not cover) sent at once from a thread pool.

Per question it reads from the fake Slack's transcript (bench/slack_transcript.py): the HTTP ack
(accepted: 200) and its latency, the time to the first visible reply (thread status, placeholder or
queue place), to the first answer text (the quoted evidence, which the trustworthy-answers work
shows within a second of the question when a worker is free), to the end of the reply, and the
outcome: answered, abstained, told busy, failed, or no reply within `--timeout-s` of being sent.

Reported for each run: questions per minute sustained (answered + abstained over the wall time
from the first question sent to the last reply's end), ack and first-visible spreads, the
p50/p95/max first text of admitted questions (acked and not turned away busy) and how many of them
had it within 1 s, the final reply's spread, and busy/failed/no-reply counts; then the burst's
ratios to the baseline. `--summary off` answers with the quoted evidence alone (KB_ANSWER_SUMMARY=
false: no model call), isolating the Slack and retrieval layer.

The stored unit vectors (bot/unit_vector_cache.py) are emptied before the burst, so it starts as cold
as a new knowledge base; `--unit-vector-cache off` serves without them (every question embeds its
passages' units, as before revision 0017).

Run from the repository root: `python -m bench.burst [--questions 50] [--workers 2] [--summary on|off]
[--sequential N] [--unit-vector-cache on|off] [--timeout-s 900] [--out PATH]`. Writes the settings
(gunicorn workers and threads, the admission settings KB_SLACK_WORKERS, KB_SLACK_QUEUE,
KB_MAX_CONCURRENT_GENERATIONS and KB_MAX_WAITING_GENERATIONS as the app reads them, model, summary,
unit vector cache), the machine (bench/machine.py), both runs' summaries and every question's record
to bench/results/burst.json (burst_evidence_only.json with `--summary off`) and its table, rendered
by bench/readme_tables.py, beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench.machine import machine_at_end, machine_at_start
from bench.readme_tables import write_result
from bench.slack_harness import SlackStack, percentile, post_question, slack_stack, warm_up
from bench.slack_transcript import OUTCOMES, reply_end, reply_timeline
from bot.settings import AnsweringSettings, GenerationSettings
from bot.slack.settings import SlackSettings
from store.config import ModelsSettings
from tests.fakes.slack_api import SlackCall

RESULTS = Path("bench/results/burst.json")
EVIDENCE_ONLY_RESULTS = Path("bench/results/burst_evidence_only.json")
"""Where `--summary off` writes by default (a README block of its own)."""
FIRST_TEXT_TARGET_S = 1.0
"""The evidence appears within this of the question (the trustworthy-answers issue's target)."""
POLL_S = 0.5

ANSWERABLE = [
    "How often do we cut a release?", "Who creates the release branch?", "What is the release branch called?",
    "How many approvals does a release pull request need?", "Which team has to approve the release PR?",
    "Who writes the changelog for a release?", "Where is the release branch created from?",
    "What does the release manager do before opening the release PR?", "Which day of the week are releases cut?",
    "Who bumps the version number for a release?", "What happens after the release pull request merges?",
    "Does CI run the integration suite against staging?", "Is there a manual approval before production deploys?",
    "What does CI build once the release PR is merged?", "How much traffic goes to the canary?",
    "How long does the canary run before the full rollout?", "When do we do the full rollout after the canary?",
    "What do we do if the canary's error rate goes up?", "Who runs the rollback job?",
    "What does the rollback job redeploy?", "Where is the rollback summary posted?",
    "What percentage of traffic does a production canary take?", "Where does the integration suite run?",
    "How do production deploys use a canary?", "What has to stay flat for the full rollout to go ahead?",
    "How do I roll back a bad deploy?", "What does the on-call engineer do when the canary looks bad?",
    "Who opens the release pull request?", "What needs to happen before a deploy reaches production?",
    "How long is the canary phase?", "How is a release prepared?", "What gets posted in the incident channel?",
    "How many people must approve a release?", "What is the naming scheme for release branches?",
    "Which image does a rollback go back to?", "What does CI wait for after the staging tests?",
    "Are releases weekly or every two weeks?", "What are the steps of our release process?",
    "What triggers a rollback?", "What happens to the container image after the release PR merges?",
]
"""Questions the seeded handbook (bench/slack_harness.HANDBOOK) answers."""
UNANSWERABLE = [
    "What is the parental leave policy?", "How do I expense a flight to a conference?",
    "How do I reset my VPN password?", "What's the office wifi password?", "What is the team lunch budget?",
    "Which days are company holidays this year?", "How do I book a meeting room?",
    "Does our dental insurance cover braces?", "How often do we get a new laptop?",
    "Who approves vacation requests?",
]
"""Questions it does not cover (the bot should abstain)."""


def burst_questions(count: int) -> list[tuple[str, bool]]:
    """`count` questions with whether the handbook answers them: every fifth unanswerable, distinct up to 50."""
    answerable, unanswerable = iter(ANSWERABLE), iter(UNANSWERABLE)
    pool = [(next(unanswerable), False) if n % 5 == 4 else (next(answerable), True)
            for n in range(len(ANSWERABLE) + len(UNANSWERABLE))]
    return [pool[n % len(pool)] for n in range(count)]


def spaced_sample(items: list[tuple[str, bool]], count: int) -> list[tuple[str, bool]]:
    """`count` of `items` in their order: answerable and not in the whole's proportion, each evenly spaced.

    (Spacing over the whole list alone could step in time with the every-fifth unanswerable ones.)
    """
    count = min(count, len(items))
    groups = [[i for i, (_, answerable) in enumerate(items) if answerable is flag] for flag in (True, False)]
    unanswerable = round(count * len(groups[1]) / len(items)) if items else 0
    chosen: list[int] = []
    for group, wanted in zip(groups, (count - unanswerable, unanswerable), strict=True):
        taken = min(wanted, len(group))
        chosen += [group[n * len(group) // taken] for n in range(taken)]
    return [items[i] for i in sorted(chosen)]


@dataclass(frozen=True, slots=True)
class Asked:
    """One question put to the app: what, its message ts, when it was sent, and the HTTP ack."""

    question: str
    answerable: bool
    ts: str
    sent: float
    """`time.monotonic()` just before the request (the fake timestamps the bot's calls on the same clock)."""
    ack_status: int | None
    """The app's HTTP status; None when it gave none (refused, timed out)."""
    ack_ms: float | None


def send(stack: SlackStack, question: tuple[str, bool]) -> Asked:
    ts, sent, reply = post_question(stack, question[0])
    return Asked(question[0], question[1], ts, sent, reply.status if reply else None,
                 round(reply.elapsed_s * 1000, 1) if reply else None)


def run_sequential(stack: SlackStack, questions: list[tuple[str, bool]], timeout_s: float) -> list[Asked]:
    """Each question sent when the previous reply ended (or `timeout_s` after it was sent)."""
    fake, asked = stack.fake, []
    for question in questions:
        asked.append(one := send(stack, question))
        try:
            fake.wait_until(lambda one=one: reply_end(fake.calls, one.ts), timeout=timeout_s, what="a reply")
        except AssertionError:
            print(f"no reply within {timeout_s:.0f} s: {one.question}")
    return asked


def run_burst(stack: SlackStack, questions: list[tuple[str, bool]], senders: int, timeout_s: float) -> list[Asked]:
    """All questions sent at once from `senders` threads; returns when every reply ended or timed out."""
    with ThreadPoolExecutor(max_workers=senders) as pool:
        asked = list(pool.map(lambda question: send(stack, question), questions))
    pending = list(asked)
    while pending:  # polled on a snapshot: never holds the fake's lock while the bot is answering
        calls = list(stack.fake.calls)
        now = time.monotonic()
        pending = [a for a in pending if reply_end(calls, a.ts) is None and now - a.sent < timeout_s]
        if pending:
            time.sleep(POLL_S)
    return asked


class CpuMeter:
    """CPU seconds spent during a window by the app (gunicorn and its workers), by this process (the fake
    Slack and the threads sending the questions, which share the app's cores here but not in production),
    and by everything else on the machine (Postgres mostly), with the window's wall time."""

    def __init__(self, app: subprocess.Popen[bytes]) -> None:
        self._app = psutil.Process(app.pid)

    def _app_seconds(self) -> float:
        total = 0.0
        for process in [self._app, *self._app.children(recursive=True)]:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def _sample(self) -> tuple[float, float, float, float]:
        machine = psutil.cpu_times()
        own = psutil.Process().cpu_times()
        return (time.monotonic(), self._app_seconds(), own.user + own.system,
                machine.user + machine.system + getattr(machine, "nice", 0.0))

    def __enter__(self) -> CpuMeter:
        self._start = self._sample()
        return self

    def __exit__(self, *_: object) -> None:
        end = self._sample()
        wall, app, bench, machine = (b - a for a, b in zip(self._start, end, strict=True))
        self.figures = {"wall_s": round(wall, 2), "app_cpu_s": round(app, 2), "bench_cpu_s": round(bench, 2),
                        "other_cpu_s": round(max(0.0, machine - app - bench), 2),
                        "cores": psutil.cpu_count() or 0}


def listen_overflows() -> int | None:
    """The kernel's count of connections dropped because a listening socket's queue was full (Linux's
    TcpExt ListenOverflows; None elsewhere). Each drop costs the sender a 1 s SYN retransmit."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            fields = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(fields["ListenOverflows"]) if "ListenOverflows" in fields else None
    return None


class BurstWatch:
    """What went wrong quietly during the burst: the app's warnings and errors (its JSON log lines from
    the burst's start, counted by logger and first line of the message) and listen-queue overflows.

    Both cost seconds without failing a question: a Postgres deadlock between two questions storing
    the same passages' unit vectors waited out `deadlock_timeout` (1 s), and the fake Slack's stdlib
    backlog of 5 dropped connections, each retried a second later; the figures name such waits.
    """

    def __init__(self, log: Path) -> None:
        self._log = log
        self.figures: dict[str, Any] = {}

    def __enter__(self) -> BurstWatch:
        self._offset = self._log.stat().st_size
        self._overflows = listen_overflows()
        return self

    def __exit__(self, *_: object) -> None:
        overflows = listen_overflows()
        self.figures = {"app_warnings": self._warnings(),
                        "listen_overflows": None if overflows is None or self._overflows is None
                        else overflows - self._overflows}

    def _warnings(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        with open(self._log, encoding="utf-8", errors="replace") as log:
            log.seek(self._offset)
            for line in log:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and entry.get("level") in ("WARNING", "ERROR", "CRITICAL"):
                    message = str(entry.get("message", "")).splitlines()[0][:120] if entry.get("message") else ""
                    counts[f"{entry.get('logger', '?')}: {message}"] += 1
        return dict(counts)


def records(calls: list[SlackCall], asked: list[Asked], timeout_s: float) -> list[dict[str, Any]]:
    """Per question: the ack, when it was sent (s after the run's first), and its reply's timeline and outcome."""
    start = min(a.sent for a in asked)
    return [{"question": a.question, "answerable": a.answerable, "ack_status": a.ack_status, "ack_ms": a.ack_ms,
             "sent_at_s": round(a.sent - start, 3), **reply_timeline(calls, a.ts, a.sent, timeout_s=timeout_s)}
            for a in asked]


def spread(values: list[float]) -> dict[str, float] | None:
    """p50, p95 and max of `values` (None when there are none)."""
    if not values:
        return None
    return {"p50": percentile(values, 0.5), "p95": percentile(values, 0.95), "max": max(values)}


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One run's figures from its per-question records (`records`)."""
    outcomes = {outcome: sum(r["outcome"] == outcome for r in rows) for outcome in OUTCOMES}
    replied = [r for r in rows if r["outcome"] in ("answered", "abstained")]
    admitted = [r for r in rows if r["ack_status"] == 200 and r["outcome"] != "busy"]
    texts = [r["first_text_s"] for r in admitted if r["first_text_s"] is not None]
    ends = [r["sent_at_s"] + r["final_s"] for r in rows if r["final_s"] is not None]
    wall = max(ends) if ends else None
    return {
        "questions": len(rows), "accepted": sum(r["ack_status"] == 200 for r in rows), "outcomes": outcomes,
        "answerable_answered": sum(r["answerable"] and r["outcome"] == "answered" for r in rows),
        "summary_skipped": sum(bool(r.get("summary_skipped")) for r in rows),
        "answerable": sum(r["answerable"] for r in rows),
        "unanswerable_abstained": sum(not r["answerable"] and r["outcome"] == "abstained" for r in rows),
        "unanswerable": sum(not r["answerable"] for r in rows),
        "wall_s": round(wall, 2) if wall is not None else None,
        "questions_per_minute": round(60 * len(replied) / wall, 2) if wall else None,
        "ack_ms": spread([r["ack_ms"] for r in rows if r["ack_ms"] is not None]),
        "first_visible_s": spread([r["first_visible_s"] for r in rows if r["first_visible_s"] is not None]),
        "admitted": len(admitted), "first_text_s": spread(texts),
        "first_text_within_target": sum(t <= FIRST_TEXT_TARGET_S for t in texts),
        "final_s": spread([r["final_s"] for r in replied]),
    }


def ratios(burst: dict[str, Any], sequential: dict[str, Any] | None) -> dict[str, float | None]:
    """The burst's figures over the baseline's: throughput, and p50 first text and final reply."""
    def over(a: float | None, b: float | None) -> float | None:
        return round(a / b, 2) if a is not None and b else None

    def p50(run: dict[str, Any] | None, key: str) -> float | None:
        return run[key]["p50"] if run and run[key] else None

    return {"questions_per_minute": over(burst["questions_per_minute"],
                                         sequential["questions_per_minute"] if sequential else None),
            "first_text_p50": over(p50(burst, "first_text_s"), p50(sequential, "first_text_s")),
            "final_p50": over(p50(burst, "final_s"), p50(sequential, "final_s"))}


def served_settings(args: argparse.Namespace, senders: int, sequential: int) -> dict[str, Any]:
    """What the run served with: gunicorn, the admission settings as the app reads them, model, summary, embedder."""
    from knowledge.embedding import resolve_backend
    from knowledge.ranking_model import ranking_folder, ranking_off
    from knowledge.settings import KnowledgeSettings

    generation, slack = GenerationSettings(), SlackSettings()
    models = ModelsSettings(base_model=args.model) if args.model else ModelsSettings()
    return {"workers": args.workers, "threads": args.threads, "questions": args.questions, "senders": senders,
            "sequential_questions": sequential, "timeout_s": args.timeout_s,
            "model": Path(models.base_model_path()).name, "summary": args.summary == "on",
            "max_new_tokens": AnsweringSettings().max_new_tokens, "rerank_depth": AnsweringSettings().rerank_depth,
            "slack_workers": slack.kb_slack_workers, "slack_queue": slack.kb_slack_queue,
            "max_concurrent_generations": generation.max_concurrent, "max_waiting_generations": generation.max_waiting,
            "torch_threads": generation.torch_threads, "stream_mode": slack.kb_stream_mode,
            "summary_nice": generation.summary_nice if args.summary_nice is None else args.summary_nice,
            "evidence_first_pause_s": generation.evidence_first_pause_s if args.evidence_first_pause_s is None
            else args.evidence_first_pause_s,
            "prefill_chunk_tokens": generation.prefill_chunk_tokens if args.prefill_chunk_tokens is None
            else args.prefill_chunk_tokens,
            "embedding_backend": resolve_backend(KnowledgeSettings().embedding_backend),
            "update_tier_per_minute": args.update_tier or None,
            "unit_vector_cache": args.unit_vector_cache == "on", "burst_starts_without_stored_unit_vectors": True,
            "finishing_after_evidence": True,
            "ranking_model": "off" if ranking_off(models.ranking_model)
            else ranking_folder(models.ranking_model, models.models_dir).name}


def forget_unit_vectors(stack: SlackStack) -> None:
    """Empty the stored unit vectors, so the burst's questions embed their passages' units as a new
    knowledge base's first questions do (what the burst's own earlier questions store, it reuses)."""
    from sqlalchemy import delete

    from store.schema import UnitVectors

    with stack.sessions() as session, session.begin():
        session.execute(delete(UnitVectors))


def show(name: str, run: dict[str, Any]) -> None:
    """Print one run's headline figures."""
    def seconds(figures: dict[str, float] | None) -> str:
        return "—" if figures is None else f"p50 {figures['p50']:.2f} s, p95 {figures['p95']:.2f} s, " \
                                            f"max {figures['max']:.2f} s"

    qpm = run["questions_per_minute"]
    print(f"{name}: {run['questions']} questions, {run['accepted']} acked 200; {run['outcomes']}; "
          f"{'—' if qpm is None else f'{qpm:.1f}'} questions/min over {run['wall_s']} s")
    print(f"  first visible {seconds(run['first_visible_s'])}")
    print(f"  first text    {seconds(run['first_text_s'])} ({run['first_text_within_target']} of "
          f"{run['admitted']} admitted within {FIRST_TEXT_TARGET_S:.0f} s)")
    print(f"  final         {seconds(run['final_s'])}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=50, help="questions in the burst [default: %(default)s]")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers [default: %(default)s]")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker [default: %(default)s]")
    parser.add_argument("--senders", type=int, default=0, help="threads sending the burst (0: one per question)")
    parser.add_argument("--sequential", type=int, default=None,
                        help="questions in the one-at-a-time baseline, evenly spaced (default: all; 0: none)")
    parser.add_argument("--summary", choices=("on", "off"), default="on",
                        help="off: evidence-only answers, no model call (KB_ANSWER_SUMMARY=false)")
    parser.add_argument("--timeout-s", type=float, default=900.0,
                        help="a reply ending later than this after its question counts as none [default: %(default)s]")
    parser.add_argument("--model", default="", help="model folder (default: the converted SmolLM2)")
    parser.add_argument("--update-tier", type=int, default=0,
                        help="chat.update calls a minute the fake Slack allows during the burst, then 429 with "
                             "Retry-After, as Slack's Tier 3 (about 50) does; 0: unlimited [default: %(default)s]")
    parser.add_argument("--summary-nice", type=int, default=None,
                        help="KB_SUMMARY_NICE for the app (default: the product's)")
    parser.add_argument("--evidence-first-pause-s", type=float, default=None,
                        help="KB_EVIDENCE_FIRST_PAUSE_S for the app: the most a generation, or a shown answer's "
                             "record and final blocks, wait for waiting questions' evidence (0: never; default: the "
                             "product's)")
    parser.add_argument("--prefill-chunk-tokens", type=int, default=None,
                        help="KB_PREFILL_CHUNK_TOKENS for the app: the prompt read in pieces this size while pausing "
                             "is on (0: in one pass; default: the product's)")
    parser.add_argument("--unit-vector-cache", choices=("on", "off"), default="on",
                        help="KB_ANSWER_UNIT_VECTOR_CACHE: keep passages' unit vectors once embedded; the stored "
                             "ones are emptied before the burst either way [default: %(default)s]")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"result file [default: {RESULTS}, or {EVIDENCE_ONLY_RESULTS} with --summary off]")
    args = parser.parse_args(argv)
    out = args.out or (RESULTS if args.summary == "on" else EVIDENCE_ONLY_RESULTS)
    questions = burst_questions(args.questions)
    baseline = spaced_sample(questions, len(questions) if args.sequential is None else args.sequential)
    senders = args.senders or len(questions)
    machine = machine_at_start()
    env = {"KB_ANSWER_SUMMARY": "true" if args.summary == "on" else "false",
           "KB_ANSWER_UNIT_VECTOR_CACHE": "true" if args.unit_vector_cache == "on" else "false",
           **({"KB_SUMMARY_NICE": str(args.summary_nice)} if args.summary_nice is not None else {}),
           **({"KB_EVIDENCE_FIRST_PAUSE_S": str(args.evidence_first_pause_s)}
              if args.evidence_first_pause_s is not None else {}),
           **({"KB_PREFILL_CHUNK_TOKENS": str(args.prefill_chunk_tokens)}
              if args.prefill_chunk_tokens is not None else {})}
    with slack_stack("burst", workers=args.workers, threads=args.threads, model=args.model, env=env) as stack:
        print(f"gunicorn gthread workers={args.workers} threads={args.threads}; summary {args.summary}; "
              f"cores={os.cpu_count()}")
        warm_up(stack, args.workers)
        sequential = run_sequential(stack, baseline, args.timeout_s) if baseline else []
        forget_unit_vectors(stack)
        if args.update_tier:
            stack.fake.rate_limit({"chat.update": args.update_tier})
        with CpuMeter(stack.process) as cpu, BurstWatch(stack.log) as watch:
            burst = run_burst(stack, questions, senders, args.timeout_s)
        calls = list(stack.fake.calls)
    runs = {"burst": records(calls, burst, args.timeout_s),
            "sequential": records(calls, sequential, args.timeout_s) if sequential else []}
    summaries = {name: summarise(rows) if rows else None for name, rows in runs.items()}
    if summaries["sequential"]:
        show("one at a time", summaries["sequential"])
    show("burst", summaries["burst"])
    print(f"  CPU during the burst: {cpu.figures}")
    print(f"  app warnings during the burst: {watch.figures['app_warnings'] or 'none'}; "
          f"listen-queue overflows: {watch.figures['listen_overflows']}")
    limited = Counter(call.method for call in calls if call.status == 429)
    figures = {"settings": served_settings(args, senders, len(baseline)), **summaries,
               "rate_limited_calls": dict(limited), "burst_cpu": cpu.figures, "burst_watch": watch.figures,
               "ratios": ratios(summaries["burst"], summaries["sequential"]),
               "questions": runs, "machine": machine_at_end(machine)}
    print(f"wrote {write_result('burst', figures, out)}")


if __name__ == "__main__":
    main()
