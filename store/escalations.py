"""Who is asked when the bot's answer is not enough, and which threads are waiting for them (store).

`channel_settings` holds each channel's experts (Slack user ids `U…`/`W…` and user group ids
`S…`), chosen by admins. An escalation is a thread where someone pressed "Ask a teammate"; it stays
open until a teammate's reply there is confirmed as the verified answer, and a thread has at most
one open escalation (a partial unique index), so a second press never tags the experts twice.

Store functions take a `Session`; the caller owns the transaction. They return `EscalationRecord`s,
never ORM rows, so what they return stays usable once the session is closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from store.schema import ChannelSettings, Escalation


@dataclass(frozen=True, slots=True, kw_only=True)
class EscalationRecord:
    """An escalated thread: the answer it started from, who asked, who was tagged, whether it is settled."""

    id: int
    answer_id: int
    channel: str
    thread_ts: str
    asker: str | None
    requested_by: str
    experts: tuple[str, ...]
    status: str
    created_at: datetime


def _record(row: Escalation) -> EscalationRecord:
    return EscalationRecord(id=row.id, answer_id=row.answer_id, channel=row.channel, thread_ts=row.thread_ts,
                            asker=row.asker, requested_by=row.requested_by, experts=tuple(row.experts),
                            status=row.status, created_at=row.created_at)


def _open_in(channel: str, thread_ts: str) -> Select[Escalation]:
    return select(Escalation).where(Escalation.channel == channel, Escalation.thread_ts == thread_ts,
                                    Escalation.status == "open")


def set_experts(session: Session, channel: str, experts: Sequence[str], *, by: str) -> None:
    """Replace the channel's experts (an empty list clears them: the admins are tagged instead)."""
    values = {"channel": channel, "experts": list(dict.fromkeys(experts)), "updated_by": by}
    session.execute(insert(ChannelSettings).values(**values).on_conflict_do_update(
        index_elements=["channel"], set_={"experts": values["experts"], "updated_by": by, "updated_at": func.now()}))


def experts_for(session: Session, channel: str) -> list[str]:
    """The channel's experts, in the order the admin gave them (empty when none are set)."""
    return list(session.scalar(select(ChannelSettings.experts).where(ChannelSettings.channel == channel)) or [])


def open_escalation(session: Session, *, answer_id: int, channel: str, thread_ts: str, asker: str | None,
                    requested_by: str, experts: Sequence[str]) -> tuple[EscalationRecord, bool]:
    """Open an escalation for the thread; returns (it, whether it is new) — an open one is returned as it is."""
    new_id = session.scalar(
        insert(Escalation).values(answer_id=answer_id, channel=channel, thread_ts=thread_ts, asker=asker,
                                  requested_by=requested_by, experts=list(experts))
        .on_conflict_do_nothing(index_elements=["channel", "thread_ts"], index_where=Escalation.status == "open")
        .returning(Escalation.id))
    if new_id is not None:
        return _record(session.get_one(Escalation, new_id)), True
    return _record(session.scalars(_open_in(channel, thread_ts)).one()), False


def open_escalation_in(session: Session, *, channel: str, thread_ts: str) -> EscalationRecord | None:
    """The thread's open escalation, if someone asked a teammate there and no reply has been confirmed yet."""
    row = session.scalars(_open_in(channel, thread_ts)).first()
    return _record(row) if row else None


def resolve_escalation(session: Session, *, channel: str, thread_ts: str, verified_answer_id: int) -> bool:
    """Close the thread's open escalation with the verified answer that settled it; False when none was open."""
    closed = session.execute(
        update(Escalation).where(Escalation.channel == channel, Escalation.thread_ts == thread_ts,
                                 Escalation.status == "open")
        .values(status="resolved", verified_answer_id=verified_answer_id, resolved_at=func.now())
        .returning(Escalation.id)).first()
    return closed is not None
