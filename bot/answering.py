"""The answering pipeline: question → scoped search → grounded prompt → streamed generation → record (orch).

Every part is injected (session factory, embedder, generator, adapter source), so the same code
serves Slack, the `python -m bot ask` CLI and the tests. It never reads the environment.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from bot.citations import Citation, attribute_uncited, build_citations, strip_invalid_markers
from bot.generator_protocol import Generator
from bot.prompt import NOT_IN_DOCUMENTS, Turn, build_prompt
from knowledge.embedding import Embedder
from knowledge.interactions import record_answer
from knowledge.schema import WORKSPACE_SCOPE
from knowledge.search import SearchMode, search_passages
from knowledge.types import Passage

logger = logging.getLogger(__name__)

NOTHING_FOUND = (
    "The knowledge base has nothing on this yet, so I won't guess. "
    "If you know the answer, add a document with `/kb add`."
)


class AnswerError(ValueError):
    """Raised for a question that cannot be answered as asked; its message is shown to the user."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AnsweringConfig:
    """Tunables of the pipeline.

    Attributes:
        passages: how many passages to retrieve for the prompt (fewer may fit the token budget).
        min_score: cosine similarity below which a passage counts as unrelated; when no passage
            reaches it the bot says the knowledge base has nothing instead of inventing.
        max_new_tokens: longest answer generated.
        max_question_chars: longest question accepted.
        history_turns: earlier thread messages kept as conversation history.
        timeout_s: generation stops after this long (the partial answer is kept and marked).
        search_mode: knowledge search mode; min_score applies to vector similarity.
    """

    passages: int = 5
    min_score: float = 0.3
    max_new_tokens: int = 256
    max_question_chars: int = 4000
    history_turns: int = 6
    timeout_s: float | None = 120.0
    temperature: float = 0.0
    search_mode: SearchMode = "vector"

    def __post_init__(self) -> None:
        if self.passages < 1:
            raise ValueError(f"passages must be >= 1, got {self.passages}")
        if not -1.0 <= self.min_score <= 1.0:
            raise ValueError(f"min_score must be within [-1, 1], got {self.min_score}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.max_question_chars < 1:
            raise ValueError(f"max_question_chars must be >= 1, got {self.max_question_chars}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Question:
    """A question and where it was asked (channel decides which documents are visible)."""

    text: str
    channel: str | None = None
    thread_ts: str | None = None
    asker: str | None = None
    team_id: str | None = None
    history: Sequence[Turn] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True, kw_only=True)
class AnswerResult:
    """The finished answer, already recorded in the database under `answer_id`."""

    answer_id: int
    text: str
    citations: list[Citation]
    adapter_name: str
    abstained: bool
    latency_ms: float
    timed_out: bool = False


AdapterSource = Callable[[], tuple[int | None, str]]
"""Returns (adapter id, adapter name) of what is serving; id None means the base model."""


class Answerer:
    """Answers questions from the team's documents and records every answer."""

    def __init__(self, *, sessions: sessionmaker[Session], embedder: Embedder, generator: Generator,
                 adapter_source: AdapterSource | None = None, config: AnsweringConfig | None = None) -> None:
        self._sessions = sessions
        self._embedder = embedder
        self._generator = generator
        self._adapter_source = adapter_source or (lambda: (None, generator.adapter_name))
        self.config = config or AnsweringConfig()

    def validate(self, text: str) -> str:
        """The question stripped, or AnswerError saying what is wrong with it."""
        question = text.strip()
        if not question:
            raise AnswerError("Ask me a question and I'll look it up in the team's documents.")
        if len(question) > self.config.max_question_chars:
            raise AnswerError(
                f"Your question is {len(question):,} characters long; I can read up to "
                f"{self.config.max_question_chars:,}. Please shorten it, or add the long text as a document "
                "with `/kb add` and ask about it."
            )
        return question

    def retrieve(self, question: Question, text: str) -> list[Passage]:
        """Passages for the question; a follow-up also searches with the previous user turn."""
        query = text
        earlier = [turn.text for turn in question.history if turn.role == "user"]
        if earlier:
            query = f"{earlier[-1]}\n{text}"
        found = search_passages(self._sessions, self._embedder, query, channel=question.channel,
                                limit=self.config.passages, mode=self.config.search_mode)
        if self.config.search_mode == "vector":
            found = [p for p in found if p.score >= self.config.min_score]
        return found

    def answer(self, question: Question, *, on_delta: Callable[[str], None] | None = None,
               cancel: threading.Event | None = None) -> AnswerResult:
        """Answer `question`, calling `on_delta` with each piece of text as it is generated."""
        started = time.perf_counter()
        text = self.validate(question.text)
        passages = self.retrieve(question, text)
        adapter_id, adapter_name = self._adapter_source()
        history = list(question.history)[-self.config.history_turns:]
        if not passages:
            return self._finish(question, text, prompt="", completion=NOTHING_FOUND, passages=[],
                                abstained=True, adapter=(adapter_id, adapter_name), started=started,
                                on_delta=on_delta)
        prompt = build_prompt(text, passages, history=history, count_tokens=self._generator.count_tokens,
                              passage_token_budget=self._passage_budget(text, history))
        rendered = self._generator.render(prompt.messages)
        pieces: list[str] = []
        generation_started = time.perf_counter()
        for delta in self._generator.stream(prompt.messages, max_new_tokens=self.config.max_new_tokens,
                                            temperature=self.config.temperature, cancel=cancel,
                                            timeout_s=self.config.timeout_s):
            pieces.append(delta)
            if on_delta is not None:
                on_delta(delta)
        timed_out = self.config.timeout_s is not None and \
            time.perf_counter() - generation_started >= self.config.timeout_s
        completion = strip_invalid_markers("".join(pieces).strip(), len(prompt.passages))
        abstained = completion.startswith(NOT_IN_DOCUMENTS)
        if not abstained:
            completion = attribute_uncited(completion, prompt.passages)
        return self._finish(question, text, prompt=rendered, completion=completion or NOT_IN_DOCUMENTS,
                            passages=prompt.passages, abstained=abstained, adapter=(adapter_id, adapter_name),
                            started=started, on_delta=None, timed_out=timed_out)

    def _passage_budget(self, text: str, history: Sequence[Turn]) -> int:
        """Tokens left for passages once rules, history, question and the answer are paid for."""
        without_passages = build_prompt(text, [], history=history, count_tokens=self._generator.count_tokens,
                                        passage_token_budget=0)
        used = self._generator.count_tokens(self._generator.render(without_passages.messages))
        # Margin for the separators each passage adds between blocks.
        return max(0, self._generator.context_window - self.config.max_new_tokens - used - 16)

    def _finish(self, question: Question, text: str, *, prompt: str, completion: str, passages: list[Passage],
                abstained: bool, adapter: tuple[int | None, str], started: float,
                on_delta: Callable[[str], None] | None, timed_out: bool = False) -> AnswerResult:
        if on_delta is not None:
            on_delta(completion)
        latency_ms = (time.perf_counter() - started) * 1000.0
        answer_id = record_answer(
            self._sessions, question=text, prompt=prompt, completion=completion, passages=passages,
            abstained=abstained, adapter_id=adapter[0], adapter_name=adapter[1], latency_ms=latency_ms,
            channel=question.channel, thread_ts=question.thread_ts, asker=question.asker,
            team_id=question.team_id, scope=question.channel or WORKSPACE_SCOPE,
        )
        return AnswerResult(answer_id=answer_id, text=completion, citations=build_citations(completion, passages),
                            adapter_name=adapter[1], abstained=abstained, latency_ms=latency_ms,
                            timed_out=timed_out)
