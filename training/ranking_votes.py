"""👍-voted answers → (question, the passage it quoted first) pairs for tuning the ranking model (pure).

The ranking model (all-mpnet-base-v2, knowledge/passage_ranking.py) decides which passage an answer
quotes first. A 👍 says that passage answered the question, so the pair is what a contrastive
fine-tune learns from: this question, worded this way, belongs with this passage (the other pairs of
a batch are its negatives). Measured before building (bench/ranking_adaptation.py): trained on the
votes of a simulated team, the tuned model ranks the right section higher for questions about FAQ
items no vote was about.

Which answers count, in order, each exclusion counted under a named reason:

1. abstentions, answers with no passages (a verified answer served as it is) and rows whose stored
   passages are not a list of objects with an integer `chunk_id` ("corrupt");
2. answers from private channels or DMs, or quoting private passages, unless the dataset settings
   let private scopes into training (the same rule as the generator's dataset);
3. answers whose summed votes are not positive (a 👎, a tie, or only a teammate's correction: the
   quoted passage is then not known to be the right one);
4. the same question (normalised) with the same passage again: the oldest is kept, and none when
   another copy got a 👎 ("conflicting").

What is trained is what was ranked: the answer's search query (the question plus, for a follow-up,
the previous user turn; the question itself for answers stored before it was kept), scrubbed of
secrets and personal data. Pairs are split by question: a question is held out when a hash of it
falls in the held-out share, so more votes later never move a held-out question into training (at
least one is held out when there are two or more). The gate (`training.ranking_tuning`) checks
that the tuned model still puts each held-out vote's passage first among that answer's own sources.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from knowledge.scrubbing import scrub
from store.datasets_store import RatedAnswer
from training.config import DatasetConfig
from training.dataset_builder import is_private, vote_label
from training.dedupe import content_key


@dataclass(frozen=True, slots=True, kw_only=True)
class RankingVote:
    """One 👍-voted answer as a ranking pair: the (scrubbed) question and the passage it quoted first."""

    answer_id: int
    question: str
    chunk_id: int
    sources: tuple[int, ...]
    """Every passage the answer listed as a source, in its order (the gate ranks the voted one among them)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RankingVotes:
    """The pairs to train on, those held out for the gate, and what was left out (reason → count)."""

    train: list[RankingVote]
    held_out: list[RankingVote]
    excluded: dict[str, int] = field(default_factory=dict)


def _sources(passages: object) -> tuple[int, ...] | None:
    """The chunk ids of an answer's stored passages in their order; None when the row is not as the bot
    writes it (store.interactions.passages_json)."""
    if not isinstance(passages, list) or not passages:
        return None
    ids = [passage.get("chunk_id") if isinstance(passage, dict) else None for passage in passages]
    if not all(isinstance(chunk_id, int) and not isinstance(chunk_id, bool) for chunk_id in ids):
        return None
    return tuple(ids)  # type: ignore[arg-type]


def _exclusion(answer: RatedAnswer, config: DatasetConfig) -> str | None:
    """Why an answer teaches the ranking model nothing, if it does not."""
    if answer.abstained:
        return "abstained"
    if answer.passages == []:
        return "no_passages"
    if not _query(answer) or _sources(answer.passages) is None:
        return "corrupt"
    if not config.include_private_scopes and is_private(answer):
        return "private_scope"
    if vote_label(answer, asker_weight=config.asker_weight) <= 0:
        return "not_upvoted"
    return None


def _query(answer: RatedAnswer) -> str:
    """What the answer's passages were ranked for: its search query, else (older rows) its question."""
    text = answer.search_query if isinstance(answer.search_query, str) and answer.search_query.strip() \
        else answer.question
    return text.strip() if isinstance(text, str) else ""


@dataclass(frozen=True, slots=True)
class _Pair:
    key: tuple[str, int]
    """The normalised query's hash and the first source: what makes two votes the same pair."""
    vote: RankingVote


def _pair(answer: RatedAnswer) -> _Pair:
    """An answer that passed the row checks of `_exclusion` as a pair (its query scrubbed)."""
    sources = _sources(answer.passages)
    assert sources is not None  # checked by _exclusion
    question = scrub(_query(answer)).text
    return _Pair((content_key(question), sources[0]),
                 RankingVote(answer_id=answer.answer_id, question=question, chunk_id=sources[0], sources=sources))


def _hash_share(question: str, seed: int) -> float:
    """Where a question falls in [0, 1): the same question always falls in the same place."""
    return int(hashlib.sha256(f"{seed}:{content_key(question)}".encode()).hexdigest(), 16) / 2 ** 256


def ranking_votes(answers: Sequence[RatedAnswer], config: DatasetConfig, *, held_out_share: float = 0.2,
                  ) -> RankingVotes:
    """The 👍-voted answers as ranking pairs, split by question into training and held-out ones.

    A question is held out when a hash of it (normalised, with `config.seed`) falls below
    `held_out_share`, so about that share is held out and a rerun on more votes keeps every earlier
    held-out question held out; with two or more questions and none falling below, the lowest is.
    """
    if not 0 <= held_out_share < 1:
        raise ValueError(f"held_out_share must be in [0, 1), got {held_out_share}")
    excluded: Counter[str] = Counter()
    kept: dict[tuple[str, int], RankingVote] = {}
    downvoted: set[tuple[str, int]] = set()
    for answer in answers:
        reason = _exclusion(answer, config)
        if reason is not None:
            excluded[reason] += 1
            if reason == "not_upvoted" and vote_label(answer, asker_weight=config.asker_weight) < 0:
                downvoted.add(_pair(answer).key)
            continue
        vote = _pair(answer)
        if vote.key in kept:
            excluded["duplicate"] += 1
            continue
        kept[vote.key] = vote.vote
    for key in [key for key in kept if key in downvoted]:
        del kept[key]
        excluded["conflicting"] += 1
    questions = sorted({question for question, _ in kept}, key=lambda q: _hash_share(q, config.seed))
    held_out_questions = {q for q in questions if _hash_share(q, config.seed) < held_out_share}
    if not held_out_questions and held_out_share and len(questions) > 1:
        held_out_questions = {questions[0]}
    return RankingVotes(train=[vote for (question, _), vote in kept.items() if question not in held_out_questions],
                        held_out=[vote for (question, _), vote in kept.items() if question in held_out_questions],
                        excluded=dict(sorted(excluded.items())))
