"""The LoRA adapter registry: which adapter versions exist and which one serves (store).

`adapters` holds immutable versions; `adapter_deployments` is an append-only log whose newest row
says what serves (adapter_id NULL = the base model). Each insert fires `pg_notify('adapter_changed')`
(a trigger from the initial migration), so serving processes switch when the transaction commits.

Every function runs inside the caller's session and transaction and never commits: wrap a change in
`with sessions.begin() as session:` so the new deployment row and the status updates land together.
Changes to the log are serialised with a transaction-level advisory lock, so two admins promoting
at once cannot compute "what served before" from the same stale history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from store.deployment_stack import rollback_target, serving_stack
from store.schema import Adapter, AdapterDeployment

PROMOTED = "promoted"
RETIRED = "retired"
ROLLED_BACK = "rolled_back"
CANDIDATE = "candidate"

ACTION_PROMOTE = "promote"
ACTION_ROLLBACK = "rollback"
ACTION_BASE = "base"

_LOCK_KEY = 7_340_001
"""pg_advisory_xact_lock key that serialises writers of adapter_deployments."""


class AdapterNotFound(LookupError):
    """No adapter with the given id or name is registered."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AdapterRecord:
    """A registered adapter version, as much of it as serving needs."""

    id: int
    name: str
    path: str
    base_model: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentRecord:
    """One entry of the deployment log; `adapter` is None for the base model."""

    id: int
    action: str
    adapter: AdapterRecord | None
    actor: str | None
    reason: str | None
    created_at: datetime


def serving_adapter(session: Session) -> AdapterRecord | None:
    """The adapter the newest deployment serves, or None for the base model (also with no log yet)."""
    row = session.execute(
        select(AdapterDeployment.adapter_id).order_by(AdapterDeployment.id.desc()).limit(1)
    ).first()
    if row is None or row.adapter_id is None:
        return None
    return _record(session.get_one(Adapter, row.adapter_id))


def register_adapter(
    session: Session,
    *,
    name: str,
    path: str,
    base_model: str,
    sha256: str | None = None,
    training_run_id: int | None = None,
    metrics: dict[str, Any] | None = None,
) -> AdapterRecord:
    """Add a candidate adapter version (not served until promoted).

    Raises:
        ValueError: `name` is already registered (versions are immutable; pick a new name).
    """
    if session.scalar(select(Adapter.id).where(Adapter.name == name)) is not None:
        raise ValueError(f"an adapter named {name!r} is already registered; adapter versions are immutable")
    adapter = Adapter(
        name=name,
        path=str(path),
        base_model=base_model,
        status=CANDIDATE,
        sha256=sha256,
        training_run_id=training_run_id,
        metrics=metrics or {},
    )
    session.add(adapter)
    session.flush()
    return _record(adapter)


def get_adapter(session: Session, adapter_id: int) -> AdapterRecord:
    """The registered adapter `adapter_id`.

    Raises:
        AdapterNotFound: no such adapter.
    """
    adapter = session.get(Adapter, adapter_id)
    if adapter is None:
        raise AdapterNotFound(f"no adapter with id {adapter_id}")
    return _record(adapter)


def promote(session: Session, adapter_id: int, *, actor: str, reason: str | None = None) -> AdapterRecord:
    """Serve `adapter_id` from now on; the adapter it replaces becomes 'retired'.

    Raises:
        AdapterNotFound: no such adapter.
    """
    _lock(session)
    adapter = session.get(Adapter, adapter_id)
    if adapter is None:
        raise AdapterNotFound(f"no adapter with id {adapter_id}")
    _set_status(session, _current_adapter_id(session), RETIRED, unless=adapter_id)
    adapter.status = PROMOTED
    _append(session, adapter_id, ACTION_PROMOTE, actor, reason)
    return _record(adapter)


def deploy_base(session: Session, *, actor: str, reason: str | None = None) -> None:
    """Serve the base model without an adapter; the adapter serving until now becomes 'retired'."""
    _lock(session)
    _set_status(session, _current_adapter_id(session), RETIRED)
    _append(session, None, ACTION_BASE, actor, reason)


def rollback(session: Session, *, actor: str, reason: str | None = None) -> AdapterRecord | None:
    """Serve again what served before the current deployment; returns it (None = base model).

    The log is read as a stack: promotions and base deployments push, rollbacks pop. So A, B,
    rollback serves A, and a second rollback serves what preceded A (the base model when nothing
    did), never B again. The adapter rolled away from is marked 'rolled_back'.
    """
    _lock(session)
    stack = _serving_stack(session)
    current = stack[-1] if stack else None
    restored_id = rollback_target(stack, None)
    _set_status(session, current, ROLLED_BACK, unless=restored_id)
    _set_status(session, restored_id, PROMOTED)
    _append(session, restored_id, ACTION_ROLLBACK, actor, reason)
    return None if restored_id is None else _record(session.get_one(Adapter, restored_id))


def promotable_adapter(session: Session) -> AdapterRecord | None:
    """The newest adapter that passed its evaluation gate, unless it is the one serving: what an admin may promote.

    Normally a run that passes the gate promotes its adapter itself, so this is None; it is the
    adapter an admin rolled back from (or one a run registered without promoting) until it serves again.
    """
    newest = session.scalars(select(Adapter).where(Adapter.metrics["gate"]["passed"].as_boolean().is_(True))
                             .order_by(Adapter.id.desc()).limit(1)).first()
    if newest is None or newest.id == _current_adapter_id(session):
        return None
    return _record(newest)


def deployment_history(session: Session, limit: int = 20) -> list[DeploymentRecord]:
    """The newest `limit` entries of the deployment log, newest first."""
    rows = session.execute(
        select(AdapterDeployment, Adapter)
        .outerjoin(Adapter, Adapter.id == AdapterDeployment.adapter_id)
        .order_by(AdapterDeployment.id.desc())
        .limit(limit)
    ).all()
    return [
        DeploymentRecord(
            id=deployment.id,
            action=deployment.action,
            adapter=None if adapter is None else _record(adapter),
            actor=deployment.actor,
            reason=deployment.reason,
            created_at=deployment.created_at,
        )
        for deployment, adapter in rows
    ]


def _serving_stack(session: Session) -> list[int | None]:
    """Replay the whole log: what served, innermost last, after undoing every rollback."""
    log = session.execute(select(AdapterDeployment.action, AdapterDeployment.adapter_id).order_by(AdapterDeployment.id))
    return serving_stack(((action == ACTION_ROLLBACK, adapter_id) for action, adapter_id in log), None)


def _current_adapter_id(session: Session) -> int | None:
    return session.scalar(
        select(AdapterDeployment.adapter_id).order_by(AdapterDeployment.id.desc()).limit(1)
    )


def _set_status(session: Session, adapter_id: int | None, status: str, *, unless: int | None = None) -> None:
    if adapter_id is not None and adapter_id != unless:
        session.get_one(Adapter, adapter_id).status = status


def _append(session: Session, adapter_id: int | None, action: str, actor: str, reason: str | None) -> None:
    session.add(AdapterDeployment(adapter_id=adapter_id, action=action, actor=actor, reason=reason))
    session.flush()


def _lock(session: Session) -> None:
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


def _record(adapter: Adapter) -> AdapterRecord:
    return AdapterRecord(id=adapter.id, name=adapter.name, path=adapter.path, base_model=adapter.base_model)

