"""Files shared with the bot: downloaded with the bot token, ingested once, scoped, size-capped."""

from __future__ import annotations

import pytest

from bot.slack.deps import IngestOptions
from store.schema import Document
from tests.fakes.slack_api import BOT_TOKEN
from tests.fakes.slack_requests import file_shared, message
from tests.slack.conftest import MakeBot
from tests.slack.harness import SlackHarness

NOTES = b"# Incident notes\n\nThe March outage was caused by an expired TLS certificate on the gateway."


def downloads(bot: SlackHarness) -> list[str]:
    return [c.auth for c in bot.fake.calls if c.path.startswith("/files-pri/")]


def file_message(bot: SlackHarness, channel: str, meta: dict[str, object], *, thread_ts: str | None = None,
                 channel_type: str = "im") -> dict[str, object]:
    ts = bot.fake.add_message(channel, "here you go", thread_ts=thread_ts)["ts"]
    return message(channel, ts, "here you go", thread_ts=thread_ts, channel_type=channel_type, subtype="file_share",
                   files=[meta])


def test_file_shared_in_a_dm_is_downloaded_with_the_bot_token_and_kept_to_that_dm(bot: SlackHarness) -> None:
    bot.fake.add_file("F1", "incident.md", NOTES)
    bot.event(file_shared("D1", "F1"))
    assert bot.fake.one_call("files.info").body["file"] == "F1"
    assert downloads(bot) == [f"Bearer {BOT_TOKEN}"]
    [document] = bot.rows(Document)
    assert (document.title, document.source, document.scope) == ("Incident notes", "slack_file", "D1")
    [reply] = bot.fake.calls_to("chat.postMessage")
    assert reply.body["channel"] == "D1" and "Added *Incident notes*" in reply.body["text"]
    assert "this conversation only" in reply.body["text"]


def test_file_message_and_file_shared_for_one_file_ingest_it_once(bot: SlackHarness) -> None:
    meta = bot.fake.add_file("F2", "incident.md", NOTES)
    bot.event(file_message(bot, "D1", meta))
    bot.event(file_shared("D1", "F2"))
    assert len(bot.rows(Document)) == 1 and len(downloads(bot)) == 1
    assert len(bot.fake.calls_to("chat.postMessage")) == 1


@pytest.mark.usefixtures("documents")
def test_files_in_channels_count_only_inside_the_bots_threads(bot: SlackHarness) -> None:
    meta = bot.fake.add_file("F3", "incident.md", NOTES)
    bot.event(file_message(bot, "C1", meta, channel_type="channel"))
    assert downloads(bot) == []

    root = bot.ask("How do I deploy the billing service?")
    bot.event(file_message(bot, "C1", meta, thread_ts=root, channel_type="channel"))
    assert [(d.title, d.scope) for d in bot.rows(Document) if d.source == "slack_file"] == \
        [("Incident notes", "workspace")]
    assert "Added *Incident notes*" in bot.fake.bot_replies("C1", root)[-1]["text"]


def test_an_oversized_file_is_refused_before_downloading(make_bot: MakeBot) -> None:
    bot = make_bot(ingest=IngestOptions(max_bytes=50))
    bot.fake.add_file("F4", "incident.md", NOTES)
    bot.event(file_shared("D1", "F4"))
    assert downloads(bot) == [] and bot.rows(Document) == []
    assert "over the 50-byte limit" in bot.fake.one_call("chat.postMessage").body["text"]


def test_a_sign_in_page_instead_of_the_file_is_refused(bot: SlackHarness) -> None:
    bot.fake.add_file("F5", "incident.txt", b"<html>Sign in</html>", mimetype="text/html")
    bot.event(file_shared("D1", "F5"))
    assert bot.rows(Document) == []
    assert "sign-in page" in bot.fake.one_call("chat.postMessage").body["text"]
