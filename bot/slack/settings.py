"""Environment of the Slack processes (entry): read once by an entry point, never by listeners.

`require(mode)` turns a missing variable into one line that names it, so a misconfigured deploy
fails at start with "SLACK_SIGNING_SECRET is not set …" instead of a 401 on every request.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.slack.blocks import FeedbackStyle
from bot.slack.request_guard import DEFAULT_MAX_BODY_BYTES
from bot.slack.streaming import StreamMode
from knowledge.schedule import DEFAULT_TRAINING_CRON

_REQUIRED = {
    "web": (("slack_bot_token", "SLACK_BOT_TOKEN", "the bot token (xoxb-…) from OAuth & Permissions"),
            ("slack_signing_secret", "SLACK_SIGNING_SECRET", "the signing secret from Basic Information")),
    "socket": (("slack_bot_token", "SLACK_BOT_TOKEN", "the bot token (xoxb-…) from OAuth & Permissions"),
               ("slack_app_token", "SLACK_APP_TOKEN", "an app-level token (xapp-…) with connections:write")),
}


class MissingSetting(RuntimeError):
    """A required environment variable is unset; the message names it and is shown to the operator."""


class SlackSettings(BaseSettings):
    """Slack credentials and the bot's Slack-side tunables.

    Attributes:
        slack_bot_token: SLACK_BOT_TOKEN (xoxb-…).
        slack_signing_secret: SLACK_SIGNING_SECRET; HTTP mode verifies every request with it.
        slack_app_token: SLACK_APP_TOKEN (xapp-…), Socket Mode only.
        slack_api_url: SLACK_API_URL, another Web API base URL (a test fake); empty means Slack's.
        kb_admin_user_ids: KB_ADMIN_USER_IDS, comma-separated user ids allowed to retrain and roll
            back; empty means workspace admins and owners (users.info).
        kb_slack_workers / kb_slack_queue: threads and queue bound of the background work pool.
        kb_listener_threads: Bolt's listener pool (acks of commands and actions run there).
        kb_stream_mode / kb_stream_interval_s / kb_feedback_style: see `bot.slack.streaming`.
        kb_report_interval_s: how often finished training runs are looked for and reported.
        kb_max_request_bytes: KB_MAX_REQUEST_BYTES, largest request body /slack/events accepts
            (larger ones get 413 before they are read; see `request_guard`).
        kb_admin_channel: KB_ADMIN_CHANNEL, a channel id told every training outcome, scheduled
            runs included (the bot must be a member); empty: only the channels that asked are told.
        training_cron: TRAINING_CRON, the worker's retrain schedule, read here with the worker's
            default so the admins' Home tab can say when the next scheduled run is.
    """

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    slack_bot_token: str = ""
    slack_signing_secret: str = ""
    slack_app_token: str = ""
    slack_api_url: str = ""
    kb_admin_user_ids: str = ""
    kb_slack_workers: int = 4
    kb_slack_queue: int = 32
    kb_listener_threads: int = 8
    kb_stream_mode: StreamMode = "auto"
    kb_stream_interval_s: float = 1.0
    kb_feedback_style: FeedbackStyle = "native"
    kb_report_interval_s: float = 15.0
    kb_admin_channel: str = ""
    kb_max_request_bytes: int = DEFAULT_MAX_BODY_BYTES
    training_cron: str = Field(default=DEFAULT_TRAINING_CRON, validation_alias="TRAINING_CRON")

    def admin_ids(self) -> list[str]:
        return [entry.strip() for entry in self.kb_admin_user_ids.split(",") if entry.strip()]

    def require(self, mode: Literal["web", "socket"]) -> None:
        """Raise MissingSetting naming the first variable `mode` needs that is unset."""
        for field, variable, what in _REQUIRED[mode]:
            if not getattr(self, field).strip():
                raise MissingSetting(f"{variable} is not set: it must hold {what} (see README, 'Slack app').")
