"""Keeps the answers on the ranking model the ranking registry says should serve (orch).

A ranking model tuned on the team's votes is deployed by appending to `ranking_deployments`
(`store.ranking_registry`: `kbbot train ranking --deploy`, the worker's periodic `training.ranking`,
`kbbot train ranking-rollback`); an insert trigger sends `NOTIFY ranking_model_changed`. The
follower's thread (`bot.registry_listener`) re-reads the log on every notification and every
`poll_interval_s`, loads the model it names off the answering path, and hands it to the answerer,
whose next question is ranked with it (a question already being answered keeps the model it began
with). Its vectors of every passage were computed before it was deployed, so the first question
after the switch is ranked by it.

A deployed model that cannot be loaded (folder missing or broken) is logged and left alone: the
answers keep the model they have, the load is retried after `retry_failed_after_s`, and a process
starting with nothing loaded falls back to the configured model. `KB_RANKING_MODEL=off` is the
operator's switch: no follower runs then, whatever is deployed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from bot.registry_listener import RegistryListener
from knowledge.passage_ranking import PassageRanker
from knowledge.ranking_model import load_ranker
from store.ranking_registry import CHANNEL, CONFIGURED, RankingTarget, serving_ranking_model

logger = logging.getLogger(__name__)


class RankingFollower:
    """Loads the registry's serving ranking model and hands it to `attach`'s callback.

    Args:
        session_factory: sessions on the product database.
        setting: `KB_RANKING_MODEL` (the model served when nothing is deployed); not `off`.
        models_dir: `KB_MODELS_DIR`.
        poll_interval_s: re-read the registry at least this often, notification or not.
        retry_failed_after_s: how long a deployment that failed to load is left alone.
        listen_url: libpq URL for LISTEN; default: the session factory's engine URL.
        load: loads a ranking model (`knowledge.ranking_model.load_ranker`'s signature).
    """

    def __init__(self, session_factory: sessionmaker[Session], *, setting: str, models_dir: Path,
                 poll_interval_s: float = 5.0, retry_failed_after_s: float = 60.0, listen_url: str | None = None,
                 load: Callable[[str, Path, str | None], PassageRanker | None] = load_ranker) -> None:
        self._sessions = session_factory
        self._setting = setting
        self._models_dir = Path(models_dir)
        self._retry_failed_after_s = retry_failed_after_s
        self._load = load
        self._sync_lock = threading.Lock()
        self._served: RankingTarget | None = None  # what `ranker` is; None before the first load
        self._ranker: PassageRanker | None = None
        self._failed: dict[RankingTarget, float] = {}  # deployment -> monotonic time its load failed
        self._on_switch: Callable[[PassageRanker | None], None] | None = None
        self._listener = RegistryListener(session_factory, channel=CHANNEL, sync=self.sync_once,
                                          poll_interval_s=poll_interval_s, listen_url=listen_url,
                                          name="ranking-follower")

    @property
    def ranker(self) -> PassageRanker | None:
        """The ranking model loaded now (None before the first sync)."""
        return self._ranker

    def serving_name(self) -> str | None:
        """The name of the model the answers are ranked with (its stored vectors' `model`)."""
        return None if self._ranker is None else self._ranker.model_name

    def serve(self, use: Callable[[PassageRanker | None], None], *, follow: bool = True) -> None:
        """Hand `use` (`Answerer.use_ranker`) the serving model now, loading it first when no sync ran yet,
        and every model loaded later; follow the registry from a thread unless `follow` is False (then
        only `sync_once` switches)."""
        if self._served is None:
            self.sync_once()
        self._on_switch = use
        use(self._ranker)
        if follow:
            self.start()

    def sync_once(self) -> str | None:
        """Read the registry and load what it names if it differs; returns the serving model's name.

        Raises:
            RankingModelError: nothing is loaded yet and neither the deployed nor the configured model
                loads (a process cannot rank at all; the message names the fix).
        """
        with self._sync_lock:
            with self._sessions() as session:
                wanted = serving_ranking_model(session)
            self._listener.mark_synced()
            if wanted != self._served and not self._recently_failed(wanted):
                self._switch(wanted)
            return self.serving_name()

    def start(self) -> None:
        """Sync once now, then follow the registry from a daemon thread until `stop()`."""
        self._listener.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread (within about a second) and wait for it."""
        self._listener.stop(timeout_s)

    def alive(self) -> bool:
        """Whether the following thread runs."""
        return self._listener.alive()

    def _switch(self, wanted: RankingTarget) -> None:
        try:
            ranker = self._load(self._setting, self._models_dir, wanted.folder)
            if ranker is not None:
                ranker.embed_query("warm up")  # the question side loads here, not on the next question
        except Exception as exc:  # a broken model folder (any loader's error) must never stop the following
            self._failed[wanted] = time.monotonic()
            still = self.serving_name() or "no ranking model"
            logger.error("ranking model %s is deployed but cannot be loaded; still ranking with %s: %s",
                         wanted.folder or "(configured)", still, exc)
            if self._ranker is None and wanted.folder is not None:  # a starting process: the configured model
                self._switch(CONFIGURED)
            elif self._ranker is None:
                raise
            return
        self._failed.pop(wanted, None)
        self._served, self._ranker = wanted, ranker
        logger.info("now ranking passages with %s", self.serving_name())
        if self._on_switch is not None:
            self._on_switch(ranker)

    def _recently_failed(self, wanted: RankingTarget) -> bool:
        failed_at = self._failed.get(wanted)
        return failed_at is not None and time.monotonic() - failed_at < self._retry_failed_after_s
