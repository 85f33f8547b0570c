"""Knowledge gaps through Slack: questions asked and voted on via signed events and clicks, `/kb gaps`, the button."""

from __future__ import annotations

import json

import pytest

from bot.slack.blocks import ACTION_FEEDBACK
from bot.slack.gap_blocks import ACTION_GAP_ADD
from bot.slack.modals import VIEW_ADD
from store.schema import Answer, Vote
from tests.fakes.slack_requests import block_action, button_action, feedback_buttons_action
from tests.slack.harness import SlackHarness

pytestmark = pytest.mark.usefixtures("documents")
ADMIN = "UADMIN"
VPN = ["How do I get VPN access from home?", "which VPN client do we use on Linux?",
       "where's the guide for setting up the VPN?"]
SECRETS = ["How do I rotate the Kubernetes secrets in Vault?", "where do we keep k8s secrets?"]


def thumbs_down(bot: SlackHarness, channel: str, thread_ts: str) -> None:
    answer = bot.final_answer(channel, thread_ts)
    element = next(b for b in answer["blocks"] if b["type"] == "context_actions")["elements"][0]
    action = feedback_buttons_action(element["negative_button"]["value"], action_id=ACTION_FEEDBACK,
                                     block_id="kb.feedback.x")
    bot.interact(block_action(action, channel=channel, message_ts=answer["ts"], thread_ts=thread_ts,
                              user="UVOTER", response_base=bot.fake.base))


@pytest.fixture
def asked(bot: SlackHarness) -> SlackHarness:
    """VPN questions in C1 and C2, secrets questions in C3 (all unanswerable), and a 👎 on a deploy answer in C4."""
    for number, question in enumerate(VPN):
        bot.ask(question, channel="C1" if number < 2 else "C2")
    for question in SECRETS:
        bot.ask(question, channel="C3")
    thumbs_down(bot, "C4", bot.ask("How do I deploy the billing service?", channel="C4"))
    bot.fake.admins.add(ADMIN)
    return bot


def test_gaps_group_unanswered_and_downvoted_questions_for_admins(asked: SlackHarness) -> None:
    rows = asked.rows(Answer)
    assert [r.abstained for r in rows] == [True] * 5 + [False], "the fixture's questions are unanswerable"
    assert [v.value for v in asked.rows(Vote)] == [-1]

    asked.command("gaps", user=ADMIN)
    [reply] = asked.fake.responses()[-1:]
    assert reply["response_type"] == "ephemeral"
    sections = [b for b in reply["blocks"] if b.get("block_id", "").startswith("kb.gap.")]
    texts = [s["text"]["text"] for s in sections]
    vpn = next(t for t in texts if "VPN" in t)
    assert vpn.startswith("*3 questions* · 3 unanswered · asked in <#C1> (2), <#C2>")
    assert all(q in vpn for q in VPN) and "k8s" not in vpn
    secrets = next(t for t in texts if "secrets" in t)
    assert secrets.startswith("*2 questions* · 2 unanswered · asked in <#C3> (2)")
    deploy = next(t for t in texts if "deploy" in t)
    assert deploy.startswith("*1 question* · 1 with 👎 · asked in <#C4>")
    buttons = {s["accessory"]["value"] for s in sections}
    assert buttons == {"C1", "C3", "C4"}, "each button adds a document for the cluster's main channel"
    assert reply["blocks"][0]["text"]["text"].startswith("*Knowledge gaps*: 6 unanswered or 👎 questions in 3 groups")


def test_gaps_are_refused_to_non_admins(asked: SlackHarness) -> None:
    asked.command("gaps", user="UNOBODY")
    reply = asked.fake.responses()[-1]
    assert reply["text"].startswith("Only admins can see knowledge gaps") and "blocks" not in reply


def test_the_gap_button_opens_the_add_form_for_its_channel_and_a_forged_click_opens_nothing(
        asked: SlackHarness) -> None:
    asked.command("gaps", user=ADMIN)
    button = next(b["accessory"] for b in asked.fake.responses()[-1]["blocks"] if "accessory" in b)
    click = button_action(button["value"], action_id=ACTION_GAP_ADD, block_id="kb.gap.1")
    opened = len(asked.fake.calls_to("views.open"))  # the 👎 of the fixture opened its reason form

    asked.interact(block_action(click, channel="C9", message_ts="1.000001", user="UNOBODY",
                                response_base=asked.fake.base))
    assert len(asked.fake.calls_to("views.open")) == opened

    asked.interact(block_action(click, channel="C9", message_ts="1.000001", user=ADMIN,
                                response_base=asked.fake.base))
    view = asked.fake.calls_to("views.open")[opened].reply["view"]
    assert view["callback_id"] == VIEW_ADD and json.loads(view["private_metadata"]) == {"channel": button["value"]}


def test_no_gaps_says_so(bot: SlackHarness) -> None:
    bot.ask("How do I deploy the billing service?")
    bot.fake.admins.add(ADMIN)
    bot.command("gaps", user=ADMIN)
    assert bot.fake.responses()[-1]["blocks"][0]["text"]["text"].startswith("No knowledge gaps")
