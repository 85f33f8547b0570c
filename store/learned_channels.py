"""Learned Slack channels and their threads: configuration, sync progress, retiring (store).

Functions take a Session and never commit: the orchestrator (`knowledge.slack_threads_sync`, the
`/kb learn` command, the event listeners) owns the transaction, so "delete the thread's document
and forget it" is one transaction and a reader never sees half of it.

Retiring deletes the `documents` row; its chunks go with it (foreign key cascade) and
`learned_threads.document_id` turns NULL (SET NULL), so the content stops being retrieved the
moment the transaction commits.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, case, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from store.schema import (
    Document,
    ForgottenSlackUser,
    LearnedChannel,
    LearnedThread,
    LearnPolicy,
    VerifiedAnswer,
)

STATUSES = ("active", "stopped", "left", "deleted")


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelRecord:
    """A learned channel's configuration and sync state (see `store.schema.LearnedChannel`)."""

    channel: str
    name: str
    kind: str
    scope: str
    trusted_users: tuple[str, ...]
    trusted_groups: tuple[str, ...]
    oldest_ts: str
    status: str
    added_by: str | None
    resume_ts: str | None
    backfill_done: bool
    synced_at: datetime | None
    last_error: str | None
    error_at: datetime | None
    created_at: datetime

    @property
    def trusted(self) -> bool:
        """Whether only some people's replies are learned."""
        return bool(self.trusted_users or self.trusted_groups)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelStats:
    """What a learned channel holds now: indexed threads and the messages in them."""

    threads: int
    messages: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ThreadState:
    """What the last sync knew about a thread, to decide whether it must be fetched again."""

    thread_ts: str
    document_id: int | None
    reply_count: int
    latest_reply: str | None
    dirty_at: datetime | None
    uri: str | None = None


def _record(row: LearnedChannel) -> ChannelRecord:
    return ChannelRecord(channel=row.channel, name=row.name, kind=row.kind, scope=row.scope,
                         trusted_users=tuple(row.trusted_users), trusted_groups=tuple(row.trusted_groups),
                         oldest_ts=row.oldest_ts, status=row.status, added_by=row.added_by, resume_ts=row.resume_ts,
                         backfill_done=row.backfill_done, synced_at=row.synced_at, last_error=row.last_error,
                         error_at=row.error_at, created_at=row.created_at)


# --- channels ----------------------------------------------------------------------------------------

def configure_channel(session: Session, *, channel: str, name: str, kind: str, scope: str,
                      trusted_users: Sequence[str], trusted_groups: Sequence[str], oldest_ts: str,
                      added_by: str) -> tuple[ChannelRecord, bool]:
    """Start (or re-configure) learning `channel`; returns the record and whether it was new.

    A changed configuration (scope, trusted people, how far back) starts the backfill again and marks
    every known thread dirty, so each is rebuilt under the new rules; the same configuration again
    only re-activates a stopped channel.
    """
    row = session.get(LearnedChannel, channel, with_for_update=True)
    new = row is None
    if row is None:
        row = LearnedChannel(channel=channel, name=name, kind=kind, scope=scope, trusted_users=list(trusted_users),
                             trusted_groups=list(trusted_groups), oldest_ts=oldest_ts, status="active",
                             added_by=added_by)
        session.add(row)
        session.flush()
        return _record(row), new
    changed = (row.scope, sorted(row.trusted_users), sorted(row.trusted_groups), row.oldest_ts) != \
        (scope, sorted(trusted_users), sorted(trusted_groups), oldest_ts)
    if changed or row.status != "active":
        row.resume_ts, row.backfill_done = None, False
    if changed:
        mark_all_dirty(session, channel)
    row.name, row.kind, row.scope, row.oldest_ts = name, kind, scope, oldest_ts
    row.trusted_users, row.trusted_groups = list(trusted_users), list(trusted_groups)
    row.status, row.added_by, row.updated_at = "active", added_by, func.now()
    row.last_error, row.error_at = None, None
    session.flush()
    session.refresh(row)
    return _record(row), new


