"""The configuration tree: how a section reads the environment, the shared sections, the README table (entry-side).

Every setting of the product is a field of one *section* class, and every section derives from
`Section` here. A field names its environment variable(s) itself (`setting(default, "KB_X", …)`),
so the existing names (`DATABASE_URL`, `KB_*`, `SLACK_*`, `TRAINING_*`) keep working unchanged and a
setting can accept old names as aliases; its description is the text the README's configuration
table shows (`settings_table`), so the table cannot drift from the code.

Where the sections live, and why here. The layering rule (`tests/test_layering.py`) lets `bot`,
`knowledge` and `training` import `store` and nothing lets `store` import them, so this module is the
one place every package can reach: it holds the machinery and the sections *shared* across
processes (database, logging, models: one base model for serving and training). A section used by
one package lives in that package, next to the code that reads it (`knowledge.settings`,
`bot.settings`, `bot.slack.settings`, `training.settings`, whose training section is generated from
`training.config`'s dataclasses). The whole tree, every section under its name, is composed above
all packages in `kbbot.settings`, which `kbbot config show|check|table` read; a process builds only
the sections it needs, so a bot process never imports training code.

Only entry points construct sections (they read the environment); components take plain values.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import AliasChoices, Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
"""Folder name of the default base model that `kbbot setup-model` converts under the models folder."""


class ConfigError(ValueError):
    """A setting's value is invalid; the message names the environment variable and the value."""


def setting(default: Any, env: str, *aliases: str, help: str, secret: bool = False) -> Any:
    """A section field read from `env` (else from the first of `aliases` that is set), documented by `help`.

    `secret` values are masked by `kbbot config show`.
    """
    return Field(default, validation_alias=AliasChoices(env, *aliases), description=help,
                 json_schema_extra={"secret": True} if secret else None)


def env_names(field: FieldInfo) -> list[str]:
    """The environment variables a field reads, the canonical one first (empty for a derived field)."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [choice for choice in alias.choices if isinstance(choice, str)]
    return [alias] if isinstance(alias, str) else []


def is_secret(field: FieldInfo) -> bool:
    extra = field.json_schema_extra
    return isinstance(extra, dict) and extra.get("secret") is True


class _DeclaredEnvironment(PydanticBaseSettingsSource):
    """Reads exactly the variables the fields declare (case-insensitively), nothing named after a field.

    pydantic-settings' own source would also read a variable named like the field (`URL`, `LEVEL`)
    once fields may be set by name; this one never does.
    """

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads every field at once

    def __call__(self) -> dict[str, Any]:
        environ = {name.upper(): value for name, value in os.environ.items()}
        found: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            given = {variable: environ[key] for variable in env_names(field) if (key := variable.upper()) in environ}
            if len(set(given.values())) > 1:
                shown = ", ".join(f"{variable}={value!r}" for variable, value in given.items())
                raise ConfigError(f"{shown} name one setting ({self.settings_cls.__name__}.{name}) but differ: "
                                  f"set {env_names(field)[0]} alone")
            if given:
                found[name] = next(iter(given.values()))
        return found


class Section(BaseSettings):
    """One section of the configuration tree: frozen, built from keyword arguments over the environment.

    Keyword arguments (by field name) win over the environment, which wins over the defaults. An
    invalid value raises `ConfigError` naming the variable, e.g. "KB_DB_POOL_SIZE='many': …".
    """

    model_config = SettingsConfigDict(frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True)
    heading: ClassVar[str] = ""
    """What the section configures, one line for the README table's heading."""

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(_describe(type(self), exc)) from None

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _DeclaredEnvironment(settings_cls)


def _describe(section: type[Section], exc: ValidationError) -> str:
    """One line per invalid value, naming the variable that holds it (or the field when no variable does)."""
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        field = section.model_fields.get(name)
        if field is None:  # loc is the alias that was used, or the whole model for a model validator
            field = next((f for f in section.model_fields.values() if name in env_names(f)), None)
        variable = env_names(field)[0] if field is not None and env_names(field) else name
        shown = f"{variable}={error['input']!r}" if variable and error["type"] != "missing" else variable
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{shown}: {message}" if shown else message)
    return f"bad {section.__name__} settings: " + "; ".join(lines)


class DatabaseSettings(Section):
    """Where the product's Postgres is (every process)."""

    heading: ClassVar[str] = "Database (every process)"

    url: str = setting("", "DATABASE_URL", help="any Postgres with the `vector` extension (`postgres://`, "
                                               "`postgresql://` accepted); empty: the embedded Postgres")
    pg_data_dir: Path = setting(Path("var/pgdata"), "KB_PG_DATA_DIR",
                                help="data dir of the embedded Postgres (started on demand, shared by processes)")
    pool_size: int = setting(16, "KB_DB_POOL_SIZE", help="database connections kept per answering process: a Slack "
                                                         "web worker's request, listener and background threads "
                                                         "may each hold one")


