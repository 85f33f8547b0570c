"""The HTTP edge over real sockets: junk requests get a plain 4xx without a traceback; /healthz and /readyz."""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.slack.health import WSGIApp
from bot.slack.http_app import http_application
from bot.slack.settings import SlackSettings
from store.database import make_engine, make_session_factory
from tests.fakes.slack_requests import SIGNING_SECRET, SignedRequest, mention
from tests.scripted_generator import ScriptedGenerator
from tests.slack.conftest import MakeBot
from tests.slack.harness import SlackHarness

pytestmark = pytest.mark.usefixtures("documents")
MAX_BODY = 64 * 1024


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class Served:
    host: str
    port: int

    def request(self, verb: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
                ) -> tuple[int, str]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            connection.request(verb, path, body=body or None, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            connection.close()


def serve(app: WSGIApp) -> Iterator[Served]:
    server = make_server("127.0.0.1", 0, app, server_class=_Server, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Served("127.0.0.1", server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


SETTINGS = SlackSettings(slack_signing_secret=SIGNING_SECRET, kb_max_request_bytes=MAX_BODY)


@pytest.fixture
def bot(make_bot: MakeBot) -> SlackHarness:
    return make_bot()


@pytest.fixture
def served(bot: SlackHarness) -> Iterator[Served]:
    yield from serve(http_application(bot.app, settings=SETTINGS, sessions=bot.sessions, generator=bot.generator))


def post(served: Served, signed: SignedRequest) -> tuple[int, str]:
    return served.request("POST", "/slack/events", signed.body.encode(), signed.headers)


def test_a_signed_question_still_gets_through(bot: SlackHarness, served: Served) -> None:
    ts = bot.fake.add_message("C1", "<@UBOT> When do database backups run?")["ts"]
    assert post(served, bot.requests.event(mention("C1", ts, "When do database backups run?")))[0] == 200
    bot.settle()
    assert len(bot.generator.calls) == 1 and bot.final_answer("C1", ts)


def test_junk_requests_get_4xx_and_no_traceback(bot: SlackHarness, served: Served,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    signed_json = lambda body: bot.requests.sign(body, "application/json")  # noqa: E731
    junk = {
        "malformed JSON, signed": (signed_json('{"type": "event_callback", '), 400),
        "a JSON array, signed": (signed_json('[{"type": "event_callback"}]'), 400),
        "a form whose payload is not an object, signed": (
            bot.requests.sign("payload=%5B1%2C2%5D", "application/x-www-form-urlencoded"), 400),
        "a non-numeric timestamp": (signed_json("{}").with_headers(x_slack_request_timestamp="yesterday"), 401),
        "no signature headers": (SignedRequest("{}", {"content-type": "application/json"}), 401),
        "a stale signature": (bot.requests.sign("{}", "application/json", timestamp=int(time.time()) - 3600), 401),
        "malformed JSON, unsigned": (SignedRequest('{"x": ', {"content-type": "application/json"}), 401),
    }
    for name, (request, status) in junk.items():
        assert post(served, request)[0] == status, name
    assert served.request("POST", "/slack/events", headers={"Content-Type": "application/json"})[0] == 401, "empty"
    bot.settle()
    assert not bot.generator.calls
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], "no traceback, no error"


def test_a_body_over_the_cap_is_refused_before_it_is_read(served: Served) -> None:
    connection = http.client.HTTPConnection(served.host, served.port, timeout=10)
    try:  # a 10 MB upload announced the way curl does (Expect: 100-continue), unsigned
        connection.putrequest("POST", "/slack/events")
        for key, value in {"Content-Type": "application/json", "Content-Length": str(10 * 1024 * 1024),
                           "Expect": "100-continue"}.items():
            connection.putheader(key, value)
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 413 and str(MAX_BODY) in response.read().decode()
    finally:
        connection.close()


def test_healthz_is_liveness_and_readyz_checks_database_and_model(served: Served) -> None:
    assert served.request("GET", "/healthz") == (200, "ok")
    status, body = served.request("GET", "/readyz")
    assert (status, json.loads(body)) == (200, {"ready": True})


def test_readyz_is_503_naming_an_unreachable_database(bot: SlackHarness) -> None:
    nowhere = make_session_factory(make_engine("postgresql+psycopg://kb:kb@127.0.0.1:9/kb"))
    for served in serve(http_application(bot.app, settings=SETTINGS, sessions=nowhere, generator=bot.generator)):
        assert served.request("GET", "/healthz") == (200, "ok"), "the process itself is alive"
        status, body = served.request("GET", "/readyz")
        failing = json.loads(body)["failing"]
        assert status == 503 and list(failing) == ["database"] and "OperationalError" in failing["database"]


def test_readyz_is_503_when_the_model_is_not_usable(bot: SlackHarness, sessions: sessionmaker[Session]) -> None:
    unloaded = ScriptedGenerator(context_window=0)
    for served in serve(http_application(bot.app, settings=SETTINGS, sessions=sessions, generator=unloaded)):
        status, body = served.request("GET", "/readyz")
        assert status == 503 and list(json.loads(body)["failing"]) == ["model"]