def get_channel(session: Session, channel: str) -> ChannelRecord | None:
    row = session.get(LearnedChannel, channel)
    return _record(row) if row is not None else None


def list_channels(session: Session, *, statuses: Iterable[str] = STATUSES) -> list[ChannelRecord]:
    """Learned channels of the given statuses, oldest configuration first."""
    rows = session.scalars(select(LearnedChannel).where(LearnedChannel.status.in_(list(statuses)))
                           .order_by(LearnedChannel.created_at, LearnedChannel.channel))
    return [_record(row) for row in rows]


def active_channel_ids(session: Session) -> frozenset[str]:
    """Ids of the channels being learned now (what event listeners look at)."""
    return frozenset(session.scalars(select(LearnedChannel.channel).where(LearnedChannel.status == "active")))


def channel_stats(session: Session) -> dict[str, ChannelStats]:
    """Indexed threads and their messages, per learned channel (channels with none are absent)."""
    rows = session.execute(
        select(LearnedThread.channel, func.count(),
               func.coalesce(func.sum(func.cardinality(LearnedThread.message_ts)), 0))
        .where(LearnedThread.document_id.is_not(None)).group_by(LearnedThread.channel))
    return {channel: ChannelStats(threads=threads, messages=int(messages)) for channel, threads, messages in rows}


def record_progress(session: Session, channel: str, *, resume_ts: str) -> None:
    """The backfill finished every root at or after `resume_ts`; a restart continues below it."""
    session.execute(update(LearnedChannel).where(LearnedChannel.channel == channel)
                    .values(resume_ts=resume_ts, updated_at=func.now()))


def record_sync(session: Session, channel: str, *, backfill_done: bool | None = None, error: str | None = None) -> None:
    """A sync step ended: with `error`, say why (the state stays where it was); without, clear the error."""
    values: dict[str, object] = {"updated_at": func.now()}
    if error is not None:
        values |= {"last_error": error[:500], "error_at": func.now()}
    else:
        values |= {"last_error": None, "error_at": None, "synced_at": func.now()}
    if backfill_done is not None:
        values["backfill_done"] = backfill_done
    session.execute(update(LearnedChannel).where(LearnedChannel.channel == channel).values(**values))


def retire_channel(session: Session, channel: str, *, status: str) -> int:
    """Stop learning `channel` (status stopped, left or deleted): delete every document built from it.

    Returns how many documents were deleted.
    """
    if status not in STATUSES or status == "active":
        raise ValueError(f"cannot retire a channel to status {status!r}")
    document_ids = list(session.scalars(select(LearnedThread.document_id).where(
        LearnedThread.channel == channel, LearnedThread.document_id.is_not(None))))
    if document_ids:
        session.execute(delete(Document).where(Document.id.in_(document_ids)))
    session.execute(delete(LearnedThread).where(LearnedThread.channel == channel))
    session.execute(update(LearnedChannel).where(LearnedChannel.channel == channel)
                    .values(status=status, resume_ts=None, backfill_done=False, updated_at=func.now()))
    return len(document_ids)


# --- threads -----------------------------------------------------------------------------------------

def thread_states(session: Session, channel: str) -> dict[str, ThreadState]:
    """Every known thread of `channel` by its ts."""
    rows = session.scalars(select(LearnedThread).where(LearnedThread.channel == channel))
    return {row.thread_ts: _state(row) for row in rows}


def _state(row: LearnedThread) -> ThreadState:
    return ThreadState(thread_ts=row.thread_ts, document_id=row.document_id, reply_count=row.reply_count,
                       latest_reply=row.latest_reply, dirty_at=row.dirty_at, uri=row.uri)


def lock_thread(session: Session, channel: str, thread_ts: str) -> ThreadState | None:
    """The thread's state, its row locked until the transaction ends (so an event cannot change it meanwhile)."""
    row = session.scalars(select(LearnedThread).where(LearnedThread.channel == channel,
                                                      LearnedThread.thread_ts == thread_ts).with_for_update()).first()
    return _state(row) if row is not None else None


