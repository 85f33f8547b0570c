"""The next scheduled retrain, computed as the worker's job queue computes it; bot and worker read one setting."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from knowledge.schedule import DEFAULT_TRAINING_CRON, next_fire
from knowledge.settings import ScheduleSettings

SATURDAY_NIGHT = datetime(2026, 11, 28, 23, 0, tzinfo=UTC)


def test_the_default_fires_on_sunday_at_three_utc() -> None:
    assert next_fire(DEFAULT_TRAINING_CRON, after=SATURDAY_NIGHT) == datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    assert next_fire("*/15 * * * * 30", after=SATURDAY_NIGHT) == datetime(2026, 11, 28, 23, 0, 30, tzinfo=UTC)
    assert next_fire("every sunday", after=SATURDAY_NIGHT) is None


def test_the_web_process_and_the_worker_read_the_same_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both entry points pass `ScheduleSettings().training_cron` on: one definition, one default."""
    monkeypatch.delenv("TRAINING_CRON", raising=False)
    assert ScheduleSettings().training_cron == DEFAULT_TRAINING_CRON
    monkeypatch.setenv("TRAINING_CRON", "30 4 * * 1")
    assert ScheduleSettings().training_cron == "30 4 * * 1"
