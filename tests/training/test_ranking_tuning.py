"""Tuning the ranking model on votes: the real all-mpnet-base-v2 trained on the CPU, gated, kept or refused."""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from knowledge.passage_ranking import PassageRanker
from knowledge.ranking_model import ranking_folder
from tests.training.handbook_votes import PASSAGES, TOPICS, TRAIN_QUESTIONS
from training.ranking_tuning import (
    MANIFEST_FILE,
    GateFigures,
    NotEnoughVotes,
    RankingTuningConfig,
    gate_figures,
    gate_verdict,
    regression,
    remove_stale_staging,
    tune_ranking_model,
    tuned_name,
)
from training.ranking_votes import RankingVote, RankingVotes

BASE = ranking_folder("", Path(__file__).resolve().parents[2] / "var" / "models")
NOW = datetime(2026, 11, 30, 18, 5, 9, tzinfo=UTC)
HELD_OUT = [RankingVote(answer_id=101, question="what's the command to release to production?", chunk_id=1,
                        sources=(1, 6, 2)),
            RankingVote(answer_id=102, question="where do the nightly database dumps go?", chunk_id=2,
                        sources=(2, 1, 3))]
MORE_HELD_OUT = [RankingVote(answer_id=100 + topic, question=TRAIN_QUESTIONS[topic].replace("how do I", "how can I")
                             .replace("when are", "when exactly are").replace("who gets", "who is")
                             .replace("what do I need", "what must happen"),
                             chunk_id=topic, sources=(topic, topic % len(TOPICS) + 1, (topic + 3) % len(TOPICS) + 1))
                 for topic in range(1, 7)]
"""Six held-out votes worded like the training questions, each with the next topic's passage among its
sources: enough for the sign test."""
SMALL = RankingTuningConfig(batch_size=4, min_train=4, min_held_out=2)


def votes(mapping: dict[int, int] | None = None) -> RankingVotes:
    """The training questions paired with their topic's passage (or with `mapping[topic]`'s), and HELD_OUT."""
    paired = mapping or {}
    return RankingVotes(train=[RankingVote(answer_id=topic, question=question, chunk_id=paired.get(topic, topic),
                                           sources=(topic,)) for topic, question in TRAIN_QUESTIONS.items()],
                        held_out=list(HELD_OUT), excluded={"not_upvoted": 3})


def test_a_tuned_model_is_kept_under_its_own_name_with_a_manifest(tmp_path: Path, ranker: PassageRanker) -> None:
    result = tune_ranking_model(base=BASE, serving=BASE, votes=votes(), passages=PASSAGES, out_root=tmp_path,
                                config=SMALL, now=NOW)
    assert result.kept and result.folder == tmp_path / "all-mpnet-base-v2-votes-20261130-180509"
    assert [p.name for p in tmp_path.iterdir()] == [result.name], "no staging folder is left behind"
    assert (result.serving.votes, result.serving.hit_at_1) == (2, 1.0), "the untuned model ranks both first"
    manifest = json.loads((result.folder / MANIFEST_FILE).read_text())
    assert (manifest["train_pairs"], manifest["held_out"], manifest["excluded"]) == (8, 2, {"not_upvoted": 3})
    assert manifest["gate"]["tuned"]["votes"] == 2 and manifest["serving"] == "all-mpnet-base-v2"
    assert manifest["created_at"] == NOW.isoformat()
    assert SentenceTransformer(str(result.folder), device="cpu").max_seq_length == 384 > SMALL.max_seq_length, \
        "passages are read as long as the base model reads them, whatever length training read"
    tuned = PassageRanker(result.folder)
    assert tuned.model_name == result.name
    question = TRAIN_QUESTIONS[4]
    assert not np.allclose(tuned.embed_query(question), ranker.embed_query(question), atol=1e-4), "training moved it"


def test_a_model_that_ranks_held_out_votes_worse_is_not_kept(tmp_path: Path, ranker: PassageRanker) -> None:
    # Votes that pair each topic's question with the next topic's passage: what the tuned model learns
    # contradicts the held-out votes (each one's next topic is among its sources), which the untuned
    # model ranks right.
    swapped = replace(votes({topic: topic % len(TOPICS) + 1 for topic in TOPICS}), held_out=list(MORE_HELD_OUT))
    strong = RankingTuningConfig(batch_size=4, min_train=4, min_held_out=2, learning_rate=5e-4, epochs=4)
    result = tune_ranking_model(base=BASE, serving=BASE, votes=swapped, passages=PASSAGES, out_root=tmp_path,
                                config=strong, now=NOW)
    assert not result.kept and result.folder is None and not result.gate_passed
    assert result.serving.first == (True,) * 6, "the untuned model ranks every held-out vote first"
    lost, won, p = regression(result.serving, result.tuned)
    assert lost >= 5 and won == 0 and p < 0.05 and result.tuned.mrr < result.serving.mrr
    assert list(tmp_path.iterdir()) == [], "nothing of a refused model is kept"
    forced = tune_ranking_model(base=BASE, serving=BASE, votes=swapped, passages=PASSAGES, out_root=tmp_path,
                                config=strong, now=NOW, force=True)
    assert forced.kept and not forced.gate_passed
    manifest = json.loads((forced.folder / MANIFEST_FILE).read_text())
    assert (manifest["gate_passed"], manifest["forced"]) == (False, True), "an overruled gate is on record"


