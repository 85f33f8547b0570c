"""Verified answers through Slack: a teammate's reply offered, confirmed, served first, edited, retired, scoped."""

from __future__ import annotations

from typing import Any

import pytest

from bot.slack.blocks import ACTION_FEEDBACK
from bot.slack.harvest import CORRECTION_SAVED, NOT_YOURS
from bot.slack.verified_admin import NOT_ADMIN
from bot.slack.verified_blocks import ACTION_USE_ANSWER
from store.schema import Answer, ReferenceAnswer, VerifiedAnswer, VerifiedAnswerRevision
from tests.fakes.slack_requests import ASKER, block_action, button_action, feedback_buttons_action
from tests.slack.conftest import MakeBot
from tests.slack.harness import SlackHarness

pytestmark = pytest.mark.usefixtures("documents")
EXPERT = "UEXPERT"
ADMIN = "UADMIN"
QUESTION = "How do I deploy the billing service?"
REPLY = ("Use the deploy pipeline in CI: run `make release` and then approve it in #deploys. "
         "Questions go to billing-oncall@example.com.")


def answer_in_thread(bot: SlackHarness, question: str, *, channel: str = "C1",
                     user: str = ASKER) -> tuple[str, dict[str, Any], int]:
    """Ask `question`; returns the thread ts, the bot's answer message and its answer id."""
    ts = bot.ask(question, channel=channel, user=user)
    answer = bot.final_answer(channel, ts)
    element = next(b for b in answer["blocks"] if b["type"] == "context_actions")["elements"][0]
    return ts, answer, int(element["positive_button"]["value"].split(":")[1])


def thumbs_down(bot: SlackHarness, channel: str, ts: str, answer: dict[str, Any], answer_id: int) -> None:
    action = feedback_buttons_action(f"down:{answer_id}", action_id=ACTION_FEEDBACK, block_id="kb.feedback.x")
    bot.interact(block_action(action, channel=channel, message_ts=answer["ts"], thread_ts=ts,
                              response_base=bot.fake.base))


def offers(bot: SlackHarness) -> dict[str, dict[str, Any]]:
    """The "Use this as the answer" ephemerals by the user they were shown to."""
    return {call.body["user"]: call.body for call in bot.fake.calls_to("chat.postEphemeral")
            if ACTION_USE_ANSWER in str(call.body.get("blocks"))}


def use_as_answer(bot: SlackHarness, offer: dict[str, Any], *, user: str) -> None:
    button = next(b for b in offer["blocks"] if b["type"] == "actions")["elements"][0]
    bot.interact(block_action(button_action(button["value"], action_id=ACTION_USE_ANSWER), channel=offer["channel"],
                              message_ts=bot.fake.next_ts(), user=user, response_base=bot.fake.base))


def verify(bot: SlackHarness, *, channel: str = "C1", question: str = QUESTION, reply: str = REPLY) -> str:
    """A question, a 👎, a teammate's reply and the asker's click; returns the thread ts."""
    ts, answer, answer_id = answer_in_thread(bot, question, channel=channel)
    thumbs_down(bot, channel, ts, answer, answer_id)
    bot.ask(reply, channel=channel, thread_ts=ts, user=EXPERT, as_mention=False)
    use_as_answer(bot, offers(bot)[ASKER], user=ASKER)
    return ts


def generator_calls(bot: SlackHarness) -> int:
    return len(bot.generator.calls)


