"""Fine-tune the ranking model on the team's 👍 votes, gate it on held-out votes, keep it as a new model folder.

What `kbbot train ranking` and the worker's `training.ranking` run (training/ranking_loop.py). Each
tuning starts from the base model (the bundled all-mpnet-base-v2 unless told otherwise) with every
usable vote so far, so runs never compound one another's drift. Training is sentence-transformers'
`MultipleNegativesRankingLoss` (each question against its voted passage, the batch's other passages
as negatives) on the CPU, on the passage text the ranking model embeds (`embedding_input`: title and
heading path above the text).

The gate compares the tuned model with the one serving now on the held-out votes: each held-out
question's voted passage ranked among that answer's own sources by the ranking score the answers
use (0.8 × passage cosine + 0.2 × heading cosine). Those passages were chosen by the serving model
(each was its answer's first source), which favours it, so the gate refuses only a significant
regression: the held-out votes the tuned model no longer ranks first ("lost") against those it now
ranks first and the serving model did not ("won"), refused when lost > won with a one-sided sign
test p < 0.05 (`REGRESSION_P`), or when it loses, net, a fifth of them (at least two: a sign test
on few disagreeing votes refuses nothing); always when a score is not a number. On the bench's
simulated team a strict "no vote lost" rule refused a model that lost 1 of 32 held-out votes there
while raising the answers' MRR on every set of new questions (bench/ranking_votes_answers.py).
What tuning gains on new questions is what the benches measure, not the gate.

A kept model is written to a temporary folder beside its destination and renamed into place, with a
manifest of what it learned from and its gate figures, so an interrupted run leaves nothing
half-written. Its folder name is the model name its ranking vectors are stored under, so the
serving model's vectors stay valid until every process has switched (`training.ranking_loop` deploys
it and the processes follow the ranking registry).
"""

from __future__ import annotations

import json
import math
import re
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.chunking.embedding_text import embedding_input
from knowledge.passage_ranking import PassageRanker, ranking_rows
from knowledge.search import HEADING_WEIGHT
from store.ranking_vectors import ChunkToRank, search_vector
from training.ranking_votes import RankingVote, RankingVotes

MANIFEST_FILE = "kbbot-ranking-tuning.json"
"""Written into a kept model's folder: the base model, the votes, the settings and the gate figures."""
TUNED_SUFFIX = re.compile(r"-votes-\d{8}-\d{6}$")
REGRESSION_P = 0.05
"""The gate refuses a tuned model that loses more held-out votes than it wins at this significance."""
REGRESSION_SHARE = 0.2
"""… or that loses, net, this share of the held-out votes (at least two): a sign test on four or fewer
disagreeing votes can refuse nothing."""
STAGING_PREFIX = ".staging-"
"""A run writes its model under `out_root/.staging-<name>-…` and renames it into place when kept."""


