"""Answers the bot gave, the votes they got and teammates' corrections (store).

Every answer row keeps the exact prompt the model saw, the retrieved passages with scores, the
completion and the adapter that produced it, so training reads these rows and never rebuilds
prompts. Votes: one current vote per user per answer (last write wins) in `votes`, and every change
appended to `vote_events`, so nothing a user said is ever lost.

Store functions take a `Session`; the caller owns the transaction. They return plain records, never
ORM rows, so what they return stays usable once the session is closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from store.schema import WORKSPACE_SCOPE, Answer, ReferenceAnswer, Vote, VoteEvent
from store.types import GapQuestion, Passage

VOTE_REASONS = ("incorrect", "incomplete", "off_topic", "other")


class UnknownAnswer(LookupError):
    """Raised when a vote or correction names an answer that does not exist (e.g. deleted)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AnswerRecord:
    """What the Slack layer needs to know about a stored answer."""

    id: int
    channel: str | None
    thread_ts: str | None
    message_ts: str | None
    asker: str | None
    question: str
    completion: str
    adapter_name: str
    abstained: bool
    scope: str = WORKSPACE_SCOPE
    conversation_kind: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferenceRecord:
    """A teammate's reply kept as a better answer to one of the bot's answers."""

    id: int
    answer_id: int
    author: str
    text: str
    message_ts: str | None


def _record(row: Answer) -> AnswerRecord:
    return AnswerRecord(id=row.id, channel=row.channel, thread_ts=row.thread_ts, message_ts=row.message_ts,
                        asker=row.asker, question=row.question, completion=row.completion,
                        adapter_name=row.adapter_name, abstained=row.abstained, scope=row.scope,
                        conversation_kind=row.conversation_kind)


def passages_json(passages: list[Passage]) -> list[dict[str, Any]]:
    """The retrieved passages as stored on the answer row: ids, scores and citation fields."""
    return [{"n": number, "chunk_id": p.chunk_id, "document_id": p.document_id, "score": round(p.score, 6),
             "title": p.title, "uri": p.uri, "heading": p.heading, "scope": p.scope}
            for number, p in enumerate(passages, start=1)]


def record_answer(session: Session, *, question: str, prompt: str, completion: str,
                  passages: list[Passage], abstained: bool, adapter_id: int | None, adapter_name: str,
                  latency_ms: float | None, channel: str | None = None, thread_ts: str | None = None,
                  asker: str | None = None, team_id: str | None = None,
                  scope: str = WORKSPACE_SCOPE, conversation_kind: str | None = None,
                  published_text: str | None = None, summary_text: str = "",
                  evidence: list[dict[str, Any]] | None = None, support: list[dict[str, Any]] | None = None,
                  abstain_reason: str | None = None, relevance: dict[str, Any] | None = None,
                  verified_answer_id: int | None = None, search_query: str | None = None) -> int:
    """Store one answer with exactly what the model saw and what the user was shown; return its id.

    `completion` is the model's raw text (empty when the model was not called); `published_text`
    is what the user read (quoted evidence + the summary sentences that passed the support check,
    or the abstention), and `support` holds each generated sentence's verdict. `verified_answer_id`
    names the verified answer served as it is, when that is what the user got. `search_query` is what
    was searched (the question plus, for a follow-up, the previous user turn).
    """
    row = Answer(question=question, search_query=search_query, prompt=prompt, completion=completion,
                 passages=passages_json(passages),
                 retrieved_chunk_ids=[p.chunk_id for p in passages], abstained=abstained,
                 adapter_id=adapter_id, adapter_name=adapter_name, latency_ms=latency_ms, channel=channel,
                 thread_ts=thread_ts, asker=asker, team_id=team_id, scope=scope,
                 conversation_kind=conversation_kind,
                 published_text=completion if published_text is None else published_text,
                 summary_text=summary_text, evidence=evidence or [], support=support or [],
                 abstain_reason=abstain_reason, relevance=relevance or {}, verified_answer_id=verified_answer_id)
    session.add(row)
    session.flush()
    return row.id


def attach_message(session: Session, answer_id: int, *, channel: str, message_ts: str) -> None:
    """Remember which Slack message shows the answer, so reactions on it can be attributed."""
    row = session.get(Answer, answer_id)
    if row is None:
        raise UnknownAnswer(f"answer {answer_id} does not exist")
    row.channel, row.message_ts = channel, message_ts


def answer_by_id(session: Session, answer_id: int) -> AnswerRecord | None:
    row = session.get(Answer, answer_id)
    return _record(row) if row else None


def answer_by_message(session: Session, *, channel: str, message_ts: str) -> AnswerRecord | None:
    """The answer shown by the Slack message (channel, ts), if it is one of the bot's answers."""
    row = session.scalars(select(Answer).where(Answer.channel == channel, Answer.message_ts == message_ts)
                          .order_by(Answer.id.desc()).limit(1)).first()
    return _record(row) if row else None