def thread_document(session: Session, channel: str, thread_ts: str) -> int | None:
    return session.scalar(select(LearnedThread.document_id).where(LearnedThread.channel == channel,
                                                                  LearnedThread.thread_ts == thread_ts))


def save_thread(session: Session, *, channel: str, thread_ts: str, document_id: int | None, uri: str | None,
                title: str, message_ts: Sequence[str], authors: Sequence[str], reply_count: int,
                latest_reply: str | None, confirmed: bool, seen_dirty_at: datetime | None) -> None:
    """Record what the thread's document now holds and clear its dirty mark.

    `seen_dirty_at` is the thread's `dirty_at` when the rebuild started reading Slack: a mark set
    after that (an edit during the rebuild) is kept, so the next step rebuilds the thread again.
    """
    values = {"document_id": document_id, "uri": uri, "title": title, "message_ts": list(message_ts),
              "authors": sorted(set(authors)), "reply_count": reply_count, "latest_reply": latest_reply,
              "confirmed": confirmed, "synced_at": func.now()}
    still_dirty = case((LearnedThread.dirty_at.is_distinct_from(seen_dirty_at), LearnedThread.dirty_at), else_=None)
    session.execute(insert(LearnedThread).values(channel=channel, thread_ts=thread_ts, **values)
                    .on_conflict_do_update(constraint="uq_learned_threads_channel_thread",
                                           set_={**values, "dirty_at": still_dirty}))


def mark_dirty(session: Session, channel: str, thread_ts: str) -> None:
    """An event changed the thread: rebuild it on the next sync step (after the debounce delay)."""
    session.execute(insert(LearnedThread).values(channel=channel, thread_ts=thread_ts, dirty_at=func.now())
                    .on_conflict_do_update(constraint="uq_learned_threads_channel_thread",
                                           set_={"dirty_at": func.now()}))


def mark_all_dirty(session: Session, channel: str) -> None:
    session.execute(update(LearnedThread).where(LearnedThread.channel == channel).values(dirty_at=func.now()))


def dirty_threads(session: Session, *, quiet_for: timedelta, limit: int = 100) -> list[tuple[str, str, datetime]]:
    """(channel, thread_ts, dirty_at) of active channels' threads nobody touched for `quiet_for` (the debounce)."""
    rows = session.execute(
        select(LearnedThread.channel, LearnedThread.thread_ts, LearnedThread.dirty_at)
        .join(LearnedChannel, LearnedChannel.channel == LearnedThread.channel)
        .where(LearnedChannel.status == "active", LearnedThread.dirty_at.is_not(None),
               LearnedThread.dirty_at <= func.now() - quiet_for)
        .order_by(LearnedThread.dirty_at).limit(limit))
    return [(channel, ts, dirty_at) for channel, ts, dirty_at in rows if dirty_at is not None]


def thread_of_message(session: Session, channel: str, ts: str) -> str | None:
    """The learned thread whose document holds the message `ts` (a thread's own ts counts)."""
    return session.scalar(select(LearnedThread.thread_ts).where(
        LearnedThread.channel == channel,
        (LearnedThread.thread_ts == ts) | LearnedThread.message_ts.contains([ts])).limit(1))


def retire_thread(session: Session, channel: str, thread_ts: str) -> bool:
    """Delete the thread's document now (it stops being retrieved at commit); True when there was one."""
    document_id = thread_document(session, channel, thread_ts)
    if document_id is None:
        return False
    session.execute(delete(Document).where(Document.id == document_id))
    return True


def forget_thread(session: Session, channel: str, thread_ts: str) -> None:
    """Retire the thread's document and drop the thread (its root is gone from Slack)."""
    retire_thread(session, channel, thread_ts)
    session.execute(delete(LearnedThread).where(LearnedThread.channel == channel,
                                                LearnedThread.thread_ts == thread_ts))


