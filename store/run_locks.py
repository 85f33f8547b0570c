"""Advisory locks that tie a training run to the process executing it (store).

A worker holds a session-level advisory lock on (RUN_LOCK_NAMESPACE, run id) from before the run
turns 'running' until it has finished it. Postgres drops the lock with the owner's connection, so a
process killed mid-run (kill -9, the OOM killer, a lost machine once its connection times out)
leaves a 'running' row whose lock anyone can take: that is how "its worker died" is recognised,
with no timeout that a slow training step could trip. Key (RUN_LOCK_NAMESPACE, 0) serialises run
requests; run ids start at 1, so it never collides with a run's lock.
"""

from __future__ import annotations

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

RUN_LOCK_NAMESPACE = 0x6B62
"""First key of the advisory locks on training runs (the second is the run id)."""

REQUESTS_KEY = 0
"""Second key of the lock that serialises run requests."""


def try_lock(connection: Connection, run_id: int) -> bool:
    """Take the run's session-level lock on `connection` (held until `unlock` or the connection ends)."""
    return bool(connection.execute(text("SELECT pg_try_advisory_lock(:ns, :id)"),
                                   {"ns": RUN_LOCK_NAMESPACE, "id": run_id}).scalar())


def unlock(connection: Connection, run_id: int) -> None:
    connection.execute(text("SELECT pg_advisory_unlock(:ns, :id)"), {"ns": RUN_LOCK_NAMESPACE, "id": run_id})


def owner_gone(session: Session, run_id: int) -> bool:
    """True when no process holds the run's lock.

    Takes the lock at transaction level, so it is released when `session`'s transaction ends; while
    the transaction lasts, no worker can claim the run either.
    """
    return bool(session.execute(text("SELECT pg_try_advisory_xact_lock(:ns, :id)"),
                                {"ns": RUN_LOCK_NAMESPACE, "id": run_id}).scalar())


def serialise_requests(session: Session) -> None:
    """Wait for other run requests to commit, so a request never races another for the open-run slot."""
    session.execute(text("SELECT pg_advisory_xact_lock(:ns, :key)"), {"ns": RUN_LOCK_NAMESPACE, "key": REQUESTS_KEY})
