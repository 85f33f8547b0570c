"""Questions the bot gave no answer to, busy or failed, kept for the App Home's outcome figures (store).

Store functions take a `Session`; the caller owns the transaction.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy.orm import Session

from store.schema import UnansweredQuestion

UnansweredOutcome = Literal["busy", "failed"]
REASON_LIMIT = 300
"""Characters of the one-line reason kept (an error's first line, never a traceback)."""


def record_unanswered(session: Session, *, channel: str | None, asker: str | None, outcome: UnansweredOutcome,
                      reason: str) -> None:
    """Record one question that got no answer."""
    line = reason.strip().splitlines()[0] if reason.strip() else ""
    session.add(UnansweredQuestion(channel=channel, asker=asker, outcome=outcome, reason=line[:REASON_LIMIT]))