def threads_by_author(session: Session, user: str) -> list[tuple[str, str]]:
    """(channel, thread_ts) of the learned threads holding a message `user` wrote."""
    rows = session.execute(select(LearnedThread.channel, LearnedThread.thread_ts)
                           .where(LearnedThread.authors.contains([user])).order_by(LearnedThread.id))
    return [(channel, ts) for channel, ts in rows]


def threads_with_verified_answers(session: Session, channel: str) -> frozenset[str]:
    """Threads of `channel` where a teammate's reply was confirmed as a verified answer (and still is)."""
    return frozenset(session.scalars(select(VerifiedAnswer.thread_ts).where(
        VerifiedAnswer.channel == channel, VerifiedAnswer.status == "active", VerifiedAnswer.thread_ts.is_not(None))))


# --- people and policy -------------------------------------------------------------------------------

def forget_user(session: Session, user: str) -> bool:
    """Record that `user`'s messages must never be learned; False when they had asked already."""
    inserted = session.execute(insert(ForgottenSlackUser).values(user_id=user)
                               .on_conflict_do_nothing().returning(ForgottenSlackUser.user_id))
    return inserted.first() is not None


def forgotten_users(session: Session) -> frozenset[str]:
    return frozenset(session.scalars(select(ForgottenSlackUser.user_id)))


def members_may_learn(session: Session) -> bool:
    """Whether channel members (not only admins) may start `/kb learn` in their channel."""
    return bool(session.scalar(select(LearnPolicy.members_may_learn).where(LearnPolicy.id == 1)))


def set_members_may_learn(session: Session, allowed: bool, *, by: str) -> None:
    session.execute(insert(LearnPolicy).values(id=1, members_may_learn=allowed, updated_by=by)
                    .on_conflict_do_update(index_elements=[LearnPolicy.id],
                                           set_={"members_may_learn": allowed, "updated_by": by,
                                                 "updated_at": func.now()}))


# --- one sync per channel at a time --------------------------------------------------------------------

CHANNEL_LOCK_NAMESPACE = 0x6C6E
"""First key of the advisory locks that let one process at a time sync a channel (the second is a hash)."""


def _channel_key(channel: str) -> int:
    return zlib.crc32(channel.encode()) - 2**31  # into int4's range


def try_lock_channel(connection: Connection, channel: str) -> bool:
    """Take the channel's session-level lock on `connection` (held until `unlock_channel` or the connection ends)."""
    return bool(connection.execute(text("SELECT pg_try_advisory_lock(:ns, :key)"),
                                   {"ns": CHANNEL_LOCK_NAMESPACE, "key": _channel_key(channel)}).scalar())


def unlock_channel(connection: Connection, channel: str) -> None:
    connection.execute(text("SELECT pg_advisory_unlock(:ns, :key)"),
                       {"ns": CHANNEL_LOCK_NAMESPACE, "key": _channel_key(channel)})


@dataclass(frozen=True, slots=True, kw_only=True)
class LearningSummary:
    """What the Home tab says about learned channels: those being learned now, what they hold, the last sync."""

    channels: int
    threads: int
    messages: int
    synced_at: datetime | None
    failing: int
    """Channels whose last sync step failed (the admins' `/kb learn list` says why)."""


def learning_summary(session: Session, *, scopes: Sequence[str]) -> LearningSummary:
    """The summary over the active channels whose scope is among `scopes` (the Home tab: the workspace's)."""
    channels = [c for c in list_channels(session, statuses=("active",)) if c.scope in scopes]
    stats = channel_stats(session)
    synced = [c.synced_at for c in channels if c.synced_at is not None]
    return LearningSummary(channels=len(channels),
                           threads=sum(stats[c.channel].threads for c in channels if c.channel in stats),
                           messages=sum(stats[c.channel].messages for c in channels if c.channel in stats),
                           synced_at=max(synced) if synced else None,
                           failing=sum(1 for c in channels if c.last_error))
