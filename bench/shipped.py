"""The parts the product answers with, as its settings configure them, for the benches that measure it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from knowledge.passage_ranking import PassageRanker

RERANK_DEPTH_BEFORE = 10
"""The re-ranking depth shipped before the top 20 (bot/reranking.py): the benches measure it as a
same-run row beside the shipped one."""


def configured_ranker() -> PassageRanker | None:
    """The ranking model `KB_RANKING_MODEL` names under `KB_MODELS_DIR`, loaded (None when it is `off`)."""
    from knowledge.ranking_model import load_ranker
    from store.config import ModelsSettings

    models = ModelsSettings()
    return load_ranker(models.ranking_model, models.models_dir)


def shipped_ranker(bench: str) -> PassageRanker:
    """`configured_ranker` for a bench whose figures are the shipped answers': it stops when the model is off."""
    ranker = configured_ranker()
    if ranker is None:
        raise SystemExit(f"{bench} measures the shipped answers, the ranking model among them: unset "
                         "KB_RANKING_MODEL=off")
    return ranker
