"""The quality harness computes correct metrics on hand-checked cases and runs end to end on a tiny FAQ."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.answer_metrics import first_hit_rank, hit_at, mean_reciprocal_rank, overlap_share, token_scores
from bench.faq import parse_faq
from bench.quality import evaluate_answers, evaluate_retrieval, ingest_corpus, is_gold
from knowledge.types import Passage
from tests.scripted_generator import ScriptedGenerator

SAMPLE_FAQ = """\
:tocdepth: 2

===========
Tiny FAQ
===========

General
=======

How do I reverse a list?
------------------------

Use the ``reversed`` built-in or call ``list.reverse()`` to reverse a list in place.

Why is the sky blue?
--------------------

Rayleigh scattering of sunlight by the air makes short wavelengths dominate.

Heading without a question
--------------------------

Not a question.

What is a decorator?
--------------------

A decorator is a function that takes a function and returns a replacement for it,
applied with the ``@`` syntax.
"""


def test_faq_parser_finds_question_sections_and_their_answers() -> None:
    items = parse_faq(SAMPLE_FAQ, file="tiny.rst.txt")
    assert [item.question for item in items] == ["How do I reverse a list?", "Why is the sky blue?",
                                                 "What is a decorator?"]
    assert items[1].answer == "Rayleigh scattering of sunlight by the air makes short wavelengths dominate."
    assert "Not a question" not in items[1].answer


@pytest.mark.parametrize(("prediction", "gold", "expected"), [
    ("the cat sat", "the cat sat", (1.0, 1.0, 1.0)),
    ("cat sat on mat", "cat sat", (0.5, 1.0, 2 / 3)),
    ("dog", "cat", (0.0, 0.0, 0.0)),
    ("", "cat", (0.0, 0.0, 0.0)),
    ("A cat, a CAT!", "cat cat dog", (1.0, 2 / 3, 0.8)),
])
def test_token_scores(prediction: str, gold: str, expected: tuple[float, float, float]) -> None:
    scores = token_scores(prediction, gold)
    assert (scores.precision, scores.recall, scores.f1) == pytest.approx(expected)


def test_rank_metrics_on_hand_checked_rankings() -> None:
    ranks = [first_hit_rank(r) for r in ([True, False], [False, False, True], [False] * 10, [False] * 4 + [True])]
    assert ranks == [1, 3, None, 5]
    assert hit_at(ranks, 1) == 0.25 and hit_at(ranks, 5) == 0.75 and hit_at(ranks, 10) == 0.75
    assert mean_reciprocal_rank(ranks) == pytest.approx((1 + 1 / 3 + 0 + 1 / 5) / 4)
    assert overlap_share("reverse a list", "how to reverse list") == 1.0


def _passage(uri: str, heading: str, text: str) -> Passage:
    return Passage(chunk_id=1, document_id=1, title="t", uri=uri, heading=heading, text=text, score=1.0,
                   scope="workspace")


def test_gold_passage_must_come_from_the_question_section() -> None:
    item = parse_faq(SAMPLE_FAQ, file="tiny.rst.txt")[0]
    assert is_gold(_passage("file:///docs/faq/tiny.rst.txt", "Tiny FAQ › General › How do I reverse a list?", "x"),
                   item)
    assert is_gold(_passage("file:///docs/faq/tiny.rst.txt", "", "use reversed built-in to reverse list"), item)
    assert not is_gold(_passage("file:///docs/library/tiny.rst.txt", "How do I reverse a list?", "x"), item)


def test_harness_runs_end_to_end_on_a_tiny_corpus(tmp_path: Path, sessions, embedder) -> None:
    faq_dir = tmp_path / "faq"
    faq_dir.mkdir()
    (faq_dir / "tiny.rst.txt").write_text(SAMPLE_FAQ)
    (tmp_path / "other.rst.txt").write_text("Cooking\n=======\n\nBoil pasta in salted water for ten minutes.\n")
    corpus = ingest_corpus(sessions, embedder, tmp_path)
    assert corpus["chunks"] >= 2 and corpus["errors"] == 0
    items = parse_faq(SAMPLE_FAQ, file="tiny.rst.txt")
    scores = evaluate_retrieval(sessions, embedder, items, mode="vector")
    assert scores.hit_at_10 == 1.0 and scores.mrr > 0.3

    from bot.answering import Answerer

    answerer = Answerer(sessions=sessions, embedder=embedder,
                        generator=ScriptedGenerator("Rayleigh scattering of sunlight [1]."))
    answers = evaluate_answers(answerer, items[1:2])
    assert answers.questions == 1 and answers.abstention_rate == 0.0
    assert answers.f1 > 0.5 and answers.citation_accuracy == 1.0
