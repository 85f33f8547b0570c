"""The whole configuration tree: every section of every package under one name (entry-side).

A process reads only the branch it needs (`bot.settings.BotSettings`, `training.settings`, …), built
from these same section classes, so a setting has one definition, one variable and one default.
This tree is what `kbbot config show|check` read and what the README's table is generated from.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bot.settings import AnsweringSettings, GenerationSettings
from bot.slack.settings import SlackSettings
from knowledge.settings import KnowledgeSettings, ScheduleSettings
from knowledge.slack_threads_settings import LearnSettings
from store.config import DatabaseSettings, LoggingSettings, ModelsSettings, Section
from training.settings import TrainingSettings


class Settings(BaseModel):
    """Every section, in the order the README lists them. `Settings()` reads them all from the environment."""

    model_config = ConfigDict(frozen=True)

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    models: ModelsSettings = Field(default_factory=ModelsSettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    answering: AnsweringSettings = Field(default_factory=AnsweringSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    learn: LearnSettings = Field(default_factory=LearnSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)


def sections() -> dict[str, type[Section]]:
    """Section name → section class, in the tree's order."""
    found: dict[str, type[Section]] = {}
    for name, field in Settings.model_fields.items():
        section = field.annotation
        assert isinstance(section, type) and issubclass(section, Section), name
        found[name] = section
    return found
