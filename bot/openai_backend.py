"""A generator served by an OpenAI-compatible HTTP server such as vLLM (adapter over httpx).

Past one machine the model runs in `vllm serve BASE --enable-lora ...`, which serves each LoRA
adapter under its own model name; switching adapters is therefore just choosing the `model` field
of each request. Answers stream from `/v1/chat/completions` with `stream: true` (server-sent
events). The server applies the chat template itself, so `render` returns a role-tagged transcript
for the record and `count_tokens` estimates four characters per token.

Like the in-process generator, it admits at most `max_concurrent` requests and lets `max_waiting`
more wait (`bot.admission`), so a burst of questions turns into "busy, try again" instead of an
unbounded pile of open requests against the server.

The context window is the server's: `GET /v1/models` reports it (`max_model_len` in vLLM,
`context_length` in some others) and is asked once, when first needed. A server that does not
report it uses `context_window` (KB_OPENAI_CONTEXT_WINDOW); with neither, the answer fails with a
message naming that setting rather than guessing a size.

Repetition control stays on generated tokens, as the design asks (transformers' prompt-wide penalty
punished copying the passages): the OpenAI API's `presence_penalty` is exactly such a control (it
looks at the completion only), so the bot's `repetition_penalty` is sent as the presence penalty
that makes the same logit change on a token of logit 10 (`presence_penalty_for`). The API has no
n-gram ban, so `no_repeat_ngram_size` cannot be honoured there; building the generator with one
logs a warning saying so.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bot.admission import AdmissionGate, Cancelled
from bot.generator_protocol import BASE_ADAPTER_NAME, Generator, GeneratorError, Messages

logger = logging.getLogger(__name__)

_CHARS_PER_TOKEN = 4
_ERROR_BODY_CHARS = 300
_CONTEXT_KEYS = ("max_model_len", "context_length")
"""Where servers report a model's context window in `/v1/models` (vLLM; LM Studio, OpenRouter)."""
MAX_PRESENCE_PENALTY = 2.0
"""The OpenAI API's upper bound on `presence_penalty`."""
REFERENCE_LOGIT = 10.0


def presence_penalty_for(repetition_penalty: float) -> float:
    """The presence penalty making the logit change a CTRL-style `repetition_penalty` makes to a token
    of logit `REFERENCE_LOGIT` (10 · (1 − 1/p)): 1.15 → 1.30; 1 (off) → 0; capped at the API's 2.

    Raises:
        ValueError: `repetition_penalty` is not positive.
    """
    if repetition_penalty <= 0:
        raise ValueError(f"repetition_penalty must be > 0, got {repetition_penalty}")
    return round(min(MAX_PRESENCE_PENALTY, max(0.0, REFERENCE_LOGIT * (1 - 1 / repetition_penalty))), 3)


class OpenAICompatibleGenerator(Generator):
    """Streams chat completions from `base_url` (with or without the trailing `/v1`).

    Args:
        base_url: e.g. "http://vllm.internal:8000/v1".
        model: the base model's served name (`--served-model-name`, else its path).
        api_key: sent as a Bearer token when given; never included in errors.
        timeout_s: connect and per-read timeout of each request.
        context_window: used when the server's `/v1/models` does not report the model's context
            length; None: the server must report it.
        max_concurrent / max_waiting: the admission gate in front of the server.
        repetition_penalty: the bot's repetition setting, sent as `presence_penalty_for(...)`.
        no_repeat_ngram_size: not available over the API; a value > 0 is logged as ignored.
        transport: an httpx transport (tests may pass `httpx.MockTransport`).
    """

    def __init__(
        self,
        base_url: str,
        *,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        context_window: int | None = None,
        max_concurrent: int = 4,
        max_waiting: int = 16,
        repetition_penalty: float = 1.0,
        no_repeat_ngram_size: int = 0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if context_window is not None and context_window < 1:
            raise ValueError(f"context_window must be >= 1 (or None to ask the server), got {context_window}")
        root = base_url.rstrip("/")
        self._api = root if root.endswith("/v1") else root + "/v1"
        self._endpoint = self._api + "/chat/completions"
        self._server = self._api.rsplit("/v1", 1)[0]
        self._base_model = model
        self._served_model = model
        self._adapter = BASE_ADAPTER_NAME
        self._fallback_context_window = context_window
        self._context_window: int | None = None
        self._context_lock = threading.Lock()
        self._timeout_s = timeout_s
        self._presence_penalty = presence_penalty_for(repetition_penalty)
        self._gate = AdmissionGate(max_concurrent=max_concurrent, max_waiting=max_waiting)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(headers=headers, timeout=timeout_s, transport=transport)
        if no_repeat_ngram_size > 0:
            logger.warning("no_repeat_ngram_size=%d is ignored by the openai backend: the OpenAI API has no "
                           "n-gram ban (repetition_penalty is sent as presence_penalty=%g)",
                           no_repeat_ngram_size, self._presence_penalty)

    @property
    def context_window(self) -> int:
        """The served model's context length, from `/v1/models` (asked once), else the configured one.

        Raises:
            GeneratorError: the server did not report it and no `context_window` was configured.
        """
        with self._context_lock:
            if self._context_window is None:
                window = self._reported_context_window() or self._fallback_context_window
                if window is None:
                    raise GeneratorError(
                        f"The model server at {self._server} does not report the context length of "
                        f"{self._base_model!r} in /v1/models; set KB_OPENAI_CONTEXT_WINDOW to its --max-model-len.")
                self._context_window = window  # the server answered: its answer does not change while it runs
            return self._context_window

    def _reported_context_window(self) -> int | None:
        """The base model's context length as `/v1/models` reports it; None when it does not say."""
        try:
            response = self._client.get(self._api + "/models", timeout=min(self._timeout_s, 10.0))
        except httpx.HTTPError as exc:
            raise GeneratorError(f"The model server at {self._server} is unreachable ({type(exc).__name__}).") from exc
        if response.status_code != 200:
            logger.warning("%s/models answered HTTP %d; using the configured context window",
                           self._api, response.status_code)
            return None
        try:
            models = response.json().get("data") or []
        except (ValueError, AttributeError):
            logger.warning("%s/models sent no JSON model list; using the configured context window", self._api)
            return None
        entries = [m for m in models if isinstance(m, dict)]
        ours = [m for m in entries if m.get("id") == self._base_model] or entries[:1]
        for entry in ours:
            for key in _CONTEXT_KEYS:
                value = entry.get(key)
                if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                    logger.info("model %s on %s: context window %d (%s)", self._base_model, self._server, value, key)
                    return value
        return None

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
        body: dict[str, Any] = {
            "model": self._served_model,
            "messages": [dict(message) for message in messages],
            "stream": True,
            "max_tokens": max_new_tokens,
            "temperature": temperature,
        }
        if self._presence_penalty:
            body["presence_penalty"] = self._presence_penalty
        try:
            with self._gate.admit(cancel=cancel, deadline=deadline):
                yield from self._post_and_read(body, cancel, deadline)
        except Cancelled:
            return

    def _post_and_read(
        self, body: dict[str, Any], cancel: threading.Event | None, deadline: float | None
    ) -> Iterator[str]:
        server = self._server
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
