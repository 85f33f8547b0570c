"""The App Home tab: questions, votes and reasons made through signed Slack requests, then `app_home_opened`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import update

from bot.slack.blocks import ACTION_FEEDBACK
from bot.slack.home import HomeTabs
from bot.slack.home_blocks import ACTION_HOME_RANKING_ROLLBACK, ACTION_HOME_RETRAIN, ACTION_HOME_ROLLBACK
from bot.slack.modals import ACTION_VALUE, BLOCK_REASON
from bot.slack.work import BackgroundWork
from store.adapter_registry import promote, register_adapter, serving_adapter
from store.ranking_registry import deploy_ranking_model, serving_ranking_model
from store.schema import TrainingRun, UnansweredQuestion
from store.training_runs import mark_run_finished
from tests.fakes.slack_requests import (
    ASKER,
    block_action,
    button_action,
    feedback_buttons_action,
    view_submission,
)
from tests.ranking_rows import store_stand_in_vectors
from tests.scripted_generator import ScriptedGenerator
from tests.slack.conftest import MakeBot
from tests.slack.harness import SlackHarness

pytestmark = pytest.mark.usefixtures("documents")
ADMIN = "UADMIN"


def home_opened(bot: SlackHarness, user: str) -> dict[str, Any]:
    """Deliver `app_home_opened` for `user` and return the view published for them."""
    bot.event({"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home",
               "event_ts": "1700000000.000100"})
    return bot.fake.home_views[user]


def shown(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


def action_ids(view: dict[str, Any]) -> set[str]:
    return {e["action_id"] for b in view["blocks"] for e in [*b.get("elements", []), b.get("accessory") or {}]
            if "action_id" in e}


@pytest.fixture
def used(make_bot: MakeBot) -> tuple[SlackHarness, HomeTabs, str]:
    """An answered question with a 👎 and its reason, an unanswerable one; returns the bot, its tabs, the ts."""
    tabs = HomeTabs()
    bot = make_bot(home_tabs=tabs)
    ts = bot.ask("How do I deploy the billing service?")
    bot.ask("How do I rotate the Kubernetes secrets in Vault?", channel="C2")
    answer = bot.final_answer("C1", ts)
    element = next(b for b in answer["blocks"] if b["type"] == "context_actions")["elements"][0]
    down = feedback_buttons_action(element["negative_button"]["value"], action_id=ACTION_FEEDBACK, block_id="kb.f")
    bot.interact(block_action(down, channel="C1", message_ts=answer["ts"], thread_ts=ts, user="UVOTER",
                              response_base=bot.fake.base))
    form = bot.fake.one_call("views.open").reply["view"]
    reason = {BLOCK_REASON: {ACTION_VALUE: {"type": "radio_buttons", "selected_option": {"value": "incorrect"}}}}
    bot.interact(view_submission(form, reason, user="UVOTER"))
    bot.fake.admins.add(ADMIN)
    return bot, tabs, ts


def test_everyone_sees_what_the_bot_knows_and_their_own_questions_but_no_admin_part(
        used: tuple[SlackHarness, HomeTabs, str]) -> None:
    bot, _, ts = used
    view = home_opened(bot, ASKER)
    assert view["type"] == "home" and bot.fake.ok_calls_to("views.publish")
    text = shown(view)
    assert "*2 documents* for everyone in the workspace" in text and "_Database backups_" in text
    assert f"<https://slack.com/archives/C1/p{ts.replace('.', '')}|How do I deploy the billing service?>" in text
    assert "Kubernetes secrets in Vault?> _(" in text and "not answered)" in text
    assert "Team insight" not in text and "Knowledge gaps" not in text and not action_ids(view)

    other = home_opened(bot, "USOMEONE")
    assert "You haven't asked me anything yet." in shown(other) and "billing service?>" not in shown(other)


def test_admins_see_feedback_outcomes_model_runs_gaps_and_buttons(used: tuple[SlackHarness, HomeTabs, str]) -> None:
    bot, _, _ = used
    view = home_opened(bot, ADMIN)
    text = shown(view)
    assert "week of " in text and "· 👍 0 · 👎 1" in text
    assert "<#C1> · 👍 0 · 👎 1" in text and "*👎 reasons:* incorrect 1" in text
    assert ("*Last 30 days:* 1 answered · 1 not answered (abstained) · 0 turned away (busy) · 0 failed · "
            "latency p50") in text
    assert "*Serving:* the base model" in text and "No training run yet." in text
    assert "*2 questions*" in text or "*1 question*" in text, "the gaps: the 👎 one and the abstained one"
    assert {ACTION_HOME_RETRAIN, ACTION_HOME_ROLLBACK} <= action_ids(view)
    assert len(view["blocks"]) <= 100


def test_retrain_button_queues_a_run_and_refreshes_the_tab_and_a_forged_click_does_nothing(
        used: tuple[SlackHarness, HomeTabs, str]) -> None:
    bot, tabs, _ = used
    home_opened(bot, ADMIN)
    published = len(bot.fake.calls_to("views.publish"))
    click = button_action("retrain", action_id=ACTION_HOME_RETRAIN, block_id="kb.home.admin")

    bot.interact(block_action(click, channel="D0HOME", message_ts="1.000001", user=ASKER))
    assert bot.rows(TrainingRun) == [] and len(bot.fake.calls_to("views.publish")) == published

    bot.interact(block_action(click, channel="D0HOME", message_ts="1.000001", user=ADMIN))
    [run] = bot.rows(TrainingRun)
    assert (run.status, run.requested_by, run.notify_channel) == ("queued", ADMIN, None)
    text = shown(bot.fake.home_views[ADMIN])
    assert f"Queued training run #{run.id}" in text
    assert f"Training run #{run.id} (admin by <@{ADMIN}>): *queued*" in text

    with bot.sessions.begin() as session:  # what the training worker writes when done
        session.execute(update(TrainingRun).values(status="rejected", message="the gate rejected the candidate",
                                                   metrics={"gate_gain": 0.002, "gate_gain_lower": -0.01}))
    assert tabs.refresh_admins() == 1, "only the admin's tab is refreshed, not the asker's"
    text = shown(bot.fake.home_views[ADMIN])
    assert "*rejected*" in text and "Gate: margin gain 0.002 · its 95% lower bound -0.01" in text


def test_rollback_button_is_refused_to_non_admins_and_works_for_admins(
        used: tuple[SlackHarness, HomeTabs, str]) -> None:
    bot, _, _ = used
    with bot.sessions.begin() as session:
        for name in ("kb-v1", "kb-v2"):
            promote(session, register_adapter(session, name=name, path=f"/a/{name}", base_model="smol").id,
                    actor="test")
    click = button_action("rollback", action_id=ACTION_HOME_ROLLBACK, block_id="kb.home.admin")
    bot.interact(block_action(click, channel="D0HOME", message_ts="1.000001", user=ASKER))
    with bot.sessions() as session:
        assert serving_adapter(session).name == "kb-v2"

    bot.interact(block_action(click, channel="D0HOME", message_ts="1.000001", user=ADMIN))
    with bot.sessions() as session:
        assert serving_adapter(session).name == "kb-v1"
    assert "Rolled back from adapter `kb-v2` to adapter `kb-v1`" in shown(bot.fake.home_views[ADMIN])
    assert "*Serving:* adapter `kb-v1`" in shown(bot.fake.home_views[ADMIN])


def test_admins_see_the_ranking_model_tuned_on_votes_and_can_roll_it_back(
        used: tuple[SlackHarness, HomeTabs, str]) -> None:
    bot, _, _ = used
    view = home_opened(bot, ADMIN)
    assert "*Ranking model* (picks the passages to quote): the configured one, not tuned on votes" in shown(view)
    assert ACTION_HOME_RANKING_ROLLBACK not in action_ids(view), "nothing tuned serves: nothing to roll back"
    with bot.sessions.begin() as session:  # what `kbbot train ranking --deploy` and the worker write
        for number, name in enumerate(("mpnet-votes-1", "mpnet-votes-2")):
            deploy_ranking_model(session, folder=f"/models/ranking-tuned/{name}", name=name, actor="schedule",
                                 metrics={"train_pairs": 40 + number, "gate_votes": {"lost": 1, "won": 3 + number}})
    view = home_opened(bot, ADMIN)
    text = shown(view)
    assert ("*Ranking model* (picks the passages to quote): `mpnet-votes-2`, tuned on 41 👍-voted answers (held-out "
            "votes lost 1, won 4)") in text
    assert "deployed `mpnet-votes-1` by the training loop" in text
    [button] = [e for b in view["blocks"] for e in b.get("elements", [])
                if e.get("action_id") == ACTION_HOME_RANKING_ROLLBACK]
    click = button_action(button["value"], action_id=ACTION_HOME_RANKING_ROLLBACK, block_id="kb.home.admin")

    bot.interact(block_action(click, channel="D0HOME", message_ts="1.000001", user=ADMIN))
    assert "Not rolled back: the ranking model before it, `mpnet-votes-1`, no longer has its vectors" in shown(
        bot.fake.home_views[ADMIN]), "a model whose vectors were pruned is never served from Slack"
    store_stand_in_vectors(bot.sessions, "mpnet-votes-1", leave_out_newest=True)  # one passage added since
    bot.interact(block_action(click, channel="D0HOME", message_ts="1.000001", user=ASKER))
    with bot.sessions() as session:
        assert serving_ranking_model(session).name == "mpnet-votes-2", "a forged click changes nothing"

    bot.interact(block_action(click, channel="D0HOME", message_ts="1.000001", user=ADMIN))
    with bot.sessions() as session:
        assert serving_ranking_model(session).name == "mpnet-votes-1"
    view = bot.fake.home_views[ADMIN]
    assert "Rolled back the ranking model from `mpnet-votes-2` to `mpnet-votes-1`" in shown(view)
    assert f"rolled back to `mpnet-votes-1` by <@{ADMIN}>" in shown(view)
    assert "tuned on 40 👍-voted answers" in shown(view), "the metrics of the model serving now"
    bot.interact(block_action(click, channel="D0HOME", message_ts="1.000001", user=ADMIN))
    with bot.sessions() as session:
        assert serving_ranking_model(session).name == "mpnet-votes-1", "a second click on the same button is stale"
    assert "Nothing was rolled back: the serving ranking model changed meanwhile." in shown(bot.fake.home_views[ADMIN])

    [button] = [e for b in bot.fake.home_views[ADMIN]["blocks"] for e in b.get("elements", [])
                if e.get("action_id") == ACTION_HOME_RANKING_ROLLBACK]
    fresh = button_action(button["value"], action_id=ACTION_HOME_RANKING_ROLLBACK, block_id="kb.home.admin")
    bot.interact(block_action(fresh, channel="D0HOME", message_ts="1.000001", user=ADMIN))
    view = bot.fake.home_views[ADMIN]
    assert "to the configured one" in shown(view) and ACTION_HOME_RANKING_ROLLBACK not in action_ids(view)


def test_the_messages_tab_publishes_nothing(bot: SlackHarness) -> None:
    bot.event({"type": "app_home_opened", "user": ASKER, "channel": "D0HOME", "tab": "messages",
               "event_ts": "1700000000.000200"})
    assert not bot.fake.calls_to("views.publish")


def test_admins_see_questions_turned_away_busy_and_failed_among_the_outcomes(make_bot: MakeBot) -> None:
    """Busy and failed questions leave no answer row; they are recorded on their own and counted on the Home tab."""
    busy = make_bot(work=BackgroundWork(max_workers=1, max_queued=0))
    busy.ask_while_full("How do I deploy the billing service?")
    broken = make_bot(generator=ScriptedGenerator(fail_with=RuntimeError("CUDA fell over")), home_tabs=HomeTabs())
    broken.ask("How do I deploy the billing service?", channel="C2")  # documented: the generator is reached
    broken.ask("", channel="C2")  # refused (empty): told what to do, which is an answer, not a failure
    rows = broken.rows(UnansweredQuestion)
    assert len(rows) == 2, [(r.outcome, r.channel, r.reason) for r in rows]
    [turned_away, failed] = sorted(rows, key=lambda row: row.outcome)
    assert (turned_away.outcome, turned_away.channel, turned_away.asker) == ("busy", "C1", ASKER)
    assert (failed.outcome, failed.channel, failed.reason) == ("failed", "C2", "RuntimeError: CUDA fell over")
    broken.fake.admins.add(ADMIN)
    text = shown(home_opened(broken, ADMIN))
    assert "*Last 30 days:* 0 answered · 0 not answered (abstained) · 1 turned away (busy) · 1 failed" in text



def test_a_finished_run_refreshes_admins_tabs_once_from_another_process(make_bot: MakeBot) -> None:
    """Two web processes share the database: the admin opened the tab in one, the other notices the run.

    The process that notices a finished run re-publishes the tab of every admin who opened it, wherever
    they opened it; a second process noticing the same run refreshes nothing; non-admins are not refreshed.
    """
    opened_here, noticing = HomeTabs(), HomeTabs()
    web_1 = make_bot(home_tabs=opened_here)
    web_2 = make_bot(home_tabs=noticing)
    web_1.fake.admins.add(ADMIN)
    home_opened(web_1, ADMIN)
    home_opened(web_1, ASKER)
    assert noticing.refresh_after_runs() == 0, "no run has finished: nothing to refresh"

    click = button_action("retrain", action_id=ACTION_HOME_RETRAIN, block_id="kb.home.admin")
    web_1.interact(block_action(click, channel="D0HOME", message_ts="1.000001", user=ADMIN))
    [run] = web_1.rows(TrainingRun)
    assert noticing.refresh_after_runs() == 0, "a queued run has no outcome yet"
    with web_1.sessions.begin() as session:  # what the training worker writes when it finishes
        session.execute(update(TrainingRun).values(status="running"))
        assert mark_run_finished(session, run.id, status="rejected", message="the gate rejected the candidate")

    publishes = len(web_2.fake.calls_to("views.publish"))
    assert noticing.refresh_after_runs() == 1, "the admin's tab, not the asker's"
    [refresh] = web_2.fake.calls_to("views.publish")[publishes:]
    assert refresh.body["user_id"] == ADMIN and "*rejected*" in shown(web_2.fake.home_views[ADMIN])
    assert opened_here.refresh_after_runs() == 0, "each run refreshes the tabs once, from one process"
