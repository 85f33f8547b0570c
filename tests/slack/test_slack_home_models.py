"""The admins' Home tab on models: the deployment log, the next scheduled retrain, and a promote button for the
adapter that passed its gate, re-checked on every click (signed clicks on the real app, strict fake Slack)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from bot.slack.home import HomeTabs
from bot.slack.home_blocks import ACTION_HOME_PROMOTE, ACTION_HOME_ROLLBACK
from store.adapter_registry import promote, register_adapter, serving_adapter
from tests.fakes.slack_requests import ASKER, block_action, button_action
from tests.slack.conftest import MakeBot
from tests.slack.harness import SlackHarness
from tests.slack.test_slack_home import action_ids, home_opened, shown

ADMIN = "UADMIN"
ADAPTERS: dict[str, int] = {}


def _adapter(session: Session, name: str, *, passed: bool, serve: bool) -> int:
    record = register_adapter(session, name=name, path=f"/adapters/{name}", base_model="smol",
                              metrics={"gate": {"passed": passed, "reasons": []}})
    if serve:
        promote(session, record.id, actor="training", reason=f"{name}: gate passed")
    return record.id


@pytest.fixture
def bot(make_bot: MakeBot) -> SlackHarness:
    """kb-v1 and kb-v2 promoted by the training loop, kb-v3 rejected by its gate; cron Mondays 04:30."""
    bot = make_bot(home_tabs=HomeTabs(), training_cron="30 4 * * 1")
    bot.fake.admins.add(ADMIN)
    with bot.sessions.begin() as session:
        for name, passed in (("kb-v1", True), ("kb-v2", True), ("kb-v3", False)):
            ADAPTERS[name] = _adapter(session, name, passed=passed, serve=passed)
    return bot


def _click(bot: SlackHarness, action_id: str, value: str, user: str) -> None:
    bot.interact(block_action(button_action(value, action_id=action_id, block_id="kb.home.admin"),
                              channel="D0HOME", message_ts="1.000001", user=user))


def _serving(bot: SlackHarness) -> str:
    with bot.sessions() as session:
        return serving_adapter(session).name


def _promote_values(view: dict[str, Any]) -> list[str]:
    return [e["value"] for b in view["blocks"] for e in b.get("elements", []) if e.get("action_id") ==
            ACTION_HOME_PROMOTE]


def test_admins_see_the_deployment_log_and_the_next_scheduled_retrain(bot: SlackHarness) -> None:
    text = shown(home_opened(bot, ADMIN))
    assert "*Next scheduled retrain:* Mon " in text and " 04:30 UTC (`30 4 * * 1`)" in text
    log = text[text.index("*Deployments*"):]
    assert log.index("promoted `kb-v2` by the training loop (kb-v2: gate passed)") < log.index("promoted `kb-v1`")
    assert ACTION_HOME_PROMOTE not in action_ids(home_opened(bot, ADMIN)), "the newest passing adapter serves"
    everyone = shown(home_opened(bot, ASKER))
    assert "Deployments" not in everyone and "Next scheduled" not in everyone


def test_a_rolled_back_adapter_can_be_promoted_again_and_forged_clicks_change_nothing(bot: SlackHarness) -> None:
    _click(bot, ACTION_HOME_ROLLBACK, "rollback", ADMIN)
    assert _serving(bot) == "kb-v1"
    view = bot.fake.home_views[ADMIN]
    [value] = _promote_values(view)
    assert "Promote kb-v2" in shown(view) and len(view["blocks"]) <= 100
    assert "rolled back to `kb-v1` by <@UADMIN> (App Home button)" in shown(view)
    assert not _promote_values(home_opened(bot, ASKER))

    published = len(bot.fake.calls_to("views.publish"))
    _click(bot, ACTION_HOME_PROMOTE, value, ASKER)  # a non-admin replaying the admin's button
    assert _serving(bot) == "kb-v1" and len(bot.fake.calls_to("views.publish")) == published

    assert value == str(ADAPTERS["kb-v2"])
    _click(bot, ACTION_HOME_PROMOTE, str(ADAPTERS["kb-v3"]), ADMIN)  # an admin's click forged to name the rejected one
    assert _serving(bot) == "kb-v1"
    assert "Nothing was promoted: only the newest adapter that passed the evaluation gate" in shown(
        bot.fake.home_views[ADMIN])
    _click(bot, ACTION_HOME_PROMOTE, "not-a-number", ADMIN)
    assert _serving(bot) == "kb-v1"

    _click(bot, ACTION_HOME_PROMOTE, value, ADMIN)
    assert _serving(bot) == "kb-v2"
    view = bot.fake.home_views[ADMIN]
    assert "Promoted adapter `kb-v2`" in shown(view) and not _promote_values(view)
    assert "promoted `kb-v2` by <@UADMIN> (promoted from the App Home)" in shown(view)
