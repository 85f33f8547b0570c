"""Exactly-once claims on Slack deliveries, shared by every web process through Postgres (store).

Slack retries deliveries it thinks failed and may send one mention as two events; whichever process
inserts the key first owns the work, the others drop it. A claim left `claimed` by a process that
died is taken over after `stale_after_s`, so a crash does not lose the question forever.

Store functions take a `Session`; the caller owns the transaction. A claim only excludes the other
processes once it is committed, so callers commit it before doing the work it guards.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, text
from sqlalchemy.orm import Session

_CLAIM_SQL = text("""
    INSERT INTO slack_events (dedup_key, status) VALUES (:key, 'claimed')
    ON CONFLICT (dedup_key) DO UPDATE SET status = 'claimed', claimed_at = now()
        WHERE slack_events.status = 'claimed'
          AND slack_events.claimed_at < now() - make_interval(secs => :stale_after_s)
    RETURNING dedup_key
""")


def claim_event(session: Session, key: str, *, stale_after_s: float = 600.0) -> bool:
    """True when this caller owns `key` (first delivery, or a stale claim taken over) once the claim commits."""
    return session.execute(_CLAIM_SQL, {"key": key[:200], "stale_after_s": stale_after_s}).first() is not None


def finish_event(session: Session, *keys: str) -> None:
    """Mark `keys` done so they are never taken over (one statement for all of them)."""
    if keys:
        session.execute(text("UPDATE slack_events SET status = 'done' WHERE dedup_key = ANY(:keys)"),
                        {"keys": [key[:200] for key in keys]})


def purge_events(session: Session, *, older_than_s: float = 86400.0) -> int:
    """Delete claims older than Slack's retry horizon; returns how many went."""
    result = cast(CursorResult[Any], session.execute(  # a DELETE's result carries rowcount
        text("DELETE FROM slack_events WHERE claimed_at < now() - make_interval(secs => :age)"),
        {"age": older_than_s}))
    return result.rowcount or 0
