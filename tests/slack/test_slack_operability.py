"""Operability over real HTTP: JSON log lines carrying event and answer ids, /metrics, /readyz, /kb status processes."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from bot.adapter_follower import AdapterFollower
from bot.slack.http_app import http_application, with_ops_endpoints
from bot.slack.ops_server import OpsServer, not_found
from store.adapter_registry import promote, register_adapter
from store.log_format import configure_logging
from store.process_heartbeats import HeartbeatWriter, Served
from store.ranking_registry import deploy_ranking_model
from store.schema import Answer, TrainingRun
from tests.fakes.slack_requests import mention
from tests.slack.conftest import MakeBot
from tests.slack.harness import SlackHarness
from tests.slack.test_slack_http_edges import SETTINGS, post, serve
from tests.slack.test_slack_http_edges import Served as HttpServer

pytestmark = pytest.mark.usefixtures("documents")
QUESTION = "When do database backups run?"


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Root logging as the servers configure it (JSON at INFO) into a buffer; the previous setup restored after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    buffer = io.StringIO()
    configure_logging("json", "INFO", stream=buffer)
    yield buffer
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


@pytest.fixture
def bot(make_bot: MakeBot) -> SlackHarness:
    return make_bot()


@pytest.fixture
def served(bot: SlackHarness) -> Iterator[HttpServer]:
    yield from serve(http_application(bot.app, settings=SETTINGS, sessions=bot.sessions, generator=bot.generator))


def _ask_over_http(bot: SlackHarness, served: HttpServer, *, event_id: str, question: str = QUESTION) -> str:
    ts = str(bot.fake.add_message("C1", f"<@UBOT> {question}")["ts"])
    assert post(served, bot.requests.event(mention("C1", ts, question), event_id=event_id))[0] == 200
    bot.settle()
    return ts


def _samples(served: HttpServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, body = served.request("GET", "/metrics")
    assert status == 200
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(body) for sample in family.samples}


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_an_answered_event_logs_json_lines_carrying_its_event_and_answer_ids(
        bot: SlackHarness, served: HttpServer, log_lines: io.StringIO) -> None:
    _ask_over_http(bot, served, event_id="EvLOG0001")
    records = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    assert records, "the servers' logging wrote nothing"
    assert all({"time", "level", "logger", "message", "process", "thread"} <= set(r) for r in records)
    answer_id = bot.rows(Answer)[0].id
    answered = [r for r in records if r.get("outcome") == "answered"]
    assert len(answered) == 1, records
    assert answered[0]["event_id"] == "EvLOG0001" and answered[0]["answer_id"] == answer_id
    assert answered[0]["logger"] == "bot.slack.answer_flow" and answered[0]["level"] == "INFO"


def test_a_duplicate_delivery_is_logged_with_the_event_id_it_repeats(
        bot: SlackHarness, served: HttpServer, log_lines: io.StringIO) -> None:
    ts = _ask_over_http(bot, served, event_id="EvDUP0001")
    retry = bot.requests.event(mention("C1", ts, QUESTION), event_id="EvDUP0001", retry_num=1)
    assert post(served, retry)[0] == 200
    bot.settle()
    records = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    dropped = [r for r in records if "dropped duplicate delivery" in r["message"]]
    assert [r.get("event_id") for r in dropped] == ["EvDUP0001"]
    assert not any(r.get("event_id") for r in records if r["thread"] == "MainThread"), \
        "the id stays with the event's dispatch, not the thread that served it"


def test_metrics_count_an_answered_question_and_time_its_first_text_and_answer(
        bot: SlackHarness, served: HttpServer) -> None:
    before = _samples(served)
    _ask_over_http(bot, served, event_id="EvMET0001")
    after = _samples(served)
    assert _value(after, "kb_answers_total", outcome="answered") == _value(before, "kb_answers_total",
                                                                            outcome="answered") + 1
    for histogram in ("kb_answer_first_text_seconds", "kb_answer_seconds"):
        assert _value(after, f"{histogram}_count") == _value(before, f"{histogram}_count") + 1, histogram
        assert _value(after, f"{histogram}_sum") > _value(before, f"{histogram}_sum"), histogram
    assert _value(after, "kb_answer_first_text_seconds_sum") - _value(before, "kb_answer_first_text_seconds_sum") \
        <= _value(after, "kb_answer_seconds_sum") - _value(before, "kb_answer_seconds_sum"), \
        "the first text cannot come after the final answer"
    assert ("kb_admission_running", ()) in after and ("kb_admission_waiting", ()) in after


def test_metrics_count_a_busy_question_and_read_training_runs_from_the_database(make_bot: MakeBot) -> None:
    from bot.slack.work import BackgroundWork

    bot = make_bot(work=BackgroundWork(max_workers=1, max_queued=0))
    with bot.sessions.begin() as session:
        session.add_all([TrainingRun(status=status, trigger="cli")
                         for status in ("rejected", "failed", "rejected", "queued")])
    for served in serve(http_application(bot.app, settings=SETTINGS, sessions=bot.sessions,
                                         generator=bot.generator)):
        before = _samples(served)
        bot.ask_while_full(QUESTION, send=lambda signed, to=served: post(to, signed)[0])
        after = _samples(served)
        assert _value(after, "kb_answers_total", outcome="busy") == _value(before, "kb_answers_total",
                                                                        outcome="busy") + 1
        assert _value(after, "kb_training_runs_total", outcome="rejected") == 2
        assert _value(after, "kb_training_runs_total", outcome="failed") == 1
        assert _value(after, "kb_training_runs_total", outcome="succeeded") == 0
        assert _value(after, "kb_training_runs_active", status="queued") == 1


def test_work_pool_rejections_are_counted(make_bot: MakeBot) -> None:
    from bot.slack.work import BackgroundWork, WorkRejected

    pool = BackgroundWork(max_workers=1, max_queued=0, name="kb-test-pool")
    bot = make_bot()
    for served in serve(http_application(bot.app, settings=SETTINGS, sessions=bot.sessions,
                                         generator=bot.generator)):
        before = _value(_samples(served), "kb_work_rejected_total", pool="kb-test-pool")
        release = threading.Event()
        pool.submit(release.wait, 10)
        with pytest.raises(WorkRejected):
            pool.submit(print)
        release.set()
        assert pool.wait_idle(10)
        assert _value(_samples(served), "kb_work_rejected_total", pool="kb-test-pool") == before + 1
    pool.shutdown()


def test_readyz_checks_the_follower_and_names_the_adapter_served(
        bot: SlackHarness, sessions: sessionmaker[Session], adapter_a_dir: Path) -> None:
    follower = AdapterFollower(sessions, bot.generator, poll_interval_s=0.2)
    app = http_application(bot.app, settings=SETTINGS, sessions=sessions, generator=bot.generator, follower=follower)
    for served in serve(app):
        status, body = served.request("GET", "/readyz")
        assert status == 503 and list(json.loads(body)["failing"]) == ["adapter_follower"], body
        with sessions.begin() as session:
            adapter = register_adapter(session, name="kb-v1", path=str(adapter_a_dir), base_model="tiny")
            promote(session, adapter.id, actor="test")
        follower.start()
        try:
            status, body = served.request("GET", "/readyz")
            assert status == 200, body
            assert json.loads(body)["serving"] == {"adapter_id": adapter.id, "adapter": "kb-v1",
                                                   "generator_adapter": "kb-v1"}
            bot.generator.use_base()  # something switched the generator behind the follower's back
            status, body = served.request("GET", "/readyz")
            assert status == 503 and "generator serves 'base'" in json.loads(body)["failing"]["adapter"]
        finally:
            follower.stop()


def test_kb_status_lists_what_each_live_process_really_serves(
        bot: SlackHarness, sessions: sessionmaker[Session], adapter_a_dir: Path) -> None:
    with sessions.begin() as session:
        adapter = register_adapter(session, name="kb-v7", path=str(adapter_a_dir), base_model="tiny",
                                   sha256="ab12" * 16)
        promote(session, adapter.id, actor="test")
    web = HeartbeatWriter(sessions, kind="web", interval_s=60,
                          served=lambda: Served(adapter_id=adapter.id, adapter_name="kb-v7", model="var/models/m",
                                                ranking_model="mpnet-votes-1"))
    lagging = HeartbeatWriter(sessions, kind="socket", interval_s=60,
                              served=lambda: Served(adapter_id=None, adapter_name="base", model="var/models/m"))
    dead = HeartbeatWriter(sessions, kind="worker", interval_s=60,
                           served=lambda: Served(adapter_id=None, adapter_name=None, model="var/models/m"))
    trainer = HeartbeatWriter(sessions, kind="worker", interval_s=60,
                              served=lambda: Served(adapter_id=None, adapter_name=None, model="var/models/m"))
    for writer in (web, lagging, dead, trainer):
        writer.beat_once()
    with sessions.begin() as session:
        session.execute(text("update process_heartbeats set last_seen = now() - interval '10 minutes', pid = 999999 "
                             "where id = :id"), {"id": dead.process_id})
    bot.command("status")
    shown = json.dumps(bot.fake.responses()[0]["blocks"], ensure_ascii=False)
    assert "*Serving:* adapter `kb-v7` (deployed)" in shown
    assert "*Ranking model:* the configured one" in shown
    assert "serves adapter `kb-v7` (sha256 ab12ab12ab12) on `var/models/m`, ranks with `mpnet-votes-1`" in shown
    assert "• socket" in shown and "serves the base model on `var/models/m`" in shown, "the lagging process shows"
    assert "pid 999999" not in shown, "a process silent for 10 minutes is dead"
    assert shown.count("• worker") == 1 and "trains on `var/models/m`" in shown
    with sessions.begin() as session:
        deploy_ranking_model(session, folder="/models/ranking-tuned/mpnet-votes-1", name="mpnet-votes-1",
                             actor="schedule")
    bot.command("status")
    assert "*Ranking model:* `mpnet-votes-1` (deployed)" in json.dumps(
        bot.fake.responses()[1]["blocks"], ensure_ascii=False)


def test_a_socket_mode_process_serves_health_readiness_and_metrics_on_its_ops_port(
        bot: SlackHarness, sessions: sessionmaker[Session]) -> None:
    follower = AdapterFollower(sessions, bot.generator, poll_interval_s=0.2)
    follower.start()
    ops = OpsServer(with_ops_endpoints(not_found, sessions=sessions, generator=bot.generator, follower=follower),
                    host="127.0.0.1", port=0).start()
    try:
        served = HttpServer("127.0.0.1", ops.port)
        assert served.request("GET", "/healthz") == (200, "ok")
        status, body = served.request("GET", "/readyz")
        assert status == 200 and json.loads(body)["serving"]["adapter"] == "base"
        assert ("kb_answers_total", (("outcome", "answered"),)) in _samples(served)
        assert served.request("POST", "/slack/events", b"{}")[0] == 404, "Slack talks to it over the websocket only"
    finally:
        ops.stop()
        follower.stop()
    with pytest.raises(ValueError, match="KB_OPS_PORT must be a TCP port"):
        OpsServer(not_found, port=70000)


def test_readyz_says_why_a_deployed_adapter_of_another_base_model_is_not_served(
        bot: SlackHarness, sessions: sessionmaker[Session], adapter_a_dir: Path) -> None:
    with sessions.begin() as session:
        adapter = register_adapter(session, name="kb-v9", path=str(adapter_a_dir), base_model="models/other-base")
        promote(session, adapter.id, actor="test")
    follower = AdapterFollower(sessions, bot.generator, poll_interval_s=0.2, served_base_model="models/served-base")
    follower.start()
    try:
        app = http_application(bot.app, settings=SETTINGS, sessions=sessions, generator=bot.generator,
                               follower=follower)
        for served in serve(app):
            status, body = served.request("GET", "/readyz")
            shown = json.loads(body)["serving"]
            assert status == 200, "the base model still answers"
            assert shown["adapter"] == "base" and "trained on base model 'models/other-base'" in shown["refused"]
    finally:
        follower.stop()
