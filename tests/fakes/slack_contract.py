"""Which Web API methods the fake Slack knows, the bot scopes each needs, and the app's granted scopes (pure).

Scopes per method are those on each method's docs.slack.dev page (bot token column), e.g.
`chat.startStream` and `assistant.threads.setStatus` need `chat:write`; `conversations.*` need the
`*:read`/`*:history` scope of the conversation's kind. A method missing from `METHOD_SCOPES` is
answered `unknown_method`, like Slack does for a misspelt or unreleased method, so a bot calling
something the fake never modelled fails loudly instead of getting a blind `ok: true`.

The granted scopes default to the bot scopes of `bot/slack/manifest.yml`: what an install of the
shipped manifest would grant, so a call the manifest forgot to ask for fails with `missing_scope`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MANIFEST = Path(__file__).resolve().parents[2] / "bot" / "slack" / "manifest.yml"

_BY_KIND_READ = {"public": "channels:read", "private": "groups:read", "im": "im:read", "mpim": "mpim:read"}
_BY_KIND_HISTORY = {"public": "channels:history", "private": "groups:history", "im": "im:history",
                    "mpim": "mpim:history"}

METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "auth.test": (),
    "api.test": (),
    "chat.postMessage": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.delete": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "chat.getPermalink": (),
    "chat.startStream": ("chat:write",),
    "chat.appendStream": ("chat:write",),
    "chat.stopStream": ("chat:write",),
    "assistant.threads.setStatus": ("chat:write", "assistant:write"),
    "reactions.add": ("reactions:write",),
    "reactions.remove": ("reactions:write",),
    "views.open": (),
    "views.update": (),
    "views.publish": (),
    "users.info": ("users:read",),
    "usergroups.users.list": ("usergroups:read",),
    "files.info": ("files:read",),
    "files.getUploadURLExternal": ("files:write",),
    "files.completeUploadExternal": ("files:write",),
    "conversations.info": ("by-kind:read",),
    "conversations.replies": ("by-kind:history",),
    "conversations.history": ("by-kind:history",),
}
"""Bot scopes that allow each method (any one suffices); `by-kind:*` depends on the channel."""


def manifest_bot_scopes(path: Path = MANIFEST) -> frozenset[str]:
    """The bot scopes the shipped app manifest asks for."""
    manifest = yaml.safe_load(path.read_text())
    return frozenset(manifest["oauth_config"]["scopes"]["bot"])


def needed_scopes(method: str, kind: str) -> tuple[str, ...]:
    """Scopes that allow `method` on a conversation of `kind` ("public", "private", "im", "mpim")."""
    needed = METHOD_SCOPES[method]
    if needed == ("by-kind:read",):
        return (_BY_KIND_READ[kind],)
    if needed == ("by-kind:history",):
        return (_BY_KIND_HISTORY[kind],)
    return needed


def missing_scope(method: str, kind: str, granted: frozenset[str]) -> dict[str, Any] | None:
    """Slack's `missing_scope` reply when none of the scopes allowing `method` was granted, else None."""
    needed = needed_scopes(method, kind)
    if not needed or granted & set(needed):
        return None
    return {"ok": False, "error": "missing_scope", "needed": ",".join(needed), "provided": ",".join(sorted(granted))}


POST_TEXT_LIMIT = 40_000
"""chat.postMessage / chat.postEphemeral keep this many characters of `text` and warn `message_truncated`
(Slack changelog 2018-04 "Truncating really long messages")."""
UPDATE_TEXT_LIMIT = 4_000
"""chat.update refuses a longer `text` with `msg_too_long` (its docs page: "cannot exceed 4,000 characters")."""
ALT_TEXT_LIMIT = 1_000
"""files.getUploadURLExternal refuses a longer `alt_txt` with `alt_txt_too_large` (its documented errors)."""
