"""Reactions on a bot message whose answer is not recorded yet, held until it is (store).

An answer's record, and its link to the Slack message that shows it, are written after its quoted
evidence is shown: after the model's summary, or under a burst after the next questions' evidence
(bot/slack/answer_flow.py). A 👍 given on the evidence in between found no answer for its message and
was dropped, so the learning loop lost exactly the quickest votes. Such a reaction (added or removed)
is now held here and replayed as votes, in the order Slack says they happened (the event's
`event_ts`: handlers run on a thread pool, so a 👍 added and removed a moment later can arrive in either
order), in the transaction that links the answer to its message; one on a bot message that never
becomes an answer (a notice) is purged after an hour.

Both sides take the same transaction-scoped advisory lock on the message first (`lock_message`), so a
reaction checked just before the link commits is held before the link reads what is held, never lost
in between. Store functions take a `Session`; the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, insert, text
from sqlalchemy.orm import Session

from store.interactions import record_vote, withdraw_vote
from store.schema import PendingReaction

STALE_AFTER_S = 3600.0
"""A held reaction older than this belongs to a message that never became an answer (purged)."""


@dataclass(frozen=True, slots=True)
class HeldReaction:
    user_id: str
    value: int
    added: bool


def lock_message(session: Session, *, channel: str, message_ts: str) -> None:
    """Serialise, until the transaction ends, everyone holding or replaying reactions on this message."""
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"reaction:{channel}:{message_ts}"})


def hold_reaction(session: Session, *, channel: str, message_ts: str, user_id: str, value: int,
                  added: bool, event_ts: str | None = None) -> None:
    """Keep a reaction on a message whose answer is not linked yet (call `lock_message` first);
    `event_ts`: the Slack event's, which orders the replay."""
    if value not in (-1, 1):
        raise ValueError(f"reaction value must be -1 or 1, got {value!r}")
    session.execute(insert(PendingReaction).values(channel=channel, message_ts=message_ts, user_id=user_id,
                                                   value=value, added=added, event_ts=event_ts))


def replay_reactions(session: Session, *, answer_id: int, channel: str, message_ts: str) -> list[HeldReaction]:
    """Turn the reactions held for this message into votes on `answer_id`, in the order they happened, and
    forget them.

    Call after linking the answer to the message, under `lock_message`. Returns what was replayed.
    """
    rows = session.execute(delete(PendingReaction)
                           .where(PendingReaction.channel == channel, PendingReaction.message_ts == message_ts)
                           .returning(PendingReaction.id, PendingReaction.user_id, PendingReaction.value,
                                      PendingReaction.added, PendingReaction.event_ts)).all()
    replayed = [HeldReaction(user_id=row.user_id, value=row.value, added=row.added)
                for row in sorted(rows, key=_happened)]
    for reaction in replayed:
        if reaction.added:
            record_vote(session, answer_id=answer_id, user_id=reaction.user_id, value=reaction.value,
                        source="reaction")
        else:
            withdraw_vote(session, answer_id=answer_id, user_id=reaction.user_id, value=reaction.value,
                          source="reaction")
    return replayed


def _happened(row: Any) -> tuple[bool, float, int]:
    """Replay order: by the event's time; rows without one (held before revision 0025, or an event
    without `event_ts`) after them, in arrival order."""
    try:
        return False, float(row.event_ts), row.id
    except (TypeError, ValueError):
        return True, 0.0, row.id


def purge_reactions(session: Session, *, older_than_s: float = STALE_AFTER_S) -> int:
    """Delete held reactions older than `older_than_s` (their message never became an answer); how many went."""
    result = cast(CursorResult[Any], session.execute(
        delete(PendingReaction).where(PendingReaction.created_at < func.now() - func.make_interval(
            0, 0, 0, 0, 0, 0, older_than_s))))
    return result.rowcount or 0
