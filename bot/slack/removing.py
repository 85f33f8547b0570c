"""`/kb remove <url|id>`: take a document out of the knowledge base, within the asker's scope (orch).

Anyone may remove documents of the scope their channel adds to (a public channel's is the whole
workspace, a private channel's or a DM's that conversation alone); admins may remove any document
from anywhere. The document and its passages are deleted in one transaction, so the next question
no longer retrieves them. Document ids are shown by `/kb search`.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Respond

from bot.slack.deps import SlackDeps
from bot.slack.ingesting import url_argument
from bot.slack.mrkdwn import escape, truncate
from bot.slack.slack_text import decode
from knowledge.removal import RemovalRefused, remove_document

USAGE = "Usage: `/kb remove <URL or document id>` (ids are shown by `/kb search`)"


def remove_command(deps: SlackDeps, command: dict[str, Any], argument: str, respond: Respond) -> None:
    """Remove the document named by its URL or id, if the asker may."""
    user, channel = command["user_id"], command["channel_id"]
    reference = url_argument(argument) or decode(argument).strip()
    scopes = None if deps.admins.is_admin(user) else [deps.scopes.scope_for(channel)]
    try:
        removed = remove_document(deps.sessions, reference, scopes=scopes)
    except RemovalRefused as exc:
        respond(text=escape(str(exc)), response_type="ephemeral")
        return
    respond(text=f"Removed *{escape(truncate(removed.title, 150))}* (document {removed.id}, {removed.chunks} "
                 "passages). I no longer answer from it.", response_type="ephemeral")
