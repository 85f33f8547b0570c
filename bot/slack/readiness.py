"""Readiness checks for `/readyz`: the database answers a real query, the model answers, the
adapter follower follows, and the adapter it applied is the one the generator serves (adapter).

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

from bot.adapter_follower import AdapterFollower
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


MIN_FOLLOWER_SILENCE_S = 30.0


def follower_check(follower: AdapterFollower, *, max_silence_s: float | None = None) -> ReadinessCheck:
    """The follower's thread runs and read the registry within `max_silence_s` (default: three poll
    intervals, at least 30 s): a process that stopped following would serve a rolled-back adapter
    forever."""
    limit = max_silence_s if max_silence_s is not None else max(3 * follower.poll_interval_s,
                                                                  MIN_FOLLOWER_SILENCE_S)

    def check() -> str | None:
        if not follower.alive():
            reason = "the adapter follower's thread is not running"
        elif (ago := follower.synced_ago_s()) is None:
            reason = "the adapter follower has not read the registry yet"
        elif ago > limit:
            reason = f"the adapter follower last read the registry {ago:.0f} s ago (limit {limit:g} s)"
        else:
            return None
        logger.warning("not ready: adapter_follower: %s", reason)
        return reason

    return "adapter_follower", check


def adapter_check(follower: AdapterFollower, generator: Generator) -> ReadinessCheck:
    """The generator serves the adapter the follower says it applied (the name answers are recorded under).

    A deployment that failed to load is not a failure here: the previous adapter still answers,
    and `/readyz` reports what serves ("serving"), `/kb status` what each process serves.
    """

    def check() -> str | None:
        applied, served = follower.current_adapter()[1], generator.adapter_name
        if applied == served:
            return None
        reason = f"the follower applied {applied!r} but the generator serves {served!r}"
        logger.warning("not ready: adapter: %s", reason)
        return reason

    return "adapter", check


def serving(follower: AdapterFollower, generator: Generator) -> dict[str, object]:
    """What this process serves, for `/readyz`'s body, and why a deployed adapter is refused if one is."""
    adapter_id, name = follower.current_adapter()
    shown: dict[str, object] = {"adapter_id": adapter_id, "adapter": name, "generator_adapter": generator.adapter_name}
    if (refusal := follower.refusal()) is not None:
        shown["refused"] = refusal
    return shown
