"""Keeping learned Slack channels in the knowledge base: backfill, incremental rebuilds, re-sync, retiring (orch).

Three ways a thread's document changes, all through `rebuild`:

* **backfill** (`run_pending`, called every few seconds by the bot's background task): walks
  `conversations.history` from the newest root back to the channel's `oldest_ts`, at most
  `step_threads` roots per call, recording after each root the oldest one finished (`resume_ts`).
  After a crash (even `kill -9`) the next call lists history again from `latest=resume_ts`: no
  thread is skipped, and a thread done twice is "unchanged" for ingest (same uri, same content
  hash), so none is duplicated;
* **events** (`bot.slack.learn_events`) mark a thread dirty (a reply, an edit, a ✅) and
  `run_pending` rebuilds it once nothing touched it for `debounce_s`; a deleted message retires the
  thread's document at once (`message_deleted`) and the rebuild brings back the rest;
* **re-sync** (`resync_all`, the training worker's periodic task): lists the whole window again and
  fetches the replies only of threads whose `reply_count`/`latest_reply` changed, plus the ones a
  missed event left dirty; roots gone from Slack are retired.

A thread's document goes through the product's ingest (`knowledge.ingest.ingest_text`) under the
thread's permalink (`chat.getPermalink`) in the channel's scope: WORKSPACE_SCOPE for a public
channel, the channel id for a private one (`knowledge.search.conversation_scope`), so a private
channel's threads answer only questions asked there. One process at a time syncs a channel
(a Postgres advisory lock); a Slack error stops that channel's step, is recorded for `/kb learn list`,
and the next call resumes.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session, sessionmaker

from knowledge.embedding import Embedder
from knowledge.errors import IngestError
from knowledge.ingest import ingest_text
from knowledge.slack_threads import (
    DEFAULT_MIN_WORDS,
    DEFAULT_REACTION,
    ThreadRules,
    build_thread_document,
    is_person_message,
    is_thread_root,
    trusted_people,
)
from knowledge.slack_threads_client import NotAMember, SlackReader
from store.errors import one_line_reason
from store.learned_channels import (
    ChannelRecord,
    ThreadState,
    dirty_threads,
    forget_thread,
    forget_user,
    forgotten_users,
    get_channel,
    list_channels,
    lock_thread,
    mark_dirty,
    record_progress,
    record_sync,
    retire_channel,
    retire_thread,
    save_thread,
    thread_of_message,
    thread_states,
    threads_by_author,
    threads_with_verified_answers,
    try_lock_channel,
    unlock_channel,
)
from store.schema import Document

logger = logging.getLogger(__name__)

SOURCE = "slack_thread"
"""`documents.source` of a learned thread."""
NOT_A_MEMBER = "I'm not a member of this channel (or can no longer see it): invite me with /invite, then it resumes."


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncOptions:
    """How channels are learned (KB_LEARN_* settings).

    Attributes:
        reaction: the reaction that marks a confirmed answer (default ✅ `white_check_mark`).
        min_words: threads with fewer words are not indexed.
        debounce_s: a dirty thread is rebuilt once no event touched it for this long.
        step_threads: roots a backfill handles per `run_pending` call before other channels get a turn.
        error_backoff_s: after a failed step (not a member, Slack refusing), `run_pending` leaves the
            channel alone this long instead of failing again every poll; the worker's re-sync does not wait.
    """

    reaction: str = DEFAULT_REACTION
    min_words: int = DEFAULT_MIN_WORDS
    debounce_s: float = 10.0
    step_threads: int = 200
    error_backoff_s: float = 300.0


@dataclass(slots=True)
class SyncReport:
    """What a sync call did: threads whose replies were read, indexed (added or replaced), unchanged,
    not worth indexing, retired; channels that failed with their reason."""

    fetched: int = 0
    indexed: int = 0
    unchanged: int = 0
    skipped: int = 0
    retired: int = 0
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Context:
    channel: ChannelRecord
    name: str
    rules: ThreadRules
    verified: frozenset[str]


class ChannelSync:
    """Syncs learned channels from Slack into the knowledge base (see the module docstring)."""

    def __init__(self, sessions: sessionmaker[Session], embedder: Embedder, reader: SlackReader,
                 options: SyncOptions = SyncOptions()) -> None:
        self.sessions = sessions
        self.embedder = embedder
        self.reader = reader
        self.options = options

    # --- entry points -----------------------------------------------------------------------------
    def run_pending(self) -> SyncReport:
        """Rebuild the dirty threads that settled, then take one backfill step per unfinished channel."""
        report = SyncReport()
        with self.sessions() as session:
            dirty = dirty_threads(session, quiet_for=timedelta(seconds=self.options.debounce_s))
            unfinished = [c.channel for c in list_channels(session, statuses=("active",)) if not c.backfill_done]
        by_channel: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
        for channel, thread_ts, dirty_at in dirty:
            by_channel[channel].append((thread_ts, dirty_at))
        for channel, threads in by_channel.items():
            self._locked_step(channel, report, lambda context, items=threads: self._rebuild_dirty(context, items,
                                                                                                   report),
                              backoff=True)
        for channel in unfinished:
            self._locked_step(channel, report, lambda context: self._backfill_step(context, report), backoff=True)
        return report

    def resync_all(self) -> SyncReport:
        """Bring every active channel up to date: finish its backfill, or re-list it and fetch what changed."""
        report = SyncReport()
        with self.sessions() as session:
            channels = [c.channel for c in list_channels(session, statuses=("active",))]
        for channel in channels:
            self._locked_step(channel, report, lambda context: self._full_pass(context, report))
        return report

    def sync_channel(self, channel: str) -> SyncReport:
        """One channel, fully (used by `resync_all`, the CLI and tests)."""
        report = SyncReport()
        self._locked_step(channel, report, lambda context: self._full_pass(context, report))
        return report

    # --- steps --------------------------------------------------------------------------------------
    def _locked_step(self, channel: str, report: SyncReport, step: Any, *, backoff: bool = False) -> None:
        with self._channel_lock(channel) as locked:
            if not locked:
                logger.info("channel %s is being synced by another process; skipped", channel)
                return
            with self.sessions() as session:
                record = get_channel(session, channel)
            if record is None or record.status != "active":
                return
            if backoff and record.error_at is not None and \
                    (datetime.now(UTC) - record.error_at).total_seconds() < self.options.error_backoff_s:
                return  # it failed moments ago: the next poll after the back-off tries again
            try:
                step(self._context(record))
            except NotAMember:
                self._fail(channel, NOT_A_MEMBER, report)
            except SlackApiError as exc:
                self._fail(channel, f"Slack refused {exc.response.get('error') or 'a call'}; will retry", report)
            except Exception as exc:
                logger.exception("syncing channel %s failed", channel)
                self._fail(channel, f"sync failed ({one_line_reason(exc)}); will retry", report)

    def _fail(self, channel: str, reason: str, report: SyncReport) -> None:
        logger.warning("learning channel %s: %s", channel, reason)
        report.errors[channel] = reason
        with self.sessions.begin() as session:
            record_sync(session, channel, error=reason)

    @contextmanager
    def _channel_lock(self, channel: str) -> Iterator[bool]:
        engine: Engine = self.sessions.kw["bind"]
        with engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            locked = try_lock_channel(connection, channel)
            try:
                yield locked
            finally:
                if locked:
                    unlock_channel(connection, channel)

    def _context(self, record: ChannelRecord) -> _Context:
        info = self.reader.channel_info(record.channel)  # NotAMember when the bot was removed
        members = [user for group in record.trusted_groups for user in self.reader.group_members(group)]
        trusted = trusted_people(record.trusted_users, members) if record.trusted else frozenset()
        with self.sessions() as session:
            forgotten = forgotten_users(session)
            verified = threads_with_verified_answers(session, record.channel)
        rules = ThreadRules(trusted=trusted, forgotten=forgotten, reaction=self.options.reaction,
                            min_words=self.options.min_words)
        return _Context(channel=record, name=str(info.get("name") or record.name or record.channel), rules=rules,
                        verified=verified)

    def _rebuild_dirty(self, context: _Context, items: list[tuple[str, datetime]], report: SyncReport) -> None:
        for thread_ts, dirty_at in items:
            self.rebuild(context, thread_ts, seen_dirty_at=dirty_at, report=report)
        with self.sessions.begin() as session:
            record_sync(session, context.channel.channel)

    def _backfill_step(self, context: _Context, report: SyncReport) -> None:
        channel = context.channel
        with self.sessions() as session:
            states = thread_states(session, channel.channel)
        roots = self.reader.history(channel.channel, oldest=channel.oldest_ts, latest=channel.resume_ts)
        for done, root in enumerate(roots):
            if done >= self.options.step_threads:
                with self.sessions.begin() as session:
                    record_sync(session, channel.channel)
                return
            self._visit_root(context, root, states.get(root["ts"]), report)
            with self.sessions.begin() as session:
                record_progress(session, channel.channel, resume_ts=root["ts"])
        with self.sessions.begin() as session:
            record_sync(session, channel.channel, backfill_done=True)

    def _full_pass(self, context: _Context, report: SyncReport) -> None:
        channel = context.channel
        if not channel.backfill_done:
            while True:
                self._backfill_step(context, report)
                with self.sessions() as session:
                    record = get_channel(session, channel.channel)
                if record is None or record.backfill_done or record.status != "active":
                    return
                context = _Context(channel=record, name=context.name, rules=context.rules, verified=context.verified)
        started = time.time()
        with self.sessions() as session:
            states = thread_states(session, channel.channel)
        seen: set[str] = set()
        for root in self.reader.history(channel.channel, oldest=channel.oldest_ts):
            seen.add(root["ts"])
            self._visit_root(context, root, states.get(root["ts"]), report)
        for thread_ts in states:
            # a thread newer than the listing was created by an event meanwhile, not deleted
            if thread_ts not in seen and float(channel.oldest_ts) <= float(thread_ts) < started - 1:
                with self.sessions.begin() as session:
                    forget_thread(session, channel.channel, thread_ts)
                report.retired += 1
        with self.sessions.begin() as session:
            record_sync(session, channel.channel)

    def _visit_root(self, context: _Context, root: dict[str, Any], state: ThreadState | None,
                    report: SyncReport) -> None:
        """Rebuild the thread `root` starts when it is new, changed or dirty (a broadcast reply is no root)."""
        if not is_thread_root(root):
            return
        replies = int(root.get("reply_count") or 0)
        if replies == 0:
            if not is_person_message(root):
                return
            # the root is the whole thread: no Slack call is needed, and unchanged text embeds nothing
            self.rebuild(context, root["ts"], seen_dirty_at=state.dirty_at if state else None, report=report,
                         messages=[root])
            return
        if state is None or state.dirty_at is not None or state.reply_count != replies or \
                state.latest_reply != root.get("latest_reply"):
            self.rebuild(context, root["ts"], seen_dirty_at=state.dirty_at if state else None, report=report)

    # --- one thread ---------------------------------------------------------------------------------
    def rebuild(self, context: _Context, thread_ts: str, *, seen_dirty_at: datetime | None, report: SyncReport,
                messages: list[dict[str, Any]] | None = None) -> None:
        """Read the thread (unless `messages` are given), index its document, and record what it holds."""
        channel = context.channel
        if float(thread_ts) < float(channel.oldest_ts):
            with self.sessions.begin() as session:
                forget_thread(session, channel.channel, thread_ts)
            return
        if messages is None:
            messages = self.reader.replies(channel.channel, thread_ts)
            report.fetched += 1
            if messages is None:  # the root and every reply are gone
                with self.sessions.begin() as session:
                    forget_thread(session, channel.channel, thread_ts)
                report.retired += 1
                return
        root = next((m for m in messages if m.get("ts") == thread_ts), {})
        reply_count, latest_reply = int(root.get("reply_count") or 0), root.get("latest_reply")
        document = build_thread_document(messages, thread_ts=thread_ts, channel_name=context.name,
                                         names=self.reader.user_name, rules=context.rules,
                                         verified=thread_ts in context.verified)
        with self.sessions() as session:
            known = lock_thread(session, channel.channel, thread_ts)
        uri = known.uri if known and known.uri else None
        new_id: int | None = None
        if document is not None:
            uri = uri or self.reader.permalink(channel.channel, thread_ts)
            try:
                result = ingest_text(self.sessions, self.embedder, title=document.title, text=document.text,
                                     fmt="markdown", uri=uri, source=SOURCE, scope=channel.scope,
                                     added_by=channel.added_by, name=f"thread {uri}")
            except IngestError as exc:
                logger.info("thread %s in %s not indexed: %s", thread_ts, channel.channel, exc)
                document = None
            else:
                # a duplicate is another document (the same text elsewhere in the scope): never ours to retire
                new_id = None if result.status == "duplicate" else result.document_id
                report.indexed += result.status in ("added", "replaced")
                report.unchanged += result.status == "unchanged"
        if document is None:
            report.skipped += 1
        with self.sessions.begin() as session:
            now = lock_thread(session, channel.channel, thread_ts)
            retired_meanwhile = now is not None and now.dirty_at != seen_dirty_at and now.document_id is None \
                and known is not None and known.document_id is not None
            if retired_meanwhile and new_id is not None:
                # a message was deleted while this rebuild read the thread: what it read may hold it
                session.execute(delete(Document).where(Document.id == new_id))
                new_id = None
            elif now is not None and now.document_id is not None and now.document_id != new_id:
                retire_thread(session, channel.channel, thread_ts)  # the scope or uri changed: drop the old one
            save_thread(session, channel=channel.channel, thread_ts=thread_ts, document_id=new_id, uri=uri,
                        title=document.title if document else "",
                        message_ts=document.message_ts if document else (),
                        authors=document.authors if document else (), reply_count=reply_count,
                        latest_reply=latest_reply, confirmed=bool(document and document.confirmed),
                        seen_dirty_at=seen_dirty_at)


# --- what events do (the bot calls these from its listeners) -----------------------------------------

def thread_changed(sessions: sessionmaker[Session], channel: str, thread_ts: str) -> None:
    """A reply, an edit or a reaction in the thread: rebuild it once it settles."""
    with sessions.begin() as session:
        mark_dirty(session, channel, thread_ts)


def message_deleted(sessions: sessionmaker[Session], channel: str, deleted_ts: str,
                    thread_ts: str | None = None) -> bool:
    """Retire the document holding `deleted_ts` now, and rebuild its thread from what is left.

    `thread_ts` is the event's `previous_message.thread_ts` when Slack sent one; otherwise the thread
    is found by the messages each document holds. Returns whether a document was retired.
    """
    with sessions.begin() as session:
        thread = thread_of_message(session, channel, deleted_ts) or thread_ts or deleted_ts
        retired = retire_thread(session, channel, thread)
        mark_dirty(session, channel, thread)
    return retired


def channel_gone(sessions: sessionmaker[Session], channel: str, *, status: str) -> int:
    """The channel was deleted, or the bot left it (or `/kb learn stop`): retire everything learned from it."""
    with sessions.begin() as session:
        if get_channel(session, channel) is None:
            return 0
        return retire_channel(session, channel, status=status)


def forget_person(sessions: sessionmaker[Session], user: str) -> int:
    """`/kb forget-me`: never learn `user`'s messages again; retire the documents holding them now.

    Returns how many documents were retired; each thread is rebuilt without the person's messages.
    """
    with sessions.begin() as session:
        forget_user(session, user)
        threads = threads_by_author(session, user)
        retired = 0
        for channel, thread_ts in threads:
            retired += retire_thread(session, channel, thread_ts)
            mark_dirty(session, channel, thread_ts)
    return retired
