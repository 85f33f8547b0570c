"""Verified answers: teammates' replies confirmed as the answer to a question (store).

A verified answer is matched to new questions by the meaning of its question (cosine similarity of
the question embeddings) and only within the scopes the asking conversation may read, the same
rule as documents (`knowledge.search.visible_scopes`). Retiring one is final for serving: lookups
read active answers only. Edits never overwrite history: every version of the text is a row of
`verified_answer_revisions`, the first being the confirmed reply.

Store functions take a `Session`; the caller owns the transaction. They return plain records, never
ORM rows, so what they return stays usable once the session is closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from store.schema import VerifiedAnswer, VerifiedAnswerRevision


class UnknownVerifiedAnswer(LookupError):
    """Raised when an id names no verified answer; its message is shown to the admin who typed it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedRecord:
    """A verified answer as the bot shows it and the admin commands list it."""

    id: int
    question: str
    answer_text: str
    scope: str
    channel: str | None
    thread_ts: str | None
    permalink: str | None
    author: str
    confirmed_by: str
    status: str
    answer_id: int | None
    created_at: datetime
    updated_at: datetime

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True, slots=True, kw_only=True)
class Revision:
    """One version of a verified answer's text."""

    answer_text: str
    edited_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedExample:
    """An active verified answer as training material: the prompt the model would read and the text to learn."""

    verified_id: int
    question: str
    prompt: str
    answer_text: str
    scope: str
    channel: str | None
    thread_ts: str | None
    created_at: datetime


def _record(row: VerifiedAnswer) -> VerifiedRecord:
    return VerifiedRecord(id=row.id, question=row.question, answer_text=row.answer_text, scope=row.scope,
                          channel=row.channel, thread_ts=row.thread_ts, permalink=row.permalink, author=row.author,
                          confirmed_by=row.confirmed_by, status=row.status, answer_id=row.answer_id,
                          created_at=row.created_at, updated_at=row.updated_at)


def record_verified_answer(session: Session, *, question: str, answer_text: str,
                           question_vector: Sequence[float], scope: str, author: str, confirmed_by: str,
                           channel: str | None = None, thread_ts: str | None = None, permalink: str | None = None,
                           answer_id: int | None = None, reference_answer_id: int | None = None,
                           prompt: str = "") -> tuple[VerifiedRecord, bool]:
    """Store a confirmed answer and its first revision; returns (the answer, whether it is new).

    Confirming the same reply twice (both the asker and the replier clicked) keeps the first.
    """
    values = {"question": question, "answer_text": answer_text, "question_embedding": list(question_vector),
              "scope": scope, "channel": channel, "thread_ts": thread_ts, "permalink": permalink, "author": author,
              "confirmed_by": confirmed_by, "answer_id": answer_id, "reference_answer_id": reference_answer_id,
              "prompt": prompt}
    new_id = session.scalar(insert(VerifiedAnswer).values(**values)
                            .on_conflict_do_nothing(index_elements=["reference_answer_id"])
                            .returning(VerifiedAnswer.id))
    if new_id is None:
        existing = session.scalars(select(VerifiedAnswer)
                                   .where(VerifiedAnswer.reference_answer_id == reference_answer_id)).one()
        return _record(existing), False
    session.add(VerifiedAnswerRevision(verified_answer_id=new_id, answer_text=answer_text, edited_by=confirmed_by))
    session.flush()
    return _record(session.get_one(VerifiedAnswer, new_id)), True


def nearest_verified(session: Session, query_vector: Sequence[float], *,
                     scopes: Sequence[str]) -> tuple[VerifiedRecord, float] | None:
    """The active verified answer in `scopes` whose question is most similar to the query, with that cosine."""
    distance = VerifiedAnswer.question_embedding.cosine_distance(list(query_vector))
    query = (select(VerifiedAnswer, distance.label("distance"))
             .where(VerifiedAnswer.status == "active", VerifiedAnswer.scope.in_(list(scopes)))
             .order_by(distance, VerifiedAnswer.id).limit(1))
    found = session.execute(query).first()
    return (_record(found[0]), 1.0 - float(found[1])) if found else None


def verified_answer(session: Session, verified_id: int) -> VerifiedRecord:
    row = session.get(VerifiedAnswer, verified_id)
    if row is None:
        raise UnknownVerifiedAnswer(f"There is no verified answer {verified_id}.")
    return _record(row)


def list_verified(session: Session, *, include_retired: bool = False,
                  limit: int = 20) -> list[VerifiedRecord]:
    """Verified answers, newest first (active ones only unless `include_retired`)."""
    query = select(VerifiedAnswer).order_by(VerifiedAnswer.id.desc()).limit(limit)
    if not include_retired:
        query = query.where(VerifiedAnswer.status == "active")
    return [_record(row) for row in session.scalars(query)]


def edit_verified_answer(session: Session, verified_id: int, *, answer_text: str,
                         editor: str) -> VerifiedRecord:
    """Replace the text that is served, appending the new version to its history."""
    if not answer_text.strip():
        raise ValueError("a verified answer cannot be empty")
    row = session.get(VerifiedAnswer, verified_id, with_for_update=True)
    if row is None:
        raise UnknownVerifiedAnswer(f"There is no verified answer {verified_id}.")
    row.answer_text, row.updated_at = answer_text, func.now()
    session.add(VerifiedAnswerRevision(verified_answer_id=verified_id, answer_text=answer_text, edited_by=editor))
    session.flush()
    session.refresh(row)
    return _record(row)


def retire_verified_answer(session: Session, verified_id: int, *, by: str) -> VerifiedRecord:
    """Stop serving a verified answer (and training on it); retiring twice keeps the first retirement."""
    row = session.get(VerifiedAnswer, verified_id, with_for_update=True)
    if row is None:
        raise UnknownVerifiedAnswer(f"There is no verified answer {verified_id}.")
    if row.status != "retired":
        row.status, row.retired_by, row.retired_at, row.updated_at = "retired", by, func.now(), func.now()
        session.flush()
        session.refresh(row)
    return _record(row)


def revisions(session: Session, verified_id: int) -> list[Revision]:
    """Every version of the answer's text, oldest first."""
    rows = session.scalars(select(VerifiedAnswerRevision)
                           .where(VerifiedAnswerRevision.verified_answer_id == verified_id)
                           .order_by(VerifiedAnswerRevision.id))
    return [Revision(answer_text=row.answer_text, edited_by=row.edited_by, created_at=row.created_at)
            for row in rows]


def verified_examples(session: Session) -> list[VerifiedExample]:
    """Active verified answers that carry a prompt, oldest first (what the dataset builder reads)."""
    rows = session.scalars(select(VerifiedAnswer).where(VerifiedAnswer.status == "active", VerifiedAnswer.prompt != "")
                           .order_by(VerifiedAnswer.created_at, VerifiedAnswer.id))
    return [VerifiedExample(verified_id=row.id, question=row.question, prompt=row.prompt, answer_text=row.answer_text,
                            scope=row.scope, channel=row.channel, thread_ts=row.thread_ts, created_at=row.created_at)
            for row in rows]
