"""The `Generator` contract the answering pipeline depends on, and its errors (pure).

Two backends implement it: `bot.generation.TransformersGenerator` (in-process transformers + peft)
and `bot.openai_backend.OpenAICompatibleGenerator` (a vLLM-style HTTP server). Both raise only the
errors below, whose messages are safe to show to a Slack user:

* GeneratorError           the model could not produce an answer (server down, bad reply, ...)
  + GeneratorBusy          too many requests already wait for the model; try again shortly
  + ModelNotFoundError     the model files are missing; names the setup command
  + PromptTooLongError     the rendered prompt leaves no room for an answer
  + AdapterLoadError       a LoRA adapter is missing or corrupt; the previous one keeps serving
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

Messages = Sequence[Mapping[str, str]]
"""Chat messages: `{"role": "system"|"user"|"assistant", "content": ...}` in order."""

BASE_ADAPTER_NAME = "base"
"""`adapter_name` while no LoRA adapter is active (also what `answers.adapter_name` records)."""


class GeneratorError(Exception):
    """The model could not produce an answer; the message is safe to show to users."""


class GeneratorBusy(GeneratorError):
    """Every generation slot is taken and the waiting line is full (or the wait timed out)."""


class ModelNotFoundError(GeneratorError):
    """The model folder is missing or incomplete."""


class PromptTooLongError(GeneratorError):
    """The prompt does not fit the context window together with at least one new token."""


class AdapterLoadError(GeneratorError):
    """A LoRA adapter could not be loaded; whatever served before keeps serving."""


@runtime_checkable
class Generator(Protocol):
    """A chat model that streams text and can switch LoRA adapters at run time."""

    @property
    def context_window(self) -> int:
        """Most tokens (prompt + completion) one request may use."""
        ...

    @property
    def adapter_name(self) -> str:
        """Name of the adapter now serving, or `"base"`."""
        ...

    def render(self, messages: Messages) -> str:
        """The exact prompt text the model will see for `messages` (recorded with each answer)."""
        ...

    def count_tokens(self, text: str) -> int:
        """Number of tokens `text` takes in this model's prompt."""
        ...

    def stream(
        self,
        messages: Messages,
        *,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        cancel: threading.Event | None = None,
        timeout_s: float | None = None,
    ) -> Iterator[str]:
        """Yield the answer as text deltas while they are produced.

        The stream ends early, without an error, once `cancel` is set or `timeout_s` (counted from
        the first `next()`, waiting for a slot included) has passed.

        Raises:
            GeneratorBusy: no slot became free in time, or too many requests already wait.
            GeneratorError: anything else that stopped the model from answering.
        """
        ...

    def generate(
        self,
        messages: Messages,
        *,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        cancel: threading.Event | None = None,
        timeout_s: float | None = None,
    ) -> str:
        """The whole answer at once: `"".join(self.stream(...))`.

        Backends that subclass `Generator` inherit this; only `stream` is theirs to write.
        """
        return "".join(self.stream(messages, max_new_tokens=max_new_tokens, temperature=temperature,
                                   cancel=cancel, timeout_s=timeout_s))

    def use_adapter(self, name: str, path: Path) -> None:
        """Serve the LoRA adapter `name` stored at `path` from the next generation on.

        Raises:
            AdapterLoadError: the adapter is missing or corrupt; the previous one keeps serving.
        """
        ...

    def use_base(self) -> None:
        """Serve the base model without any adapter from the next generation on."""
        ...
