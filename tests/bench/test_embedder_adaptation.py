"""The embedder- and ranking-adaptation benches: training pairs from what the product indexes, honest reports."""

from __future__ import annotations

import json
import math
from pathlib import Path

from bench.embedder_adaptation import IndexedChunk, auc, heading_pairs, vote_pairs
from bench.faq import FaqItem
from bench.question_sets import AskedQuestion
from bench.readme_tables import RENDERERS

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


def _chunk(file: str, heading: str, text: str, leaf: str) -> IndexedChunk:
    return IndexedChunk(uri=f"file:///docs/faq/{file}", heading=heading, text=text,
                        embedded=f"{heading}\n\n{text}", leaf=leaf)


def test_auc_counts_ties_as_half_and_orders_the_classes() -> None:
    assert auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert auc([0.1], [0.9]) == 0.0
    assert auc([0.5, 0.7], [0.5]) == 0.75


def test_heading_pairs_skip_chunks_without_a_heading_and_pair_the_embedded_text() -> None:
    chunks = [_chunk("a.rst.txt", "FAQ > How do I sort?", "Use sorted().", "How do I sort?"),
              _chunk("a.rst.txt", "", "Preamble.", "")]
    assert heading_pairs(chunks) == [("How do I sort?", "FAQ > How do I sort?\n\nUse sorted().")]


def test_vote_pairs_teach_the_first_chunk_of_the_gold_section_and_drop_questions_without_one() -> None:
    item = FaqItem(file="a.rst.txt", question="How do I sort?", answer="Use sorted().")
    lost = FaqItem(file="b.rst.txt", question="Gone?", answer="Removed.")
    chunks = [_chunk("a.rst.txt", "FAQ > Other", "Unrelated words here.", "Other"),
              _chunk("a.rst.txt", "FAQ > How do I sort?", "Use sorted().", "How do I sort?"),
              _chunk("a.rst.txt", "FAQ > How do I sort?", "More on sorting.", "How do I sort?")]
    asked = [AskedQuestion(text="order a list?", item=item, kind="paraphrase"),
             AskedQuestion(text="gone?", item=lost, kind="paraphrase")]
    assert vote_pairs(chunks, asked) == [("order a list?", "FAQ > How do I sort?\n\nUse sorted().")]


def test_the_committed_result_renders_each_variant_beside_the_bundled_baseline() -> None:
    results = json.loads((RESULTS / "embedder_adaptation.json").read_text())
    rendered = RENDERERS["embedder_adaptation"](results)
    assert rendered.splitlines()[2].startswith("| bundled (baseline) | — |")
    assert rendered.count("| fine-tuned on team votes, seed ") == sum(
        v["variant"] == "fine-tuned on team votes" for v in results["variants"])
    assert "first stage only (no re-ranking)" in rendered


def test_the_ranking_adaptation_result_renders_the_untuned_baseline_then_each_tuning() -> None:
    results = json.loads((RESULTS / "ranking_adaptation.json").read_text())
    rendered = RENDERERS["ranking_adaptation"](results)
    rows = rendered.splitlines()
    assert rows[2].startswith("| all-mpnet-base-v2 untuned (baseline) | — |")
    assert [row.split(" | ")[0] for row in rows[3:5]] == ["| tuned on 👍 votes only", "| tuned on every vote"]
    assert "**fourth holdout** (blind)" in rows[0] and "without the first stage or the best-unit term" in rendered
    assert all(set(variant) >= {"dev", "test", "holdout", "holdout2", "holdout3", "holdout4", "abstention"}
               for variant in results["variants"])


def test_the_ranking_votes_answers_result_renders_both_models_on_every_split_and_the_blind_pool() -> None:
    results = json.loads((RESULTS / "ranking_votes_answers.json").read_text())
    rendered = RENDERERS["ranking_votes_answers"](results)
    rows = rendered.splitlines()
    assert [row.split(" | ")[0] for row in rows[2:9]] == [
        "| test", "| first holdout", "| second holdout", "| **third holdout** (blind)", "| **fourth holdout** (blind)",
        "| **fifth holdout** (blind)", "| blind sets pooled"]
    assert results["blind"] == ["holdout3", "holdout4", "holdout5"]
    assert results["tuned"]["blind_pooled"]["answerable"] == 3 * 85
    votes, held_out = results["gate_votes"], results["gate"]["tuned"]["votes"]
    refused = (votes["lost"] > votes["won"] and votes["p"] < 0.05) or votes["lost"] - votes["won"] >= max(
        2, math.ceil(0.2 * held_out))
    assert results["gate_passed"] is (not refused and results["gate"]["tuned"]["finite"])
    assert f"{votes['lost']} lost, {votes['won']} won" in rendered and results["passages_ranked"] > 0
    assert f"{results['thumbs_up']} of the {results['voted_questions']} voted questions" in rendered
    assert ("passed" if results["gate_passed"] else "refused, kept here to measure it") in rendered
