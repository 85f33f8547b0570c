"""Feedback: buttons (native and classic), reactions, the 👎 reason modal and corrections."""

from __future__ import annotations

from typing import Any

import pytest

from bot.slack.blocks import ACTION_DOWN, ACTION_EXPLAIN, ACTION_FEEDBACK, ACTION_UP
from bot.slack.feedback import THANKS_UP
from bot.slack.harvest import CORRECTION_SAVED
from bot.slack.modals import ACTION_VALUE, BLOCK_DETAILS, BLOCK_REASON, VIEW_REASON
from store.schema import ReferenceAnswer, Vote, VoteEvent
from tests.fakes.slack_requests import (
    block_action,
    button_action,
    feedback_buttons_action,
    reaction,
    view_closed,
    view_submission,
)
from tests.slack.harness import SlackHarness

pytestmark = pytest.mark.usefixtures("documents")
VOTER = "UVOTER"


def answered(bot: SlackHarness) -> tuple[str, dict[str, Any], int]:
    """Ask a question; returns the thread ts, the answer message and the answer id."""
    ts = bot.ask("How do I deploy the billing service?")
    answer = bot.final_answer("C1", ts)
    element = next(b for b in answer["blocks"] if b["type"] == "context_actions")["elements"][0]
    return ts, answer, int(element["positive_button"]["value"].split(":")[1])


def click(bot: SlackHarness, answer: dict[str, Any], thread_ts: str, value: str, *, user: str = VOTER,
          action_id: str = ACTION_FEEDBACK, classic: bool = False) -> None:
    action = button_action(value, action_id=action_id) if classic else \
        feedback_buttons_action(value, action_id=action_id, block_id="kb.feedback.x")
    response = bot.interact(block_action(action, channel="C1", message_ts=answer["ts"], thread_ts=thread_ts,
                                         user=user, response_base=bot.fake.base))
    assert response.status == 200


def votes(bot: SlackHarness) -> list[tuple[str, int, str | None, str | None]]:
    return [(v.user_id, v.value, v.reason, v.reason_text) for v in bot.rows(Vote)]


def test_helpful_click_records_the_vote_and_thanks_only_the_voter(bot: SlackHarness) -> None:
    ts, answer, answer_id = answered(bot)
    click(bot, answer, ts, f"up:{answer_id}")
    assert votes(bot) == [(VOTER, 1, None, None)]
    thanks = bot.fake.one_call("chat.postEphemeral").body
    assert (thanks["user"], thanks["text"], thanks["thread_ts"]) == (VOTER, THANKS_UP, ts)


def test_thumbs_down_opens_the_reason_modal_and_its_submission_adds_the_reason(bot: SlackHarness) -> None:
    ts, answer, answer_id = answered(bot)
    click(bot, answer, ts, f"down:{answer_id}")
    assert votes(bot) == [(VOTER, -1, None, None)], "the vote is stored before any reason"
    view = bot.fake.one_call("views.open").reply["view"]
    assert view["callback_id"] == VIEW_REASON and view["notify_on_close"] is True

    values = {BLOCK_REASON: {ACTION_VALUE: {"type": "radio_buttons", "selected_option": {"value": "incomplete"}}},
              BLOCK_DETAILS: {ACTION_VALUE: {"type": "plain_text_input", "value": "It misses the release role."}}}
    assert bot.interact(view_submission(view, values, user=VOTER)).status == 200
    assert votes(bot) == [(VOTER, -1, "incomplete", "It misses the release role.")]


def test_dismissed_reason_modal_keeps_the_vote(bot: SlackHarness) -> None:
    ts, answer, answer_id = answered(bot)
    click(bot, answer, ts, f"down:{answer_id}")
    view = bot.fake.one_call("views.open").reply["view"]
    response = bot.interact(view_closed(view, user=VOTER))
    assert response.status == 200
    assert votes(bot) == [(VOTER, -1, None, None)]


