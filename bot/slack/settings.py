"""The Slack section of the configuration tree (entry-side): read once by an entry point, never by listeners.

`require(mode)` turns a missing variable into one line that names it, so a misconfigured deploy
fails at start with "SLACK_SIGNING_SECRET is not set …" instead of a 401 on every request.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from bot.slack.blocks import FeedbackStyle
from bot.slack.request_guard import DEFAULT_MAX_BODY_BYTES
from bot.slack.streaming import StreamMode
from store.config import Section, setting

_REQUIRED = {
    "web": (("slack_bot_token", "SLACK_BOT_TOKEN", "the bot token (xoxb-…) from OAuth & Permissions"),
            ("slack_signing_secret", "SLACK_SIGNING_SECRET", "the signing secret from Basic Information")),
    "socket": (("slack_bot_token", "SLACK_BOT_TOKEN", "the bot token (xoxb-…) from OAuth & Permissions"),
               ("slack_app_token", "SLACK_APP_TOKEN", "an app-level token (xapp-…) with connections:write")),
}


class MissingSetting(RuntimeError):
    """A required environment variable is unset; the message names it and is shown to the operator."""


class SlackSettings(Section):
    """Slack credentials and the bot's Slack-side tunables (Slack processes).

    Field names are the variables' names lower-cased, as before the configuration tree, so the
    listeners' code and tests read them unchanged. The retrain schedule the Home tab shows is
    `knowledge.settings.ScheduleSettings.training_cron`, shared with the worker.
    """

    heading: ClassVar[str] = "Slack (web and socket processes)"

    slack_bot_token: str = setting("", "SLACK_BOT_TOKEN", help="bot token `xoxb-…` (*OAuth & Permissions*); both modes",
                                   secret=True)
    slack_signing_secret: str = setting("", "SLACK_SIGNING_SECRET",
                                        help="*Basic Information → Signing Secret*; HTTP mode verifies every request "
                                             "with it", secret=True)
    slack_app_token: str = setting("", "SLACK_APP_TOKEN", help="app-level token `xapp-…` with `connections:write`; "
                                                               "Socket Mode only", secret=True)
    slack_api_url: str = setting("", "SLACK_API_URL", help="another Web API base URL (a test fake); empty: Slack's")
    kb_admin_user_ids: str = setting("", "KB_ADMIN_USER_IDS",
                                     help="comma-separated user ids allowed to `/kb retrain` and `/kb rollback`; "
                                          "empty: workspace admins and owners (users.info)")
    kb_slack_workers: int = setting(4, "KB_SLACK_WORKERS",
                                    help="questions answered up to their quoted evidence at once per web process "
                                         "(summaries are written on a pool of their own)")
    kb_slack_queue: int = setting(32, "KB_SLACK_QUEUE", help="questions allowed to wait for a worker; more get "
                                                             "\"busy\"")
    kb_listener_threads: int = setting(8, "KB_LISTENER_THREADS",
                                       help="Bolt's listener pool (acks of commands and actions run there)")
    kb_stream_mode: StreamMode = setting("auto", "KB_STREAM_MODE",
                                         help="`auto`: native streaming, falling back to message edits; `native`: "
                                              "streaming only; `update`: message edits only")
    kb_stream_interval_s: float = setting(1.0, "KB_STREAM_INTERVAL_S",
                                          help="least time between two edits of a streamed answer")
    kb_feedback_style: FeedbackStyle = setting("native", "KB_FEEDBACK_STYLE",
                                               help="`native` feedback buttons in a context_actions block, or "
                                                    "`classic` buttons")
    kb_report_interval_s: float = setting(15.0, "KB_REPORT_INTERVAL_S",
                                          help="how often finished training runs and document notices are looked "
                                               "for and posted")
    kb_admin_channel: str = setting("", "KB_ADMIN_CHANNEL",
                                    help="a channel id told every training outcome, scheduled runs included (invite "
                                         "the bot); empty: only the channels that asked are told")
    kb_max_request_bytes: int = setting(DEFAULT_MAX_BODY_BYTES, "KB_MAX_REQUEST_BYTES",
                                        help="largest request body `/slack/events` accepts (413 before it is read)")
    kb_ops_port: int = setting(0, "KB_OPS_PORT",
                               help="Socket Mode: serve /healthz, /readyz and /metrics on this port (the web mode "
                                    "serves them beside /slack/events); 0: none")
    port: int = setting(3000, "PORT", help="HTTP mode: the port `kbbot slack web` listens on (all interfaces); "
                                           "platforms such as Heroku set it")
    web_concurrency: int = setting(1, "WEB_CONCURRENCY",
                                   help="HTTP mode: gunicorn worker processes, each with its own model and database "
                                        "pool (see *Waiting under load*)")

    def admin_ids(self) -> list[str]:
        return [entry.strip() for entry in self.kb_admin_user_ids.split(",") if entry.strip()]

    def require(self, mode: Literal["web", "socket"]) -> None:
        """Raise MissingSetting naming the first variable `mode` needs that is unset."""
        for field, variable, what in _REQUIRED[mode]:
            if not getattr(self, field).strip():
                raise MissingSetting(f"{variable} is not set: it must hold {what} (see README, 'Slack app').")
