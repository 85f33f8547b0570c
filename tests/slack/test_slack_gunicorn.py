"""The app served by gunicorn with two worker processes: signed HTTP in, exactly one answer out."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from store.schema import Answer
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack
from tests.fakes.slack_requests import SIGNING_SECRET, HttpReply, SignedRequest, SlackRequests, mention, message

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.usefixtures("documents")


@dataclass
class Served:
    url: str
    fake: FakeSlack
    requests: SlackRequests
    log: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def worker_pids(base: str) -> set[str]:
    pids = set()
    for _ in range(12):
        with urllib.request.urlopen(base + "/healthz", timeout=5) as response:
            pids.add(response.headers["X-Worker-Pid"])
    return pids


@contextmanager
def two_gunicorn_workers(env: dict[str, str], log: Path, *, options: tuple[str, ...] = ()) -> Iterator[str]:
    """`tests.slack.served_app` under gunicorn with two gthread workers (and `options`), once both answer; its base URL.

    Stopped (SIGTERM) when the block ends; its output goes to `log`.
    """
    port = free_port()
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", *options, "tests.slack.served_app:application", "--workers", "2",
             "--worker-class", "gthread", "--threads", "4", "--bind", f"127.0.0.1:{port}", "--timeout", "120"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if len(worker_pids(base)) == 2:
                    break
            except OSError:
                pass
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "gunicorn workers did not come up:\n" + log.read_text()[-3000:]
            time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        process.wait(30)


@pytest.fixture(scope="module")
def served(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    fake = FakeSlack().start()
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    env = {**os.environ, "DATABASE_URL": database_url, "SLACK_API_URL": fake.api_url, "SLACK_BOT_TOKEN": BOT_TOKEN,
           "SLACK_SIGNING_SECRET": SIGNING_SECRET, "KB_TEST_TOKEN_DELAY_S": "0.02", "KB_STREAM_INTERVAL_S": "0.1"}
    try:
        with two_gunicorn_workers(env, log) as base:
            yield Served(base + "/slack/events", fake, SlackRequests(SIGNING_SECRET, response_base=fake.base), log)
    finally:
        fake.stop()


def send_all(url: str, requests: list[SignedRequest]) -> list[HttpReply]:
    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(lambda r: r.post(url), requests))


def test_duplicated_and_retried_deliveries_are_answered_once_across_processes(served: Served, sessions) -> None:
    seen_pids: set[str] = set()
    for round_number in range(3):
        question = "How do I deploy the billing service?"
        ts = served.fake.add_message("C1", f"<@UBOT> {question}")["ts"]
        as_mention = served.requests.event(mention("C1", ts, question), event_id=f"EvDUP{round_number}")
        as_message = served.requests.event(message("C1", ts, f"<@UBOT> {question}"), event_id=f"EvMSG{round_number}")
        deliveries = [as_mention, as_mention.with_headers(x_slack_retry_num="1", x_slack_retry_reason="http_timeout"),
                      as_mention.with_headers(x_slack_retry_num="2"), as_message, as_message, as_mention]
        replies = send_all(served.url, deliveries * 2)
        assert {r.status for r in replies} == {200}, [r.body for r in replies]
        assert max(r.elapsed_s for r in replies) < 2.0, "every delivery is acked well within Slack's 3 s"
        seen_pids |= {r.headers["X-Worker-Pid"] for r in replies}

        served.fake.wait_until(lambda ts=ts: any(m.get("blocks") for m in served.fake.bot_replies("C1", ts)),
                               timeout=60, what="the final answer")
        time.sleep(1.0)  # a duplicate answer, if any, would start within this time
        starts = [c for c in served.fake.calls_to("chat.startStream") if c.body["thread_ts"] == ts]
        assert len(starts) == 1, f"answered {len(starts)} times"
        with sessions() as session:
            assert session.query(Answer).filter(Answer.thread_ts == ts).count() == 1
    assert len(seen_pids) == 2, "both worker processes took deliveries"


def test_signatures_are_checked_over_http(served: Served) -> None:
    ts = served.fake.add_message("C1", "<@UBOT> When do backups run?")["ts"]
    signed = served.requests.event(mention("C1", ts, "When do backups run?"))
    assert signed.with_headers(x_slack_signature="v0=" + "0" * 64).post(served.url).status == 401
    stale = served.requests.event(mention("C1", ts, "When do backups run?"), timestamp=int(time.time()) - 301)
    assert stale.post(served.url).status == 401
    time.sleep(0.5)
    assert not served.fake.bot_replies("C1", ts)
