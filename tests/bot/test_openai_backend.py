"""OpenAICompatibleGenerator against a stand-in OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot.generator_protocol import Generator, GeneratorBusy, GeneratorError
from bot.openai_backend import OpenAICompatibleGenerator, presence_penalty_for

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]


@dataclass
class StandIn:
    """What the server saw, and knobs for how it answers."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    first_chunk_sent: threading.Event = field(default_factory=threading.Event)
    go_on: threading.Event = field(default_factory=threading.Event)
    models: dict[str, Any] | None = None
    """What GET /v1/models answers (vLLM's shape); None: 404, as servers without the route do."""
    model_lists: int = 0


def _chunk(content: str | None, finish_reason: str | None = None) -> bytes:
    delta = {} if content is None else {"content": content}
    choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
    event = {"object": "chat.completion.chunk", "choices": [choice]}
    return f"data: {json.dumps(event)}\n\n".encode()


def _handler(state: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            if self.path != "/v1/models" or state.models is None:
                self._reply(404, b'{"detail": "Not Found"}', "application/json")
                return
            state.model_lists += 1
            self._reply(200, json.dumps(state.models).encode(), "application/json")

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(body)
            state.headers.append(dict(self.headers))
            model = body["model"]
            if model == "overloaded":
                self._reply(503, b'{"error": "no capacity"}', "application/json")
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            if model == "garbage":
                self.wfile.write(b"data: {not json\n\n")
                return
            if model == "error-event":
                self.wfile.write(b'data: {"error": {"message": "LoRA adapter not found"}}\n\n')
                return
            self.wfile.write(b": keep-alive comment\n\n" + _chunk("Hello"))
            self.wfile.flush()
            state.first_chunk_sent.set()
            state.go_on.wait(5)
            if model == "cut-short":
                self.wfile.write(_chunk(" from"))
                return
            for piece in (" from ", model):
                self.wfile.write(_chunk(piece))
            self.wfile.write(_chunk(None, "stop") + b'data: {"choices": [], "usage": {"total_tokens": 9}}\n\n')
            self.wfile.write(b"data: [DONE]\n\n")

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    state = StandIn()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    state.go_on.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def generator(stand_in: StandIn) -> Iterator[OpenAICompatibleGenerator]:
    generator = OpenAICompatibleGenerator(stand_in.url, model="smollm2", api_key="sk-test", timeout_s=5)
    yield generator
    generator.close()


def test_adapter_name_is_the_model_field_and_deltas_stream(
    stand_in: StandIn, generator: OpenAICompatibleGenerator
) -> None:
    generator.use_adapter("answers-v7", Path("/adapters/answers-v7"))
    stream = generator.stream(MESSAGES, max_new_tokens=64)

    assert next(stream) == "Hello"
    assert not stand_in.go_on.is_set()  # the first delta arrived while the server still held the rest
    stand_in.go_on.set()
    assert list(stream) == [" from ", "answers-v7"]

    (request,) = stand_in.requests
    assert request == {
        "model": "answers-v7",
        "messages": MESSAGES,
        "stream": True,
        "max_tokens": 64,
        "temperature": 0.0,
    }
    assert stand_in.headers[0]["Authorization"] == "Bearer sk-test"
    assert generator.adapter_name == "answers-v7"


def test_base_uses_the_base_model_name(stand_in: StandIn, generator: OpenAICompatibleGenerator) -> None:
    stand_in.go_on.set()
    generator.use_adapter("answers-v7", Path("/adapters/answers-v7"))
    generator.use_base()

    assert generator.generate(MESSAGES) == "Hello from smollm2"
    assert stand_in.requests[0]["model"] == "smollm2"
    assert generator.adapter_name == "base"


def test_cancel_ends_the_stream(stand_in: StandIn, generator: OpenAICompatibleGenerator) -> None:
    cancel = threading.Event()
    deltas = []
    for delta in generator.stream(MESSAGES, cancel=cancel):
        deltas.append(delta)
        cancel.set()
    assert deltas == ["Hello"]


def test_timeout_ends_the_stream(stand_in: StandIn, generator: OpenAICompatibleGenerator) -> None:
    assert generator.generate(MESSAGES, timeout_s=0.5) == "Hello"


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("overloaded", "HTTP 503"),
        ("garbage", "malformed"),
        ("error-event", "LoRA adapter not found"),
        ("cut-short", "middle of the answer"),
    ],
)
def test_bad_replies_raise_generator_error(
    stand_in: StandIn, generator: OpenAICompatibleGenerator, model: str, message: str
) -> None:
    stand_in.go_on.set()
    generator.use_adapter(model, Path("/unused"))

    with pytest.raises(GeneratorError, match=message) as caught:
        generator.generate(MESSAGES)
    assert "sk-test" not in str(caught.value)


