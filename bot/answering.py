"""The answering pipeline: question → search → re-rank → evidence → checked summary → record (orch).

An answer is built in three layers, each safe on its own whatever the generator:

Retrieval is pgvector search re-scored by heading similarity (knowledge/search.py).

1. **Evidence**: verbatim quotes of the passage sentences that best answer the question
   (bot/evidence.py), shown first — within a second, before the model has written anything.
2. **Summary**: the model's text, published sentence by sentence as each one passes the support
   check (bot/support.py); unsupported sentences are dropped and recorded with the reason.
3. **Abstention**: when the best passage is not similar enough or does not cover the question's key
   terms (bot/abstention.py), the answer says so plainly and lists the nearest documents as
   "possibly related"; the model is not called.

Before all three, a teammate's verified answer to the same question (bot/verified.py) is served as
it is, without retrieval or generation; one to a similar question is shown first, above the evidence.

Every part is injected (session factory, embedder, generator, adapter source), so the same code
serves Slack, the `python -m bot ask` CLI and the tests. It never reads the environment.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.abstention import AbstainReason, AbstentionConfig, RankingFigures, Relevance, assess, is_loose
from bot.chunk_starts import may_be_cut, starts_mid_sentence
from bot.citations import Citation, build_citations, strip_invalid_markers
from bot.evidence import EvidenceConfig, Quote, evidence_markdown, select_evidence
from bot.generator_protocol import Generator, GeneratorBusy
from bot.lexicon import distinctive_terms, spelled_as_asked
from bot.passage_units import split_units
from bot.prompt import GroundedPrompt, Turn, build_prompt
from bot.reranking import RerankConfig, rerank
from bot.support import SupportChecker, SupportConfig, Verdict, published_summary
from bot.unit_scoring import ScoredPassage, ScoringConfig, UnitVectorSource, best_unit_score, score_passages
from bot.unit_vector_cache import UnitVectorCache
from bot.verified import VerifiedConfig, VerifiedMatch, match_verified, offered_markdown, served_markdown
from knowledge.embedding import Embedder
from knowledge.passage_ranking import PassageRanker, Ranking, rank_missing, ranking_scores, ranking_search
from knowledge.search import (
    SearchMode,
    conversation_scope,
    distinct_passages,
    search_passages,
    unknown_terms,
    visible_scopes,
)
from store.chunk_neighbours import previous_chunks
from store.interactions import record_answer
from store.types import Passage

logger = logging.getLogger(__name__)

NOTHING_FOUND = (
    "The knowledge base has nothing on this yet, so I won't guess. "
    "If you know the answer, add a document with `/kb add`."
)
NOT_COVERED = (
    "I couldn't find an answer to this in the team's documents, so I won't guess. "
    "If you know the answer, add a document with `/kb add`."
)
SUMMARY_HEADING = "*Summary* (each sentence checked against the quotes)"


def not_covered(names: Sequence[str]) -> str:
    """The refusal's text; with `names` (the question's words that no document mentions, as typed) it
    says which, so the asker sees why: a subject to document, or a word to leave out when asking again."""
    if not names:
        return NOT_COVERED
    return (f"I couldn't find an answer to this in the team's documents (they never mention {_listed(names)}), so I "
            "won't guess. If you know the answer, add a document with `/kb add`.")


def loose_match(names: Sequence[str]) -> str:
    """The line above a loose match's evidence (bot/abstention.py `is_loose`): the documents come close
    to the question without clearly answering it; with `names`, the question's words they never mention."""
    missing = f" (they never mention {_listed(names)})" if names else ""
    return (f"Loose match: the documents come close to this question without clearly answering it{missing}. "
            "Check that the quotes below answer it.\n\n")


