"""`python -m bot.slack web|socket`: run the Slack bot over HTTP (gunicorn) or Socket Mode (entry)."""

from __future__ import annotations

import logging
import os

import click

from bot.slack.settings import MissingSetting, SlackSettings


def _settings(mode: str) -> SlackSettings:
    settings = SlackSettings()
    try:
        settings.require(mode)  # type: ignore[arg-type]
    except MissingSetting as exc:
        raise click.ClickException(str(exc)) from exc
    return settings


@click.group()
def cli() -> None:
    """Team knowledge assistant: the Slack side."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@cli.command()
@click.option("--bind", default=None, help="host:port to listen on [default: 0.0.0.0:$PORT, else :3000].")
@click.option("--workers", type=int, default=None, help="gunicorn workers, each with its own model "
                                                          "[default: $WEB_CONCURRENCY, else 1].")
@click.option("--threads", type=int, default=8, show_default=True, help="request threads per worker.")
def web(bind: str | None, workers: int | None, threads: int) -> None:
    """Serve Slack's Events API, interactivity and /kb over HTTP at /slack/events."""
    _settings("web")
    from bot.slack.gunicorn_app import serve

    serve(bind=bind or f"0.0.0.0:{os.environ.get('PORT', '3000')}",
          workers=workers or int(os.environ.get("WEB_CONCURRENCY", "1")), threads=threads)


@cli.command()
def socket() -> None:
    """Connect to Slack over Socket Mode (no public URL; run exactly one such process)."""
    settings = _settings("socket")
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.runtime import build_runtime
    from bot.settings import BotSettings
    from bot.slack.wiring import start_slack_bot
    from knowledge.settings import KnowledgeSettings

    runtime = build_runtime(BotSettings())
    bot = start_slack_bot(settings=settings, knowledge=KnowledgeSettings(), sessions=runtime.sessions,
                          embedder=runtime.embedder, answerer=runtime.answerer, signing_secret="")
    try:
        SocketModeHandler(bot.app, app_token=settings.slack_app_token).start()
    finally:
        bot.close()
        runtime.close()


if __name__ == "__main__":
    cli()
