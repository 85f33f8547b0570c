"""/metrics under gunicorn with two workers (bot.slack.gunicorn_conf): each worker reports all answers of both."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.slack_api import BOT_TOKEN, FakeSlack
from tests.fakes.slack_requests import SIGNING_SECRET, SlackRequests, mention
from tests.slack.test_slack_gunicorn import Served, send_all, two_gunicorn_workers

pytestmark = pytest.mark.usefixtures("documents")
QUESTIONS = ("How do I deploy the billing service?", "When do database backups run?",
             "Where do I run make deploy?", "How often are backups taken?")


@pytest.fixture(scope="module")
def served(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    fake = FakeSlack().start()
    log = tmp_path_factory.mktemp("gunicorn-metrics") / "gunicorn.log"
    env = {**os.environ, "DATABASE_URL": database_url, "SLACK_API_URL": fake.api_url, "SLACK_BOT_TOKEN": BOT_TOKEN,
           "SLACK_SIGNING_SECRET": SIGNING_SECRET, "KB_STREAM_INTERVAL_S": "0.1"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.pop("KB_LOG_FORMAT", None)
    try:
        with two_gunicorn_workers(env, log, options=("-c", "python:bot.slack.gunicorn_conf")) as base:
            yield Served(base, fake, SlackRequests(SIGNING_SECRET, response_base=fake.base), log)
    finally:
        fake.stop()


def _scrape(base: str) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    with urllib.request.urlopen(base + "/metrics", timeout=10) as response:
        pid, body = response.headers["X-Worker-Pid"], response.read().decode()
    return pid, {(s.name, tuple(sorted(s.labels.items()))): s.value
                 for family in text_string_to_metric_families(body) for s in family.samples}


def test_any_worker_reports_the_answers_of_both(served: Served) -> None:
    asked = []
    for question in QUESTIONS:
        ts = served.fake.add_message("C1", f"<@UBOT> {question}")["ts"]
        asked.append(served.requests.event(mention("C1", ts, question)))
    replies = send_all(served.url + "/slack/events", asked)
    assert {r.status for r in replies} == {200}
    for request in asked:
        ts = json.loads(request.body)["event"]["ts"]
        served.fake.wait_until(lambda ts=ts: any(m.get("blocks") for m in served.fake.bot_replies("C1", ts)),
                               timeout=60, what="the final answer")
    time.sleep(0.5)  # the outcome is counted just after the final update
    scrapes = {}
    for _ in range(40):  # until both workers have answered a scrape
        pid, samples = _scrape(served.url)
        scrapes[pid] = samples
        if len(scrapes) == 2:
            break
    assert len(scrapes) == 2, "both workers answered /metrics"
    for pid, samples in scrapes.items():
        handled = sum(v for (name, labels), v in samples.items() if name == "kb_answers_total"
                      and dict(labels)["outcome"] in ("answered", "abstained", "verified"))
        assert handled == len(QUESTIONS), (pid, handled)
        assert samples[("kb_answer_seconds_count", ())] == len(QUESTIONS), pid
        assert samples[("kb_admission_running", ())] == 0, pid


def test_gunicorn_logs_its_own_lines_as_json(served: Served) -> None:
    lines = [line for line in served.log.read_text().splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    assert any(r["logger"] == "gunicorn.error" and "Booting worker" in r["message"] for r in records), lines[:5]
