"""Answer, vote and correction store calls as the bot makes them, each in a transaction of its own (test helpers).

The `store.interactions` functions take a `Session`; these open it and commit it, so a test reads
like the orchestrator it plays (the answerer records an answer, a click records a vote, a reply in
the thread is kept as a correction), each committed before the next as in the bot.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from store.interactions import record_answer, record_reference_answer, record_vote, withdraw_vote


def store_answer(sessions: sessionmaker[Session], **fields: Any) -> int:
    """Record an answer, committed (see `record_answer`); returns its id."""
    with sessions.begin() as session:
        return record_answer(session, **fields)


def vote(sessions: sessionmaker[Session], **fields: Any) -> None:
    """Set a user's vote, committed (see `record_vote`)."""
    with sessions.begin() as session:
        record_vote(session, **fields)


def withdraw(sessions: sessionmaker[Session], **fields: Any) -> bool:
    """Withdraw a user's vote, committed (see `withdraw_vote`)."""
    with sessions.begin() as session:
        return withdraw_vote(session, **fields)


def keep_reference(sessions: sessionmaker[Session], **fields: Any) -> int:
    """Keep a teammate's reply as a reference answer, committed (see `record_reference_answer`)."""
    with sessions.begin() as session:
        return record_reference_answer(session, **fields)
