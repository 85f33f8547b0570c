"""What the App Home shows, read from the tables the bot and the worker already write (store, read-only).

Documents by scope, a user's own recent questions, feedback over time, per channel and by 👎
reason, and answer outcomes with latency percentiles. Every figure is one aggregate query, so a
Home tab costs a handful of index or sequential scans however many answers there are. Feedback
counts current votes (`votes`, one per user and answer, last write wins) by the week the vote was
last changed.

Store functions take a `Session`; the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from store.schema import Answer, Document, UnansweredQuestion, Vote


@dataclass(frozen=True, slots=True, kw_only=True)
class ScopeCount:
    scope: str
    documents: int
    last_added_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class AskedQuestion:
    """One of a user's questions and where its answer is (`thread_ts` is the question's message)."""

    question: str
    channel: str | None
    thread_ts: str | None
    abstained: bool
    asked_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedbackCount:
    """👍/👎 of one group: a week (`key` = its Monday, ISO date), a channel, or a 👎 reason."""

    key: str
    up: int
    down: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcomes:
    """Questions since a time: answered, abstained, turned away busy, failed, and the answers' latency
    percentiles (None without any)."""

    answered: int
    abstained: int
    p50_ms: float | None
    p95_ms: float | None
    busy: int = 0
    failed: int = 0


def documents_by_scope(session: Session) -> list[ScopeCount]:
    """Document count and newest addition per scope, most documents first."""
    query = (select(Document.scope, func.count(), func.max(Document.created_at)).group_by(Document.scope)
             .order_by(func.count().desc(), Document.scope))
    return [ScopeCount(scope=scope, documents=count, last_added_at=last)
            for scope, count, last in session.execute(query)]


def latest_document_titles(session: Session, *, scope: str, limit: int = 3) -> list[str]:
    return list(session.scalars(select(Document.title).where(Document.scope == scope)
                                .order_by(Document.id.desc()).limit(limit)))


def questions_of(session: Session, user: str, *, limit: int = 5) -> list[AskedQuestion]:
    """The user's newest questions, newest first."""
    query = (select(Answer.question, Answer.channel, Answer.thread_ts, Answer.abstained, Answer.created_at)
             .where(Answer.asker == user).order_by(Answer.id.desc()).limit(limit))
    return [AskedQuestion(question=q, channel=c, thread_ts=t, abstained=a, asked_at=at)
            for q, c, t, a, at in session.execute(query)]


def _up_down() -> tuple[ColumnElement[int], ColumnElement[int]]:
    return (func.count().filter(Vote.value == 1), func.count().filter(Vote.value == -1))


def feedback_by_week(session: Session, *, since: datetime) -> list[FeedbackCount]:
    """👍/👎 per ISO week (Monday) since `since`, oldest first; weeks without votes are absent."""
    week = func.date_trunc("week", Vote.updated_at)
    up, down = _up_down()
    query = select(week, up, down).where(Vote.updated_at >= since).group_by(week).order_by(week)
    return [FeedbackCount(key=f"{monday:%Y-%m-%d}", up=u, down=d) for monday, u, d in session.execute(query)]


RECENT_WEEKS = 8
"""How many weeks of feedback the Home tab and the run reports show."""


def recent_feedback_weeks(session: Session, *, weeks: int = RECENT_WEEKS) -> list[FeedbackCount]:
    """👍/👎 per week over the last `weeks` weeks, oldest first."""
    return feedback_by_week(session, since=datetime.now(UTC) - timedelta(weeks=weeks))


def feedback_by_channel(session: Session, *, limit: int = 8) -> list[FeedbackCount]:
    """👍/👎 per channel of the answer, most votes first."""
    up, down = _up_down()
    channel = func.coalesce(Answer.channel, "")
    query = (select(channel, up, down).join(Answer, Answer.id == Vote.answer_id).group_by(channel)
             .order_by(func.count().desc(), channel).limit(limit))
    return [FeedbackCount(key=c, up=u, down=d) for c, u, d in session.execute(query)]


def downvote_reasons(session: Session) -> list[FeedbackCount]:
    """👎 per reason given (`none` when the voter gave none), most first."""
    reason = func.coalesce(Vote.reason, "none")
    query = (select(reason, func.count()).where(Vote.value == -1).group_by(reason)
             .order_by(func.count().desc(), reason))
    return [FeedbackCount(key=r, up=0, down=n) for r, n in session.execute(query)]


def answer_outcomes(session: Session, *, since: datetime) -> Outcomes:
    query = select(func.count().filter(~Answer.abstained), func.count().filter(Answer.abstained),
                   func.percentile_cont(0.5).within_group(Answer.latency_ms),
                   func.percentile_cont(0.95).within_group(Answer.latency_ms)).where(Answer.created_at >= since)
    unanswered = (select(func.count().filter(UnansweredQuestion.outcome == "busy"),
                         func.count().filter(UnansweredQuestion.outcome == "failed"))
                  .where(UnansweredQuestion.created_at >= since))
    answered, abstained, p50, p95 = session.execute(query).one()
    busy, failed = session.execute(unanswered).one()
    return Outcomes(answered=answered, abstained=abstained, p50_ms=p50, p95_ms=p95, busy=busy, failed=failed)