def test_a_confirmed_reply_is_served_on_a_paraphrased_repeat_without_the_model(bot: SlackHarness) -> None:
    ts = verify(bot)
    assert set(offers(bot)) == {ASKER, EXPERT}, "the asker and the replier are both offered the reply"
    [verified] = bot.rows(VerifiedAnswer)
    assert (verified.question, verified.author, verified.confirmed_by, verified.scope, verified.status) == (
        QUESTION, EXPERT, ASKER, "workspace", "active")
    assert "make release" in verified.answer_text and "billing-oncall@example.com" not in verified.answer_text, \
        "the reply is stored scrubbed of personal data"
    [reply_message] = [m for m in bot.fake.thread("C1", ts) if m.get("user") == EXPERT]
    assert verified.permalink == f"https://fake.slack.com/archives/C1/p{reply_message['ts'].replace('.', '')}"
    assert "<|user|>" in verified.prompt and QUESTION in verified.prompt, "the prompt it trains with is recorded"
    assert any("verified answer" in m["text"] for m in bot.fake.bot_replies("C1", ts)), "the thread is told"
    calls = generator_calls(bot)

    repeat_ts, repeat, _ = answer_in_thread(bot, "What's the way to deploy the billing service?", user="UOTHER")
    assert generator_calls(bot) == calls, "a verified answer is served without calling the model"
    shown = str(repeat["blocks"])
    assert "make release" in shown and f"Verified by &lt;@{EXPERT}&gt;" not in shown
    assert f"Verified by <@{EXPERT}> (confirmed by <@{ASKER}>)" in shown and verified.permalink in shown
    served = bot.rows(Answer)[-1]
    assert (served.verified_answer_id, served.completion, served.prompt) == (verified.id, "", "")


def test_a_reply_by_the_asker_is_kept_but_not_offered_and_others_cannot_confirm(bot: SlackHarness) -> None:
    ts, answer, answer_id = answer_in_thread(bot, QUESTION)
    thumbs_down(bot, "C1", ts, answer, answer_id)
    bot.ask("Never mind, I found it: run make release.", thread_ts=ts, user=ASKER, as_mention=False)
    assert [r.author for r in bot.rows(ReferenceAnswer)] == [ASKER]
    assert offers(bot) == {}, "the asker's own reply is not offered as the answer"
    assert bot.fake.calls_to("chat.postEphemeral")[-1].body["text"] == CORRECTION_SAVED

    bot.ask(REPLY, thread_ts=ts, user=EXPERT, as_mention=False)
    use_as_answer(bot, offers(bot)[EXPERT], user="USTRANGER")
    assert bot.rows(VerifiedAnswer) == [], "only the asker or the replier may confirm"
    assert bot.fake.responses()[-1]["text"] == NOT_YOURS


def test_edits_keep_history_and_a_retired_verified_answer_is_never_served(make_bot: MakeBot) -> None:
    bot = make_bot(admin_user_ids=[ADMIN])
    verify(bot)
    [verified] = bot.rows(VerifiedAnswer)
    bot.command(f"verified edit {verified.id} Run `make release` from the repo root.", user=EXPERT)
    assert bot.fake.responses()[-1]["text"] == NOT_ADMIN
    bot.command(f"verified edit {verified.id} Run `make release` from the repo root.", user=ADMIN)
    assert [r.answer_text.startswith("Run `make release` from the repo") for r in bot.rows(VerifiedAnswerRevision)] \
        == [False, True], "an edit appends a version"
    calls = generator_calls(bot)
    _, served, _ = answer_in_thread(bot, QUESTION, user="UOTHER")
    assert "from the repo root" in str(served["blocks"]) and generator_calls(bot) == calls

    bot.command(f"verified retire {verified.id}", user=ADMIN)
    bot.command("verified", user=ADMIN)
    assert "No verified answers yet" in str(bot.fake.responses()[-1]["blocks"])
    _, after, _ = answer_in_thread(bot, QUESTION, user="UOTHER")
    assert "make release" not in str(after["blocks"]), "a retired answer is neither served nor offered"
    assert generator_calls(bot) == calls + 1


def test_a_private_channel_verified_answer_never_reaches_another_channel(bot: SlackHarness) -> None:
    bot.fake.set_channel("G1", is_private=True)
    verify(bot, channel="G1")
    [verified] = bot.rows(VerifiedAnswer)
    assert verified.scope == "G1"
    calls = generator_calls(bot)
    _, elsewhere, _ = answer_in_thread(bot, QUESTION, channel="C1", user="UOTHER")
    assert "make release" not in str(elsewhere["blocks"]) and generator_calls(bot) == calls + 1
    _, there, _ = answer_in_thread(bot, QUESTION, channel="G1", user="UOTHER")
    assert "make release" in str(there["blocks"]) and generator_calls(bot) == calls + 1
