"""Process heartbeat rows: written at start, refreshed with what is served, dead ones ignored then purged."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from store.adapter_registry import register_adapter
from store.process_heartbeats import (
    HeartbeatWriter,
    Served,
    live_processes,
    purge_dead_processes,
    record_beat,
    register_process,
)
from store.schema import ProcessHeartbeat


def _age(sessions: sessionmaker[Session], process_id: int, minutes: int) -> None:
    with sessions.begin() as session:
        session.execute(text("update process_heartbeats set last_seen = now() - make_interval(mins => :m) "
                             "where id = :id"), {"m": minutes, "id": process_id})


def test_a_writer_records_what_is_served_now_with_the_registry_sha(sessions: sessionmaker[Session],
                                                                   tmp_path: Path) -> None:
    with sessions.begin() as session:
        adapter = register_adapter(session, name="kb-v3", path=str(tmp_path), base_model="m", sha256="f" * 64)
    served = [Served(adapter_id=None, adapter_name="base", model="var/models/m")]
    writer = HeartbeatWriter(sessions, kind="web", served=lambda: served[-1], interval_s=0.05).start()
    try:
        with sessions() as session:
            (first,) = live_processes(session)
        assert (first.kind, first.adapter_id, first.adapter_sha256, first.model) == ("web", None, None, "var/models/m")
        served.append(Served(adapter_id=adapter.id, adapter_name="kb-v3", model="var/models/m"))
        for _ in range(100):
            with sessions() as session:
                (now,) = live_processes(session)
            if now.adapter_id == adapter.id:
                break
            time.sleep(0.05)
        assert (now.id, now.adapter_name, now.adapter_sha256) == (first.id, "kb-v3", "f" * 64)
        assert now.last_seen > first.last_seen and now.started_at == first.started_at
    finally:
        writer.stop()
    with sessions() as session:
        assert session.scalars(select(ProcessHeartbeat)).all() == [], "a clean stop removes the row"


def test_stale_rows_are_ignored_then_purged_and_a_purged_writer_registers_again(
        sessions: sessionmaker[Session]) -> None:
    served = Served(adapter_id=None, adapter_name=None, model="m")
    with sessions.begin() as session:
        old = register_process(session, kind="worker", served=served, pid=11)
        recent = register_process(session, kind="socket", served=served, pid=12)
    _age(sessions, old, 5)
    with sessions() as session:
        assert [p.pid for p in live_processes(session)] == [12]
    _age(sessions, old, 60 * 25)
    with sessions.begin() as session:
        assert purge_dead_processes(session) == 1
        assert record_beat(session, recent, served) and not record_beat(session, old, served)
    writer = HeartbeatWriter(sessions, kind="worker", served=lambda: served, interval_s=60)
    writer.beat_once()
    first_id = writer.process_id
    with sessions.begin() as session:
        session.execute(text("delete from process_heartbeats where id = :id"), {"id": first_id})
    writer.beat_once()
    assert writer.process_id not in (None, first_id)
    with sessions() as session:
        assert sorted(p.kind for p in live_processes(session)) == ["socket", "worker"]


def test_unknown_kind_is_refused(sessions: sessionmaker[Session]) -> None:
    served = Served(adapter_id=None, adapter_name=None, model="m")
    with pytest.raises(ValueError, match="unknown process kind 'cron'; expected one of web, socket, worker"):
        HeartbeatWriter(sessions, kind="cron", served=lambda: served)  # type: ignore[arg-type]
    with sessions.begin() as session, pytest.raises(ValueError, match="unknown process kind"):
        register_process(session, kind="cron", served=served)  # type: ignore[arg-type]
