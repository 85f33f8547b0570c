"""Keeps the generator on the adapter the registry says should serve (orch).

Training and admins change what serves by appending to `adapter_deployments` (see
`store.adapter_registry`); an insert trigger sends `NOTIFY adapter_changed`. The follower's
daemon thread (`bot.registry_listener`) LISTENs on that channel and re-reads the registry on every
notification, and also every `poll_interval_s`, so a notification lost to a dropped connection
still converges.

A deployment whose adapter files are missing or corrupt is logged and left alone: the generator
keeps the last adapter that loaded (or the base model when none did yet), `current_adapter()` keeps
naming what really serves, and the load is retried only after `retry_failed_after_s`.

An adapter is refused, not loaded, when the registry records it as trained on another base model
than the one this process serves (`served_base_model`; `store.config.same_base_model` compares):
its LoRA weights would load without error onto a model they do not fit and answer nonsense. The
refusal is logged once per adapter, and `refusal()` says why until the deployment changes.

What serves is also reported to `bot.metrics` (`kb_adapter_served`), lines logged while an
adapter is applied carry its `adapter_id`, and `/readyz` asks `alive()` and `synced_ago_s()`.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from bot import metrics
from bot.generator_protocol import BASE_ADAPTER_NAME, AdapterLoadError, Generator
from bot.registry_listener import RegistryListener
from store.adapter_registry import AdapterRecord, serving_adapter
from store.config import same_base_model
from store.log_context import bound_ids

logger = logging.getLogger(__name__)

CHANNEL = "adapter_changed"


class AdapterFollower:
    """Applies the registry's serving adapter to a generator, on demand or from a thread.

    Args:
        session_factory: sessions on the product database.
        generator: the generator to switch.
        poll_interval_s: re-read the registry at least this often, notification or not.
        retry_failed_after_s: how long a deployment that failed to load is left alone.
        listen_url: libpq URL for LISTEN; default: the session factory's engine URL.
        served_base_model: the base model the generator serves (`ModelsSettings.base_model_path()`);
            adapters recorded with another base are refused. None skips the check.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        generator: Generator,
        *,
        poll_interval_s: float = 5.0,
        retry_failed_after_s: float = 60.0,
        listen_url: str | None = None,
        served_base_model: str | None = None,
    ) -> None:
        self._sessions = session_factory
        self._generator = generator
        self._retry_failed_after_s = retry_failed_after_s
        self._served_base_model = served_base_model
        self._refusal: str | None = None
        self._sync_lock = threading.Lock()
        self._current: tuple[int | None, str] = (None, BASE_ADAPTER_NAME)
        self._applied = False
        self._failed: dict[tuple[int, str], float] = {}  # (adapter id, path) -> monotonic time of failure
        self._listener = RegistryListener(session_factory, channel=CHANNEL, sync=self.sync_once,
                                          poll_interval_s=poll_interval_s, listen_url=listen_url,
                                          name="adapter-follower")

    def current_adapter(self) -> tuple[int | None, str]:
        """(adapter id or None for base, adapter name) of what the generator serves now."""
        return self._current

    def sync_once(self) -> tuple[int | None, str]:
        """Read the serving deployment and apply it if it differs; returns what serves afterwards."""
        with self._sync_lock:
            with self._sessions() as session:
                wanted = serving_adapter(session)
            if wanted is None:
                self._refusal = None
                if not self._applied or self._current[0] is not None:
                    self._generator.use_base()
                    self._current = (None, BASE_ADAPTER_NAME)
                    self._applied = True
            elif self._current[0] != wanted.id and not self._recently_failed(wanted) and self._fits(wanted):
                self._apply(wanted)
            self._listener.mark_synced()
            metrics.set_adapter_served(self._current[1])
            return self._current

    def alive(self) -> bool:
        """Whether the following thread runs (False before `start()` and after `stop()`)."""
        return self._listener.alive()

    def synced_ago_s(self) -> float | None:
        """Seconds since the registry was last read successfully; None if it never was."""
        return self._listener.synced_ago_s()

    @property
    def poll_interval_s(self) -> float:
        return self._listener.poll_interval_s

    def start(self) -> None:
        """Sync once now, then follow changes from a daemon thread until `stop()`."""
        self._listener.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread (within about a second) and wait for it."""
        self._listener.stop(timeout_s)

    def _apply(self, wanted: AdapterRecord) -> None:
        with bound_ids(adapter_id=wanted.id):
            try:
                self._generator.use_adapter(wanted.name, Path(wanted.path))
            except AdapterLoadError as exc:
                self._failed[(wanted.id, wanted.path)] = time.monotonic()
                logger.error(
                    "adapter %s (id %s) is deployed but cannot be loaded; still serving %s: %s",
                    wanted.name, wanted.id, self._current[1], exc,
                )
                return
            logger.info("now serving adapter %s (id %s)", wanted.name, wanted.id)
        self._failed.pop((wanted.id, wanted.path), None)
        self._current = (wanted.id, wanted.name)
        self._applied = True

    def refusal(self) -> str | None:
        """Why the deployed adapter is not served because of its base model; None when nothing is refused."""
        return self._refusal

    def _fits(self, wanted: AdapterRecord) -> bool:
        """Whether `wanted` was trained on the served base model; a misfit is logged (once) and kept in `refusal()`."""
        if self._served_base_model is None or same_base_model(wanted.base_model, self._served_base_model):
            self._refusal = None
            return True
        reason = (f"adapter {wanted.name} (id {wanted.id}) was trained on base model {wanted.base_model!r} but this "
                  f"process serves {self._served_base_model!r}; still serving {self._current[1]}. Set KB_BASE_MODEL "
                  f"to the same model for the bot and the training worker, then deploy an adapter trained on it")
        if reason != self._refusal:
            logger.error("refusing to serve %s", reason)
        self._refusal = reason
        return False

    def _recently_failed(self, wanted: AdapterRecord) -> bool:
        failed_at = self._failed.get((wanted.id, wanted.path))
        return failed_at is not None and time.monotonic() - failed_at < self._retry_failed_after_s
