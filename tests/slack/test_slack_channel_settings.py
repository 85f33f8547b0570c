"""`/kb channel`: a channel's answer sources and un-mentioned questions, through signed commands and events.

The real app on the strict fake Slack, the real Postgres and embedder: admins keep a private
channel to its own documents or let it read another private channel's, the answers there cite
only what the channel may read, and a channel can answer questions nobody put to the bot, silently
when there is no answer.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.answering import Answerer, AnsweringConfig
from bot.slack.answer_sources import scopes_from
from bot.slack.channel_args import ChannelRequest, ChannelUsageError, parse_channel_request
from bot.slack.channel_command import (
    NOT_A_CHANNEL,
    NOT_ADMIN,
    PRIVATE_SETTINGS,
    PUBLIC_CHANNEL_ONLY,
    PUBLIC_READS_PRIVATE,
    SOURCE_IS_ITSELF,
    SOURCE_IS_PUBLIC,
    SOURCE_NOT_READ,
)
from bot.slack.learn_command import CANNOT_SEE, NOT_MEMBER
from bot.slack.unmentioned import is_channel_question
from knowledge.embedding import Embedder
from store.channel_settings import ChannelSettingsRecord
from store.schema import WORKSPACE_SCOPE, Answer, ChannelSettings
from tests.fakes.slack_api import BOT_USER_ID
from tests.fakes.slack_requests import ASKER, mention, message
from tests.scripted_generator import ScriptedGenerator
from tests.slack.conftest import MakeBot
from tests.slack.harness import SlackHarness, add_document

pytestmark = pytest.mark.usefixtures("documents")  # workspace: "Deploying the billing service", "Database backups"
ADMIN = "UADMIN"
DEPLOY = "How do I deploy the billing service?"
VAULT_DOC = ("Rotating the vault unseal keys", "# Rotating the vault unseal keys\n\nTo rotate the vault unseal keys, "
             "run `vault operator rekey` from the bastion host. A rotation needs two key holders present.")
VAULT = "How do I rotate the vault unseal keys?"
INDEXER_DOC = ("Restarting the search indexer", "# Restarting the search indexer\n\nTo restart the search indexer, "
               "run `make reindex` on the worker host. It takes about ten minutes.")


def said(bot: SlackHarness) -> str:
    return str(bot.fake.responses()[-1]["text"])


def shown(answer: dict[str, Any]) -> str:
    """Everything a message shows: its text and every block (citations and sources included)."""
    return answer.get("text", "") + json.dumps(answer.get("blocks") or [])


def settings_rows(bot: SlackHarness) -> list[ChannelSettings]:
    with bot.sessions() as session:
        return list(session.query(ChannelSettings).order_by(ChannelSettings.channel))


def private_channels(bot: SlackHarness, *names: str) -> None:
    for number, name in enumerate(names, start=1):
        bot.fake.set_channel(f"G{number}", is_private=True, name=name)


# --- the pure parts ---------------------------------------------------------------------------------

def test_the_command_text_is_read_into_a_request_and_bad_text_says_what_is_wrong() -> None:
    assert parse_channel_request("") == ChannelRequest()
    assert parse_channel_request("<#G1|team>") == ChannelRequest(channel="G1")
    assert parse_channel_request("<#G1|team> sources channel-only add <#G2|ops> <#G3|> remove <#G4|old>") == \
        ChannelRequest(channel="G1", base="channel-only", add=("G2", "G3"), remove=("G4",))
    assert parse_channel_request("sources WORKSPACE") == ChannelRequest(base="workspace")
    assert parse_channel_request("unmentioned on").unmentioned is True
    assert parse_channel_request("<#C1|general> unmentioned OFF") == ChannelRequest(channel="C1", unmentioned=False)
    for text, expected in [("#general", "I can't tell which channel “#general” is"),
                           ("sources", "Say which documents to answer from after `sources`"),
                           ("sources sideways", "I don't understand “sideways” after `sources`"),
                           ("sources <#G2|ops>", "Say `add` or `remove` before <#G2>"),
                           ("sources add", "Name the channels after `add`"),
                           ("sources add #ops", "I can't tell which channel “#ops” is"),
                           ("sources workspace channel-only", "Choose one of `workspace` and `channel-only`"),
                           ("sources add <#G2|a> remove <#G2|a>", "<#G2> is both added and removed"),
                           ("unmentioned maybe", "Usage: `/kb channel [#channel] unmentioned on`"),
                           ("frobnicate", "I don't understand “frobnicate”")]:
        with pytest.raises(ChannelUsageError) as refused:
            parse_channel_request(text)
        assert str(refused.value).startswith(expected), (text, str(refused.value))


@pytest.mark.parametrize(("text", "question"), [
    ("How do I deploy the billing service?", True),
    ("how do I deploy the billing service", True),
    ("What's the staging URL", True),
    ("Is there a runbook for restores", True),
    ("does anyone know when backups run", True),
    ("anyone know how to rotate the keys", True),
    ("How do I deploy? I tried make deploy and it failed.", True),
    ("is the build broken again? :thinking_face:", True),
    ("<!here> does anyone know the vpn reset process", True),
    ("When I deploy, it breaks.", False),            # a statement opening with a question word
    ("What a day", False),
    ("Do it now please", False),                      # an order, not a question
    ("lunch?", False),                                # too short to be a question for the documents
    ("Deployed the billing service, thanks all", False),
    ("I deployed it. How do we roll back", False),    # only the first sentence may open a question
    ("<@U123> how do I deploy the billing service?", False),  # addressed to a person
    ("<!subteam^S1|@ops> how do I deploy the billing service?", False),  # addressed to a group
    ("word " * 61 + "?", False),                      # an essay ending in a question mark
])
def test_only_messages_that_read_as_questions_are_answered_unmentioned(text: str, question: bool) -> None:
    assert is_channel_question(text) is question


def test_a_channels_scopes_follow_its_settings_and_a_public_channel_never_reads_a_private_one() -> None:
    default = ChannelSettingsRecord(channel="G1")
    assert scopes_from(default, "private") == (WORKSPACE_SCOPE, "G1")
    own = ChannelSettingsRecord(channel="G1", sources_workspace=False, source_channels=("G2",))
    assert scopes_from(own, "private") == ("G1", "G2")
    assert scopes_from(own, None) == ("G1", "G2"), "unknown kind: answers keep the channel's scope, as private"
    assert scopes_from(ChannelSettingsRecord(channel="C1", source_channels=("G2",)), "public") == \
        (WORKSPACE_SCOPE, "C1"), "a channel made public after the grant stops reading the private channel"


# --- through the app --------------------------------------------------------------------------------

def test_anyone_sees_a_channels_settings_and_only_admins_change_them(make_bot: MakeBot) -> None:
    bot = make_bot(admin_user_ids=[ADMIN])
    private_channels(bot, "team")
    bot.command("channel sources channel-only", user=ASKER, channel="G1")
    assert said(bot) == NOT_ADMIN
    bot.command("channel <#G1|team> unmentioned on", user=ASKER, channel="G1")
    assert said(bot) == NOT_ADMIN
    assert settings_rows(bot) == [], "a refused change writes nothing"

    bot.command("channel", user=ASKER, channel="G1")
    shown_default = said(bot)
    assert shown_default.startswith("*Settings of <#G1>* (private channel)")
    assert "• *Experts* (“Ask a teammate”): nobody yet (the admins are tagged)" in shown_default
    assert "• *Answers from*: workspace documents and this channel's own documents" in shown_default
    assert "• *Questions that don't mention me*: not answered: mention me to ask" in shown_default

    bot.command("experts <#G1|team> <@UEXPERT|expert> <!subteam^SDBAS|@dbas>", user=ADMIN, channel="G1")
    bot.command("channel <#G1|team> sources channel-only", user=ADMIN, channel="C9")
    assert said(bot) == "<#G1> now answers from only this channel's own documents."
    bot.command("channel <#G1|team> unmentioned on", user=ADMIN, channel="C9")
    assert said(bot).startswith("In <#G1> I now answer questions posted without mentioning me")
    assert "When I don't, I stay silent." in said(bot)

    bot.command("channel", user=ASKER, channel="G1")
    now = said(bot)
    assert "• *Experts* (“Ask a teammate”): <@UEXPERT> <!subteam^SDBAS>" in now
    assert "• *Answers from*: only this channel's own documents" in now
    assert "• *Questions that don't mention me*: answered in a thread when I have an answer" in now
    assert f"Last changed by <@{ADMIN}>." in now
    [row] = settings_rows(bot)
    assert (row.experts, row.sources_workspace, row.source_channels, row.answer_unmentioned) == \
        (["UEXPERT", "SDBAS"], False, [], True), "the experts survive the other settings' changes"

    bot.command("channel <#G1|team>", user=ASKER, channel="C9")
    assert said(bot) == PRIVATE_SETTINGS.format(channel="G1"), "a private channel's settings stay inside it"
    bot.command("channel <#G1|team>", user=ADMIN, channel="C9")
    assert said(bot) == now


@pytest.mark.parametrize("mode", ["vector", "fulltext", "hybrid"])
def test_a_channel_kept_to_its_own_documents_never_answers_from_a_workspace_document(
        make_bot: MakeBot, sessions, embedder: Embedder, mode: str) -> None:
    generator = ScriptedGenerator()
    answerer = Answerer(sessions=sessions, embedder=embedder, generator=generator,
                        config=AnsweringConfig(timeout_s=30.0, search_mode=mode))  # type: ignore[arg-type]
    bot = make_bot(admin_user_ids=[ADMIN], generator=generator, answerer=answerer)
    private_channels(bot, "team")
    add_document(sessions, embedder, *INDEXER_DOC, scope="G1")

    before = bot.ask(DEPLOY, channel="G1")
    assert "Deploying the billing service" in shown(bot.final_answer("G1", before)), "by default: workspace too"

    bot.command("channel sources channel-only", user=ADMIN, channel="G1")
    assert said(bot) == "<#G1> now answers from only this channel's own documents."
    after = bot.ask(DEPLOY, channel="G1")
    answer = bot.final_answer("G1", after)
    assert "Deploying the billing service" not in shown(answer) and "make deploy" not in shown(answer)
    assert bot.rows(Answer)[-1].abstained
    own = bot.ask("How do I restart the search indexer?", channel="G1")
    assert "make reindex" in shown(bot.final_answer("G1", own)), "its own documents still answer"

    bot.command(f"search {DEPLOY}", user=ASKER, channel="G1")
    assert "Deploying the billing service" not in json.dumps(bot.fake.responses()[-1])
    bot.command("channel sources workspace", user=ADMIN, channel="G1")
    again = bot.ask(DEPLOY, channel="G1")
    assert "Deploying the billing service" in shown(bot.final_answer("G1", again))


def test_a_channel_granted_another_private_channels_documents_answers_from_them_and_no_other_channel_does(
        make_bot: MakeBot, sessions, embedder: Embedder) -> None:
    bot = make_bot(admin_user_ids=[ADMIN],
                   generator=ScriptedGenerator("Run `vault operator rekey` from the bastion host [1]."))
    private_channels(bot, "team", "secret-ops", "elsewhere")
    add_document(sessions, embedder, *VAULT_DOC, scope="G2")

    first = bot.ask(VAULT, channel="G1")
    assert "vault operator rekey" not in shown(bot.final_answer("G1", first)), "another channel's documents: never"

    bot.command("channel <#G1|team> sources add <#G2|secret-ops>", user=ADMIN, channel="G1")
    confirmation = said(bot)
    assert confirmation.startswith("<#G1> now answers from workspace documents and this channel's own documents, "
                                   "and those of <#G2> (private; granted by an admin).")
    assert "⚠️ *<#G2> is private.* From now on everyone who can read <#G1> can read what was added in <#G2>" in \
        confirmation and "including people who are not members there" in confirmation
    assert "`/kb channel <#G1> sources remove <#G2>`" in confirmation
    [notice] = [c.body for c in bot.fake.calls_to("chat.postMessage") if c.body["channel"] == "G2"]
    assert notice["text"].startswith(f"<@{ADMIN}> let <#G1> answer from this channel's documents")

    granted = bot.ask(VAULT, channel="G1")
    answer = bot.final_answer("G1", granted)
    assert "vault operator rekey" in shown(answer) and "Rotating the vault unseal keys" in shown(answer)
    assert bot.rows(Answer)[-1].scope == "G1", "the answer keeps the asking channel's private scope"
    elsewhere = bot.ask(VAULT, channel="G3")
    assert "vault operator rekey" not in shown(bot.final_answer("G3", elsewhere)), "an ordinary channel: no"
    public = bot.ask(VAULT, channel="C1")
    assert "vault operator rekey" not in shown(bot.final_answer("C1", public))

    bot.command("channel", user=ASKER, channel="G2")
    assert "• *Its documents are also read in*: <#G1>" in said(bot), "the source channel can see who reads it"

    bot.command("channel <#C1|general> sources add <#G2|secret-ops>", user=ADMIN, channel="C1")
    assert said(bot) == PUBLIC_READS_PRIVATE.format(channel="C1")
    assert [r.channel for r in settings_rows(bot)] == ["G1"], "the refused grant wrote nothing"

    bot.command("channel <#G1|team> sources remove <#G2|secret-ops>", user=ADMIN, channel="G1")
    assert said(bot) == "<#G1> now answers from workspace documents and this channel's own documents."
    removed = bot.ask(VAULT, channel="G1")
    assert "vault operator rekey" not in shown(bot.final_answer("G1", removed))


def test_unknown_channels_missing_membership_and_refused_changes_get_specific_messages(make_bot: MakeBot) -> None:
    bot = make_bot(admin_user_ids=[ADMIN])
    private_channels(bot, "team", "secret-ops")
    bot.fake.set_channel("G4", is_private=True, name="outside", is_member=False)
    bot.fake.set_channel("C7", name="random")
    cases = [
        ("channel #team sources channel-only", "G1", "I can't tell which channel “#team” is"),
        ("channel <#G9|gone> sources channel-only", "G1", CANNOT_SEE.format(channel="G9")),
        ("channel <#G9|gone>", "G1", CANNOT_SEE.format(channel="G9")),
        ("channel <#G4|outside> unmentioned on", "G1", NOT_MEMBER.format(channel="G4")),
        ("channel sources add <#G4|outside>", "G1", NOT_MEMBER.format(channel="G4")),
        ("channel sources add <#G9|gone>", "G1", CANNOT_SEE.format(channel="G9")),
        ("channel sources add <#C7|random>", "G1", SOURCE_IS_PUBLIC.format(source="C7")),
        ("channel sources add <#G1|team>", "G1", SOURCE_IS_ITSELF.format(source="G1")),
        ("channel sources remove <#G2|secret-ops>", "G1", SOURCE_NOT_READ.format(channel="G1", source="G2")),
        ("channel sources channel-only", "C7", PUBLIC_CHANNEL_ONLY.format(channel="C7")),
        ("channel sources bogus", "G1", "I don't understand “bogus” after `sources`"),
        ("channel unmentioned", "G1", "Usage: `/kb channel [#channel] unmentioned on`"),
        ("channel unmentioned on", "D1", NOT_A_CHANNEL),
        ("channel", "D1", NOT_A_CHANNEL),
    ]
    for text, channel, expected in cases:
        bot.command(text, user=ADMIN, channel=channel)
        assert said(bot).startswith(expected), (text, said(bot))
    assert settings_rows(bot) == [], "no refused change wrote anything"
    with bot.sessions() as session:
        assert session.query(ChannelSettings).count() == 0


def test_unmentioned_questions_are_answered_in_a_thread_only_where_turned_on_and_only_with_an_answer(
        make_bot: MakeBot) -> None:
    bot = make_bot(admin_user_ids=[ADMIN])
    off = bot.ask(DEPLOY, as_mention=False)
    assert not bot.fake.bot_replies("C1", off) and not bot.generator.calls, "off by default"
    assert not bot.rows(Answer)

    bot.command("channel unmentioned on", user=ADMIN, channel="C1")
    asked = bot.ask(DEPLOY, as_mention=False)
    answer = bot.final_answer("C1", asked)
    assert answer["thread_ts"] == asked and "make deploy" in shown(answer)
    assert len(bot.rows(Answer)) == 1
    bot.ask("and which role does that need?", thread_ts=asked, as_mention=False)
    assert len(bot.fake.bot_replies("C1", asked)) == 2, "a question in the bot's thread there is a follow-up"

    def replies() -> int:
        return sum(1 for m in bot.fake.messages["C1"] if m.get("user") == BOT_USER_ID)

    before, calls = replies(), len(bot.generator.calls)
    bot.ask("Deployed the billing service to staging, thanks all", as_mention=False)  # not a question
    human_root = bot.fake.add_message("C1", "lunch plans for friday")["ts"]
    bot.ask(DEPLOY, thread_ts=human_root, as_mention=False)  # a reply in people's thread
    bot.ask("thanks, that worked", thread_ts=asked, as_mention=False)  # a remark in the bot's thread
    bot_post = bot.fake.add_message("C1", DEPLOY, user="UOTHERBOT")
    bot.event(message("C1", bot_post["ts"], DEPLOY, user="UOTHERBOT", bot_id="BOTHER"))
    joined = bot.fake.add_message("C1", "How do I join?", subtype="channel_join")
    bot.event(message("C1", joined["ts"], "How do I join?", subtype="channel_join"))
    edited = bot.fake.add_message("C1", DEPLOY)
    bot.event({"type": "message", "subtype": "message_changed", "channel": "C1", "ts": bot.fake.next_ts(),
               "channel_type": "channel", "message": {**edited, "text": "How do I deploy the billing service now?"}})
    assert (replies(), len(bot.generator.calls)) == (before, calls), "none of these is a question for the bot"

    mentioned = bot.fake.add_message("C1", f"<@{BOT_USER_ID}> When do database backups run?")
    bot.dispatch(bot.requests.event(message("C1", mentioned["ts"], mentioned["text"])))
    bot.dispatch(bot.requests.event(mention("C1", mentioned["ts"], "When do database backups run?")))
    bot.settle()
    assert len(bot.fake.bot_replies("C1", mentioned["ts"])) == 1, "a mention is answered once, by one path"

    silent = bot.ask("How do I rotate the Kubernetes secrets for the billing service in Vault?", as_mention=False)
    assert not bot.fake.bot_replies("C1", silent), "no answer: silent, not “I couldn't find…”"
    thread_calls = [c for c in bot.fake.calls if isinstance(c.body, dict)
                    and silent in (c.body.get("thread_ts"), c.body.get("ts"))]
    assert thread_calls == [], "not even a status or a placeholder in its thread"
    assert bot.rows(Answer)[-1].abstained, "the abstention is still recorded (knowledge gaps)"

    bot.command("channel unmentioned off", user=ADMIN, channel="C1")
    assert said(bot) == "In <#C1> I answer only questions that mention me again."
    later = bot.ask(DEPLOY, as_mention=False)
    assert not bot.fake.bot_replies("C1", later)
