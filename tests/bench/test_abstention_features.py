"""The abstention-features bench's pieces on hand-made figures (pure: the bench itself reads the quality
bench's knowledge bases)."""

from __future__ import annotations

import json

import pytest

from bench.abstention_features import (
    FEATURE_NAMES,
    LOOSE_MARGINS,
    NON_BLIND,
    LabelledQuestion,
    auc,
    features,
    learned_rule_figures,
    loose_matches,
)
from bench.readme_tables import RESULTS, render
from bot.abstention import AbstentionConfig, RankingFigures, Relevance


def _relevance(similarity: float, evidence: float, *, unknown: tuple[str, ...] = (),
               ranking: float | None = None) -> Relevance:
    return Relevance(top_similarity=similarity, evidence_score=evidence, coverage=0.5, missing=[],
                     unknown=list(unknown), reason=None,
                     ranking=None if ranking is None else RankingFigures(score=ranking, best=ranking + 0.1,
                                                                          margin=0.05))


def test_auc_counts_pairs_and_ties() -> None:
    assert auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert auc([0.1], [0.9]) == 0.0
    assert auc([0.5], [0.5]) == 0.5
    assert auc([0.9, 0.3], [0.5]) == 0.5
    assert auc([], [0.5]) == 0.5  # nothing to compare


def test_features_read_the_row_and_the_question() -> None:
    row = features(_relevance(0.4, 0.6, unknown=("celeri",), ranking=0.7), "celery tasks run twice after restart")
    assert len(row) == len(FEATURE_NAMES)
    named = dict(zip(FEATURE_NAMES, row, strict=True))
    assert named["ranking score"] == 0.7 and named["best ranking score"] == pytest.approx(0.8)
    assert named["ranking margin"] == 0.05
    assert named["any unknown name"] == 1.0 and named["unknown names (≤ 3)"] == 1.0
    assert named["mean × any unknown name"] == pytest.approx(0.5)
    assert 0 < named["unknown share of key terms"] < 1
    assert features(_relevance(0.4, 0.6), "deploy")[2:5] == [0.0, 0.0, 0.0], "no ranking figures: not read"


def test_the_learned_rule_is_judged_only_on_the_group_it_never_saw() -> None:
    """Answerable questions score high and unanswerable ones low in every group; fitted on the others,
    the rule gets each group right. A group whose labels are flipped is got wrong when left out, so its
    own labels were not what the rule it is judged by was fitted on."""
    def group(flipped: bool) -> tuple[list[list[float]], list[bool]]:
        xs = [[0.8 + 0.01 * i] for i in range(10)] + [[0.2 + 0.01 * i] for i in range(10)]
        return xs, [not flipped] * 10 + [flipped] * 10

    normal = {("a", "dev"): group(False), ("a", "test"): group(False), ("b", "dev"): group(False)}
    for figures in learned_rule_figures(normal, min_answered=0.9).values():
        assert figures == {"answerable_answered": 1.0, "unanswerable_refused": 1.0, "answerable": 10,
                           "unanswerable": 10}
    odd = learned_rule_figures({**normal, ("b", "odd"): group(True)}, min_answered=0.9)[("b", "odd")]
    assert odd["answerable_answered"] == 0.0 and odd["unanswerable_refused"] == 0.0


def test_loose_matches_count_what_the_rule_answers_near_its_bar() -> None:
    rule = AbstentionConfig(min_score=0.36, unknown_score=0.46)
    questions = [LabelledQuestion(_relevance(0.38, 0.38), "right"),  # 0.02 above the bar
                 LabelledQuestion(_relevance(0.40, 0.42), "unanswerable"),  # 0.05 above
                 LabelledQuestion(_relevance(0.50, 0.52, unknown=("celeri",)), "other"),  # 0.05 above its 0.46
                 LabelledQuestion(_relevance(0.60, 0.60), "right"),  # 0.24 above: clear at every margin
                 LabelledQuestion(_relevance(0.30, 0.30), "unanswerable")]  # refused: counted nowhere
    figures = loose_matches(questions, rule, margins=(0.03, 0.06))
    assert figures["0.03"]["loose"] == {"right": 1, "other": 0, "unanswerable": 0, "answered": 1, "right_share": 1.0}
    assert figures["0.03"]["clear"]["answered"] == 3
    assert figures["0.06"]["loose"] == {"right": 1, "other": 1, "unanswerable": 1, "answered": 3,
                                        "right_share": 0.333}
    assert figures["0.06"]["clear"] == {"right": 1, "other": 0, "unanswerable": 0, "answered": 1, "right_share": 1.0}


def test_the_committed_table_shows_both_rules_per_set_and_their_means() -> None:
    text = render("abstention_features")
    for base in ("faq", "docs"):  # the four non-blind sets each, and the loose matches per margin
        assert [text.count(f"| `{base}` {split} |") for split in NON_BLIND] == [1, 1, 1, 1]
        assert text.count(f"| `{base}` | ") == len(LOOSE_MARGINS)
    assert text.count("(shipped)") == 2 and f"**{AbstentionConfig().loose_margin:g}** (shipped)" in text
    assert "holdout3" not in text and "holdout4" not in text, "the blind sets are kept out"
    committed = json.loads((RESULTS / "abstention_features.json").read_text())
    faq = committed["means"]["faq"]
    assert "| mean of `faq`'s sets |" in text and f"{100 * faq['learned_rule']['unanswerable_refused']:.1f}%" in text
