"""A plain generator for tests where the answer text matters: it replays a scripted completion.

It satisfies bot.answering.Generator like the real ones, records the messages it was given, and
streams its completion word by word so streaming consumers see several deltas.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator


class CannedGenerator:
    def __init__(self, completion: str = "The answer is in the docs [1].", *, context_window: int = 2048,
                 adapter_name: str = "base") -> None:
        self.completion = completion
        self._context_window = context_window
        self._adapter_name = adapter_name
        self.calls: list[list[dict[str, str]]] = []

    @property
    def context_window(self) -> int:
        return self._context_window

    @property
    def adapter_name(self) -> str:
        return self._adapter_name

    def render(self, messages: list[dict[str, str]]) -> str:
        return "".join(f"<|{m['role']}|>\n{m['content']}\n" for m in messages) + "<|assistant|>\n"

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)

    def stream(self, messages: list[dict[str, str]], *, max_new_tokens: int = 256, temperature: float = 0.0,
               cancel: threading.Event | None = None, timeout_s: float | None = None) -> Iterator[str]:
        self.calls.append(messages)
        words = self.completion.split(" ")
        for index, word in enumerate(words[:max_new_tokens]):
            if cancel is not None and cancel.is_set():
                return
            yield word if index == 0 else " " + word
