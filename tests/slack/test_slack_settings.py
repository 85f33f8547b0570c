"""Settings and entry points: a missing variable is named at start, not discovered per request."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

import bot.slack
from bot.slack.__main__ import cli
from bot.slack.health import with_health_check
from bot.slack.settings import MissingSetting, SlackSettings


def test_web_mode_names_the_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(MissingSetting, match="^SLACK_BOT_TOKEN is not set"):
        SlackSettings().require("web")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    with pytest.raises(MissingSetting, match="^SLACK_SIGNING_SECRET is not set"):
        SlackSettings().require("web")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    SlackSettings().require("web")
    with pytest.raises(MissingSetting, match="^SLACK_APP_TOKEN is not set.*connections:write"):
        SlackSettings().require("socket")


def test_settings_read_admins_and_api_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KB_ADMIN_USER_IDS", " U1, U2 ,,")
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api/")
    monkeypatch.setenv("KB_STREAM_MODE", "update")
    settings = SlackSettings()
    assert settings.admin_ids() == ["U1", "U2"]
    assert (settings.slack_api_url, settings.kb_stream_mode) == ("http://127.0.0.1:9/api/", "update")


@pytest.mark.parametrize(("command", "variable"), [("web", "SLACK_BOT_TOKEN"), ("socket", "SLACK_BOT_TOKEN")])
def test_cli_refuses_to_start_without_credentials(command: str, variable: str) -> None:
    result = CliRunner().invoke(cli, [command])
    assert result.exit_code == 1 and f"Error: {variable} is not set" in result.output


def test_cli_commands_have_help() -> None:
    for command in ("web", "socket"):
        result = CliRunner().invoke(cli, [command, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output


def test_health_check_answers_before_slack_handler() -> None:
    seen: list[str] = []

    def slack(environ: dict[str, object], start_response: object) -> list[bytes]:
        seen.append(str(environ["PATH_INFO"]))
        return [b"slack"]

    app = with_health_check(slack)
    statuses: list[str] = []
    assert app({"REQUEST_METHOD": "GET", "PATH_INFO": "/healthz"}, lambda s, h: statuses.append(s)) == [b"ok"]
    assert statuses == ["200 OK"] and seen == []
    assert app({"REQUEST_METHOD": "POST", "PATH_INFO": "/slack/events"}, lambda s, h: None) == [b"slack"]


def test_manifest_subscribes_to_what_the_listeners_handle() -> None:
    manifest = yaml.safe_load((Path(bot.slack.__file__).parent / "manifest.yml").read_text())
    settings = manifest["settings"]
    assert set(settings["event_subscriptions"]["bot_events"]) == {
        "app_mention", "message.channels", "message.groups", "message.im", "message.mpim", "reaction_added",
        "reaction_removed", "file_shared", "app_home_opened",
        # learned channels (bot.slack.learn_events): deleted, or the bot removed, retire their threads
        "channel_deleted", "group_deleted", "channel_left", "group_left", "member_left_channel"}
    assert settings["interactivity"]["is_enabled"] is True
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/kb"
    urls = [settings["event_subscriptions"]["request_url"], settings["interactivity"]["request_url"], command["url"]]
    assert all(url.endswith("/slack/events") for url in urls), "SlackRequestHandler serves /slack/events only"
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"app_mentions:read", "chat:write", "commands", "reactions:read", "files:read", "im:history",
            "channels:history", "users:read", "channels:read"} <= scopes
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True, "app_home_opened publishes the Home tab"
