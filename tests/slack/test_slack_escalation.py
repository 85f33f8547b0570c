""""Ask a teammate": experts per channel, tagging them in the thread, tracking it until a reply is confirmed."""

from __future__ import annotations

from typing import Any

import pytest

from bot.slack.blocks import ACTION_ASK_TEAMMATE
from bot.slack.escalation import ALREADY_ASKED
from bot.slack.experts_command import NOT_ADMIN, parse_experts
from store.schema import Escalation, ReferenceAnswer, VerifiedAnswer
from tests.fakes.slack_requests import ASKER, block_action, button_action
from tests.slack.conftest import MakeBot
from tests.slack.harness import SlackHarness
from tests.slack.test_slack_verified import EXPERT, offers, use_as_answer

pytestmark = pytest.mark.usefixtures("documents")
ADMIN = "UADMIN"


def ask_button(answer: dict[str, Any]) -> dict[str, Any]:
    return next(e for b in answer["blocks"] if b["type"] == "actions" for e in b["elements"]
                if e["action_id"] == ACTION_ASK_TEAMMATE)


def ask_teammate(bot: SlackHarness, answer: dict[str, Any], thread_ts: str, *, user: str = ASKER) -> None:
    bot.interact(block_action(button_action(ask_button(answer)["value"], action_id=ACTION_ASK_TEAMMATE),
                              channel="C1", message_ts=answer["ts"], thread_ts=thread_ts, user=user,
                              response_base=bot.fake.base))


def tags(bot: SlackHarness, thread_ts: str) -> list[str]:
    return [m["text"] for m in bot.fake.bot_replies("C1", thread_ts) if "would like a teammate's help" in m["text"]]


def test_parse_experts_reads_escaped_and_bare_ids_and_reports_the_rest() -> None:
    parsed = parse_experts("<#C1|general> <@UEXPERT|expert> <!subteam^SDBAS|@dbas> W2ABC @alice")
    assert (parsed.channel, parsed.experts, parsed.unknown) == ("C1", ["UEXPERT", "SDBAS", "W2ABC"], ["@alice"])
    assert parse_experts("C0123ABC none").clear and parse_experts("C0123ABC none").channel == "C0123ABC"


def test_ask_a_teammate_tags_the_channel_experts_and_the_thread_stays_escalated_until_a_reply_is_confirmed(
        make_bot: MakeBot) -> None:
    bot = make_bot(admin_user_ids=[ADMIN])
    bot.command("experts <#C1|general> <@UEXPERT|expert> <!subteam^SDBAS|@dbas>", user=ASKER)
    assert bot.fake.responses()[-1]["text"] == NOT_ADMIN
    bot.command("experts <#C1|general> <@UEXPERT|expert> <!subteam^SDBAS|@dbas>", user=ADMIN)
    bot.command("experts", channel="C1", user=ASKER)
    assert bot.fake.responses()[-1]["text"] == "Experts of <#C1>: <@UEXPERT> <!subteam^SDBAS>"

    ts = bot.ask("How do I deploy the billing service?")
    answer = bot.final_answer("C1", ts)
    kinds = [b["type"] for b in answer["blocks"]]
    assert kinds.index("context_actions") < kinds.index("actions"), "after an answer, feedback comes first"
    ask_teammate(bot, answer, ts)
    ask_teammate(bot, answer, ts, user="UOTHER")
    [tag] = tags(bot, ts)
    assert "<@UEXPERT> <!subteam^SDBAS>" in tag and f"<@{ASKER}>" in tag
    assert bot.fake.calls_to("chat.postEphemeral")[-1].body["text"] == ALREADY_ASKED, "a second click tags nobody"
    [escalation] = bot.rows(Escalation)
    assert (escalation.status, escalation.experts, escalation.requested_by) == ("open", ["UEXPERT", "SDBAS"], ASKER)

    calls = len(bot.generator.calls)
    bot.ask("Did you try the release pipeline? Run make release from CI.", thread_ts=ts, user=EXPERT,
            as_mention=False)
    assert len(bot.generator.calls) == calls, "an expert's reply in an escalated thread is not a question for the bot"
    assert [r.author for r in bot.rows(ReferenceAnswer)] == [EXPERT] and set(offers(bot)) == {ASKER, EXPERT}
    use_as_answer(bot, offers(bot)[ASKER], user=ASKER)
    [verified] = bot.rows(VerifiedAnswer)
    [escalation] = bot.rows(Escalation)
    assert (escalation.status, escalation.verified_answer_id) == ("resolved", verified.id)


def test_without_channel_experts_the_admins_are_tagged_and_abstentions_offer_it_first(make_bot: MakeBot) -> None:
    bot = make_bot(admin_user_ids=[ADMIN])
    ts = bot.ask("How do I configure the kubernetes ingress for grafana?")
    answer = bot.final_answer("C1", ts)
    kinds = [b["type"] for b in answer["blocks"]]
    assert "No answer given" in str(answer["blocks"])
    assert kinds.index("actions") < kinds.index("context_actions") and ask_button(answer)["style"] == "primary"
    ask_teammate(bot, answer, ts)
    [tag] = tags(bot, ts)
    assert f"<@{ADMIN}> could one of you answer" in tag
