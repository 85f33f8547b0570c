"""Posting the notices the worker left for people about their documents, e.g. a page that is gone (adapter: Slack).

The worker that re-fetches URL documents has no Slack client; it leaves rows in `document_notices`
and this posts each to its recipient (a user id: Slack delivers it in the app's DM with them) and
marks it sent. A refused post stays unsent and is tried again next round.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session, sessionmaker

from store.notices import mark_sent, unsent_notices

logger = logging.getLogger(__name__)


def post_document_notices(sessions: sessionmaker[Session], client: WebClient) -> int:
    """Post every unsent notice; returns how many were posted."""
    posted = 0
    with sessions() as session:  # read, then closed: no transaction stays open while Slack is called
        notices = unsent_notices(session)
    for notice in notices:
        try:
            client.chat_postMessage(channel=notice.recipient, text=notice.text)
        except SlackApiError as exc:
            logger.warning("notice %s to %s refused (%s); trying again later", notice.id, notice.recipient,
                           exc.response.get("error"))
            continue
        with sessions.begin() as session:  # each notice is marked sent as soon as it is posted
            mark_sent(session, notice.id)
        posted += 1
    return posted
