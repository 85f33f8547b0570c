"""Which documents a question asked in a channel reads: the usual scopes, as the channel's settings change them.

By default a question reads the workspace's documents and its own conversation's
(`knowledge.search.visible_scopes`). An admin may restrict a channel to its own documents
(`/kb channel sources channel-only`) or let it also read named private channels' documents
(`/kb channel sources add #other`). Those other channels count only while the asking channel is
not public: an answer given in a public channel is recorded in the workspace scope and trains the
workspace adapter, so it must never carry a private channel's text. `/kb channel` refuses such a
grant; this rule also covers a private channel made public afterwards.

The same scopes serve every reader of an answer (verified answers, passage search in every mode,
the unknown-terms check) and `/kb search`, so what the bot cites is what the channel may read.
"""

from __future__ import annotations

from bot.slack.deps import SlackDeps
from knowledge.search import visible_scopes
from store.channel_settings import ChannelSettingsRecord, settings_for
from store.schema import WORKSPACE_SCOPE


def scopes_from(settings: ChannelSettingsRecord, kind: str | None) -> tuple[str, ...]:
    """The scopes questions asked in `settings.channel` read, the channel being of `kind` (pure).

    `kind` is "public", "private", "im", "mpim" or None (unknown: treated as private, as answers
    recorded there keep the channel's own scope).
    """
    scopes = visible_scopes(settings.channel)
    if not settings.sources_workspace:
        scopes = [scope for scope in scopes if scope != WORKSPACE_SCOPE]
    if kind != "public":
        scopes += [channel for channel in settings.source_channels if channel not in scopes]
    return tuple(scopes)


def channel_scopes(deps: SlackDeps, channel: str, channel_type: str | None = None) -> tuple[str, ...]:
    """The scopes a question asked in `channel` reads now (one row read; Slack is asked the channel's
    kind only when other channels' documents are granted, and then from the resolver's cache)."""
    with deps.sessions() as session:
        settings = settings_for(session, channel)
    kind = deps.scopes.kind_of(channel, channel_type) if settings.source_channels else None
    return scopes_from(settings, kind)
