"""Which rated answers teach the ranking model, and how they are split.

The Slack path into these pairs is tested in tests/slack/test_slack_learning_path.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from store.datasets_store import RatedAnswer
from training.config import DatasetConfig
from training.ranking_votes import ranking_votes

CONFIG = DatasetConfig()


def rated(answer_id: int, question: str, chunk_ids: Any = (11, 12), *,
          votes: tuple[tuple[str, int], ...] = (("U1", 1),), scope: str = "workspace", abstained: bool = False,
          asker: str = "UASKER") -> RatedAnswer:
    passages = ([{"n": n, "chunk_id": c, "scope": "workspace"} for n, c in enumerate(chunk_ids, start=1)]
                if isinstance(chunk_ids, tuple) else chunk_ids)
    return RatedAnswer(answer_id=answer_id, question=question, prompt="", completion="> quoted", channel="C1",
                       thread_ts=f"{answer_id}.0", asker=asker, scope=scope, passages=passages, abstained=abstained,
                       adapter_name="base", created_at=datetime(2026, 11, 1, tzinfo=UTC), votes=votes, references=())


def test_only_upvoted_answers_with_their_first_source_become_pairs_and_the_rest_is_counted() -> None:
    answers = [rated(1, "how do we deploy?"),
               rated(2, "why is the build red?", votes=(("U1", -1),)),
               rated(3, "tied?", votes=(("U1", 1), ("U2", -1))),
               rated(4, "in a private channel", scope="G1"),
               rated(5, "abstained", (), abstained=True),
               rated(6, "stored passages damaged", [{"n": 1, "chunk_id": "eleven"}]),
               rated(7, "no passages", ()),
               rated(8, "How do we   DEPLOY?"),
               rated(9, "how do we deploy?", (13, 11))]
    votes = ranking_votes(answers, CONFIG, held_out_share=0.0)
    assert votes.excluded == {"abstained": 1, "corrupt": 1, "duplicate": 1, "no_passages": 1, "not_upvoted": 2,
                              "private_scope": 1}
    assert [(v.answer_id, v.chunk_id, v.sources) for v in votes.train] == [(1, 11, (11, 12)), (9, 13, (13, 11))], \
        "the same question with another passage first is another pair; reworded only by case and spaces is not"
    assert votes.held_out == []


def test_private_answers_count_when_the_dataset_settings_let_private_scopes_in() -> None:
    votes = ranking_votes([rated(1, "in a private channel", scope="G1")], DatasetConfig(include_private_scopes=True),
                          held_out_share=0.0)
    assert [v.answer_id for v in votes.train] == [1] and votes.excluded == {}


def test_the_held_out_share_is_taken_by_question_and_more_votes_never_move_a_held_out_question() -> None:
    answers = [rated(i, f"question number {i}?", (100 + i, 200)) for i in range(1, 41)]
    answers.append(rated(41, "question number 1?", (300, 100)))
    first = ranking_votes(answers, CONFIG, held_out_share=0.2)
    again = ranking_votes(list(reversed(answers)), CONFIG, held_out_share=0.2)
    held = {v.question for v in first.held_out}
    assert 3 <= len(held) <= 14, "about 20% of the 40 distinct questions"
    assert held == {v.question for v in again.held_out}
    assert not held & {v.question for v in first.train}, "both pairs of question 1 go the same way"
    more = ranking_votes(answers + [rated(50 + i, f"a later question {i}?") for i in range(20)], CONFIG,
                         held_out_share=0.2)
    assert held <= {v.question for v in more.held_out}, "a held-out question stays held out"
    two = ranking_votes(answers[:2], CONFIG, held_out_share=0.2)
    assert (len(two.train), len(two.held_out)) == (1, 1), "with two questions one is always held out"


def test_a_follow_up_trains_on_what_was_searched_and_a_downvoted_copy_cancels_a_pair() -> None:
    follow_up = replace(rated(1, "and on staging?"), search_query="how do we deploy?\nand on staging?")
    liked = rated(2, "why is the build red?", (21, 22))
    disliked = rated(3, "Why is the build red?", (21, 23), votes=(("U1", -1),))
    votes = ranking_votes([follow_up, liked, disliked], CONFIG, held_out_share=0.0)
    assert [(v.answer_id, v.question) for v in votes.train] == [(1, "how do we deploy?\nand on staging?")]
    assert votes.excluded == {"conflicting": 1, "not_upvoted": 1}


def test_the_asker_weight_decides_a_vote_against_a_bystander() -> None:
    answers = [rated(1, "how do we deploy?", votes=(("UASKER", 1), ("U2", -1)))]
    assert [v.answer_id for v in ranking_votes(answers, DatasetConfig(asker_weight=2), held_out_share=0.0).train] == [1]
    assert ranking_votes(answers, DatasetConfig(asker_weight=1), held_out_share=0.0).excluded == {"not_upvoted": 1}


def test_a_held_out_share_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="held_out_share"):
        ranking_votes([], CONFIG, held_out_share=1.0)
