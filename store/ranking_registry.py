"""Which ranking model serves: the ranking models' deployment log (store).

`ranking_deployments` is append-only; its newest row names the sentence-transformers folder the
serving processes rank passages with, or (folder NULL, and with no row at all) the model
`KB_RANKING_MODEL` configures. Each insert fires `pg_notify('ranking_model_changed')` (revision 0024),
so the processes switch when the transaction commits (bot/ranking_follower.py). Rollbacks re-serve
what served before, read as a stack as the adapter registry's are (`store.deployment_stack`).

Every function runs inside the caller's session and transaction and never commits; writers are
serialised with a transaction-level advisory lock, so two deployments at once cannot both compute
"what served before" from the same history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from store.deployment_stack import rollback_target, serving_stack
from store.schema import RankingDeployment

ACTION_DEPLOY = "deploy"
ACTION_ROLLBACK = "rollback"
ACTION_CONFIGURED = "configured"
CHANNEL = "ranking_model_changed"

_LOCK_KEY = 7_340_002
"""pg_advisory_xact_lock key that serialises writers of ranking_deployments (the adapters' is 7_340_001)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RankingEntry:
    """One entry of the log; `folder` and `name` are None where the configured model serves."""

    id: int
    folder: str | None
    name: str | None
    action: str
    actor: str | None
    reason: str | None
    metrics: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RankingTarget:
    """A ranking model the log can serve: its folder and the name its vectors are stored under (None: the
    configured model)."""

    folder: str | None
    name: str | None


CONFIGURED = RankingTarget(None, None)


def serving_ranking_model(session: Session) -> RankingTarget:
    """What the newest entry serves (`CONFIGURED` with no log yet)."""
    row = session.execute(select(RankingDeployment.folder, RankingDeployment.name)
                          .order_by(RankingDeployment.id.desc()).limit(1)).first()
    return CONFIGURED if row is None or row.folder is None else RankingTarget(row.folder, row.name)


def deploy_ranking_model(session: Session, *, folder: str, name: str, actor: str, reason: str | None = None,
                         metrics: dict[str, Any] | None = None) -> RankingEntry:
    """Serve the model in `folder` (its vectors stored as `name`) from now on."""
    _lock(session)
    return _append(session, RankingTarget(folder, name), ACTION_DEPLOY, actor, reason, metrics)


def deploy_configured_ranking_model(session: Session, *, actor: str, reason: str | None = None) -> RankingEntry:
    """Serve the model `KB_RANKING_MODEL` configures again."""
    _lock(session)
    return _append(session, CONFIGURED, ACTION_CONFIGURED, actor, reason, None)


def rollback_ranking_model(session: Session, *, actor: str, reason: str | None = None) -> RankingEntry:
    """Serve again what served before the current entry (the configured model when nothing did)."""
    _lock(session)
    restored = rollback_target(_stack(session), CONFIGURED)
    return _append(session, restored, ACTION_ROLLBACK, actor, reason, None)


def ranking_names_kept(session: Session) -> set[str]:
    """The stored names of the deployed models whose vectors must stay: the one serving and the one a
    rollback would serve (the configured model's name is the caller's to add)."""
    stack = _stack(session)
    kept = {stack[-1] if stack else CONFIGURED, rollback_target(stack, CONFIGURED)}
    return {served.name for served in kept if served.name is not None}


def newest_deployed_metrics(session: Session) -> dict[str, Any] | None:
    """The metrics of the newest tuned model deployed (None when none ever was): what it was tuned on."""
    return session.scalar(select(RankingDeployment.metrics).where(RankingDeployment.action == ACTION_DEPLOY)
                          .order_by(RankingDeployment.id.desc()).limit(1))


def ranking_history(session: Session, limit: int = 20) -> list[RankingEntry]:
    """The newest `limit` entries, newest first."""
    rows = session.scalars(select(RankingDeployment).order_by(RankingDeployment.id.desc()).limit(limit))
    return [_entry(row) for row in rows]


def _stack(session: Session) -> list[RankingTarget]:
    rows = session.execute(select(RankingDeployment.action, RankingDeployment.folder, RankingDeployment.name)
                           .order_by(RankingDeployment.id))
    log = ((row.action == ACTION_ROLLBACK, RankingTarget(row.folder, row.name)) for row in rows)
    return serving_stack(log, CONFIGURED)


def _append(session: Session, served: RankingTarget, action: str, actor: str, reason: str | None,
            metrics: dict[str, Any] | None) -> RankingEntry:
    row = RankingDeployment(folder=served.folder, name=served.name, action=action, actor=actor, reason=reason,
                            metrics=metrics or {})
    session.add(row)
    session.flush()
    session.refresh(row)
    return _entry(row)


def _lock(session: Session) -> None:
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


def _entry(row: RankingDeployment) -> RankingEntry:
    return RankingEntry(id=row.id, folder=row.folder, name=row.name, action=row.action, actor=row.actor,
                        reason=row.reason, metrics=dict(row.metrics), created_at=row.created_at)
