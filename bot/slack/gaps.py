"""The "Add a document" button of a knowledge gap (orch).

The button opens the `/kb add` form for the cluster's channel. Only admins see
the button, and the click is checked again: a forged click from anyone else opens nothing, since
the form would add a document to the scope of a channel the clicker may not belong to.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App

from bot.slack.deps import SlackDeps
from bot.slack.gap_blocks import ACTION_GAP_ADD
from bot.slack.modals import add_document_modal

logger = logging.getLogger(__name__)


def register(app: App, deps: SlackDeps) -> None:
    """Attach the "Add a document" button of gap clusters."""

    @app.action(ACTION_GAP_ADD)
    def on_add_for_gap(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()  # the form must open within the trigger's ~3 s: no background pool here
        user = body["user"]["id"]
        if not deps.admins.is_admin(user):
            logger.warning("refused a knowledge-gap click from non-admin %s", user)
            return
        deps.client.views_open(trigger_id=body["trigger_id"],
                               view=add_document_modal(channel=str(action.get("value") or "")))
