"""Build the answering runtime from settings (entry-side wiring).

One place turns BotSettings into live parts: database, embedder, generator, adapter follower and
the Answerer. The Slack app, the `ask` CLI and the benchmarks all start from here, so they run the
same object graph.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.abstention import AbstentionConfig
from bot.adapter_follower import AdapterFollower
from bot.answering import Answerer, AnsweringConfig, Generator
from bot.settings import BotSettings
from knowledge.embedding import SentenceTransformerEmbedder
from store.database import check_connection, make_engine, make_session_factory, resolve_database_url

logger = logging.getLogger(__name__)


@dataclass(slots=True, kw_only=True)
class Runtime:
    """The live parts of an answering process."""

    engine: Engine
    sessions: sessionmaker[Session]
    embedder: SentenceTransformerEmbedder
    generator: Generator
    follower: AdapterFollower
    answerer: Answerer

    def close(self) -> None:
        self.follower.stop()
        self.engine.dispose()


def build_generator(settings: BotSettings) -> Generator:
    """The configured generator: in-process transformers (default model unless told) or a remote server."""
    if settings.generator_backend == "openai":
        from bot.openai_backend import OpenAICompatibleGenerator

        if not settings.openai_base_url or not settings.openai_model:
            raise ValueError("KB_GENERATOR_BACKEND=openai needs KB_OPENAI_BASE_URL and KB_OPENAI_MODEL")
        return OpenAICompatibleGenerator(settings.openai_base_url, model=settings.openai_model,
                                         api_key=settings.openai_api_key or None, timeout_s=settings.answer_timeout_s)
    import torch

    from bot.generation import TransformersGenerator
    from bot.model_setup import default_model_dir

    if settings.torch_threads > 0:
        torch.set_num_threads(settings.torch_threads)  # process-wide, so only an entry point sets it

    model_path: str | Path = settings.model_path or default_model_dir(settings.models_dir)
    return TransformersGenerator(model_path, max_concurrent=settings.max_concurrent_generations,
                                 max_waiting=settings.max_waiting_generations,
                                 repetition_penalty=settings.repetition_penalty,
                                 no_repeat_ngram_size=settings.no_repeat_ngram_size)


def build_runtime(settings: BotSettings, *, follow_adapters: bool = True) -> Runtime:
    """Connect, load the models and start following the adapter registry."""
    engine = make_engine(resolve_database_url(settings.database_url, settings.pg_data_dir),
                         pool_size=settings.db_pool_size)
    check_connection(engine)
    sessions = make_session_factory(engine)
    embedder = SentenceTransformerEmbedder(settings.embedding_model or None)
    generator = build_generator(settings)
    follower = AdapterFollower(sessions, generator, poll_interval_s=settings.adapter_poll_interval_s)
    follower.sync_once()
    if follow_adapters:
        follower.start()
    config = AnsweringConfig(
        passages=settings.answer_passages, max_new_tokens=settings.answer_max_new_tokens,
        summarise=settings.answer_summary, timeout_s=settings.answer_timeout_s, search_mode=settings.search_mode,
        abstention=AbstentionConfig(min_similarity=settings.answer_min_score,
                                    unknown_similarity=settings.answer_unknown_score,
                                    min_coverage=settings.answer_min_coverage))
    answerer = Answerer(sessions=sessions, embedder=embedder, generator=generator,
                        adapter_source=follower.current_adapter, config=config)
    return Runtime(engine=engine, sessions=sessions, embedder=embedder, generator=generator, follower=follower,
                   answerer=answerer)
