"""A generator served by an OpenAI-compatible HTTP server such as vLLM (adapter over httpx).

Past one machine the model runs in `vllm serve BASE --enable-lora ...`, which serves each LoRA
adapter under its own model name; switching adapters is therefore just choosing the `model` field
of each request. Answers stream from `/v1/chat/completions` with `stream: true` (server-sent
events). The server applies the chat template itself, so `render` returns a role-tagged transcript
for the record and `count_tokens` estimates four characters per token.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bot.admission import AdmissionGate, Cancelled
from bot.generator_protocol import BASE_ADAPTER_NAME, Generator, GeneratorError, Messages

_CHARS_PER_TOKEN = 4
_ERROR_BODY_CHARS = 300


class OpenAICompatibleGenerator(Generator):
    """Streams chat completions from `base_url` (with or without the trailing `/v1`).

    Args:
        base_url: e.g. "http://vllm.internal:8000/v1".
        model: the base model's served name (`--served-model-name`, else its path).
        api_key: sent as a Bearer token when given; never included in errors.
        timeout_s: connect and per-read timeout of each request.
        context_window: the server's `--max-model-len`.
        max_concurrent / max_waiting: the admission gate in front of the server.
        transport: an httpx transport (tests may pass `httpx.MockTransport`).
    """

    def __init__(
        self,
        base_url: str,
        *,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        context_window: int = 4096,
        max_concurrent: int = 4,
        max_waiting: int = 16,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        root = base_url.rstrip("/")
        self._endpoint = (root if root.endswith("/v1") else root + "/v1") + "/chat/completions"
        self._base_model = model
        self._served_model = model
        self._adapter = BASE_ADAPTER_NAME
        self._context_window = context_window
        self._timeout_s = timeout_s
        self._gate = AdmissionGate(max_concurrent=max_concurrent, max_waiting=max_waiting)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(headers=headers, timeout=timeout_s, transport=transport)

    @property
    def context_window(self) -> int:
        return self._context_window

    @property
    def adapter_name(self) -> str:
        return self._adapter

    def render(self, messages: Messages) -> str:
        turns = [f"{message['role']}: {message['content']}" for message in messages]
        return "\n\n".join([*turns, "assistant:"])

    def count_tokens(self, text: str) -> int:
        return math.ceil(len(text) / _CHARS_PER_TOKEN)

    def use_adapter(self, name: str, path: Path) -> None:
        # The server loads adapters itself (--lora-modules or /v1/load_lora_adapter); `path` is
        # where it was told to find them, so there is nothing to read here.
        self._served_model = name
        self._adapter = name

    def use_base(self) -> None:
        self._served_model = self._base_model
        self._adapter = BASE_ADAPTER_NAME

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def stream(
        self,
        messages: Messages,
        *,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        cancel: threading.Event | None = None,
        timeout_s: float | None = None,
    ) -> Iterator[str]:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        body = {
            "model": self._served_model,
            "messages": [dict(message) for message in messages],
            "stream": True,
            "max_tokens": max_new_tokens,
            "temperature": temperature,
        }
        try:
            with self._gate.admit(cancel=cancel, deadline=deadline):
                yield from self._post_and_read(body, cancel, deadline)
        except Cancelled:
            return

    def _post_and_read(
        self, body: dict[str, Any], cancel: threading.Event | None, deadline: float | None
    ) -> Iterator[str]:
        server = self._endpoint.rsplit("/v1/", 1)[0]
        try:
            with self._client.stream("POST", self._endpoint, json=body, timeout=self._timeout(deadline)) as response:
                if response.status_code != 200:
                    detail = response.read().decode("utf-8", "replace")[:_ERROR_BODY_CHARS]
                    raise GeneratorError(
                        f"The model server at {server} answered HTTP {response.status_code}: {detail}"
                    )
                finished = False
                for line in response.iter_lines():
                    delta, finish_reason, done = _parse_event(line, server)
                    finished = finished or finish_reason
                    if delta:
                        yield delta
                    if done or (cancel is not None and cancel.is_set()):
                        return
                    if deadline is not None and time.monotonic() >= deadline:
                        return
                if not finished:  # closed mid-answer: say so rather than pass off a truncated text
                    raise GeneratorError(f"The model server at {server} stopped in the middle of the answer.")
        except httpx.TimeoutException as exc:
            if deadline is not None and time.monotonic() >= deadline:
                return  # the caller's time is up: end the stream like a cancel does
            raise GeneratorError(f"The model server at {server} did not answer in time.") from exc
        except httpx.HTTPError as exc:
            raise GeneratorError(f"The model server at {server} is unreachable ({type(exc).__name__}).") from exc

    def _timeout(self, deadline: float | None) -> httpx.Timeout:
        if deadline is None:
            return httpx.Timeout(self._timeout_s)
        return httpx.Timeout(max(0.01, min(self._timeout_s, deadline - time.monotonic())))


def _parse_event(line: str, server: str) -> tuple[str, bool, bool]:
    """(text delta, finish_reason seen, [DONE] seen) for one SSE line; comments and blanks give nothing."""
    if not line.startswith("data:"):
        return "", False, False
    data = line[len("data:") :].strip()
    if data == "[DONE]":
        return "", False, True
    try:
        event = json.loads(data)
    except ValueError as exc:
        raise GeneratorError(f"The model server at {server} sent a malformed stream event.") from exc
    if isinstance(event, dict) and "error" in event:
        raise GeneratorError(f"The model server at {server} reported an error: {event['error']}")
    try:
        choices = event["choices"]
        if not choices:  # vLLM's final usage chunk has no choices
            return "", False, False
        choice = choices[0]
        delta = (choice.get("delta") or {}).get("content") or ""
        if not isinstance(delta, str):
            raise TypeError("delta content is not text")
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise GeneratorError(f"The model server at {server} sent a malformed stream event.") from exc
    return delta, choice.get("finish_reason") is not None, False
