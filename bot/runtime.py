"""Build the answering runtime from settings (entry-side wiring).

One place turns BotSettings into live parts: database, embedder, generator, adapter follower and
the Answerer. The Slack app, the `ask` CLI and the benchmarks all start from here, so they run the
same object graph.
"""

from __future__ import annotations

import atexit
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.abstention import AbstentionConfig
from bot.adapter_follower import AdapterFollower
from bot.answering import Answerer, AnsweringConfig, Generator
from bot.evidence_first import NO_PAUSES, EvidenceFirst, SharedCounts
from bot.lexicon import common_words
from bot.ranking_follower import RankingFollower
from bot.reranking import RerankConfig
from bot.settings import BotSettings
from knowledge.embedding import Embedder, make_embedder
from knowledge.ranking_model import ranking_off
from store.database import check_connection, make_engine, make_session_factory, resolve_database_url
from store.migrate import check_schema_current
from store.process_heartbeats import Served

if TYPE_CHECKING:
    from bot.int8_layers import Quantization

logger = logging.getLogger(__name__)


@dataclass(slots=True, kw_only=True)
class Runtime:
    """The live parts of an answering process."""

    engine: Engine
    sessions: sessionmaker[Session]
    embedder: Embedder
    generator: Generator
    follower: AdapterFollower
    answerer: Answerer
    model: str = ""
    """The base model's path, or its name on the `openai` backend's server (for the heartbeat row)."""
    evidence_first: EvidenceFirst = field(default_factory=lambda: NO_PAUSES)
    """What the in-process model pauses for: this process's questions waiting for their evidence."""
    ranking_follower: RankingFollower | None = None
    """Keeps the answers on the deployed ranking model (None with KB_RANKING_MODEL=off)."""

    def served(self) -> Served:
        """What this process serves now, as its heartbeat row records it (`store.process_heartbeats`)."""
        adapter_id, adapter_name = self.follower.current_adapter()
        ranking = self.ranking_follower.serving_name() if self.ranking_follower is not None else None
        return Served(adapter_id=adapter_id, adapter_name=adapter_name, model=self.model, ranking_model=ranking)

    def close(self) -> None:
        self.follower.stop()
        if self.ranking_follower is not None:
            self.ranking_follower.stop()
        self.engine.dispose()


def build_generator(settings: BotSettings, *, evidence_first: EvidenceFirst = NO_PAUSES) -> Generator:
    """The configured generator: in-process transformers (default model unless told) or a remote server."""
    generation = settings.generation
    if generation.backend == "openai":
        from bot.openai_backend import OpenAICompatibleGenerator

        if not generation.openai_base_url or not generation.openai_model:
            raise ValueError("KB_GENERATOR_BACKEND=openai needs KB_OPENAI_BASE_URL and KB_OPENAI_MODEL")
        return OpenAICompatibleGenerator(generation.openai_base_url, model=generation.openai_model,
                                         api_key=generation.openai_api_key or None,
                                         timeout_s=settings.answering.timeout_s,
                                         context_window=generation.openai_context_window or None,
                                         max_concurrent=generation.max_concurrent, max_waiting=generation.max_waiting,
                                         repetition_penalty=generation.repetition_penalty,
                                         no_repeat_ngram_size=generation.no_repeat_ngram_size)
    import torch

    from bot.generation import TransformersGenerator

    if generation.torch_threads > 0:
        torch.set_num_threads(generation.torch_threads)  # process-wide, so only an entry point sets it

    return TransformersGenerator(settings.models.base_model_path(), max_concurrent=generation.max_concurrent,
                                 max_waiting=generation.max_waiting,
                                 repetition_penalty=generation.repetition_penalty, evidence_first=evidence_first,
                                 no_repeat_ngram_size=generation.no_repeat_ngram_size,
                                 prefill_chunk_tokens=generation.prefill_chunk_tokens or None,
                                 # an explicit int8 on a GPU is refused with that reason
                                 quantize=generation_quantization(generation.quantize,
                                                                  cuda_available=torch.cuda.is_available()))