def test_classic_buttons_vote_too(bot: SlackHarness) -> None:
    ts, answer, answer_id = answered(bot)
    click(bot, answer, ts, str(answer_id), action_id=ACTION_UP, classic=True)
    click(bot, answer, ts, str(answer_id), action_id=ACTION_DOWN, classic=True, user="UOTHER")
    assert sorted(votes(bot)) == [("UOTHER", -1, None, None), (VOTER, 1, None, None)]


def test_changing_a_vote_keeps_the_last_and_the_history(bot: SlackHarness) -> None:
    ts, answer, answer_id = answered(bot)
    click(bot, answer, ts, f"up:{answer_id}")
    click(bot, answer, ts, f"down:{answer_id}")
    assert votes(bot) == [(VOTER, -1, None, None)]
    assert [(e.value, e.source) for e in bot.rows(VoteEvent)] == [(1, "button"), (-1, "button")]


def test_a_value_naming_another_message_is_ignored(bot: SlackHarness) -> None:
    ts, answer, answer_id = answered(bot)
    forged = {**answer, "ts": bot.fake.next_ts()}
    click(bot, forged, ts, f"down:{answer_id}")
    assert votes(bot) == [] and not bot.fake.calls_to("views.open")


def test_reactions_vote_with_skin_tones_and_removal_withdraws(bot: SlackHarness) -> None:
    ts, answer, _ = answered(bot)
    bot.event(reaction("reaction_added", "C1", answer["ts"], "+1::skin-tone-3", user=VOTER))
    assert votes(bot) == [(VOTER, 1, None, None)]
    bot.event(reaction("reaction_added", "C1", answer["ts"], "thumbsdown", user=VOTER))
    assert votes(bot) == [(VOTER, -1, None, None)]
    bot.event(reaction("reaction_removed", "C1", answer["ts"], "+1", user=VOTER))
    assert votes(bot) == [(VOTER, -1, None, None)], "removing an older reaction leaves the current vote"
    bot.event(reaction("reaction_removed", "C1", answer["ts"], "-1::skin-tone-5", user=VOTER))
    assert votes(bot) == []
    assert [e.value for e in bot.rows(VoteEvent)] == [1, -1, 0]


def test_thumbs_down_reaction_offers_the_reason_modal(bot: SlackHarness) -> None:
    ts, answer, answer_id = answered(bot)
    bot.event(reaction("reaction_added", "C1", answer["ts"], "-1", user=VOTER))
    offer = bot.fake.one_call("chat.postEphemeral").body
    button = offer["blocks"][1]["elements"][0]
    assert (offer["user"], button["action_id"], button["value"]) == (VOTER, ACTION_EXPLAIN, str(answer_id))

    click(bot, answer, ts, str(answer_id), action_id=ACTION_EXPLAIN, classic=True)
    assert bot.fake.one_call("views.open").body["view"]["callback_id"] == VIEW_REASON


def test_reactions_on_other_messages_are_not_votes(bot: SlackHarness) -> None:
    ts, _, _ = answered(bot)
    bot.event(reaction("reaction_added", "C1", ts, "+1", user=VOTER, item_user="UASKER"))
    assert votes(bot) == []


def test_reply_after_a_thumbs_down_is_stored_as_a_reference_answer(bot: SlackHarness) -> None:
    ts, answer, answer_id = answered(bot)
    click(bot, answer, ts, f"down:{answer_id}")
    bot.ask("You also need the release role in the admin console before make deploy works.", thread_ts=ts,
            as_mention=False, user="UEXPERT")

    [reference] = bot.rows(ReferenceAnswer)
    assert (reference.answer_id, reference.author) == (answer_id, "UEXPERT")
    assert reference.text.startswith("You also need the release role")
    assert len(bot.generator.calls) == 1, "a correction is not answered"
    [thanks] = [c.body for c in bot.fake.calls_to("chat.postEphemeral") if c.body["user"] == "UEXPERT"]
    assert thanks["text"].startswith(CORRECTION_SAVED)
