"""The `kbbot` console script: one command line over the packages' commands, loaded lazily (entry).

Each subcommand is the package's own click command or group (`knowledge.__main__`, `bot.__main__`,
`bot.slack.__main__`, `training.__main__`), so `python -m knowledge …` and the others stay exact
aliases with the same options. `LazyGroup` imports a package's module only when one of its
commands runs or shows its help, and those modules import their package, SQLAlchemy, torch and
transformers inside the commands: `kbbot --help` and every `--help` below it return in well under
a second (tests/kbbot/test_cli.py checks it in a subprocess; bench/cli_startup.py measures it).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import click


class LazyGroup(click.Group):
    """A click group whose subcommands are named here and imported on first use.

    Args:
        lazy: subcommand name → ("module:attribute" of a click command or group, one-line help for
            the listing, shown without importing the module).
    """

    def __init__(self, *args: Any, lazy: Mapping[str, tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy = dict(lazy)
        self._loaded: dict[str, click.Command] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self._lazy:
            return self.load(cmd_name)
        return super().get_command(ctx, cmd_name)

    def load(self, name: str) -> click.Command:
        """Import the subcommand `name` (once)."""
        if name not in self._loaded:
            target = self._lazy[name][0]
            module_name, _, attribute = target.partition(":")
            command = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{target} is not a click command")
            self._loaded[name] = command
        return self._loaded[name]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, self._lazy[name][1]) for name in self.list_commands(ctx) if name in self._lazy]
        rows += [(name, command.get_short_help_str(formatter.width)) for name in super().list_commands(ctx)
                 if (command := super().get_command(ctx, name)) is not None and not command.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(sorted(rows))


@click.group(cls=LazyGroup, lazy={
    "migrate": ("knowledge.__main__:migrate", "Apply the database migrations (Alembic upgrade to head)."),
})
def db() -> None:
    """The database (DATABASE_URL, else the embedded Postgres under KB_PG_DATA_DIR)."""


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]}, lazy={
    "db": ("kbbot.cli:db", "The database: migrate."),
    "kb": ("knowledge.__main__:cli", "The knowledge base: add, remove, list, search, stats, rank, backfill-headings."),
    "ask": ("bot.__main__:ask", "Answer a question from the knowledge base, without Slack."),
    "setup-model": ("bot.__main__:setup_model", "Convert the bundled default model (once; reruns are no-ops)."),
    "slack": ("bot.slack.__main__:cli", "Run the Slack bot: web (HTTP, gunicorn) or socket (Socket Mode)."),
    "train": ("training.__main__:cli", "The learning loop: dataset, run, worker, status, promote, rollback, "
                                       "deploy-base, history, ranking."),
    "config": ("kbbot.config_commands:config", "The configuration tree: show, check, table."),
})
@click.version_option(package_name="kbbot")
def cli() -> None:
    """Team knowledge assistant for Slack: one command for the knowledge base, the bot and the learning loop.

    Settings come from the environment (`kbbot config show`; README, "Configuration").
    """


def main() -> None:
    """The console script's entry point."""
    cli(prog_name="kbbot")
