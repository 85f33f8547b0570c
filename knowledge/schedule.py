"""When the scheduled retrain fires next: the worker's cron read the way its job queue reads it (pure).

The worker's procrastinate app requests a run on `TRAINING_CRON`; the bot shows admins when that
happens next. Both read the same variable with the same default (`DEFAULT_TRAINING_CRON`), and the
next time is computed with croniter, the library procrastinate itself evaluates cron expressions
with, in UTC as procrastinate does (a sixth field gives seconds, as there).
"""

from __future__ import annotations

from datetime import datetime

from croniter import croniter

DEFAULT_TRAINING_CRON = "0 3 * * 0"
"""Sundays at 03:00 UTC."""


def next_fire(cron: str, *, after: datetime) -> datetime | None:
    """The first time after `after` (timezone-aware) that `cron` fires; None when `cron` is not a cron expression."""
    if not croniter.is_valid(cron):
        return None
    return croniter(cron, after).get_next(datetime)