class LoggingSettings(Section):
    """How processes log (every process)."""

    heading: ClassVar[str] = "Logging (every process)"

    format: Literal["json", "text"] | None = Field(
        None, validation_alias="KB_LOG_FORMAT",
        json_schema_extra={"default_text": "json for servers, text for commands"},
        description="`json`: one JSON object per line (log pipelines); `text`: human-readable lines for a terminal. "
                    "Unset: `json` in the servers (Slack web and socket, training worker), `text` in other commands")
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = setting("INFO", "KB_LOG_LEVEL",
                                                                  help="least severe level logged")


class ModelsSettings(Section):
    """Which models serve and train: one base model for both, so an adapter always fits the model it runs on."""

    heading: ClassVar[str] = "Models (serving and training)"

    base_model: str = setting("", "KB_BASE_MODEL", "KB_MODEL_PATH", "TRAINING_BASE_MODEL",
                              help="the base causal LM that serves and that adapters are trained on: a local "
                                   "folder (or, for serving only, a Hugging Face id in the cache); empty: the "
                                   f"converted {DEFAULT_MODEL_NAME} under `KB_MODELS_DIR`. The bot refuses an "
                                   "adapter trained on another base")
    models_dir: Path = setting(Path("var/models"), "KB_MODELS_DIR",
                               help="where `kbbot setup-model` converts the bundled default model")
    embedding_model: str = setting("", "KB_EMBEDDING_MODEL", help="sentence-transformers name or path (must emit "
                                                                  "384 dims); empty: the bundled all-MiniLM-L6-v2")
    ranking_model: str = setting("", "KB_RANKING_MODEL",
                                 help="sentence-transformers folder that re-orders the search's top passages "
                                      "(any width); empty: the bundled all-mpnet-base-v2 that `kbbot setup-model` "
                                      "assembles under `KB_MODELS_DIR`; `off`: the first stage's order (see "
                                      "*Retrieval and answer quality*)")

    def base_model_path(self) -> str:
        """The base model to load: the setting, else the default model's folder under `models_dir`."""
        return self.base_model or str(self.models_dir / DEFAULT_MODEL_NAME)


def same_base_model(recorded: str, served: str) -> bool:
    """Whether an adapter recorded as trained on `recorded` fits the base model `served`.

    Equal strings (a Hugging Face id, or the same path) match; otherwise both are read as paths and
    compared resolved, so `var/models/X` recorded by a worker matches `/srv/app/var/models/X` served
    from `/srv/app`. An empty record (an adapter registered without one) matches anything.
    """
    if not recorded or recorded == served:
        return True
    return Path(recorded).expanduser().resolve() == Path(served).expanduser().resolve()


def attribute_docs(cls: type) -> dict[str, str]:
    """Each attribute's text from a Google-style "Attributes:" docstring section, joined into one line.

    An entry naming several attributes ("lora_r, lora_alpha: the LoRA adapter") gives each the text.
    """
    docs: dict[str, str] = {}
    lines = (inspect.getdoc(cls) or "").splitlines()
    try:
        start = next(index for index, line in enumerate(lines) if line.strip() == "Attributes:")
    except StopIteration:
        return docs
    entry = re.compile(r"^    (\w+(?:, \w+)*): (.*)$")
    names: list[str] = []
    for line in lines[start + 1:]:
        if line and not line.startswith(" "):
            break
        match = entry.match(line)
        if match:
            names = match.group(1).split(", ")
            for name in names:
                docs[name] = match.group(2).strip()
        elif line.startswith("        ") and names:
            for name in names:
                docs[name] += " " + line.strip()
    return docs


def _shown_default(field: FieldInfo) -> str:
    if field.default_factory is not None or field.default is None:
        return str(field.json_schema_extra.get("default_text", "")) if isinstance(field.json_schema_extra,
                                                                                  dict) else ""
    value = field.default
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, tuple):
        return f"`{','.join(map(str, value))}`"
    if value == "":
        return "empty"
    return f"`{value}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def settings_table(sections: Mapping[str, type[Section]], *, heading_level: int = 3) -> str:
    """The Markdown configuration table: a heading per section, then variable | default | meaning rows.

    Aliases are listed after the canonical variable; a derived field (no variable) is left out.
    """
    parts: list[str] = []
    for name, section in sections.items():
        module = section.__module__.replace(".", "/") + ".py"
        parts.append(f"{'#' * heading_level} {section.heading or name} — `{name}`, `{module}`\n")
        parts.append("| variable | default | meaning |\n|---|---|---|")
        for field in section.model_fields.values():
            variables = env_names(field)
            if not variables:
                continue
            shown = f"`{variables[0]}`" + (f" (also {', '.join(f'`{v}`' for v in variables[1:])})"
                                           if variables[1:] else "")
            parts.append(f"| {shown} | {_cell(_shown_default(field))} | {_cell(field.description or '')} |")
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def every_variable(sections: Iterable[type[Section]]) -> list[str]:
    """Every variable the sections read, aliases included, in table order."""
    return [variable for section in sections for field in section.model_fields.values()
            for variable in env_names(field)]
