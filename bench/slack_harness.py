"""The Slack benches' stage: the production WSGI app under gunicorn, a seeded database and the fake Slack.

bench/slack_ack.py and bench/burst.py both run `gunicorn 'bot.slack.wsgi:application'` (gthread) on
loopback with the default model (or `model`), against a throw-away embedded Postgres (bench/database.py)
seeded with a small handbook, and the fake Slack Web API from tests/fakes, which timestamps every
call the bot makes (read with bench/slack_transcript.py). `slack_stack` sets all of that up and
tears it down; `post_question` and `ask` put a signed `app_mention` to the app as Slack would.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from bench.database import bench_database
from bench.slack_transcript import final_answer
from knowledge.embedding import SentenceTransformerEmbedder
from knowledge.ingest import ingest_text
from store.process_heartbeats import live_processes
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack
from tests.fakes.slack_requests import SIGNING_SECRET, HttpReply, SlackRequests, mention

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
"""The seeded documents every Slack bench asks about."""
WARM_UP_QUESTION = "What is the release process?"
STARTUP_TIMEOUT_S = 300


@dataclass(frozen=True, slots=True)
class SlackStack:
    """A running app and what talks to it: the fake Slack, signed-request maker, events URL, database."""

    fake: FakeSlack
    requests: SlackRequests
    url: str
    """The app's `/slack/events`."""
    sessions: sessionmaker[Session]
    process: subprocess.Popen[bytes]
    """The gunicorn master."""
    log: Path
    """gunicorn's and the app's output (look here when the app misbehaves)."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_web(fake: FakeSlack, database_url: str, *, workers: int, threads: int, model: str = "",
              env: Mapping[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str, Path]:
    """Start gunicorn on a free loopback port; returns the master, the events URL once /healthz answers, the log.

    `env` is added to this process's environment (e.g. KB_ANSWER_SUMMARY); `model` sets KB_MODEL_PATH.
    """
    port = free_port()
    environment = {**os.environ, "DATABASE_URL": database_url, "SLACK_API_URL": fake.api_url,
                   "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                   "KB_ADAPTER_POLL_INTERVAL_S": "30", **(env or {})}
    if model:
        environment["KB_MODEL_PATH"] = model
    log_path = Path(tempfile.mkdtemp(prefix="bench-slack-")) / "gunicorn.log"
    log = open(log_path, "w")  # noqa: SIM115 - lives with the server
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "bot.slack.wsgi:application", "--worker-class", "gthread",
         "--workers", str(workers), "--threads", str(threads), "--timeout", "300",
         "--bind", f"127.0.0.1:{port}"], cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited; see {log.name}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2):
                return process, base + "/slack/events", log_path
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the app did not come up in {STARTUP_TIMEOUT_S} s; see {log.name}")


def wait_for_workers(sessions: sessionmaker[Session], workers: int, log: Path) -> None:
    """Wait until `workers` web processes have loaded their models (each writes a heartbeat row after that).

    /healthz answers as soon as one worker serves; without this a burst sent early lands on that one alone.
    """
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        with sessions() as session:
            if sum(p.kind == "web" for p in live_processes(session)) >= workers:
                return
        time.sleep(0.5)
    raise SystemExit(f"{workers} web workers did not come up in {STARTUP_TIMEOUT_S} s; see {log}")


@contextmanager
def slack_stack(name: str, *, workers: int, threads: int, model: str = "",
                env: Mapping[str, str] | None = None) -> Iterator[SlackStack]:
    """The app under gunicorn with every worker up, the seeded database and the fake Slack; stopped on exit.

    `name` tags the database's temp folder. Proxy variables are dropped from this process's
    environment first: every request here goes to loopback.
    """
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        os.environ.pop(proxy, None)
    _, sessions, database_url = bench_database(name)
    embedder = SentenceTransformerEmbedder()
    for title, text in HANDBOOK:
        ingest_text(sessions, embedder, title=title, text=text, fmt="markdown", source="text",
                    uri=f"https://handbook.example.com/{title.lower().replace(' ', '-')}")
    fake = FakeSlack().start()
    requests = SlackRequests(SIGNING_SECRET, response_base=fake.base)
    process, url, log = start_web(fake, database_url, workers=workers, threads=threads, model=model, env=env)
    try:
        wait_for_workers(sessions, workers, log)
        yield SlackStack(fake, requests, url, sessions, process, log)
    finally:
        process.terminate()
        process.wait(60)
        fake.stop()


def post_question(stack: SlackStack, question: str, *, channel: str = "C1") -> tuple[str, float, HttpReply | None]:
    """Post `question` as a new channel message mentioning the bot; its ts, when it was sent, the app's HTTP reply.

    The reply is None when the app gave no HTTP answer at all (connection refused, timed out).
    """
    ts = stack.fake.add_message(channel, f"<@UBOT> {question}")["ts"]
    signed = stack.requests.event(mention(channel, ts, question))
    sent = time.monotonic()
    try:
        return ts, sent, signed.post(stack.url)
    except OSError:
        return ts, sent, None


def ask(stack: SlackStack, question: str) -> tuple[str, float]:
    """`post_question`, insisting on the 200 ack; the question's ts and when it was sent."""
    ts, sent, reply = post_question(stack, question)
    assert reply is not None and reply.status == 200
    return ts, sent


def warm_up(stack: SlackStack, count: int = 1, *, timeout_s: float = 300) -> None:
    """Ask `count` warm-up questions at once and wait for every answer (first generations pay one-off costs).

    With several workers, `count` ≥ workers sent together very likely reach each of them (gunicorn
    gives no way to aim a request at a worker).
    """
    with ThreadPoolExecutor(max_workers=count) as pool:
        asked = list(pool.map(lambda _: ask(stack, WARM_UP_QUESTION)[0], range(count)))
    for ts in asked:
        stack.fake.wait_until(lambda ts=ts: final_answer(stack.fake.calls, ts), timeout=timeout_s,
                              what="the warm-up answer")


def percentile(values: list[float], q: float) -> float:
    """The `q` quantile of `values` by nearest rank (no interpolation: the figure is one that was measured)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]
