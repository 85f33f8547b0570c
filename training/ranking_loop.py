"""The ranking model's learning loop: tune on the team's votes, rank every passage, deploy, prune (orch).

What `kbbot train ranking --deploy` and the worker's periodic `training.ranking` run, one step after
another, each only when the one before succeeded:

1. the 👍-voted answers become ranking pairs (`training.ranking_votes`); when `only_if_new` and they
   are the very votes the newest deployed model was tuned on, nothing runs (a fingerprint of the
   answers voted on is kept with each deployment);
2. the bundled model (or `base`) is tuned on them and gated against the model serving now
   (`training.ranking_tuning`); a refused model is not kept;
3. the kept model's question side is exported to ONNX and its vectors of every passage computed
   beside the serving model's, so the first question after the switch is ranked by it;
4. it is deployed in the ranking registry (`store.ranking_registry`): every answering process loads it
   within seconds (bot/ranking_follower.py), and `kbbot train ranking-rollback` serves the one before;
5. the vectors of models that neither serve nor would serve after a rollback (nor are the configured
   one) are deleted.

One tuning at a time: the ranking change lock (`store.ranking_registry.ranking_change_lock`) is held for
the whole run, so a cron tick while an admin's run is going finds it taken and returns, and `kbbot kb
rank --prune` cannot delete the vectors of the model being readied. Passages added while it ranked
are ranked once more right before it is deployed. A refused model's votes are remembered
(`LAST_REFUSED_FILE` beside the kept models), so `only_if_new` does not retune the same votes.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from knowledge.passage_ranking import PassageRanker, rank_missing
from knowledge.ranking_model import configured_ranking_name, ensure_query_export, ranking_folder, ranking_off
from store.datasets_store import rated_answers
from store.errors import one_line_reason
from store.ranking_registry import (
    deploy_ranking_model,
    newest_deployed_metrics,
    prune_ranking_vectors,
    ranking_change_lock,
    serving_ranking_model,
)
from store.ranking_vectors import chunk_texts
from training.config import DatasetConfig
from training.ranking_tuning import RankingTuningConfig, TuningResult, tune_ranking_model
from training.ranking_votes import RankingVotes, ranking_votes

logger = logging.getLogger(__name__)

LAST_REFUSED_FILE = ".last-refused.json"
"""Under the kept models' folder: the fingerprint of the votes whose tuned model the gate refused last."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RankingLoopSettings:
    """Where the models are and what the loop may do.

    Attributes:
        setting: `KB_RANKING_MODEL` (empty: the bundled model; `off`: the gate compares with `base`).
        models_dir: `KB_MODELS_DIR`; kept models go under `out_root` (default `models_dir/ranking-tuned`).
        base: the folder tuning starts from (default: the bundled all-mpnet-base-v2).
        deploy: deploy a kept model (and rank every passage with it first); False: only keep it.
        rank: rank every passage with a kept model even when not deploying it.
        force: keep (and deploy) a model the gate refused.
        only_if_new: do nothing when the votes are those the newest deployed model was tuned on.
        actor: who the deployment log names.
    """

    setting: str
    models_dir: Path
    base: Path | None = None
    out_root: Path | None = None
    deploy: bool = False
    rank: bool = False
    force: bool = False
    only_if_new: bool = False
    actor: str = "cli"
    tuning: RankingTuningConfig = field(default_factory=RankingTuningConfig)

    def base_folder(self) -> Path:
        return self.base or ranking_folder("", self.models_dir)

    def kept_root(self) -> Path:
        """Where kept models go (`out_root`, default `models_dir/ranking-tuned`)."""
        return self.out_root or self.models_dir / "ranking-tuned"


@dataclass(frozen=True, slots=True, kw_only=True)
class RankingLoopOutcome:
    """What a run did. `skipped` says why nothing was tuned; `rank_error` why a kept model was not
    ranked (then not deployed); `deployed` the registry entry's id."""

    votes: RankingVotes
    serving: Path
    result: TuningResult | None = None
    skipped: str | None = None
    ranked: int | None = None
    rank_error: str | None = None
    deployed: int | None = None
    pruned: int | None = None


def votes_fingerprint(votes: RankingVotes) -> str:
    """A digest of the answers the pairs come from, so a run can tell whether anything was voted since."""
    ids = sorted(vote.answer_id for vote in [*votes.train, *votes.held_out])
    return hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:16]