def test_server_down_raises_generator_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    generator = OpenAICompatibleGenerator(f"http://127.0.0.1:{port}", model="smollm2", timeout_s=2)

    with pytest.raises(GeneratorError, match="unreachable"):
        generator.generate(MESSAGES)


def test_render_and_count_tokens_approximate(stand_in: StandIn, generator: OpenAICompatibleGenerator) -> None:
    stand_in.models = _vllm_models(max_model_len=8192)  # the Protocol check reads every member, context_window too
    assert isinstance(generator, Generator)
    assert generator.render(MESSAGES) == "system: Be brief.\n\nuser: Hi?\n\nassistant:"
    assert generator.count_tokens("x" * 10) == 3


def _vllm_models(**base: Any) -> dict[str, Any]:
    """GET /v1/models as vLLM answers it: the base model, then a LoRA module served beside it."""
    return {"object": "list", "data": [
        {"id": "answers-v7", "object": "model", "owned_by": "vllm", "root": "/adapters/answers-v7",
         "parent": "smollm2", "max_model_len": 999},
        {"id": "smollm2", "object": "model", "owned_by": "vllm", "root": "/models/smollm2", "parent": None, **base},
    ]}


def test_context_window_is_what_the_server_reports_for_the_base_model_asked_once(
    stand_in: StandIn, generator: OpenAICompatibleGenerator
) -> None:
    stand_in.models = _vllm_models(max_model_len=32768)
    assert [generator.context_window for _ in range(3)] == [32768] * 3
    assert stand_in.model_lists == 1
    assert stand_in.headers == [], "no completion was requested to learn it"


def test_context_window_falls_back_to_the_setting_or_names_it(stand_in: StandIn) -> None:
    stand_in.models = _vllm_models()  # the base model's entry carries no length
    configured = OpenAICompatibleGenerator(stand_in.url, model="smollm2", context_window=2048)
    assert configured.context_window == 2048
    stand_in.models = None  # a server without /v1/models
    assert OpenAICompatibleGenerator(stand_in.url, model="smollm2", context_window=1024).context_window == 1024
    unconfigured = OpenAICompatibleGenerator(stand_in.url, model="smollm2")
    with pytest.raises(GeneratorError, match="set KB_OPENAI_CONTEXT_WINDOW"):
        _ = unconfigured.context_window
    with pytest.raises(ValueError, match="context_window must be >= 1"):
        OpenAICompatibleGenerator(stand_in.url, model="smollm2", context_window=0)


def test_an_unreachable_server_is_not_given_a_made_up_context_window() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    generator = OpenAICompatibleGenerator(f"http://127.0.0.1:{port}", model="smollm2", context_window=4096)
    with pytest.raises(GeneratorError, match="unreachable"):
        _ = generator.context_window


def test_admission_refuses_beyond_the_running_and_waiting_limits(stand_in: StandIn) -> None:
    generator = OpenAICompatibleGenerator(stand_in.url, model="smollm2", max_concurrent=1, max_waiting=0)
    holding = generator.stream(MESSAGES)
    assert next(holding) == "Hello"  # one request now holds the only slot (the server waits on go_on)
    with pytest.raises(GeneratorBusy):
        generator.generate(MESSAGES)
    assert len(stand_in.requests) == 1, "the refused call never reached the server"
    stand_in.go_on.set()
    assert "".join(holding) == " from smollm2"
    assert generator.generate(MESSAGES) == "Hello from smollm2", "the slot is free again"


def test_repetition_setting_is_sent_as_a_presence_penalty_and_the_ngram_ban_is_reported(
    stand_in: StandIn, caplog: pytest.LogCaptureFixture
) -> None:
    stand_in.go_on.set()
    generator = OpenAICompatibleGenerator(stand_in.url, model="smollm2", repetition_penalty=1.15,
                                          no_repeat_ngram_size=4)
    generator.generate(MESSAGES)
    assert stand_in.requests[0]["presence_penalty"] == pytest.approx(1.304)
    assert "no_repeat_ngram_size=4 is ignored" in caplog.text
    assert (presence_penalty_for(1.0), presence_penalty_for(3.0)) == (0.0, 2.0), "off, and the API's cap"
    with pytest.raises(ValueError, match="repetition_penalty must be > 0"):
        presence_penalty_for(0)
