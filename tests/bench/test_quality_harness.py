"""The quality harness computes correct metrics on hand-checked cases and runs end to end on a tiny FAQ."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.answer_metrics import (
    first_hit_rank,
    hit_at,
    mean_reciprocal_rank,
    overlap_share,
    token_scores,
    wilson_interval,
)
from bench.answer_quality import abstention_figures, calibrate, plain, run_questions, summarise_answers
from bench.faq import FaqItem, load_faq, parse_faq
from bench.quality import ingest_corpus, is_gold, pooled_with_intervals, search_ranks
from bench.question_sets import (
    AskedQuestion,
    fifth_holdout_paraphrases,
    fifth_holdout_unanswerable,
    fourth_holdout_paraphrases,
    fourth_holdout_unanswerable,
    holdout_paraphrases,
    holdout_unanswerable,
    paraphrases,
    second_holdout_paraphrases,
    third_holdout_paraphrases,
    third_holdout_unanswerable,
    unanswerable,
)
from bot.abstention import Relevance
from store.types import Passage
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


def test_the_gold_answer_as_shown_drops_author_comments_and_renders_roles() -> None:
    """Scored against the source, a quote loses to raw text for markup no reader sees (".. XXX", ":func:")."""
    item = FaqItem(file="x.rst.txt", question="How?",
                   answer=".. XXX need review for Python 3.\n\nUse :func:`reversed` or ``list.reverse()``.")
    assert item.shown_answer() == "Use `reversed` or `list.reverse()`."
    quote = "Use `reversed` or `list.reverse()`."
    assert token_scores(quote, item.shown_answer()).f1 == 1.0 > token_scores(quote, item.answer).f1


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
    asked = [AskedQuestion(text="why is the sky blue in the day", item=items[1], kind="paraphrase"),
             AskedQuestion(text="what is the office wifi password?", item=None, kind="off_topic")]
    ranks, _ = search_ranks(sessions, embedder, asked[:1], mode="vector")
    assert ranks == [1]

    from bot.answering import Answerer

    answerer = Answerer(sessions=sessions, embedder=embedder,
                        generator=ScriptedGenerator("Rayleigh scattering of sunlight makes the sky blue. "
                                                    "Visit https://sky.example.com for more [1]."))
    outcomes = run_questions(answerer, asked, is_gold=is_gold, gold_as_shown=True)
    answered, refused = outcomes
    assert answered.gold_rank == 1 and not answered.abstained and answered.f1_evidence > 0.9
    assert answered.f1_evidence_source is not None and answered.f1_baseline_source is not None
    assert answered.sentences == 2 and answered.supported == 1 and answered.invented == []
    assert refused.abstained and refused.f1_published is None
    summary = summarise_answers(outcomes)
    assert summary["questions"] == 1 and summary["invented_specifics"] == 0
    assert summary["generated_sentences_passing_check"] == 0.5


def test_plain_text_drops_markers_quotes_and_bullets() -> None:
    assert plain("> Use it [1]\n\n• item [2]").split() == ["Use", "it", "item"]


def _relevance(score: float, unknown: int) -> Relevance:
    return Relevance(top_similarity=0.9, evidence_score=score, coverage=1.0, missing=[], unknown=["x"] * unknown,
                     reason=None)


def test_calibration_picks_the_thresholds_that_refuse_most_while_answering_enough() -> None:
    answerable = [_relevance(0.6, 0), _relevance(0.55, 1), _relevance(0.5, 0), _relevance(0.7, 1)]
    unanswerable = [_relevance(0.4, 0), _relevance(0.52, 2), _relevance(0.45, 1)]
    config, chosen = calibrate([(answerable, unanswerable)], min_answered=1.0, figure="evidence")
    figures = abstention_figures([_judge(r, config) for r in answerable], [_judge(r, config) for r in unanswerable])
    assert figures.answerable_answered == 1.0 and figures.unanswerable_refused == 1.0
    assert chosen["figure"] == "evidence"  # the passages' similarity (0.9 for all) could not tell them apart
    assert 0.40 < chosen["min_score"] <= 0.45 and 0.52 < chosen["unknown_score"] <= 0.55


def test_joint_calibration_answers_enough_on_every_knowledge_base() -> None:
    small = ([_relevance(0.5, 0), _relevance(0.6, 0)], [_relevance(0.35, 0), _relevance(0.45, 0)])
    large = ([_relevance(0.42, 0), _relevance(0.7, 0)], [_relevance(0.3, 0), _relevance(0.41, 0)])
    alone, _ = calibrate([small], min_answered=1.0, figure="evidence")
    assert 0.45 < alone.min_score <= 0.5  # would refuse the large one's 0.42 answer
    config, chosen = calibrate([small, large], min_answered=1.0, figure="evidence")
    assert chosen["min_score"] == 0.42  # answers 0.42, refuses 0.41 and below
    large_figures = abstention_figures([_judge(r, config) for r in large[0]], [_judge(r, config) for r in large[1]])
    assert large_figures.answerable_answered == 1.0 and large_figures.unanswerable_refused == 1.0


def test_wilson_interval_on_hand_checked_shares() -> None:
    assert wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)  # the textbook example
    low, high = wilson_interval(80, 85)
    assert low < 80 / 85 < high and high < 1.0
    assert wilson_interval(40, 40)[1] == 1.0 and wilson_interval(40, 40)[0] < 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_blind_sets_pool_under_one_rule_with_intervals() -> None:
    from bot.abstention import AbstentionConfig

    splits = {"a": ([_relevance(0.6, 0), _relevance(0.3, 0)], [_relevance(0.2, 0)]),
              "b": ([_relevance(0.7, 0)], [_relevance(0.8, 0), _relevance(0.1, 0)])}
    rule = AbstentionConfig(min_score=0.5, unknown_score=0.5, figure="evidence")
    pooled = pooled_with_intervals(splits, rule, ("a", "b"))
    assert pooled["splits"] == ["a", "b"] and (pooled["answerable"], pooled["unanswerable"]) == (3, 3)
    assert pooled["answerable_answered"] == pytest.approx(2 / 3, abs=1e-4)
    assert pooled["unanswerable_refused"] == pytest.approx(2 / 3, abs=1e-4)
    assert pooled["answered_interval"] == wilson_interval(2, 3) == pooled["refused_interval"]
    # answered within 0.06 of the 0.5 bar: none of the answerable (0.6, 0.7), the one unanswerable at 0.8 neither
    assert (pooled["loose_answerable"], pooled["loose_unanswerable"], pooled["answered_unanswerable"]) == (0, 0, 1)
    close = pooled_with_intervals(splits, AbstentionConfig(min_score=0.5, unknown_score=0.5, figure="evidence",
                                                           loose_margin=0.15), ("a", "b"))
    assert (close["loose_answerable"], close["loose_unanswerable"]) == (1, 0)  # 0.6 < 0.65; 0.7 and 0.8 are clear


def _judge(relevance: Relevance, config) -> Relevance:  # type: ignore[no-untyped-def]
    from bot.abstention import judge

    return judge(relevance, config)


def test_committed_question_sets_join_their_faq_items_and_split_in_halves() -> None:
    from bench.quality import ensure_doc_sources

    try:
        items = load_faq(ensure_doc_sources())
    except SystemExit:
        pytest.skip("python3.11-doc is not installed")
    dev, test = paraphrases(items, "dev"), paraphrases(items, "test")
    assert len(dev) + len(test) >= 100 and abs(len(dev) - len(test)) <= 1
    assert not {q.text for q in dev} & {q.text for q in test}
    assert len(unanswerable("all")) >= 40
    assert {q.kind for q in unanswerable("all")} == {"off_topic", "near_miss"}
    holdout, holdout_unanswered = holdout_paraphrases(items), holdout_unanswerable()
    assert len(holdout) == 50 and len(holdout_unanswered) == 30 and all(q.item is not None for q in holdout)
    assert not {q.text for q in holdout} & {q.text for q in dev + test}  # its own wording, never tuned on
    assert {q.kind for q in holdout_unanswered} == {"off_topic", "near_miss"}
    third, third_unanswered = third_holdout_paraphrases(items), third_holdout_unanswerable()
    assert len(third) == 85 and len(third_unanswered) == 40
    assert [q.item for q in third] == [q.item for q in test], "a rewording of every test-split item, in order"
    earlier = {q.text for q in dev + test + holdout + second_holdout_paraphrases(items)}
    assert not {q.text for q in third} & earlier
    assert sorted(q.kind for q in third_unanswered).count("near_miss") == 25
    fourth, fourth_unanswered = fourth_holdout_paraphrases(items), fourth_holdout_unanswerable()
    assert len(fourth) == 85 and len(fourth_unanswered) == 40
    assert [q.item for q in fourth] == [q.item for q in test], "a rewording of every test-split item, in order"
    assert not {q.text for q in fourth} & (earlier | {q.text for q in third})
    assert not {q.text for q in fourth_unanswered} & {q.text for q in [*unanswerable("all"), *third_unanswered]}
    assert sorted(q.kind for q in fourth_unanswered).count("near_miss") == 25
    fifth, fifth_unanswered = fifth_holdout_paraphrases(items), fifth_holdout_unanswerable()
    assert len(fifth) == 85 and len(fifth_unanswered) == 40
    assert [q.item for q in fifth] == [q.item for q in test], "a rewording of every test-split item, in order"
    assert not {q.text for q in fifth} & (earlier | {q.text for q in third + fourth})
    assert not {q.text for q in fifth_unanswered} & {
        q.text for q in [*unanswerable("all"), *third_unanswered, *fourth_unanswered]}
    assert sorted(q.kind for q in fifth_unanswered).count("near_miss") == 25
