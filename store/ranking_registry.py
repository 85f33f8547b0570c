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

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, exists, select, text
from sqlalchemy.orm import Session

from store.deployment_stack import rollback_target, serving_stack
from store.process_heartbeats import live_processes
from store.ranking_vectors import chunks_to_rank, delete_other_models
from store.schema import RankingDeployment, RankingVectors

logger = logging.getLogger(__name__)

ACTION_DEPLOY = "deploy"
ACTION_ROLLBACK = "rollback"
ACTION_CONFIGURED = "configured"
CHANNEL = "ranking_model_changed"

_LOCK_KEY = 7_340_002
"""pg_advisory_xact_lock key that serialises writers of ranking_deployments (the adapters' is 7_340_001)."""
_CHANGE_LOCK_KEY = 7_340_003
"""pg_try_advisory_lock key held while a ranking model's vectors are computed for a deployment, or pruned."""


class RankingChangeBusy(RuntimeError):
    """Another process is tuning, deploying or pruning ranking models now."""


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


@dataclass(frozen=True, slots=True)
class RankingRollback:
    """A rollback done: what served before it, and its log entry."""

    rolled_from: RankingTarget
    entry: RankingEntry


def rollback_target_now(session: Session) -> RankingTarget:
    """What a rollback would serve now (`CONFIGURED` when nothing served before)."""
    return rollback_target(_stack(session), CONFIGURED)


class RankingChanged(RuntimeError):
    """The serving ranking model is not the one the caller expected (a stale button, two admins at once)."""


class RankingVectorsMissing(LookupError):
    """The model a rollback would serve has no vectors left (pruned when a newer model was deployed)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"the ranking model a rollback would serve, {name}, no longer has its passages' vectors")
        self.name = name


ANY_MODEL: Any = object()
"""`rollback_ranking_model`'s `expected` when any serving model may be rolled back."""


def rollback_ranking_model(session: Session, *, actor: str, reason: str | None = None,
                           expected: str | None = ANY_MODEL, require_vectors: bool = False) -> RankingRollback | None:
    """Serve again what served before the current entry (the configured model when nothing did); None when
    there is nothing to roll back (no deployment before, or it would serve the same model).

    Checked under the log's lock, so a deployment's prune (which holds it too) cannot interleave.

    Args:
        expected: the name of the model the caller saw serving (None: the configured one; not given: any);
            another serving raises, changing nothing.
        require_vectors: refuse a model with no stored vectors at all (what a prune leaves; a few
            passages added since it served fill in after the answers that read them).

    Raises:
        RankingChanged: `expected` is not what serves now.
        RankingVectorsMissing: `require_vectors` and the target has none.
    """
    _lock(session)
    stack = _stack(session)
    current = stack[-1] if stack else CONFIGURED
    if expected is not ANY_MODEL and current.name != expected:
        raise RankingChanged(f"the serving ranking model is {current.name or 'the configured one'} by now")
    target = rollback_target(stack, CONFIGURED)
    if not stack or target == current:
        return None
    if require_vectors and target.name is not None and not has_vectors(session, target.name):
        raise RankingVectorsMissing(target.name)
    return RankingRollback(current, _append(session, target, ACTION_ROLLBACK, actor, reason, None))


def has_vectors(session: Session, name: str) -> bool:
    """Whether any passage has vectors from the ranking model stored as `name` (none: pruned, or never ranked)."""
    return session.scalar(select(exists().where(RankingVectors.model == name))) or False


def lacks_vectors(session: Session, name: str) -> bool:
    """Whether some passage has no vectors from the ranking model stored as `name` (what a rollback's ranking
    pass computes)."""
    return bool(chunks_to_rank(session, name, limit=1))


def prune_ranking_vectors(session: Session, configured: str | None) -> tuple[int, set[str]]:
    """Delete the vectors of every ranking model not in `ranking_names_kept` nor `configured` (its name; None
    with the ranking model off), under the log's lock so no rollback or deployment interleaves; returns
    how many rows went and the names kept."""
    _lock(session)
    kept = ranking_names_kept(session) | ({configured} if configured else set())
    return delete_other_models(session, kept), kept


def ranking_names_kept(session: Session) -> set[str]:
    """The stored names of the ranking models whose vectors must stay: the one serving, the one a rollback
    would serve, and every one a live process still ranks with (one that could not load the newest
    deployment, say); the configured model's name is the caller's to add."""
    stack = _stack(session)
    kept = {stack[-1] if stack else CONFIGURED, rollback_target(stack, CONFIGURED)}
    names = {served.name for served in kept if served.name is not None}
    return names | {process.ranking_model for process in live_processes(session) if process.ranking_model}


@contextmanager
def ranking_change_lock(engine: Engine) -> Iterator[None]:
    """Hold the lock under which ranking models are tuned and deployed and their vectors pruned, so a prune
    never deletes the vectors of a model being readied for deployment.

    Raises:
        RankingChangeBusy: another process holds it.
    """
    with engine.connect() as connection:
        taken = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": _CHANGE_LOCK_KEY}).scalar()
        connection.commit()
        if not taken:
            raise RankingChangeBusy("another process is tuning, deploying or pruning ranking models now; try again "
                                    "when it has finished")
        try:
            yield
        finally:
            try:  # a connection lost meanwhile took the lock with it; never hide the run's own outcome
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _CHANGE_LOCK_KEY})
                connection.commit()
            except Exception:
                logger.warning("the ranking change lock was not released explicitly; closing its connection",
                               exc_info=True)
                connection.invalidate()  # never back to the pool still holding it


def newest_deployed_metrics(session: Session, name: str | None = None) -> dict[str, Any] | None:
    """The metrics of the newest tuned model deployed, or of the newest deployment of `name` (None when
    there is none): what it was tuned on and its gate's figures."""
    query = select(RankingDeployment.metrics).where(RankingDeployment.action == ACTION_DEPLOY)
    if name is not None:
        query = query.where(RankingDeployment.name == name)
    return session.scalar(query.order_by(RankingDeployment.id.desc()).limit(1))


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
