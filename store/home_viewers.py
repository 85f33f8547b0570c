"""Who opened the App Home tab, and the once-per-run claim to refresh the admins' tabs (store).

The Home tab is published on open and re-published for admins after each training run. With several
web workers (gunicorn) or a Socket Mode process next to them, the process that notices a finished
run is often not the one that saw an admin open the tab, so viewers are kept here, not in memory,
and exactly one process claims each finished run for the refresh.

Store functions take a `Session`; the caller owns the transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session
from sqlalchemy.sql import func

from store.schema import HomeViewer, TrainingRun


def record_home_opened(session: Session, user: str) -> None:
    """Remember that `user` opened the Home tab now."""
    statement = insert(HomeViewer).values(user_id=user)
    session.execute(statement.on_conflict_do_update(index_elements=[HomeViewer.user_id],
                                                    set_={"opened_at": func.now()}))


def home_viewers_since(session: Session, since: datetime) -> list[str]:
    """Users who opened the Home tab at or after `since`, oldest first."""
    query = select(HomeViewer.user_id).where(HomeViewer.opened_at >= since).order_by(HomeViewer.opened_at)
    return list(session.scalars(query))


def claim_runs_for_home_refresh(session: Session) -> list[int]:
    """Claim every finished run whose outcome has not refreshed the Home tabs yet; returns their ids.

    One UPDATE … RETURNING: a run is claimed by exactly one process, however many poll at once.
    """
    claimed = session.execute(update(TrainingRun).where(
        TrainingRun.finished_at.is_not(None), TrainingRun.home_refreshed_at.is_(None),
    ).values(home_refreshed_at=func.now()).returning(TrainingRun.id))
    return sorted(claimed.scalars())