class NotEnoughVotes(ValueError):
    """Too few usable 👍 votes to train or to gate a tuned ranking model (the message says how many)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RankingTuningConfig:
    """How the ranking model is tuned.

    Attributes:
        epochs: passes over the training pairs (one, as measured by bench/ranking_adaptation.py).
        batch_size: pairs per step; the other passages of a batch are each question's negatives.
        learning_rate: AdamW's, with a 10% warm-up.
        max_seq_length: tokens of a passage read while training (the saved model keeps the base's).
        seed: of the shuffle and the initialisation of the trainer.
        min_train: fewest training pairs a run needs.
        min_held_out: fewest held-out votes the gate needs.
    """

    epochs: int = 1
    batch_size: int = 16
    learning_rate: float = 2e-5
    max_seq_length: int = 256
    seed: int = 0
    min_train: int = 20
    min_held_out: int = 5

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2 or self.min_train < 1 or self.min_held_out < 1:
            raise ValueError("ranking tuning needs epochs >= 1, batch_size >= 2 (in-batch negatives), "
                             "min_train >= 1 and min_held_out >= 1")


@dataclass(frozen=True, slots=True)
class GateFigures:
    """How a model ranks each held-out vote's passage among that answer's sources."""

    votes: int
    hit_at_1: float
    mrr: float
    first: tuple[bool, ...] = ()
    """Per held-out vote, in order: whether the voted passage came first."""
    finite: bool = True
    """False when any score was not a number (a diverged model, always refused)."""

    def as_json(self) -> dict[str, Any]:
        """The figures as reports and the manifest print them (without the per-vote flags)."""
        return {"votes": self.votes, "hit_at_1": self.hit_at_1, "mrr": self.mrr, "finite": self.finite}


def regression(serving: GateFigures, tuned: GateFigures) -> tuple[int, int, float]:
    """(lost, won, p): held-out votes the tuned model no longer / newly ranks first, and the one-sided
    sign test's p-value of losing at least that many of the votes where the two models disagree."""
    lost = sum(old and not new for old, new in zip(serving.first, tuned.first, strict=True))
    won = sum(new and not old for old, new in zip(serving.first, tuned.first, strict=True))
    disagreements = lost + won
    p = sum(math.comb(disagreements, k) for k in range(lost, disagreements + 1)) / 2 ** disagreements
    return lost, won, p


def gate_verdict(serving: GateFigures, tuned: GateFigures) -> bool:
    """Whether the tuned model passes: its scores are all numbers, and it did not lose significantly more
    held-out votes than it won (sign test p < `REGRESSION_P`), nor, where too few votes disagree for
    the test to refuse anything (at most 4), a net `REGRESSION_SHARE` of them (at least two)."""
    lost, won, p = regression(serving, tuned)
    net_loss_bar = max(2, math.ceil(REGRESSION_SHARE * len(serving.first)))
    return tuned.finite and not (lost > won and p < REGRESSION_P) and lost - won < net_loss_bar


@dataclass(frozen=True, slots=True, kw_only=True)
class TuningResult:
    """What a tuning run did: where the model went (None when the gate refused it) and why."""

    name: str
    folder: Path | None
    train_pairs: int
    held_out: int
    serving: GateFigures
    tuned: GateFigures
    train_s: float

    @property
    def kept(self) -> bool:
        return self.folder is not None

    @property
    def gate_passed(self) -> bool:
        """Whether the gate passed it (`gate_verdict`; False and kept: forced)."""
        return gate_verdict(self.serving, self.tuned)

    def figures(self) -> dict[str, Any]:
        """What it was tuned on and what the gate measured, as the manifest and the deployment log keep them."""
        return {"name": self.name, "train_pairs": self.train_pairs, "held_out": self.held_out,
                "gate_passed": self.gate_passed, "gate_votes": self.gate_votes(),
                "gate": {"serving": self.serving.as_json(), "tuned": self.tuned.as_json()}}

    def gate_votes(self) -> dict[str, Any]:
        """The held-out votes the tuned model lost and won, and the sign test's p (rounded), as reported."""
        lost, won, p = regression(self.serving, self.tuned)
        return {"lost": lost, "won": won, "p": round(p, 4)}


def tuned_name(base: Path, now: datetime) -> str:
    """The tuned model's name (and folder name): the base's name without an earlier tuning's suffix, then
    `-votes-` and the UTC time of the run."""
    return f"{TUNED_SUFFIX.sub('', base.name)}-votes-{now.astimezone(UTC):%Y%m%d-%H%M%S}"


def training_pairs(votes: Sequence[RankingVote], passages: Mapping[int, ChunkToRank]) -> list[tuple[str, str]]:
    """(question, the passage text the ranking model embeds) for each vote whose passage still exists."""
    return [(vote.question, embedding_input(passages[vote.chunk_id].title, passages[vote.chunk_id].heading,
                                            passages[vote.chunk_id].text))
            for vote in votes if vote.chunk_id in passages]


def gate_votes(votes: Sequence[RankingVote], passages: Mapping[int, ChunkToRank]) -> list[RankingVote]:
    """The votes the gate can read: the voted passage and at least one other of its answer's sources still
    exist (a passage alone among its sources is first for any model)."""
    return [vote for vote in votes if vote.chunk_id in passages
            and any(chunk_id in passages for chunk_id in vote.sources if chunk_id != vote.chunk_id)]


def gate_figures(ranker: PassageRanker, votes: Sequence[RankingVote], passages: Mapping[int, ChunkToRank],
                 ) -> GateFigures:
    """Hit@1 and MRR of each vote's passage among its answer's sources that still exist, scored by `ranker`
    as the answers score them (only `gate_votes`). A tie ranks the voted passage below the others, and a
    score that is not a number ranks it last, so a collapsed model never looks as good as a working one."""
    usable = gate_votes(votes, passages)
    if not usable:
        return GateFigures(votes=0, hit_at_1=0.0, mrr=0.0)
    candidates = sorted({chunk_id for vote in usable for chunk_id in vote.sources if chunk_id in passages})
    rows = {row.chunk_id: search_vector(row, HEADING_WEIGHT)
            for row in ranking_rows(ranker, [passages[chunk_id] for chunk_id in candidates])}
    reciprocal, finite = [], True
    for vote in usable:
        question = ranker.embed_query(vote.question)
        scores = {chunk_id: float(rows[chunk_id] @ question) for chunk_id in vote.sources if chunk_id in rows}
        voted = scores.pop(vote.chunk_id)
        if not all(math.isfinite(score) for score in (voted, *scores.values())):
            reciprocal.append(1.0 / (len(scores) + 1))
            finite = False
            continue
        reciprocal.append(1.0 / (1 + sum(score >= voted for score in scores.values())))
    return GateFigures(votes=len(usable), hit_at_1=round(sum(r == 1.0 for r in reciprocal) / len(usable), 4),
                       mrr=round(float(np.mean(reciprocal)), 4), first=tuple(r == 1.0 for r in reciprocal),
                       finite=finite)


def fine_tune_sentence_model(folder: Path, pairs: Sequence[tuple[str, str]], *, epochs: int, batch_size: int,
                             learning_rate: float, seed: int, max_seq_length: int | None = None) -> Any:
    """A sentence-transformers model from `folder` fine-tuned on (query, passage) pairs with in-batch
    negatives (`MultipleNegativesRankingLoss`, batches without duplicate passages), on the CPU.

    `max_seq_length`: tokens read while training, when shorter than the model's own; the returned
    model has its own length back, so what it embeds later is read as the base model reads it.
    """
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers
    from transformers.trainer_callback import PrinterCallback

    model = SentenceTransformer(str(folder), device="cpu")
    own_length = model.max_seq_length
    if max_seq_length is not None and (own_length is None or max_seq_length < own_length):
        model.max_seq_length = max_seq_length
    dataset = Dataset.from_dict({"anchor": [query for query, _ in pairs], "positive": [text for _, text in pairs]})
    with tempfile.TemporaryDirectory(prefix="kbbot-sentence-tuning-") as out:
        args = SentenceTransformerTrainingArguments(
            output_dir=out, num_train_epochs=epochs, per_device_train_batch_size=batch_size,
            learning_rate=learning_rate, warmup_steps=0.1, seed=seed, use_cpu=True, save_strategy="no",
            report_to="none", disable_tqdm=True, logging_strategy="no", batch_sampler=BatchSamplers.NO_DUPLICATES)
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset,
                                             loss=MultipleNegativesRankingLoss(model))
        trainer.remove_callback(PrinterCallback)  # it prints the final metrics on stdout, which commands keep for JSON
        trainer.train()
    model.max_seq_length = own_length
    model.eval()
    return model