def answers_in_thread(session: Session, *, channel: str, thread_ts: str) -> list[AnswerRecord]:
    """The bot's answers in a thread, oldest first."""
    rows = session.scalars(select(Answer).where(Answer.channel == channel, Answer.thread_ts == thread_ts)
                           .order_by(Answer.id))
    return [_record(row) for row in rows]


def record_vote(session: Session, *, answer_id: int, user_id: str, value: int, source: str,
                reason: str | None = None, reason_text: str | None = None) -> None:
    """Set `user_id`'s current vote on the answer to +1/-1 and append the change to the history.

    A vote keeps a reason given earlier unless a new one is given, so a modal submitted after the
    click never races the click away.
    """
    if value not in (-1, 1):
        raise ValueError(f"vote value must be -1 or 1, got {value!r}")
    if reason is not None and reason not in VOTE_REASONS:
        raise ValueError(f"vote reason must be one of {VOTE_REASONS}, got {reason!r}")
    if session.get(Answer, answer_id) is None:
        raise UnknownAnswer(f"answer {answer_id} does not exist")
    values = {"answer_id": answer_id, "user_id": user_id, "value": value, "source": source,
              "reason": reason, "reason_text": reason_text}
    changes: dict[str, Any] = {"value": value, "source": source, "updated_at": func.now()}
    if reason is not None or reason_text is not None:
        changes.update(reason=reason, reason_text=reason_text)
    elif value == 1:
        changes.update(reason=None, reason_text=None)  # a reason explains a 👎 only
    session.execute(insert(Vote).values(**values)
                    .on_conflict_do_update(constraint="uq_votes_answer_user", set_=changes))
    session.add(VoteEvent(**values))


def withdraw_vote(session: Session, *, answer_id: int, user_id: str, value: int | None,
                  source: str) -> bool:
    """Remove the user's current vote (only if it still has `value`, when given); history keeps a 0.

    Returns whether a vote was removed.
    """
    condition = [Vote.answer_id == answer_id, Vote.user_id == user_id]
    if value is not None:
        condition.append(Vote.value == value)
    removed = session.execute(delete(Vote).where(*condition).returning(Vote.id)).first()
    if removed:
        session.add(VoteEvent(answer_id=answer_id, user_id=user_id, value=0, source=source))
    return removed is not None


def current_vote(session: Session, *, answer_id: int, user_id: str) -> int | None:
    return session.scalar(select(Vote.value).where(Vote.answer_id == answer_id, Vote.user_id == user_id))


def vote_totals(session: Session) -> dict[str, int]:
    """Counts of current 👍 and 👎 over all answers."""
    rows = session.execute(select(Vote.value, func.count()).group_by(Vote.value)).all()
    counts = {value: count for value, count in rows}
    return {"up": counts.get(1, 0), "down": counts.get(-1, 0)}


def record_reference_answer(session: Session, *, answer_id: int, author: str, text: str,
                            message_ts: str | None = None) -> int:
    """Store a teammate's reply after a 👎 as a candidate reference answer."""
    if session.get(Answer, answer_id) is None:
        raise UnknownAnswer(f"answer {answer_id} does not exist")
    row = ReferenceAnswer(answer_id=answer_id, author=author, text=text, message_ts=message_ts)
    session.add(row)
    session.flush()
    return row.id


def reference_answer_by_id(session: Session, reference_id: int) -> ReferenceRecord | None:
    row = session.get(ReferenceAnswer, reference_id)
    return ReferenceRecord(id=row.id, answer_id=row.answer_id, author=row.author, text=row.text,
                           message_ts=row.message_ts) if row else None


def has_downvote(session: Session, answer_id: int) -> bool:
    return bool(session.scalar(select(func.count()).select_from(Vote)
                               .where(Vote.answer_id == answer_id, Vote.value == -1)))


def gap_questions(session: Session, *, since: datetime | None = None,
                  limit: int = 500) -> list[GapQuestion]:
    """The newest questions the bot abstained on or that hold a current 👎, newest first."""
    downvotes = (select(func.count()).select_from(Vote).where(Vote.answer_id == Answer.id, Vote.value == -1)
                 .correlate(Answer).scalar_subquery())
    query = (select(Answer.id, Answer.question, Answer.channel, Answer.created_at, Answer.abstained, downvotes)
             .where(or_(Answer.abstained, downvotes > 0)).order_by(Answer.id.desc()).limit(limit))
    if since is not None:
        query = query.where(Answer.created_at >= since)
    rows = session.execute(query).all()
    return [GapQuestion(answer_id=id_, question=question, channel=channel, asked_at=asked_at, abstained=abstained,
                        downvotes=count) for id_, question, channel, asked_at, abstained, count in rows]