def _listed(names: Sequence[str]) -> str:
    """`names` quoted and joined: "a", "a" or "b", "a", "b" or "c"."""
    quoted = [f'"{name}"' for name in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


class AnswerError(ValueError):
    """Raised for a question that cannot be answered as asked; its message is shown to the user."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AnsweringConfig:
    """Tunables of the pipeline (defaults measured with bench/quality.py).

    Attributes:
        passages: passages retrieved (the sources an answer may cite).
        prompt_passages: how many of those the model reads (fewer may fit the token budget).
        max_new_tokens: longest summary generated.
        summarise: False answers with the evidence alone and never calls the model.
        max_question_chars: longest question accepted.
        history_turns: earlier thread messages kept as conversation history.
        timeout_s: generation stops after this long (what was checked by then is kept and marked).
        search_mode: knowledge search mode; the abstention rule reads cosine similarity in every mode.
        verified: when a teammate's verified answer is served instead, or shown above the evidence.
        unit_vector_cache: keep passages' unit vectors in the database once computed
            (bot/unit_vector_cache.py); False embeds them for every question, as before revision 0017.
        rerank: how the top passages are re-ordered by their best-matching sentence (bot/reranking.py).
    """

    passages: int = 5
    prompt_passages: int = 3
    max_new_tokens: int = 128
    summarise: bool = True
    max_question_chars: int = 4000
    history_turns: int = 6
    timeout_s: float | None = 120.0
    temperature: float = 0.0
    search_mode: SearchMode = "vector"
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    evidence: EvidenceConfig = field(default_factory=EvidenceConfig)
    support: SupportConfig = field(default_factory=SupportConfig)
    abstention: AbstentionConfig = field(default_factory=AbstentionConfig)
    verified: VerifiedConfig = field(default_factory=VerifiedConfig)
    unit_vector_cache: bool = True
    rerank: RerankConfig = field(default_factory=RerankConfig)

    def __post_init__(self) -> None:
        for name in ("passages", "prompt_passages", "max_new_tokens", "max_question_chars"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Question:
    """A question and where it was asked.

    `channel` decides which documents are visible, unless `scopes` names them (the answer sources an
    admin set for the channel); `conversation_kind` ("public", "private", "im", "mpim"; None when
    unknown or outside Slack) decides the scope the answer is recorded under, which is what training
    reads: only public-channel answers train the workspace adapter.
    """

    text: str
    channel: str | None = None
    thread_ts: str | None = None
    asker: str | None = None
    team_id: str | None = None
    conversation_kind: str | None = None
    history: Sequence[Turn] = field(default_factory=tuple)
    scopes: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AnswerResult:
    """The finished answer, already recorded in the database under `answer_id`.

    Attributes:
        text: what the user is shown (evidence, then the checked summary; or the abstention).
        evidence / summary: the two layers apart (summary is empty when nothing generated passed).
        raw_completion: what the model wrote before the support check.
        verdicts: the support check of each generated sentence.
        citations: cited sources first; for an abstention, the "possibly related" documents.
        passages: the retrieved passages the answer was built from, `[n]` = position + 1.
        first_text_ms: time from the question to the first text shown (the evidence).
        verified: the verified answer served (`verified.served`) or shown above the evidence, if any.
        summary_skipped: why there is no summary although summaries are on ("busy": every model slot
            was taken and the line was full; "failed": the model failed, as the caller decided; the
            quoted evidence already shown stays the answer).
    """

    answer_id: int
    text: str
    citations: list[Citation]
    adapter_name: str
    abstained: bool
    latency_ms: float
    passages: list[Passage] = field(default_factory=list)
    evidence: list[Quote] = field(default_factory=list)
    summary: str = ""
    raw_completion: str = ""
    verdicts: list[Verdict] = field(default_factory=list)
    abstain_reason: AbstainReason | None = None
    relevance: Relevance | None = None
    first_text_ms: float | None = None
    timed_out: bool = False
    verified: VerifiedMatch | None = None
    summary_skipped: str = ""


AdapterSource = Callable[[], tuple[int | None, str]]
"""Returns (adapter id, adapter name) of what is serving; id None means the base model."""


class Answerer:
    """Answers questions from the team's documents and records every answer."""

    def __init__(self, *, sessions: sessionmaker[Session], embedder: Embedder, generator: Generator,
                 adapter_source: AdapterSource | None = None, config: AnsweringConfig | None = None,
                 ranker: PassageRanker | None = None, waiting: Callable[[], int] | None = None) -> None:
        self._sessions = sessions
        self._ranker = ranker
        self._waiting = waiting
        self._embedder = embedder
        self._generator = generator
        self._adapter_source = adapter_source or (lambda: (None, generator.adapter_name))
        self.config = config or AnsweringConfig()
        # Where passages' unit vectors come from: the `unit_vectors` table, filled with this embedder the
        # first time a passage is read (bot/unit_vector_cache.py), or the embedder for every question.
        self._unit_vectors: UnitVectorSource | None = UnitVectorCache(
            sessions, embedder.embed_documents, getattr(embedder, "model_name", type(embedder).__name__),
        ) if self.config.unit_vector_cache else None

    def use_ranker(self, ranker: PassageRanker | None) -> None:
        """Rank with `ranker` from the next question on (the ranking follower switches models this way)."""
        self._ranker = ranker

    @property
    def ranker(self) -> PassageRanker | None:
        """The ranking model the next question is ranked with (None: the first stage's order)."""
        return self._ranker

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

    def search_query(self, question: Question, text: str) -> str:
        """What is searched: the question, plus the previous user turn for a follow-up."""
        earlier = [turn.text for turn in question.history if turn.role == "user"]
        return f"{earlier[-1]}\n{text}" if earlier else text

    def retrieve(self, question: Question, text: str, *,
                 query_vector: Sequence[float] | None = None) -> list[Passage]:
        """The first stage's best passages for the question, best first: `passages` of them, or the
        re-ranking depth when deeper (`query_vector`: the search query's embedding when the caller has it)."""
        return search_passages(self._sessions, self._embedder, self.search_query(question, text),
                               channel=question.channel, limit=max(self.config.passages, self.config.rerank.depth),
                               mode=self.config.search_mode, scopes=question.scopes, query_vector=query_vector)

    def find(self, question: Question, text: str, query: str, query_vector: Sequence[float]) -> Found:
        """The answer's `passages` sources, re-ranked, and the top ones the evidence and the prompt read
        with their units scored against the query.

        The re-ranking reads the ranking model's scores of the passages it re-orders when every one of
        them has its vectors (knowledge/passage_ranking.py), the first stage's scores otherwise.
        """
        found = self.retrieve(question, text, query_vector=query_vector)
        read = max(self.config.evidence.passages, self.config.prompt_passages)
        depth = self.config.rerank.depth
        ranked_question = None
        ranker = self._ranker  # one model for the whole question, whatever `use_ranker` does meanwhile
        if ranker is not None and depth and not self._busy():
            ranked_question = ranker.embed_query(query)
            found = self._with_ranking_search(question, found, ranker, ranked_question, query_vector)
            depth = min(len(found), depth + self.config.rerank.ranking_search)
        scored = self._score_units(query, query_vector, found[:max(read, depth)])
        ranking = Ranking(None)
        if ranked_question is not None:
            try:
                ranking = ranking_scores(self._sessions, ranker, query,  # type: ignore[arg-type]
                                         [item.passage.chunk_id for item in scored[:depth]], question=ranked_question)
            except SQLAlchemyError:  # the stored vectors cannot be read: answer in the first stage's order
                logger.exception("ranking vectors not read; the answer keeps the search's order")
        reordered = rerank(scored, replace(self.config.rerank, depth=depth), self.config.search_mode, ranking.scores)
        passages = [item.passage for item in reordered] + found[len(scored):]
        figures = None
        if ranking.scores and passages and passages[0].chunk_id in ranking.scores:
            figures = RankingFigures.of(ranking.scores[passages[0].chunk_id], list(ranking.scores.values()),
                                        model=ranker.model_name if ranker is not None else None)
        return Found(passages[:self.config.passages], reordered[:read], ranking.missing, figures)

    def _with_ranking_search(self, question: Question, found: list[Passage], ranker: PassageRanker,
                             ranked_question: np.ndarray, query_vector: Sequence[float]) -> list[Passage]:
        """`found` with the ranking model's own nearest passages (`RerankConfig.ranking_search` of them, not
        among the first stage's `depth`) right after its first `depth`, so the re-ordering reads them too.

        A search that fails (the index unreadable) is logged and leaves `found` as it was.
        """
        depth, extra = self.config.rerank.depth, self.config.rerank.ranking_search
        if not extra:
            return found
        head = found[:depth]
        scopes = list(question.scopes) if question.scopes is not None else visible_scopes(question.channel)
        try:
            added = ranking_search(self._sessions, ranker, ranked_question,
                                   query_vector, scopes=scopes, limit=extra, exclude=[p.chunk_id for p in head])
        except SQLAlchemyError:
            logger.exception("the ranking model's search failed; the answer reads the first stage's passages")
            return found
        # The same text twice (documentation repeats sections) is read once, as the first stage does.
        joined = distinct_passages([*head, *added], len(head) + len(added))
        added_ids = {passage.chunk_id for passage in added}
        return joined + [passage for passage in found[depth:] if passage.chunk_id not in added_ids]

    def _busy(self) -> bool:
        """Whether more questions wait for their evidence than the ranking model is read for
        (`RerankConfig.ranking_max_waiting`; never without a `waiting` count)."""
        limit = self.config.rerank.ranking_max_waiting
        return limit is not None and self._waiting is not None and self._waiting() > limit

    def rank_passages(self, chunk_ids: Sequence[int]) -> int:
        """Compute the ranking model's vectors of those chunks still without them (after an answer that
        re-ranked without them, so the next question on them is ranked); returns how many were computed.

        A failure is logged, never raised: the answer it follows is already shown.
        """
        if self._ranker is None or not chunk_ids:
            return 0
        try:
            return rank_missing(self._sessions, self._ranker, chunk_ids=chunk_ids)
        except Exception:
            logger.exception("ranking vectors of %d passages not computed", len(chunk_ids))
            return 0

    def answer(self, question: Question, *, on_delta: Callable[[str], None] | None = None,
               cancel: threading.Event | None = None) -> AnswerResult:
        """Answer `question`; `on_delta` receives the text shown so far piece by piece (evidence first)."""
        return self.complete(self.prepare(question, on_delta=on_delta), on_delta=on_delta, cancel=cancel)

    def prepare(self, question: Question, *, on_delta: Callable[[str], None] | None = None) -> PreparedAnswer:
        """Everything up to the first text shown through `on_delta` (the quoted evidence, an abstention or a
        verified answer); no model call and nothing recorded.

        `complete` writes the summary when there is one to write (`writes_summary`) and records the
        answer; the caller may run it elsewhere and later (the Slack app runs it on pools of its own
        once the evidence is shown, so the next questions' evidence comes first).
        """
        started = time.perf_counter()
        text = self.validate(question.text)
        query = self.search_query(question, text)
        query_vector = self._embedder.embed_query(query)
        verified = match_verified(self._sessions, query, query_vector, channel=question.channel,
                                  config=self.config.verified, scopes=question.scopes)
        if verified is not None and verified.served:
            return self._serve_verified(question, text, verified, started=started, on_delta=on_delta)
        lead = offered_markdown(verified.record) if verified is not None else ""
        # The units are scored before the verdict: the best one's score is what abstention judges.
        passages, ranked, unranked, ranking = self.find(question, text, query, query_vector)
        unknown = unknown_terms(self._sessions, distinctive_terms(query), channel=question.channel,
                                scopes=question.scopes) if passages else []
        relevance = assess(query, passages, self.config.abstention, evidence_score=best_unit_score(ranked),
                           unknown=unknown, ranking=ranking)
        adapter = self._adapter_source()
        numbers = list(range(1, len(passages) + 1))
        quotes: list[Quote] = []
        if relevance.reason is None:
            quotes = select_evidence(ranked, numbers, self.config.evidence,
                                     cut_starts=self._cut_starts(ranked, numbers))
            if not quotes:
                relevance = replace(relevance, reason="no_evidence")
        if relevance.reason is not None:
            message = lead + (NOTHING_FOUND if relevance.reason == "no_passages"
                              else not_covered(spelled_as_asked(query, relevance.unknown)))
            if on_delta is not None:
                on_delta(message)
            return PreparedAnswer(question=question, text=text, outcome=_Outcome(
                published=message, completion="", prompt="", passages=passages, relevance=relevance,
                first_text_ms=_ms_since(started), verified=verified), adapter=adapter, started=started,
                citations=related_documents(passages), final=True, unranked=unranked)
        if is_loose(relevance, self.config.abstention):
            lead += loose_match(spelled_as_asked(query, relevance.unknown))
        evidence_text = lead + evidence_markdown(quotes)
        if on_delta is not None:
            on_delta(evidence_text)
        outcome = _Outcome(published=evidence_text, completion="", prompt="", passages=passages,
                           relevance=relevance, quotes=quotes, first_text_ms=_ms_since(started), verified=verified)
        return PreparedAnswer(question=question, text=text, ranked=ranked, outcome=outcome, adapter=adapter,
                              started=started, writes_summary=self.config.summarise, unranked=unranked)

    def complete(self, prepared: PreparedAnswer, *, on_delta: Callable[[str], None] | None = None,
                 cancel: threading.Event | None = None, skip: str = "") -> AnswerResult:
        """Write the summary of a prepared answer (sentences through `on_delta` as they pass), record, return it.

        `skip` ("busy", "failed") finishes it with the evidence alone, saying why: what a caller does
        when it has no room to wait for the model, or the model failed after the evidence was shown.
        """
        if prepared.final:  # nothing to write: record what was shown
            result = self._finish(prepared.question, prepared.text, prepared.outcome, adapter=prepared.adapter,
                                  started=prepared.started, citations=prepared.citations)
        else:
            outcome = self._summarise(prepared.question, prepared.text, prepared.ranked, prepared.outcome,
                                      on_delta=on_delta, cancel=cancel, skip=skip)
            result = self._finish(prepared.question, prepared.text, outcome, adapter=prepared.adapter,
                                  started=prepared.started, citations=build_citations(outcome.published,
                                                                                      outcome.passages))
        self.rank_passages(prepared.unranked)
        return result

    def _summarise(self, question: Question, text: str, ranked: list[ScoredPassage], outcome: _Outcome, *,
                   on_delta: Callable[[str], None] | None, cancel: threading.Event | None,
                   skip: str = "") -> _Outcome:
        """Generate a short summary, publishing each sentence once it passes the support check.

        The prompt is built and recorded even when summaries are off or skipped, so every answer row
        holds the prompt its published text answers (what the learning loop trains on).
        """
        prompt, rendered = self._prompt(text, ranked, question)
        if not self.config.summarise or skip:  # a skip is logged by whoever decided it
            return replace(outcome, prompt=rendered, summary_skipped=skip)
        shown = len(prompt.passages)  # the prompt's passages are the first ranked ones, numbered [1]..[shown]
        checker = self.support_checker(text, ranked[:shown], already_shown=outcome.published)
        publisher = _SentencePublisher(checker, passage_count=shown, on_sentence=on_delta,
                                       lead="\n\n" + SUMMARY_HEADING + "\n")
        generation_started = time.perf_counter()
        try:
            for delta in self._generator.stream(prompt.messages, max_new_tokens=self.config.max_new_tokens,
                                                temperature=self.config.temperature, cancel=cancel,
                                                timeout_s=self.config.timeout_s):
                publisher.feed(delta)
        except GeneratorBusy as exc:
            # The evidence is shown and stands on its own: a full model line must not take it back.
            logger.info("summary skipped, the model is busy: %s", exc)
            return _with_summary(outcome, publisher, prompt=rendered, summary_skipped="busy")
        publisher.close()
        timed_out = self.config.timeout_s is not None and \
            time.perf_counter() - generation_started >= self.config.timeout_s
        return _with_summary(outcome, publisher, prompt=rendered, timed_out=timed_out)

    def _serve_verified(self, question: Question, text: str, match: VerifiedMatch, *, started: float,
                        on_delta: Callable[[str], None] | None) -> PreparedAnswer:
        """Answer with a teammate's verified answer as it is: no retrieval, no model."""
        published = served_markdown(match.record)
        if on_delta is not None:
            on_delta(published)
        return PreparedAnswer(question=question, text=text, outcome=_Outcome(
            published=published, completion="", prompt="", passages=[], relevance=None,
            first_text_ms=_ms_since(started), verified=match), adapter=self._adapter_source(), started=started,
            final=True)

    def training_prompt(self, question: Question) -> str:
        """The rendered prompt the model would read for `question` now: what a verified answer trains with."""
        text = self.validate(question.text)
        query = self.search_query(question, text)
        query_vector = self._embedder.embed_query(query)
        return self._prompt(text, self.find(question, text, query, query_vector)[1], question)[1]

    def _cut_starts(self, ranked: Sequence[ScoredPassage], numbers: Sequence[int]) -> frozenset[int]:
        """The numbers of the evidence's passages whose chunk begins inside a sentence (bot/chunk_starts.py);
        the chunks before them are read only when a first unit opens in lower case."""
        read = list(zip(ranked[:self.config.evidence.passages], numbers, strict=False))
        maybe = {number: item for item, number in read if item.units and may_be_cut(item.units[0].unit)}
        if not maybe:
            return frozenset()
        with self._sessions() as session:
            previous = previous_chunks(session, [item.passage.chunk_id for item in maybe.values()])
        return frozenset(number for number, item in maybe.items()
                         if starts_mid_sentence(item.units[0].unit, item.passage.text, item.passage.heading,
                                                previous.get(item.passage.chunk_id)))

    def _score_units(self, query: str, query_vector: Sequence[float],
                     read: Sequence[Passage]) -> list[ScoredPassage]:
        """`read` with their units scored against the query (stored unit vectors when kept)."""
        if not read:
            return []
        return score_passages(query, read, self._embedder.embed_documents, self.config.scoring,
                              question_vector=query_vector, unit_vectors=self._unit_vectors)

    def support_checker(self, text: str, shown: Sequence[ScoredPassage], *, already_shown: str,
                        config: SupportConfig | None = None) -> SupportChecker:
        """The support check of a summary written over `shown` (the prompt's passages, numbered [1]..)
        after `already_shown` (the evidence); `config` replaces the configured thresholds (the bench
        compares rules on the same sentences)."""
        return SupportChecker(question=text, ranked=shown, numbers=list(range(1, len(shown) + 1)),
                              embed=self._embedder.embed_documents, config=config or self.config.support,
                              already_shown=already_shown)

    def _prompt(self, text: str, ranked: list[ScoredPassage], question: Question) -> tuple[GroundedPrompt, str]:
        """The prompt for `text` over the best ranked passages and the thread's recent turns, and its rendering."""
        history = list(question.history)[-self.config.history_turns:]
        shown = [item.passage for item in ranked[:self.config.prompt_passages]]
        prompt = build_prompt(text, shown, history=history, count_tokens=self._generator.count_tokens,
                              passage_token_budget=self._passage_budget(text, history))
        return prompt, self._generator.render(prompt.messages)

    def _passage_budget(self, text: str, history: Sequence[Turn]) -> int:
        """Tokens left for passages once rules, history, question and the answer are paid for."""
        without_passages = build_prompt(text, [], history=history, count_tokens=self._generator.count_tokens,
                                        passage_token_budget=0)
        used = self._generator.count_tokens(self._generator.render(without_passages.messages))
        # Margin for the separators each passage adds between blocks.
        return max(0, self._generator.context_window - self.config.max_new_tokens - used - 16)

    def _finish(self, question: Question, text: str, outcome: _Outcome, *, adapter: tuple[int | None, str],
                started: float, citations: list[Citation]) -> AnswerResult:
        latency_ms = _ms_since(started)
        reason = outcome.relevance.reason if outcome.relevance else None
        served = outcome.verified.record.id if outcome.verified and outcome.verified.served else None
        with self._sessions() as session, session.begin():  # committed before the caller shows the answer's id
            answer_id = record_answer(
                session, question=text, prompt=outcome.prompt, completion=outcome.completion,
                passages=outcome.passages, abstained=reason is not None, adapter_id=adapter[0],
                adapter_name=adapter[1], latency_ms=latency_ms, channel=question.channel,
                thread_ts=question.thread_ts, asker=question.asker, team_id=question.team_id,
                scope=conversation_scope(question.channel, question.conversation_kind),
                conversation_kind=question.conversation_kind, published_text=outcome.published,
                summary_text=outcome.summary, evidence=[quote.as_json() for quote in outcome.quotes],
                support=[verdict.as_json() for verdict in outcome.verdicts], abstain_reason=reason,
                relevance=outcome.relevance.as_json() if outcome.relevance else None, verified_answer_id=served,
                search_query=self.search_query(question, text),
            )
        return AnswerResult(answer_id=answer_id, text=outcome.published, citations=citations,
                            adapter_name=adapter[1], abstained=reason is not None, latency_ms=latency_ms,
                            passages=outcome.passages, evidence=outcome.quotes, summary=outcome.summary,
                            raw_completion=outcome.completion, verdicts=outcome.verdicts, abstain_reason=reason,
                            relevance=outcome.relevance, first_text_ms=outcome.first_text_ms,
                            timed_out=outcome.timed_out, verified=outcome.verified,
                            summary_skipped=outcome.summary_skipped)


def _with_summary(outcome: _Outcome, publisher: _SentencePublisher, *, prompt: str, timed_out: bool = False,
                  summary_skipped: str = "") -> _Outcome:
    """`outcome` with the sentences `publisher` published (those already shown) under the summary heading."""
    summary = published_summary(publisher.verdicts)
    published = outcome.published + (f"\n\n{SUMMARY_HEADING}\n{summary}" if summary else "")
    return replace(outcome, published=published, completion=publisher.raw, prompt=prompt, summary=summary,
                   verdicts=publisher.verdicts, timed_out=timed_out, summary_skipped=summary_skipped)


class Found(NamedTuple):
    """What `Answerer.find` found for a question."""

    passages: list[Passage]
    """The answer's sources, best first."""
    ranked: list[ScoredPassage]
    """The top ones the evidence and the prompt read, their units scored."""
    unranked: tuple[int, ...]
    """Chunks re-ranked without the ranking model's vectors, which they lack."""
    ranking: RankingFigures | None
    """What the ranking model said of the re-ordered passages; None when the order did not read it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PreparedAnswer:
    """An answer up to its first text (`Answerer.prepare`), shown but not recorded: `Answerer.complete` finishes it."""

    question: Question
    text: str
    outcome: _Outcome
    """What was shown so far."""
    ranked: list[ScoredPassage] = field(default_factory=list)
    adapter: tuple[int | None, str] = (None, "base")
    started: float = 0.0
    final: bool = False
    """Nothing is left to write (an abstention or a verified answer served): `complete` only records it."""
    citations: list[Citation] = field(default_factory=list)
    """A final answer's sources (the possibly related documents under an abstention)."""
    writes_summary: bool = False
    """`complete` calls the model for a summary (summaries on and evidence shown)."""
    unranked: tuple[int, ...] = ()
    """Chunks the re-ranking read without the ranking model's vectors: `complete` computes them."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _Outcome:
    """What one answer produced, before it is recorded."""

    published: str
    completion: str
    prompt: str
    passages: list[Passage]
    relevance: Relevance | None
    quotes: list[Quote] = field(default_factory=list)
    summary: str = ""
    verdicts: list[Verdict] = field(default_factory=list)
    first_text_ms: float | None = None
    timed_out: bool = False
    verified: VerifiedMatch | None = None
    summary_skipped: str = ""


class _SentencePublisher:
    """Collects generated text and publishes each finished sentence (or code block) that passes the check.

    A unit counts as finished once the text after it has started another one; whatever is left
    when generation ends is checked then. `on_sentence` receives only supported text.
    """

    def __init__(self, checker: SupportChecker, *, passage_count: int,
                 on_sentence: Callable[[str], None] | None, lead: str) -> None:
        self._checker = checker
        self._passage_count = passage_count
        self._on_sentence = on_sentence
        self._lead = lead
        self._pieces: list[str] = []
        self._done = 0
        self.verdicts: list[Verdict] = []

    @property
    def raw(self) -> str:
        return "".join(self._pieces).strip()

    def feed(self, delta: str) -> None:
        self._pieces.append(delta)
        if any(mark in delta for mark in ".!?\n`"):
            self._publish(final=False)

    def close(self) -> None:
        self._publish(final=True)

    def _publish(self, *, final: bool) -> None:
        units = split_units(strip_invalid_markers(self.raw, self._passage_count))
        finished = units if final else units[:-1]
        for unit in finished[self._done:]:
            for verdict in self._checker.check(unit.text):
                self.verdicts.append(verdict)
                if verdict.supported and self._on_sentence is not None:
                    shown = published_summary([verdict])
                    self._on_sentence((self._lead if self._lead else " ") + shown)
                    self._lead = ""
        self._done = max(self._done, len(finished))


def related_documents(passages: Sequence[Passage], *, limit: int = 3) -> list[Citation]:
    """The nearest documents, once each, shown under an abstention as "possibly related"."""
    seen: set[str] = set()
    related: list[Citation] = []
    for number, passage in enumerate(passages, start=1):
        if passage.uri in seen:
            continue
        seen.add(passage.uri)
        related.append(Citation(number=number, title=passage.title, uri=passage.uri, heading=passage.heading,
                                chunk_id=passage.chunk_id, document_id=passage.document_id, cited=False))
        if len(related) == limit:
            break
    return related


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
