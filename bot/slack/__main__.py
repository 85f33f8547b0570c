"""`kbbot slack web|socket` (alias `python -m bot.slack …`): run the Slack bot over HTTP or Socket Mode (entry).

The Slack app and its settings are imported inside the commands, so `--help` is instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import click

if TYPE_CHECKING:
    from bot.slack.settings import SlackSettings


def _settings(mode: Literal["web", "socket"]) -> SlackSettings:
    from bot.slack.settings import MissingSetting, SlackSettings

    try:
        settings = SlackSettings()
        settings.require(mode)
    except (MissingSetting, ValueError) as exc:  # ValueError: store.config.ConfigError names the variable
        raise click.ClickException(str(exc)) from exc
    return settings


@click.group()
def cli() -> None:
    """Team knowledge assistant: the Slack side."""
    from store.log_format import configure_for_process

    configure_for_process(server=True)  # both commands are servers: JSON lines unless KB_LOG_FORMAT=text


@cli.command()
@click.option("--bind", default=None, help="host:port to listen on [default: 0.0.0.0:$PORT, else :3000].")
@click.option("--workers", type=int, default=None, help="gunicorn workers, each with its own model "
                                                          "[default: $WEB_CONCURRENCY, else 1].")
@click.option("--threads", type=int, default=8, show_default=True, help="request threads per worker.")
def web(bind: str | None, workers: int | None, threads: int) -> None:
    """Serve Slack's Events API, interactivity and /kb over HTTP at /slack/events."""
    settings = _settings("web")
    from bot.slack.gunicorn_app import serve

    serve(bind=bind or f"0.0.0.0:{settings.port}", workers=workers or settings.web_concurrency, threads=threads)


@cli.command()
def socket() -> None:
    """Connect to Slack over Socket Mode (no public URL; run exactly one such process)."""
    settings = _settings("socket")
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.runtime import build_runtime
    from bot.settings import BotSettings
    from bot.slack.wiring import start_slack_bot
    from knowledge.settings import ScheduleSettings
    from knowledge.slack_threads_settings import LearnSettings
    from store.process_heartbeats import HeartbeatWriter

    bot_settings = BotSettings()
    runtime = build_runtime(bot_settings)
    heartbeat = HeartbeatWriter(runtime.sessions, kind="socket", served=runtime.served).start()
    ops = None
    if settings.kb_ops_port:  # no HTTP server otherwise: /healthz, /readyz and /metrics on a port of their own
        from bot.slack.http_app import with_ops_endpoints
        from bot.slack.ops_server import OpsServer, not_found

        ops = OpsServer(with_ops_endpoints(not_found, sessions=runtime.sessions, generator=runtime.generator,
                                           follower=runtime.follower), port=settings.kb_ops_port).start()
    bot = start_slack_bot(settings=settings, knowledge=bot_settings.knowledge, sessions=runtime.sessions,
                          embedder=runtime.embedder, answerer=runtime.answerer, signing_secret="",
                          training_cron=ScheduleSettings().training_cron, learn=LearnSettings(),
                          generation_places=bot_settings.generation.places,
                          summary_nice=bot_settings.generation.summary_nice,
                          evidence_first=runtime.evidence_first)
    try:
        SocketModeHandler(bot.app, app_token=settings.slack_app_token).start()
    finally:
        if ops is not None:
            ops.stop()
        heartbeat.stop()
        bot.close()
        runtime.close()


if __name__ == "__main__":
    cli(prog_name="python -m bot.slack")