def serving_folder(sessions: sessionmaker[Any], settings: RankingLoopSettings) -> Path:
    """The folder of the model the answers rank with now: the deployed one, else the configured one (`base`
    when the ranking model is off)."""
    with sessions() as session:
        deployed = serving_ranking_model(session).folder
    if deployed:
        return Path(deployed)
    return settings.base_folder() if ranking_off(settings.setting) else ranking_folder(settings.setting,
                                                                                     settings.models_dir)


def run_ranking_loop(engine: Engine, sessions: sessionmaker[Any], settings: RankingLoopSettings, dataset: DatasetConfig,
                     *, since: datetime | None = None) -> RankingLoopOutcome:
    """Run the loop once (see the module docstring).

    Raises:
        RankingChangeBusy: another process is tuning, deploying or pruning ranking models now.
        NotEnoughVotes: too few usable votes (the message gives the counts and the reasons left out).
        FileExistsError: a model of the same name exists (a rerun within the same second).
    """
    with ranking_change_lock(engine):
        serving = serving_folder(sessions, settings)
        with sessions() as session:
            votes = ranking_votes(rated_answers(session, since=since), dataset)
            fingerprint = votes_fingerprint(votes)
            newest = newest_deployed_metrics(session) or {}
            wanted = {vote.chunk_id for vote in votes.train} | {c for vote in votes.held_out for c in vote.sources}
            passages = {chunk.chunk_id: chunk for chunk in chunk_texts(session, sorted(wanted))}
        if settings.only_if_new and newest.get("votes_fingerprint") == fingerprint:
            return RankingLoopOutcome(votes=votes, serving=serving,
                                      skipped=f"no new votes since {newest.get('name', 'the deployed model')}")
        if settings.only_if_new and _last_refused(settings.kept_root()) == fingerprint:
            return RankingLoopOutcome(votes=votes, serving=serving,
                                      skipped="no new votes since the last tuning, which the gate refused")
        result = tune_ranking_model(base=settings.base_folder(), serving=serving, votes=votes, passages=passages,
                                    out_root=settings.kept_root(), config=settings.tuning, force=settings.force)
        if result.folder is None:
            _remember_refused(settings.kept_root(), fingerprint)
            return RankingLoopOutcome(votes=votes, serving=serving, result=result)
        if not (settings.deploy or settings.rank):
            return RankingLoopOutcome(votes=votes, serving=serving, result=result)
        try:
            if settings.deploy:
                ensure_query_export(result.folder)
            tuned = PassageRanker(result.folder)
            ranked = rank_missing(sessions, tuned)
            ranked += rank_missing(sessions, tuned)  # passages added while it ranked (its first pass is long)
        except Exception as exc:  # the model stays kept; `kbbot kb rank` (once it serves) or a rerun finishes
            logger.exception("the tuned ranking model %s was kept but not ranked or exported", result.name)
            return RankingLoopOutcome(votes=votes, serving=serving, result=result, rank_error=one_line_reason(exc))
        if not settings.deploy:
            return RankingLoopOutcome(votes=votes, serving=serving, result=result, ranked=ranked)
        with sessions.begin() as session:
            entry = deploy_ranking_model(session, folder=str(result.folder), name=result.name, actor=settings.actor,
                                         reason=f"tuned on {result.train_pairs} 👍 votes",
                                         metrics={**result.figures(), "votes_fingerprint": fingerprint})
            pruned, _ = prune_ranking_vectors(session, configured_ranking_name(settings.setting, settings.models_dir))
        logger.info("ranking model %s deployed (entry %d); vectors of %d rows of older models deleted",
                    result.name, entry.id, pruned)
        return RankingLoopOutcome(votes=votes, serving=serving, result=result, ranked=ranked, deployed=entry.id,
                                  pruned=pruned)


def _last_refused(root: Path) -> str | None:
    try:
        return str(json.loads((root / LAST_REFUSED_FILE).read_text())["votes_fingerprint"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _remember_refused(root: Path, fingerprint: str) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        (root / LAST_REFUSED_FILE).write_text(json.dumps({"votes_fingerprint": fingerprint}) + "\n")
    except OSError:
        logger.warning("could not remember the refused votes under %s; the next run may retune them", root)
