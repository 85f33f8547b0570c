"""Knowledge-gap clustering on questions with known groups, embedded by the product's embedder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from knowledge.embedding import Embedder
from knowledge.gaps import cluster_gaps
from store.types import GapQuestion
from tests.knowledge.gap_fixture import HELD_OUT_GROUPS, labelled

HeldOut = tuple[list[GapQuestion], list[str], list[list[float]]]
START = datetime(2026, 3, 2, tzinfo=UTC)


def gap(number: int, question: str, *, channel: str | None = "C1", downvotes: int = 0) -> GapQuestion:
    return GapQuestion(answer_id=number, question=question, channel=channel,
                       asked_at=START + timedelta(minutes=number), abstained=downvotes == 0, downvotes=downvotes)


@pytest.fixture(scope="module")
def held_out(embedder: Embedder) -> HeldOut:
    questions, groups = labelled(HELD_OUT_GROUPS)
    return [gap(n, q) for n, q in enumerate(questions)], groups, embedder.embed_documents(questions)


def test_held_out_groups_are_recovered_at_the_default_threshold(held_out: HeldOut) -> None:
    questions, groups, vectors = held_out
    clusters = cluster_gaps(questions, vectors)
    group_of = dict(zip((q.answer_id for q in questions), groups, strict=True))
    predicted = {q.answer_id: n for n, c in enumerate(clusters) for q in c.questions}
    assert adjusted_rand_score(groups, [predicted[q.answer_id] for q in questions]) >= 0.65
    as_groups = [sorted(group_of[q.answer_id] for q in c.questions) for c in clusters]
    assert ["k8s-secrets"] * 4 in as_groups and ["feature-flags"] * 3 in as_groups
    assert ["parking"] in as_groups and ["grafana"] in as_groups, "a question nobody else asked stays alone"


def test_a_tight_threshold_splits_everything_and_a_loose_one_merges_everything(held_out: HeldOut) -> None:
    questions, _, vectors = held_out
    assert len(cluster_gaps(questions, vectors, distance_threshold=0.01)) == len(questions)
    assert len(cluster_gaps(questions, vectors, distance_threshold=1.99)) == 1


def test_clusters_count_channels_and_put_the_most_central_question_first(embedder: Embedder) -> None:
    texts = ["How do I get VPN access from home?", "where's the guide for setting up the VPN?",
             "which VPN client do we use on Linux?", "the VPN keeps disconnecting, who do I ask?",
             "how do I rename a git branch?"]
    questions = [gap(0, texts[0], channel="C1"), gap(1, texts[1], channel="D9", downvotes=2),
                 gap(2, texts[2], channel="C1"), gap(3, texts[3], channel=None), gap(4, texts[4], channel="C2")]
    vectors = embedder.embed_documents(texts)
    vpn, git = cluster_gaps(questions, vectors)
    assert (vpn.size, git.size) == (4, 1), "biggest first"
    assert vpn.channels == (("C1", 2), ("D9", 1)) and git.channels == (("C2", 1),)
    assert (vpn.abstained, vpn.downvoted) == (3, 1)
    assert vpn.last_asked_at == questions[3].asked_at and len(vpn.representatives) == 3
    unit = np.asarray(vectors[:4])
    centroid = unit.mean(axis=0)
    expected_first = int(np.argmax(unit @ centroid))
    assert vpn.questions[0].answer_id == expected_first


def test_no_questions_no_clusters_and_one_question_one_cluster() -> None:
    assert cluster_gaps([], []) == []
    [only] = cluster_gaps([gap(1, "anything")], [[1.0, 0.0]])
    assert only.size == 1 and only.representatives[0].answer_id == 1
    with pytest.raises(ValueError, match="2 questions but 1 vectors"):
        cluster_gaps([gap(1, "a"), gap(2, "b")], [[1.0, 0.0]])
