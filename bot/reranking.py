"""Re-rank the top retrieved passages by their best-matching sentence (pure: no IO).

The first stage ranks a passage by its chunk and heading vectors: a question worded like a heading
finds its section, but one that describes a situation ("sum of prices 0.1 + 0.2 shows
0.30000000000000004, is the interpreter broken?") matches one sentence of the right section while
the section as a whole reads like its neighbours. So the top `depth` passages are re-ordered by
their first-stage score plus `unit_weight` times their best unit's score (bot/unit_scoring.py:
cosine plus lexical cues), the units being scored anyway for the evidence and the abstention rule.

Chosen on the quality bench's data (bench/quality.py): over the dev paraphrases and the first holdout
set of both knowledge bases (the FAQ pages alone and the whole Python docs), re-ordering the top 10
by passage score + w x best unit score raised the mean MRR from 0.575 to 0.608 for every w from 0.5
to 1.0 (0.584 at 0.1); 0.5 is the one that costs least where it costs (heading-like wording, and the
15k-chunk docs, where other pages' sentences compete). The situational wording gains most: hit@1 0.42
-> 0.58 on the FAQ's first holdout. The second holdout set, written blind, was read once afterwards
(at w = 0.7: hit@1 0.647 -> 0.671, hit@5 0.859 -> 0.894). README *Retrieval and answer quality*.

Depth 20 rather than 10 since the ranking model re-orders them (knowledge/passage_ranking.py): a
right section the first stage puts 11th–20th can only reach the answer's sources if it is re-ordered.
Chosen the same way, on the dev and first holdout paraphrases of both knowledge bases (the quality
bench's same-run rows, top 10 -> top 20): MRR faq dev 0.898 -> 0.915, faq holdout 0.784 -> 0.781, docs
dev 0.712 -> 0.714, docs holdout 0.323 -> 0.343. The extra passages' units come from the unit-vector
cache like the first ten's (first text p50 58 -> 52 ms on the docs, 55 -> 57 ms on the FAQ, warm
cache, one-off).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.unit_scoring import ScoredPassage, best_unit_score
from knowledge.search import SearchMode


@dataclass(frozen=True, slots=True, kw_only=True)
class RerankConfig:
    """How the top passages are re-ordered.

    Attributes:
        depth: how many of the first stage's passages are re-ordered (their units are scored);
            0 keeps the first stage's order.
        unit_weight: weight of the best unit's score against the passage's own.
        ranking_max_waiting: the ranking model's scores are read only while at most this many
            questions wait for their evidence (the answerer's `waiting` count, this one included);
            None: always. Its query embedding is the costliest step before the evidence (~25 ms of
            both cores here), so under a burst the later questions take the best-unit order instead.
        ranking_search: how many passages the ranking model's own search adds to the first stage's
            `depth` before they are re-ordered (knowledge/passage_ranking.py `ranking_search`; read
            whenever the ranking model is; 0: none).
    """

    depth: int = 20
    unit_weight: float = 0.5
    ranking_max_waiting: int | None = None
    ranking_search: int = 10

    def __post_init__(self) -> None:
        if self.depth < 0:
            raise ValueError(f"rerank depth must be >= 0, got {self.depth}")
        if self.ranking_search < 0:
            raise ValueError(f"rerank ranking_search must be >= 0, got {self.ranking_search}")
        if self.unit_weight < 0:
            raise ValueError(f"rerank unit weight must be >= 0, got {self.unit_weight}")
        if self.ranking_max_waiting is not None and self.ranking_max_waiting < 0:
            raise ValueError(f"rerank ranking_max_waiting must be >= 0, got {self.ranking_max_waiting}")


def first_stage_score(scored: ScoredPassage, mode: SearchMode) -> float:
    """The passage's own relevance on the cosine scale the unit scores share.

    Vector search scores are already cosine-based (chunk and heading vectors); hybrid scores are
    fused reciprocal ranks and full-text scores are ts_rank values, so those modes use the cosine
    similarity every mode fills in (knowledge/search.py).
    """
    passage = scored.passage
    if mode == "vector" or passage.similarity is None:
        return passage.score
    return passage.similarity


def rerank_score(scored: ScoredPassage, config: RerankConfig, mode: SearchMode,
                 ranking: Mapping[int, float] | None = None) -> float:
    """What the re-ranking sorts by: the passage's score plus the weighted best unit score.

    With `ranking` (the ranking model's scores by chunk id, knowledge/passage_ranking.py) the passage's
    score is the ranking model's instead of the first stage's.
    """
    own = ranking[scored.passage.chunk_id] if ranking is not None else first_stage_score(scored, mode)
    return own + config.unit_weight * best_unit_score((scored,))


def rerank(scored: Sequence[ScoredPassage], config: RerankConfig, mode: SearchMode = "vector",
           ranking: Mapping[int, float] | None = None) -> list[ScoredPassage]:
    """The first `config.depth` passages re-ordered best first, the rest after them as they came.

    `ranking` must score every one of those passages when given. Ties keep the first stage's order
    (the sort is stable).
    """
    if config.depth == 0:
        return list(scored)
    head = sorted(scored[:config.depth], key=lambda item: rerank_score(item, config, mode, ranking), reverse=True)
    return head + list(scored[config.depth:])