def test_too_few_votes_are_refused_before_any_training(tmp_path: Path, ranker: PassageRanker) -> None:
    few = RankingVotes(train=votes().train[:3], held_out=list(HELD_OUT), excluded={"private_scope": 2})
    with pytest.raises(NotEnoughVotes, match=r"3 training pairs and 2 held out \(needs 4 and 2\); left out: "
                                             r"2 private scope"):
        tune_ranking_model(base=BASE, serving=BASE, votes=few, passages=PASSAGES, out_root=tmp_path, config=SMALL)
    gone = {chunk_id: chunk for chunk_id, chunk in PASSAGES.items() if chunk_id != 2}
    with pytest.raises(NotEnoughVotes, match="1 held out"):
        tune_ranking_model(base=BASE, serving=BASE, votes=votes(), passages=gone, out_root=tmp_path, config=SMALL)
    assert list(tmp_path.iterdir()) == []


def test_the_gate_ranks_each_vote_among_its_own_sources(ranker: PassageRanker) -> None:
    wrong_first = [RankingVote(answer_id=1, question="where do the nightly database dumps go?", chunk_id=1,
                               sources=(1, 2, 3))]
    figures = gate_figures(ranker, wrong_first, PASSAGES)
    assert figures.votes == 1 and figures.hit_at_1 == 0.0 and 0 < figures.mrr <= 0.5
    unreadable = [RankingVote(answer_id=9, question="x", chunk_id=99, sources=(99, 1)),
                  RankingVote(answer_id=10, question="how do I deploy?", chunk_id=1, sources=(1,)),
                  RankingVote(answer_id=11, question="how do I deploy?", chunk_id=1, sources=(1, 98))]
    assert gate_figures(ranker, HELD_OUT + unreadable, PASSAGES).votes == 2, \
        "a vote whose passage was removed, or that has no other source left, ranks first for any model"


def test_a_tuned_models_name_replaces_an_earlier_tunings_suffix() -> None:
    assert tuned_name(Path("/m/all-mpnet-base-v2"), NOW) == "all-mpnet-base-v2-votes-20261130-180509"
    assert tuned_name(Path("/m/all-mpnet-base-v2-votes-20261101-000000"), NOW) == \
        "all-mpnet-base-v2-votes-20261130-180509"
    assert re.fullmatch(r"custom-votes-\d{8}-\d{6}", tuned_name(Path("custom"), datetime.now(UTC)))


def test_staging_folders_a_killed_run_left_are_removed_and_a_running_ones_is_not(tmp_path: Path) -> None:
    stale, running = tmp_path / ".staging-old-run-x1", tmp_path / ".staging-new-run-x2"
    for folder in (stale, running):
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"half")
    two_days_ago = NOW.timestamp() - 2 * 86400
    os.utime(stale, (two_days_ago, two_days_ago))
    os.utime(running, (NOW.timestamp() - 60, NOW.timestamp() - 60))
    (tmp_path / "all-mpnet-base-v2-votes-20261101-000000").mkdir()
    assert remove_stale_staging(tmp_path, NOW) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".staging-new-run-x2",
                                                          "all-mpnet-base-v2-votes-20261101-000000"]


def ranked(*first: bool, finite: bool = True) -> GateFigures:
    return GateFigures(votes=len(first), hit_at_1=sum(first) / len(first), mrr=0.0, first=first, finite=finite)


def test_the_sign_test_counts_lost_and_won_votes() -> None:
    assert regression(ranked(True, True, True), ranked(True, False, True)) == (1, 0, 0.5), "one vote is noise"
    assert regression(ranked(*[True] * 6), ranked(*[False] * 6)) == (6, 0, 1 / 64)
    assert regression(ranked(True, False, True, False), ranked(False, True, True, True)) == (1, 2, 0.875)
    assert regression(ranked(True), ranked(True)) == (0, 0, 1.0)


def test_the_gate_refuses_a_significant_or_large_net_loss_and_any_non_number() -> None:
    thirty_two = [True] * 29 + [False] * 3
    assert gate_verdict(ranked(*thirty_two), ranked(*([True] * 28 + [False] * 4))), "1 of 32 lost: noise"
    assert not gate_verdict(ranked(*[True] * 6), ranked(*[False] * 6)), "6 of 6 lost: p = 0.016"
    assert not gate_verdict(ranked(*[True] * 4), ranked(*[True, True, False, False])), \
        "2 of 4 lost: the sign test cannot refuse, the net share does"
    assert gate_verdict(ranked(*[True] * 4), ranked(True, True, True, False)), "1 of 4 lost"
    assert gate_verdict(ranked(True, False, True, False), ranked(False, True, True, True)), "more won than lost"
    assert not gate_verdict(ranked(True, True), ranked(True, True, finite=False)), "a diverged model never passes"
