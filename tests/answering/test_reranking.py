"""Re-ranking the top passages by their best-matching sentence: the pure ordering, then the real path."""

from __future__ import annotations

import numpy as np
import pytest

from bot.passage_units import Unit
from bot.reranking import RerankConfig, first_stage_score, rerank, rerank_score
from bot.unit_scoring import ScoredPassage, ScoredUnit
from store.types import Passage
from tests.answering.handbook import QUESTION


def _scored(chunk_id: int, score: float, units: list[float], similarity: float | None = None) -> ScoredPassage:
    passage = Passage(chunk_id=chunk_id, document_id=1, title="t", uri="doc:t", heading="h", text="x",
                      score=score, scope="workspace", similarity=similarity)
    return ScoredPassage(passage=passage, units=[
        ScoredUnit(unit=Unit(text="x", kind="sentence", position=i, words=1), similarity=value, lexical=0.0,
                   score=value, vector=np.zeros(3, dtype=np.float32)) for i, value in enumerate(units)])


def _ids(scored: list[ScoredPassage]) -> list[int]:
    return [item.passage.chunk_id for item in scored]


def test_a_passage_with_a_sentence_that_answers_overtakes_one_that_only_reads_alike() -> None:
    scored = [_scored(1, 0.50, [0.30, 0.20]), _scored(2, 0.45, [0.62]), _scored(3, 0.40, [0.10])]
    reordered = rerank(scored, RerankConfig(depth=10, unit_weight=0.7))
    assert _ids(reordered) == [2, 1, 3]
    assert rerank_score(reordered[0], RerankConfig(unit_weight=0.7), "vector") == pytest.approx(0.45 + 0.7 * 0.62)


def test_only_the_top_depth_passages_move_and_the_rest_keep_the_search_order() -> None:
    scored = [_scored(1, 0.5, [0.1]), _scored(2, 0.4, [0.9]), _scored(3, 0.3, [0.99]), _scored(4, 0.2, [0.0])]
    assert _ids(rerank(scored, RerankConfig(depth=2))) == [2, 1, 3, 4]


def test_depth_zero_and_weight_zero_keep_the_search_order() -> None:
    scored = [_scored(1, 0.5, [0.1]), _scored(2, 0.4, [0.9])]
    assert _ids(rerank(scored, RerankConfig(depth=0))) == [1, 2]
    assert _ids(rerank(scored, RerankConfig(unit_weight=0.0))) == [1, 2]


def test_ties_keep_the_search_order_and_a_passage_without_units_counts_zero() -> None:
    scored = [_scored(1, 0.4, [0.2]), _scored(2, 0.4, [0.2]), _scored(3, 0.7, [])]
    assert _ids(rerank(scored, RerankConfig(unit_weight=1.0))) == [3, 1, 2]


def test_hybrid_and_fulltext_scores_are_replaced_by_the_cosine_similarity() -> None:
    # An RRF score (~0.03) would let the unit term decide alone; the cosine keeps the passage's own weight.
    rrf = [_scored(1, 0.033, [0.30], similarity=0.80), _scored(2, 0.032, [0.40], similarity=0.30)]
    assert first_stage_score(rrf[0], "hybrid") == 0.80 and first_stage_score(rrf[0], "vector") == 0.033
    assert _ids(rerank(rrf, RerankConfig(), "hybrid")) == [1, 2]
    assert _ids(rerank(rrf, RerankConfig(), "vector")) == [2, 1]


@pytest.mark.parametrize("config", [{"depth": -1}, {"unit_weight": -0.1}])
def test_nonsense_settings_are_refused(config: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="rerank"):
        RerankConfig(**config)  # type: ignore[arg-type]


def _answer(sessions, embedder, config):  # type: ignore[no-untyped-def]
    from bot.answering import Answerer, Question
    from tests.scripted_generator import ScriptedGenerator

    return Answerer(sessions=sessions, embedder=embedder, generator=ScriptedGenerator("unused"),
                    config=config).answer(Question(text=QUESTION))


def test_the_answer_leads_with_the_page_whose_sentence_answers_not_the_one_that_reads_alike(
        handbook, embedder, monkeypatch) -> None:
    from bot.runtime import answering_config
    from bot.settings import BotSettings

    monkeypatch.setenv("KB_ANSWER_SUMMARY", "false")
    reranked = _answer(handbook, embedder, answering_config(BotSettings()))
    assert not reranked.abstained
    assert [p.title for p in reranked.passages][:2] == ["Incident response", "Customer support"]
    assert reranked.text.startswith("> When an alert fires") and "escalate to the security lead" in reranked.text
    assert reranked.citations[0].title == "Incident response"

    monkeypatch.setenv("KB_RERANK_DEPTH", "0")
    first_stage = _answer(handbook, embedder, answering_config(BotSettings()))
    assert first_stage.passages[0].title == "Customer support"
    assert first_stage.text.startswith("> Customers report problems through the help widget")
    # The first stage's scores are kept: the re-ranking only re-orders.
    assert {p.chunk_id: p.score for p in first_stage.passages} == {p.chunk_id: p.score for p in reranked.passages}