def generation_quantization(setting: str, *, cuda_available: bool) -> Quantization:
    """What `KB_GENERATION_QUANTIZE` means on this machine: `auto` is int8-all on a CPU (every Linear layer
    int8, attention adapter-ready; bench/results/generation_speed_int8_all.json), none on a GPU."""
    if setting == "auto":
        return "none" if cuda_available else "int8-all"
    if setting not in ("none", "int8", "int8-all"):
        raise ValueError(f"KB_GENERATION_QUANTIZE must be auto, none, int8 or int8-all, got {setting!r}")
    return cast("Quantization", setting)


def answering_config(settings: BotSettings) -> AnsweringConfig:
    """The answer engine's tunables as the answering and knowledge sections set them."""
    answering = settings.answering
    return AnsweringConfig(
        passages=answering.passages, max_new_tokens=answering.max_new_tokens, summarise=answering.summary,
        timeout_s=answering.timeout_s, search_mode=settings.knowledge.search_mode,
        unit_vector_cache=answering.unit_vector_cache,
        rerank=RerankConfig(depth=answering.rerank_depth, unit_weight=answering.rerank_unit_weight,
                            ranking_max_waiting=answering.ranking_max_waiting,
                            ranking_search=answering.ranking_search),
        abstention=AbstentionConfig(min_score=answering.min_score, unknown_score=answering.unknown_score,
                                    min_coverage=answering.min_coverage, loose_margin=answering.loose_margin))


def build_runtime(settings: BotSettings, *, follow_adapters: bool = True,
                  evidence_siblings: Path | None = None) -> Runtime:
    """Connect, load the models and start following the adapter and ranking-model registries.

    `evidence_siblings`: the folder where this process and its sibling web processes share how many
    questions wait for their evidence, so that each one's model pauses for all of them
    (`bot.evidence_first.SharedCounts`); None: this process's own questions only.
    """
    engine = make_engine(resolve_database_url(settings.database.url, settings.database.pg_data_dir),
                         pool_size=settings.database.pool_size)
    check_connection(engine)
    check_schema_current(engine)
    sessions = make_session_factory(engine)
    embedder = make_embedder(settings.knowledge.embedding_backend, model=settings.models.embedding_model,
                             models_dir=settings.models.models_dir)
    ranking_follower = None
    if not ranking_off(settings.models.ranking_model):
        ranking_follower = RankingFollower(sessions, setting=settings.models.ranking_model,
                                           models_dir=settings.models.models_dir,
                                           poll_interval_s=settings.generation.adapter_poll_interval_s)
        ranking_follower.sync_once()  # the deployed model, or the configured one (raises when neither loads)
    siblings = SharedCounts(evidence_siblings) if evidence_siblings is not None else None
    if siblings is not None:
        atexit.register(siblings.close)
    evidence_first = EvidenceFirst(max_pause_s=settings.generation.evidence_first_pause_s, siblings=siblings)
    generator = build_generator(settings, evidence_first=evidence_first)
    follower = AdapterFollower(sessions, generator, poll_interval_s=settings.generation.adapter_poll_interval_s,
                               served_base_model=settings.models.base_model_path())
    follower.sync_once()
    if follow_adapters:
        follower.start()
    answerer = Answerer(sessions=sessions, embedder=embedder, generator=generator,
                        adapter_source=follower.current_adapter, config=answering_config(settings),
                        waiting=evidence_first.waiting_anywhere)
    if ranking_follower is not None:
        ranking_follower.serve(answerer.use_ranker, follow=follow_adapters)
    common_words()  # read the vocabulary now, not on the first question (~50 ms a process, seen in a burst profile)
    model = settings.generation.openai_model if settings.generation.backend == "openai" \
        else str(settings.models.base_model_path())
    return Runtime(engine=engine, sessions=sessions, embedder=embedder, generator=generator, follower=follower,
                   answerer=answerer, model=model, evidence_first=evidence_first, ranking_follower=ranking_follower)
