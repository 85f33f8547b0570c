"""A channel's answering settings: which documents its questions read, whether un-mentioned ones are answered (store).

They are columns of the channel's `channel_settings` row (migration 0015), beside its experts
(written by `store.escalations.set_experts`), so one lookup reads everything `/kb channel` shows.
A channel without a row has the defaults: workspace documents plus its own, and only questions
that mention the bot. Functions take a Session and never commit: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from store.schema import ChannelSettings


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelSettingsRecord:
    """One channel's settings (the defaults when nobody changed them).

    Attributes:
        experts: who "Ask a teammate" tags (user ids `U…`/`W…`, user group ids `S…`).
        sources_workspace: whether questions asked there read workspace documents.
        source_channels: other (private) channels whose documents questions asked there also read.
        answer_unmentioned: whether a question posted there without mentioning the bot is answered.
        updated_by / updated_at: who last changed any of them, and when (None: never).
    """

    channel: str
    experts: tuple[str, ...] = ()
    sources_workspace: bool = True
    source_channels: tuple[str, ...] = ()
    answer_unmentioned: bool = False
    updated_by: str | None = None
    updated_at: datetime | None = None


def _record(row: ChannelSettings) -> ChannelSettingsRecord:
    return ChannelSettingsRecord(channel=row.channel, experts=tuple(row.experts),
                                 sources_workspace=row.sources_workspace, source_channels=tuple(row.source_channels),
                                 answer_unmentioned=row.answer_unmentioned, updated_by=row.updated_by,
                                 updated_at=row.updated_at)


def settings_for(session: Session, channel: str) -> ChannelSettingsRecord:
    """The channel's settings; the defaults when it has no row."""
    row = session.get(ChannelSettings, channel)
    return _record(row) if row is not None else ChannelSettingsRecord(channel=channel)


def _upsert(session: Session, channel: str, values: dict[str, Any], *, by: str) -> ChannelSettingsRecord:
    """Write `values` into the channel's row (created with the defaults for the other columns)."""
    changed = {**values, "updated_by": by}
    row = session.scalars(
        insert(ChannelSettings).values(channel=channel, **changed)
        .on_conflict_do_update(index_elements=["channel"], set_={**changed, "updated_at": func.now()})
        .returning(ChannelSettings), execution_options={"populate_existing": True}).one()
    return _record(row)


def set_sources(session: Session, channel: str, *, workspace: bool, channels: Sequence[str],
                by: str) -> ChannelSettingsRecord:
    """Replace the documents questions in `channel` read: workspace ones or not, plus `channels`' (in order, once)."""
    return _upsert(session, channel, {"sources_workspace": workspace,
                                      "source_channels": list(dict.fromkeys(channels))}, by=by)


def set_answer_unmentioned(session: Session, channel: str, answer: bool, *, by: str) -> ChannelSettingsRecord:
    """Turn answering questions that do not mention the bot in `channel` on or off."""
    return _upsert(session, channel, {"answer_unmentioned": answer}, by=by)


def channels_reading(session: Session, source: str) -> list[str]:
    """The channels whose questions also read `source`'s documents (what `/kb channel` shows about a source)."""
    return list(session.scalars(select(ChannelSettings.channel)
                                .where(ChannelSettings.source_channels.contains([source]))
                                .order_by(ChannelSettings.channel)))