def tune_ranking_model(*, base: Path, serving: Path, votes: RankingVotes, passages: Mapping[int, ChunkToRank],
                       out_root: Path, config: RankingTuningConfig, now: datetime | None = None,
                       force: bool = False) -> TuningResult:
    """Tune `base` on `votes.train`, gate it against the model in `serving` (the folder answers rank with now;
    `base` when the ranking model is off) on `votes.held_out`, and keep it under `out_root` when it passes
    (see the module docstring), or whatever the gate says when `force` (an admin overruling it; the
    manifest says so). Both are scored in float32 by the gate, whatever the answers' precision.

    `passages`: the stored text of every chunk the votes name (`store.ranking_vectors.chunk_texts`);
    votes whose passage was removed since are left out.

    Raises:
        NotEnoughVotes: fewer than `config.min_train` training pairs or `config.min_held_out` held-out votes
            the gate can read (`gate_votes`).
        FileExistsError: a model of the same name is there already (a rerun within the same second).
    """
    pairs = training_pairs(votes.train, passages)
    held_out = gate_votes(votes.held_out, passages)
    if len(pairs) < config.min_train or len(held_out) < config.min_held_out:
        raise NotEnoughVotes(
            f"not enough 👍 votes to tune the ranking model: {len(pairs)} training pairs and {len(held_out)} "
            f"held out (needs {config.min_train} and {config.min_held_out}); left out: "
            + (", ".join(f"{count} {reason.replace('_', ' ')}" for reason, count in votes.excluded.items())
               or "none"))
    now = now or datetime.now(UTC)
    name = tuned_name(base, now)
    out_root.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(out_root, now)
    destination = out_root / name
    if destination.exists():
        raise FileExistsError(f"{destination} already exists")
    serving_ranker = PassageRanker(serving, bfloat16=False)
    before = gate_figures(serving_ranker, held_out, passages)
    started = time.perf_counter()
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{name}-", dir=out_root))
    try:
        model = fine_tune_sentence_model(base, pairs, epochs=config.epochs, batch_size=config.batch_size,
                                         learning_rate=config.learning_rate, seed=config.seed,
                                         max_seq_length=config.max_seq_length)
        train_s = round(time.perf_counter() - started, 1)
        model.save(str(staging))
        del model
        after = gate_figures(PassageRanker(staging, name=name, bfloat16=False), held_out, passages)
        passed = gate_verdict(before, after)
        kept = passed or force
        result = TuningResult(name=name, folder=destination if kept else None, train_pairs=len(pairs),
                              held_out=len(held_out), serving=before, tuned=after, train_s=train_s)
        if kept:
            manifest = {**result.figures(), "base": str(base), "serving": serving_ranker.model_name,
                        "forced": force and not passed, "created_at": now.isoformat(), "excluded": votes.excluded,
                        "config": asdict(config), "train_s": train_s}
            (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
            staging.rename(destination)
        return result
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def remove_stale_staging(out_root: Path, now: datetime, *, older_than: timedelta = timedelta(days=1)) -> int:
    """Delete staging folders a killed run left in `out_root` (hidden, named after a run, untouched for
    `older_than`: never one a run in progress is writing); returns how many went."""
    removed = 0
    for folder in out_root.glob(f"{STAGING_PREFIX}*"):
        modified = datetime.fromtimestamp(folder.stat().st_mtime, UTC)
        if folder.is_dir() and now - modified > older_than:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed
