"""`kbbot config show|check|table`: read the whole configuration tree (entry).

`show` prints every setting's effective value with the variable that sets it (secrets masked);
`check` builds every section and the training configs, so a bad value fails a deploy's release
step with one line naming the variable instead of failing a worker hours later; `table` prints the
README's configuration table (`kbbot.config_table`).
"""

from __future__ import annotations

import json
import sys

import click


@click.group()
def config() -> None:
    """The configuration tree: every setting, its variable and its value."""


def _load() -> object:
    from kbbot.settings import Settings

    try:
        return Settings()
    except ValueError as exc:  # store.config.ConfigError: one line naming the variable
        raise click.ClickException(str(exc)) from exc


@config.command()
def show() -> None:
    """Print every setting's effective value and the variable that sets it (secrets masked)."""
    from kbbot.settings import Settings
    from store.config import env_names, is_secret

    settings = _load()
    assert isinstance(settings, Settings)
    for name in Settings.model_fields:
        section = getattr(settings, name)
        for field_name, field in type(section).model_fields.items():
            value = getattr(section, field_name)
            shown = "***" if is_secret(field) and value else json.dumps(value, default=str)
            variables = env_names(field)
            click.echo(f"{name}.{field_name} = {shown}" + (f"  ({variables[0]})" if variables else ""))


@config.command()
def check() -> None:
    """Validate every section and the training configs (profile applied as if on this machine's hardware)."""
    from kbbot.settings import Settings

    settings = _load()
    assert isinstance(settings, Settings)
    try:
        settings.training.loop_config(cuda_available=False)
    except ValueError as exc:
        raise click.ClickException(f"bad training settings: {exc}") from exc
    click.echo("configuration valid")


@config.command()
@click.option("--check", "check_readme", is_flag=True, help="Exit 1 when README.md's table is not the generated one.")
def table(check_readme: bool) -> None:
    """Print the README's configuration table, generated from the settings classes."""
    from kbbot.config_table import main

    sys.exit(main(["--check"] if check_readme else []))
