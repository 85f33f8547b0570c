"""Learned channels kept in sync by signed events: replies and edits rebuild a thread, deletes retire it at once."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from knowledge.embedding import Embedder
from knowledge.search import search_passages
from knowledge.slack_threads_sync import ChannelSync
from store.schema import Chunk, LearnedChannel
from tests.fakes.slack_api import BOT_USER_ID, TEAM_ID
from tests.fakes.slack_requests import message, reaction
from tests.slack.harness import SlackHarness
from tests.slack.learn_fixtures import (
    ADMIN,
    DANA,
    ERIK,
    SeededThread,
    clean_learned_tables,  # noqa: F401 (autouse fixture)
    learned_thread,
    learner,
    recent_ts,
    seed_deploys,
    thread_documents,
)


def texts(sessions: sessionmaker[Session]) -> dict[str, str]:
    """Each learned document's text by its title."""
    with sessions() as session:
        return {d.title: "\n".join(session.scalars(select(Chunk.text).where(Chunk.document_id == d.id)
                                                   .order_by(Chunk.ordinal)))
                for d in thread_documents(sessions)}


def staging_text(sessions: sessionmaker[Session]) -> str | None:
    return next((text for title, text in texts(sessions).items() if "staging deploy" in title), None)


def changed(channel: str, edited: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    """A `message_changed` event as Slack sends it (docs.slack.dev, message_changed)."""
    now = f"{time.time():.6f}"
    return {"type": "message", "subtype": "message_changed", "hidden": True, "channel": channel, "ts": now,
            "event_ts": now, "channel_type": "channel", "message": {**edited, "type": "message"},
            "previous_message": previous}


def deleted(channel: str, previous: dict[str, Any]) -> dict[str, Any]:
    """A `message_deleted` event (docs.slack.dev, message_deleted)."""
    now = f"{time.time():.6f}"
    return {"type": "message", "subtype": "message_deleted", "hidden": True, "channel": channel, "ts": now,
            "event_ts": now, "channel_type": "channel", "deleted_ts": previous["ts"], "previous_message": previous}


def learned(bot: SlackHarness, sessions: sessionmaker[Session],
            embedder: Embedder) -> tuple[dict[str, SeededThread], ChannelSync]:
    threads = seed_deploys(bot.fake)
    bot.command("learn <#C1|deploys>", user=ADMIN)
    sync = learner(bot.fake, sessions, embedder)
    sync.run_pending()
    return threads, sync


def test_a_reply_and_an_edit_rebuild_the_thread_once_it_settles(bot: SlackHarness, sessions, embedder) -> None:
    threads, sync = learned(bot, sessions, embedder)
    staging = threads["staging"]

    reply = bot.fake.add_message("C1", "If it hangs again, also flush the schema cache with make flush-schema-cache.",
                                 user=ERIK, thread_ts=staging.ts, ts=recent_ts(1))
    bot.event(message("C1", reply["ts"], reply["text"], user=ERIK, thread_ts=staging.ts))
    row = learned_thread(sessions, "C1", staging.ts)
    assert row is not None and row.dirty_at is not None, "the event marks the thread"
    assert "flush-schema-cache" not in (staging_text(sessions) or "")
    sync.run_pending()
    assert "Erik Lund: If it hangs again, also flush the schema cache" in (staging_text(sessions) or "")
    assert learned_thread(sessions, "C1", staging.ts).dirty_at is None  # type: ignore[union-attr]

    previous = dict(staging.replies[0])
    edited = bot.fake.edit_message("C1", previous["ts"], "Run ```make release-migration-lock``` on the bastion, "
                                                         "then redeploy.")
    bot.event(changed("C1", edited, previous))
    sync.run_pending()
    text = staging_text(sessions) or ""
    assert "make release-migration-lock" in text and "unlock-migrations" not in text, "re-chunked with the edit"
    hits = search_passages(sessions, embedder, "make unlock-migrations stale lock", channel="C2", limit=5)
    assert all("unlock-migrations" not in p.text for p in hits), "the old text is gone from search"


def test_a_deleted_message_is_retired_within_its_event_and_the_rest_comes_back(bot: SlackHarness, sessions,
                                                                            embedder) -> None:
    threads, sync = learned(bot, sessions, embedder)
    staging = threads["staging"]
    answer = staging.replies[0]
    bot.fake.delete_message("C1", answer["ts"])

    bot.event(deleted("C1", answer))

    assert staging_text(sessions) is None, "retired before the event was acknowledged"
    hits = search_passages(sessions, embedder, "How do we unlock stale migrations on the bastion?", channel="C2")
    assert all("unlock-migrations" not in p.text for p in hits)
    sync.run_pending()
    text = staging_text(sessions) or ""
    assert "How did we fix the staging deploy" in text and "unlock-migrations" not in text

    certs_answer = threads["certs"].replies[0]  # Slack's documented example carries no previous_message
    bot.fake.delete_message("C1", certs_answer["ts"])
    bare = {k: v for k, v in deleted("C1", certs_answer).items() if k != "previous_message"}
    bot.event(bare)
    assert not any("TLS certificates" in title for title in texts(sessions)), "found by the messages it holds"


def test_a_deleted_root_with_replies_and_a_vanished_thread_are_retired(bot: SlackHarness, sessions, embedder) -> None:
    threads, sync = learned(bot, sessions, embedder)
    certs, note = threads["certs"], threads["note"]
    tombstone = {**certs.root, "subtype": "tombstone", "text": "This message was deleted.", "user": "USLACKBOT"}
    bot.event(changed("C1", tombstone, certs.root))
    assert not any("TLS certificates" in title for title in texts(sessions))

    bot.fake.delete_message("C1", note.ts)  # deleted while the bot was down: no event ever comes
    sync.resync_all()
    assert not any("release freeze" in title for title in texts(sessions)), "the re-sync retires vanished roots"
    assert learned_thread(sessions, "C1", note.ts) is None


def test_a_confirming_reaction_marks_the_thread(bot: SlackHarness, sessions, embedder) -> None:
    threads, sync = learned(bot, sessions, embedder)
    certs = threads["certs"]
    answer = certs.replies[0]
    answer["reactions"] = [{"name": "white_check_mark", "users": [ERIK], "count": 1}]
    assert not learned_thread(sessions, "C1", certs.ts).confirmed  # type: ignore[union-attr]
    bot.event(reaction("reaction_added", "C1", answer["ts"], "white_check_mark", user=ERIK, item_user=DANA))
    sync.run_pending()
    assert learned_thread(sessions, "C1", certs.ts).confirmed  # type: ignore[union-attr]


def test_channel_deleted_and_the_bot_removed_retire_everything_at_once(bot: SlackHarness, sessions, embedder) -> None:
    learned(bot, sessions, embedder)
    assert len(thread_documents(sessions)) == 3
    bot.event({"type": "member_left_channel", "user": "USOMEONE", "channel": "C1", "channel_type": "C",
               "team": TEAM_ID})
    assert len(thread_documents(sessions)) == 3, "someone else leaving changes nothing"
    bot.event({"type": "member_left_channel", "user": BOT_USER_ID, "channel": "C1", "channel_type": "C",
               "team": TEAM_ID})
    assert thread_documents(sessions) == []
    with sessions() as session:
        assert session.get(LearnedChannel, "C1").status == "left"

    bot.command("learn <#C1|deploys>", user=ADMIN)
    learner(bot.fake, sessions, embedder).run_pending()
    assert len(thread_documents(sessions)) == 3
    response = bot.event({"type": "channel_deleted", "channel": "C1", "event_ts": f"{time.time():.6f}"})
    assert response.status == 200 and thread_documents(sessions) == []
    with sessions() as session:
        assert session.get(LearnedChannel, "C1").status == "deleted"


def test_the_bots_own_edits_and_deletes_in_a_learned_channel_change_nothing(bot: SlackHarness, sessions,
                                                                           embedder) -> None:
    threads, _ = learned(bot, sessions, embedder)
    staging = threads["staging"]
    answer = {"type": "message", "user": BOT_USER_ID, "bot_id": "BBOT", "text": "Looking…", "ts": recent_ts(2),
              "thread_ts": staging.ts}
    bot.event(changed("C1", {**answer, "text": "Run make unlock-migrations [1]."}, answer))
    bot.event(deleted("C1", answer))
    assert learned_thread(sessions, "C1", staging.ts).dirty_at is None  # type: ignore[union-attr]
    assert staging_text(sessions) is not None, "a bot's deleted message retires nothing"
