"""Slack's escaping undone once, where text enters: questions, pasted documents, history, broadcasts."""

from __future__ import annotations

import pytest

from bot.slack.ingesting import pasted_title
from bot.slack.slack_text import decode, decode_question
from store.schema import Answer, Document
from tests.fakes.slack_requests import message
from tests.slack.conftest import MakeBot

pytestmark = pytest.mark.usefixtures("documents")


@pytest.mark.parametrize(("raw", "readable"), [
    ("make build &amp;&amp; make deploy", "make build && make deploy"),
    ("is x &lt; 5 &gt; 2?", "is x < 5 > 2?"),
    ("literal &amp;lt; stays", "literal &lt; stays"),
    ("ask <@U042|maria> or <@U043>", "ask @maria or @U043"),
    ("see <#C123|deploys> and <#C124>", "see #deploys and #C124"),
    ("<!here> <!subteam^S9|@platform> <!date^1700000000^{date}|Nov 14>", "@here @platform Nov 14"),
    ("docs: <https://wiki.example.com/a?b=1&amp;c=2|the wiki> <https://x.example>",
     "docs: the wiki (https://wiki.example.com/a?b=1&c=2) https://x.example"),
    ("mail <mailto:ops@example.com|ops@example.com>", "mail ops@example.com"),
])
def test_decode_makes_slack_text_readable(raw: str, readable: str) -> None:
    assert decode(raw) == readable


def test_the_bots_own_mention_is_removed_from_questions() -> None:
    assert decode_question("<@UBOT>  why does   a &amp;&amp; b fail?", bot_user_id="UBOT") == "why does a && b fail?"


def test_pasted_text_is_titled_by_its_first_line() -> None:
    assert pasted_title("\n# Release checklist\nStep one") == "Release checklist"
    assert pasted_title("word " * 60).endswith("…") and len(pasted_title("word " * 60)) <= 121


def test_a_question_with_escaped_characters_reaches_the_model_and_the_record_decoded(make_bot: MakeBot) -> None:
    bot = make_bot()
    ts = bot.fake.add_message("C1", "<@UBOT> does make build &amp;&amp; make deploy work for <#C9|billing>?")["ts"]
    bot.event({"type": "app_mention", "user": "UASKER", "channel": "C1", "ts": ts, "event_ts": ts,
               "text": "<@UBOT> does make build &amp;&amp; make deploy work for <#C9|billing>?"})
    [row] = bot.rows(Answer)
    assert row.question == "does make build && make deploy work for #billing?"
    assert "Question: does make build && make deploy work for #billing?" in bot.generator.calls[0][-1]["content"]


def test_a_reply_also_sent_to_the_channel_is_answered(make_bot: MakeBot) -> None:
    bot = make_bot()
    ts = bot.ask("How do I deploy the billing service?")
    reply = bot.fake.add_message("C1", "and when do database backups run?", thread_ts=ts)
    event = message("C1", reply["ts"], "and when do database backups run?", thread_ts=ts) | {
        "subtype": "thread_broadcast"}
    bot.event(event)
    assert len(bot.rows(Answer)) == 2 and bot.rows(Answer)[1].question == "and when do database backups run?"


def test_pasted_documents_are_decoded_and_titled_by_their_first_line(make_bot: MakeBot) -> None:
    bot = make_bot()
    bot.command("add Release checklist\nRun make build &amp;&amp; make release, then tell <#C7|releases>.")
    document = [d for d in bot.rows(Document) if d.source == "text"][-1]
    assert document.title == "Release checklist"
    with bot.sessions() as session:
        chunks = session.get(Document, document.id).chunks
        assert "make build && make release, then tell #releases." in chunks[0].text
