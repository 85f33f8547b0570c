"""Rated answers as training material, and the dataset versions built from them (store).

Reads answers together with their *current* votes and teammates' corrections; a vote whose answer
was deleted is gone with it (the foreign key cascades), so it can never reach a dataset. A
correction confirmed as a verified answer is read as that verified answer instead
(`store.verified_answers.verified_examples`), and not at all once it is retired. Writes one
`datasets` row per built dataset version; the files themselves live on disk, named by the row.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from store.schema import Answer, Dataset, ReferenceAnswer, VerifiedAnswer, Vote


@dataclass(frozen=True, slots=True, kw_only=True)
class RatedAnswer:
    """An answer with everything the dataset builder needs, exactly as stored.

    `passages` is the stored JSON untouched (normally a list of dicts with a "scope"), so the
    builder can recognise and drop a corrupt row instead of this query failing on it. `completion`
    is what the user was shown (`trained_text`), not the model's raw output.
    """

    answer_id: int
    question: str
    prompt: str
    completion: str
    channel: str | None
    thread_ts: str | None
    asker: str | None
    scope: str
    passages: Any
    abstained: bool
    adapter_name: str
    created_at: datetime
    votes: tuple[tuple[str, int], ...]
    references: tuple[str, ...]
    reasons: tuple[tuple[str | None, str | None], ...] = ()
    """(reason code, free text) of each current 👎 that gave one, raw as stored."""
    search_query: str | None = None
    """What the answer searched with (None for answers stored before it was kept)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetRecord:
    """A dataset version as recorded in the database."""

    id: int
    version: str
    path: str
    content_hash: str
    manifest: dict[str, Any]
    created_at: datetime


def trained_text(row: Answer) -> str:
    """What a user was shown, as the model should learn to write it (the `completion` training reads).

    Quotes in their source's words each followed by its `[n]`, then the summary sentences that
    passed the support check. The raw completion is never trained on: nobody saw it, and its
    unsupported sentences are exactly what the check removed. Rows from before revision 0003
    showed their completion as it was, so that is what they train.
    """
    if row.published_text is None:
        return row.completion
    if not row.evidence and not row.summary_text:
        return row.published_text  # recorded without layers (a plain answer): it was shown as it is
    quotes = [f"{quote['text']}\n[{quote['n']}]" if quote.get("kind") == "code" else f"{quote['text']} [{quote['n']}]"
              for quote in row.evidence or [] if isinstance(quote, dict) and quote.get("text")]
    return "\n".join([*quotes, row.summary_text] if row.summary_text else quotes)


def rated_answers(session: Session, *, since: datetime | None = None) -> list[RatedAnswer]:
    """Answers with at least one current vote or a reference answer, oldest first."""
    voted = select(Vote.answer_id)
    corrected = select(ReferenceAnswer.answer_id)
    promoted = select(VerifiedAnswer.reference_answer_id).where(VerifiedAnswer.reference_answer_id.is_not(None))
    query = select(Answer).where(or_(Answer.id.in_(voted), Answer.id.in_(corrected))).order_by(
        Answer.created_at, Answer.id)
    if since is not None:
        query = query.where(Answer.created_at >= since)
    answers = list(session.scalars(query))
    ids = [row.id for row in answers]
    votes: dict[int, list[tuple[str, int]]] = defaultdict(list)
    references: dict[int, list[str]] = defaultdict(list)
    reasons: dict[int, list[tuple[str | None, str | None]]] = defaultdict(list)
    if ids:
        for answer_id, user_id, value, reason, reason_text in session.execute(
                select(Vote.answer_id, Vote.user_id, Vote.value, Vote.reason, Vote.reason_text)
                .where(Vote.answer_id.in_(ids)).order_by(Vote.answer_id, Vote.user_id)):
            votes[answer_id].append((user_id, value))
            if value < 0 and (reason or reason_text):
                reasons[answer_id].append((reason, reason_text))
        for answer_id, text in session.execute(
                select(ReferenceAnswer.answer_id, ReferenceAnswer.text)
                .where(ReferenceAnswer.answer_id.in_(ids), ReferenceAnswer.id.not_in(promoted))
                .order_by(ReferenceAnswer.id)):
            references[answer_id].append(text)
    return [RatedAnswer(answer_id=row.id, question=row.question, prompt=row.prompt, completion=trained_text(row),
                        channel=row.channel, thread_ts=row.thread_ts, asker=row.asker, scope=row.scope,
                        passages=row.passages, abstained=row.abstained, adapter_name=row.adapter_name,
                        created_at=row.created_at, votes=tuple(votes[row.id]),
                        references=tuple(references[row.id]), reasons=tuple(reasons[row.id]),
                        search_query=row.search_query)
            for row in answers]


def _record(row: Dataset) -> DatasetRecord:
    return DatasetRecord(id=row.id, version=row.version, path=row.path, content_hash=row.content_hash,
                         manifest=dict(row.manifest or {}), created_at=row.created_at)


def record_dataset(session: Session, *, version: str, path: str, content_hash: str,
                   manifest: dict[str, Any]) -> DatasetRecord:
    """Record a dataset version; recording the same version again returns the existing row."""
    session.execute(insert(Dataset).values(version=version, path=path, content_hash=content_hash,
                                           manifest=manifest).on_conflict_do_nothing(index_elements=["version"]))
    row = session.scalars(select(Dataset).where(Dataset.version == version)).one()
    return _record(row)


def dataset_by_version(session: Session, version: str) -> DatasetRecord | None:
    row = session.scalars(select(Dataset).where(Dataset.version == version)).first()
    return _record(row) if row else None


def dataset_by_id(session: Session, dataset_id: int) -> DatasetRecord | None:
    row = session.get(Dataset, dataset_id)
    return _record(row) if row else None


def latest_dataset(session: Session) -> DatasetRecord | None:
    row = session.scalars(select(Dataset).order_by(Dataset.id.desc()).limit(1)).first()
    return _record(row) if row else None


def recent_datasets(session: Session, limit: int = 5) -> list[DatasetRecord]:
    """The newest dataset versions, newest first."""
    return [_record(row) for row in session.scalars(select(Dataset).order_by(Dataset.id.desc()).limit(limit))]
