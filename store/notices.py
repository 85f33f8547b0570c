"""Messages for people about their documents, written by the worker and posted by the bot (store).

The worker that re-fetches pages has no Slack client (bot and training meet only in the database),
so it leaves a row here; the bot posts each row to its recipient and marks it sent, once.

Store functions take a `Session`; the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from store.schema import DocumentNotice


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice:
    """One message waiting to be posted."""

    id: int
    recipient: str
    text: str


def add_notice(session: Session, *, recipient: str, text: str) -> None:
    """Leave a message for `recipient` (a Slack user id) in the caller's transaction."""
    session.add(DocumentNotice(recipient=recipient, text=text))


def unsent_notices(session: Session, *, limit: int = 50) -> list[Notice]:
    """Messages not posted yet, oldest first."""
    rows = session.scalars(select(DocumentNotice).where(DocumentNotice.sent_at.is_(None))
                           .order_by(DocumentNotice.id).limit(limit))
    return [Notice(id=row.id, recipient=row.recipient, text=row.text) for row in rows]


def mark_sent(session: Session, notice_id: int) -> None:
    session.execute(update(DocumentNotice).where(DocumentNotice.id == notice_id).values(sent_at=func.now()))
