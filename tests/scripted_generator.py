"""A scripted generator for tests where the answer text (and, for Slack, its pacing) matters.

It implements bot.generator_protocol.Generator like the real backends: it records the messages it
was asked with, streams its completion word by word (optionally `delay_s` apart, so streaming edits
can be observed), honours `cancel`, and can be told to fail with a given exception.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path


class ScriptedGenerator:
    def __init__(self, completion: str = "Run `make deploy` from the repository root [1].", *,
                 delay_s: float = 0.0, fail_with: Exception | None = None, adapter_name: str = "base",
                 context_window: int = 2048) -> None:
        self.completion = completion
        self.delay_s = delay_s
        self.fail_with = fail_with
        self._adapter_name = adapter_name
        self._context_window = context_window
        self.calls: list[list[dict[str, str]]] = []
        self.running = threading.Event()

    @property
    def context_window(self) -> int:
        return self._context_window

    @property
    def adapter_name(self) -> str:
        return self._adapter_name

    def render(self, messages: Sequence[Mapping[str, str]]) -> str:
        return "".join(f"<|{m['role']}|>\n{m['content']}\n" for m in messages) + "<|assistant|>\n"

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)

    def stream(self, messages: Sequence[Mapping[str, str]], *, max_new_tokens: int = 256, temperature: float = 0.0,
               cancel: threading.Event | None = None, timeout_s: float | None = None) -> Iterator[str]:
        self.calls.append([dict(m) for m in messages])
        if self.fail_with is not None:
            raise self.fail_with
        self.running.set()
        try:
            for index, word in enumerate(self.completion.split(" ")[:max_new_tokens]):
                if cancel is not None and cancel.is_set():
                    return
                if self.delay_s:
                    time.sleep(self.delay_s)
                yield word if index == 0 else " " + word
        finally:
            self.running.clear()

    def generate(self, messages: Sequence[Mapping[str, str]], **kwargs: object) -> str:
        return "".join(self.stream(messages, **kwargs))  # type: ignore[arg-type]

    def use_adapter(self, name: str, path: Path) -> None:
        self._adapter_name = name

    def use_base(self) -> None:
        self._adapter_name = "base"


class HeldGenerator(ScriptedGenerator):
    """Streams only once `release` is set: a model slot taken by a long generation (`started` tells when it
    was asked)."""

    def __init__(self, completion: str = "Backups run nightly at 02:00 UTC [1].") -> None:
        super().__init__(completion)
        self.release = threading.Event()
        self.started = threading.Event()

    def stream(self, messages: Sequence[Mapping[str, str]], *, max_new_tokens: int = 256, temperature: float = 0.0,
               cancel: threading.Event | None = None, timeout_s: float | None = None) -> Iterator[str]:
        self.started.set()
        assert self.release.wait(30), "the test never released the model"
        yield from super().stream(messages, max_new_tokens=max_new_tokens, temperature=temperature, cancel=cancel,
                                  timeout_s=timeout_s)
