"""What `/kb status` reports, read from the database (store, read-only).

Counts come from `knowledge` (documents and chunks, vote totals), the deployed adapter from the
registry's deployment log (what every bot process should follow), the deployed ranking model from
the ranking registry's, what each live process really
serves from its heartbeat row (`store.process_heartbeats`), and the newest training run.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from bot.slack.blocks import KbStatus
from knowledge.ingest import corpus_stats
from store.adapter_registry import serving_adapter
from store.interactions import vote_totals
from store.process_heartbeats import live_processes
from store.ranking_registry import serving_ranking_model
from store.training_runs import latest_training_run


def kb_status(sessions: sessionmaker[Session]) -> KbStatus:
    corpus = corpus_stats(sessions)
    with sessions() as session:
        votes = vote_totals(session)
        adapter = serving_adapter(session)
        processes = live_processes(session)
        last_run = latest_training_run(session)
        ranking = serving_ranking_model(session)
    return KbStatus(documents=corpus.documents, chunks=corpus.chunks, older_chunking=corpus.older_chunking,
                    votes_up=votes["up"], votes_down=votes["down"],
                    adapter_name=adapter.name if adapter else "base", last_run=last_run, processes=processes,
                    ranking_model=ranking.name)
