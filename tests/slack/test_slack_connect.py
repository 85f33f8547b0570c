"""Slack Connect and per-workspace memory of refused native features, through signed events."""

from __future__ import annotations

import pytest

from tests.fakes.slack_api import TEAM_ID
from tests.fakes.slack_requests import ASKER, mention
from tests.slack.harness import SlackHarness

pytestmark = pytest.mark.usefixtures("documents")
QUESTION = "When do database backups run?"


def ask(bot: SlackHarness, *, team_id: str = TEAM_ID, user_team: str | None = None, user: str = ASKER) -> str:
    ts = str(bot.fake.add_message("C1", f"<@UBOT> {QUESTION}", user=user)["ts"])
    bot.event(mention("C1", ts, QUESTION, user=user, user_team=user_team), team_id=team_id)
    return ts


def test_a_stream_in_a_slack_connect_channel_goes_to_the_askers_team(bot: SlackHarness) -> None:
    ts = ask(bot, user_team="TPARTNER", user="UPARTNER")
    start = bot.fake.one_call("chat.startStream").body
    assert (start["recipient_team_id"], start["recipient_user_id"]) == ("TPARTNER", "UPARTNER")
    assert bot.final_answer("C1", ts)
    ask(bot)
    assert bot.fake.calls_to("chat.startStream")[1].body["recipient_team_id"] == TEAM_ID, "a local asker's team"


@pytest.mark.parametrize(("method", "error"), [("assistant.threads.setStatus", "not_allowed"),
                                               ("chat.startStream", "missing_scope")])
def test_a_refused_native_feature_is_remembered_per_workspace(bot: SlackHarness, method: str, error: str) -> None:
    bot.fake.fail_next(method, error)
    answered = [ask(bot) for _ in range(3)]
    assert len(bot.fake.calls_to(method)) == 1, "refused once, then skipped in this workspace"
    for ts in answered:
        assert bot.final_answer("C1", ts), "every answer still arrives (placeholder and chat.update)"
    placeholders = [c for c in bot.fake.calls_to("chat.postMessage") if c.body.get("thread_ts") in answered]
    assert len(placeholders) >= 2, "later answers show a placeholder at once instead"

    other = ask(bot, team_id="T222")
    assert len(bot.fake.calls_to(method)) == 2, "another workspace still tries the native feature"
    assert bot.final_answer("C1", other)
