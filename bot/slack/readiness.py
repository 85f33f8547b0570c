"""Readiness checks for `/readyz`: the database answers a real query, the model answers (adapter).

Each check returns None when its part is ready, else one line saying why not (shown in the 503
body and logged). A check that does not finish within `timeout_s` counts as failed, so an
unreachable database host (whose TCP connect could hang for minutes) still gets a prompt 503.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from bot.generator_protocol import Generator
from bot.slack.health import ReadinessCheck

logger = logging.getLogger(__name__)

_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="kb-readiness")


def _bounded(name: str, probe: Callable[[], None], timeout_s: float) -> Callable[[], str | None]:
    def check() -> str | None:
        try:
            _pool.submit(probe).result(timeout=timeout_s)
        except FutureTimeout:
            reason = f"no answer within {timeout_s:g} s"
        except Exception as exc:  # any failure means not ready; the reason is what the operator needs
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'failed'}"
        else:
            return None
        logger.warning("not ready: %s: %s", name, reason)
        return reason

    return check


def database_check(sessions: sessionmaker[Session], *, timeout_s: float = 3.0) -> ReadinessCheck:
    """The database runs a query (`select 1`) through the pool the bot uses."""

    def probe() -> None:
        with sessions() as session:
            session.execute(text("select 1")).scalar_one()

    return "database", _bounded("database", probe, timeout_s)


def model_check(generator: Generator, *, timeout_s: float = 3.0) -> ReadinessCheck:
    """The generator is loaded: its tokenizer counts tokens and it reports a context window."""

    def probe() -> None:
        if generator.count_tokens("ready?") < 1 or generator.context_window < 1:
            raise RuntimeError("the model reports no tokens or no context window")

    return "model", _bounded("model", probe, timeout_s)
