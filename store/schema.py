"""Every table of the product, declared once for the ORM and for Alembic (store).

`knowledge` owns the database: the documents the bot knows, the answers it gave, the votes those
answers got, the Slack events it already handled, and the datasets, training runs and LoRA adapters
the learning loop produces. `bot` and `training` meet here and nowhere else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pgvector.sqlalchemy import HALFVEC, Vector
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

EMBEDDING_DIM = 384
"""Width of every stored embedding; the embedder refuses to load a model of another width."""
RANKING_INDEXED_WIDTH = 768
"""The ranking model width the ranking search's index serves: the bundled all-mpnet-base-v2's."""

WORKSPACE_SCOPE = "workspace"
"""Scope of documents every channel may see; any other scope value is a Slack channel id."""


class Base(DeclarativeBase):
    """Declarative base whose metadata Alembic migrates."""


def _created_at() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Document(Base):
    """One source document (file, URL, pasted text, Slack file) in one scope."""

    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("scope", "uri", name="uq_documents_scope_uri"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))  # file | url | text | slack_file
    title: Mapped[str] = mapped_column(Text)
    uri: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    # ChunkingConfig.signature() of the chunker that cut it; NULL: stored before 0018 recorded it.
    chunking: Mapped[str | None] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(64), default=WORKSPACE_SCOPE, server_default=WORKSPACE_SCOPE)
    added_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _created_at()
    # URL documents only (revision 0010): the last download's validators, when it was re-fetched, and
    # how many re-fetches in a row found it gone (404/410).
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    missing_count: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")

    chunks: Mapped[list[Chunk]] = relationship(
        back_populates="document", cascade="all, delete-orphan", passive_deletes=True
    )


class Chunk(Base):
    """A retrievable passage of a document with its embedding and full-text vector."""

    __tablename__ = "chunks"
    __table_args__ = (
        UniqueConstraint("document_id", "ordinal", name="uq_chunks_document_ordinal"),
        # Index operator = query operator: search orders by cosine distance, so the index is cosine.
        # ef_construction 128 (pgvector's default is 64): recall@10 at 100k rows 0.93 -> 0.999.
        # halfvec since revision 0013: at 1M chunks the index is 1.1 GB instead of 2.0 GB at equal recall.
        Index(
            "ix_chunks_embedding_hnsw",
            "embedding",
            postgresql_using="hnsw",
            postgresql_with={"m": 16, "ef_construction": 128},
            postgresql_ops={"embedding": "halfvec_cosine_ops"},
        ),
        Index("ix_chunks_tsv", "tsv", postgresql_using="gin"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    ordinal: Mapped[int] = mapped_column(Integer)
    # Copied from the document so a scope filter needs no join inside the HNSW scan.
    scope: Mapped[str] = mapped_column(String(64), index=True)
    heading: Mapped[str] = mapped_column(Text, default="", server_default="")
    text: Mapped[str] = mapped_column(Text)
    embedding: Mapped[Any] = mapped_column(HALFVEC(EMBEDDING_DIM))
    # The section heading's own embedding (its last path segment, or the title); NULL before 0005.
    heading_embedding: Mapped[Any] = mapped_column(HALFVEC(EMBEDDING_DIM), nullable=True)
    tsv: Mapped[Any] = mapped_column(
        TSVECTOR, Computed("to_tsvector('english', heading || ' ' || text)", persisted=True)
    )

    document: Mapped[Document] = relationship(back_populates="chunks")


class Adapter(Base):
    """An immutable LoRA adapter version: files on disk plus what produced them."""

    __tablename__ = "adapters"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    path: Mapped[str] = mapped_column(Text)
    base_model: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="candidate", server_default="candidate")
    sha256: Mapped[str | None] = mapped_column(String(64))
    training_run_id: Mapped[int | None] = mapped_column(BigInteger)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    created_at: Mapped[datetime] = _created_at()


class AdapterDeployment(Base):
    """Append-only log of what serves: the newest row wins; adapter_id NULL means the base model."""

    __tablename__ = "adapter_deployments"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    adapter_id: Mapped[int | None] = mapped_column(ForeignKey("adapters.id"))
    action: Mapped[str] = mapped_column(String(16))  # promote | rollback | base
    actor: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()


class Answer(Base):
    """An answer the bot gave, with exactly what the model saw and which adapter produced it."""

    __tablename__ = "answers"
    __table_args__ = (
        # The App Home's aggregates read these instead of the wide rows (revision 0008, bench/app_home.py).
        Index("ix_answers_created_at", "created_at", postgresql_include=["abstained", "latency_ms"]),
        Index("ix_answers_id_channel", "id", postgresql_include=["channel"]),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    team_id: Mapped[str | None] = mapped_column(String(32))
    channel: Mapped[str | None] = mapped_column(String(64), index=True)
    thread_ts: Mapped[str | None] = mapped_column(String(32), index=True)
    message_ts: Mapped[str | None] = mapped_column(String(32), index=True)
    asker: Mapped[str | None] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(64), default=WORKSPACE_SCOPE, server_default=WORKSPACE_SCOPE)
    question: Mapped[str] = mapped_column(Text)
    search_query: Mapped[str | None] = mapped_column(Text, nullable=True)
    """What the answer searched with: the question, plus the previous user turn for a follow-up
    (revision 0023; NULL before). Tuning the ranking model trains on it."""
    prompt: Mapped[str] = mapped_column(Text)
    passages: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default="[]")
    retrieved_chunk_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), default=list, server_default="{}")
    completion: Mapped[str] = mapped_column(Text)
    abstained: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    adapter_id: Mapped[int | None] = mapped_column(ForeignKey("adapters.id"))
    adapter_name: Mapped[str] = mapped_column(String(128), default="base", server_default="base")
    latency_ms: Mapped[float | None] = mapped_column(Float)
    # What the user saw (evidence + supported summary); NULL on rows from before revision 0003.
    published_text: Mapped[str | None] = mapped_column(Text)
    summary_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default="[]")
    support: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default="[]")
    abstain_reason: Mapped[str | None] = mapped_column(String(32))
    relevance: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    # public | private | im | mpim (Slack conversations.info); NULL for answers given outside Slack.
    conversation_kind: Mapped[str | None] = mapped_column(String(16))
    # Set when the answer is a verified answer served as it is (no retrieval, no model; revision 0007).
    verified_answer_id: Mapped[int | None] = mapped_column(
        ForeignKey("verified_answers.id", ondelete="SET NULL", use_alter=True, name="fk_answers_verified_answer_id"))
    created_at: Mapped[datetime] = _created_at()


class Vote(Base):
    """The current vote of one user on one answer (last write wins)."""

    __tablename__ = "votes"
    __table_args__ = (
        UniqueConstraint("answer_id", "user_id", name="uq_votes_answer_user"),
        CheckConstraint("value in (-1, 1)", name="ck_votes_value"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("answers.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    value: Mapped[int] = mapped_column(SmallInteger)
    reason: Mapped[str | None] = mapped_column(String(32))
    reason_text: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))  # button | reaction
    updated_at: Mapped[datetime] = _created_at()


class PendingReaction(Base):
    """A 👍/👎 reaction (added or removed) on a bot message whose answer is not recorded yet.

    The record and final blocks of an answer come after its evidence is shown (the summary, or the next
    questions' evidence, first): a reaction in that window is held here and applied as a vote when the
    answer is linked to its message (`store.pending_reactions`); one on a bot message that never
    becomes an answer (a notice) is purged after an hour.
    """

    __tablename__ = "pending_reactions"
    __table_args__ = (
        CheckConstraint("value in (-1, 1)", name="ck_pending_reactions_value"),
        Index("ix_pending_reactions_message", "channel", "message_ts"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    channel: Mapped[str] = mapped_column(String(64))
    message_ts: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(64))
    value: Mapped[int] = mapped_column(SmallInteger)
    added: Mapped[bool] = mapped_column(Boolean)
    event_ts: Mapped[str | None] = mapped_column(String(32))  # Slack's time of the reaction (revision 0025)
    created_at: Mapped[datetime] = _created_at()


class VoteEvent(Base):
    """History of every vote change; value 0 records a withdrawn vote."""

    __tablename__ = "vote_events"
    __table_args__ = (CheckConstraint("value in (-1, 0, 1)", name="ck_vote_events_value"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("answers.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    value: Mapped[int] = mapped_column(SmallInteger)
    reason: Mapped[str | None] = mapped_column(String(32))
    reason_text: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = _created_at()


class ReferenceAnswer(Base):
    """A teammate's reply after a 👎: a candidate better answer for training."""

    __tablename__ = "reference_answers"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("answers.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    message_ts: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = _created_at()


class VerifiedAnswer(Base):
    """A teammate's reply confirmed as the answer to a question: served first when the question comes again.

    `scope` is the scope of the conversation it was confirmed in (WORKSPACE_SCOPE for a public
    channel, else the channel id), so an answer confirmed in a private channel is served only there.
    A retired answer is never served; every version of the text is kept in `verified_answer_revisions`.
    """

    __tablename__ = "verified_answers"
    __table_args__ = (CheckConstraint("status in ('active', 'retired')", name="ck_verified_answers_status"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    answer_text: Mapped[str] = mapped_column(Text)  # scrubbed of secrets and personal data
    question_embedding: Mapped[Any] = mapped_column(Vector(EMBEDDING_DIM))
    scope: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str | None] = mapped_column(String(64))
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    permalink: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(64))
    confirmed_by: Mapped[str] = mapped_column(String(64))
    answer_id: Mapped[int | None] = mapped_column(ForeignKey("answers.id", ondelete="SET NULL"), index=True)
    reference_answer_id: Mapped[int | None] = mapped_column(
        ForeignKey("reference_answers.id", ondelete="SET NULL"), unique=True)
    # What the model would read for the question (rendered chat prompt): the training row's prompt.
    prompt: Mapped[str] = mapped_column(Text, default="", server_default="")
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    retired_by: Mapped[str | None] = mapped_column(String(64))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _created_at()


class VerifiedAnswerRevision(Base):
    """One version of a verified answer's text (the first is the confirmed reply); edits append."""

    __tablename__ = "verified_answer_revisions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    verified_answer_id: Mapped[int] = mapped_column(ForeignKey("verified_answers.id", ondelete="CASCADE"),
                                                    index=True)
    answer_text: Mapped[str] = mapped_column(Text)
    edited_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created_at()


class ChannelSettings(Base):
    """Per-channel settings admins choose (`/kb experts`, `/kb channel`; migrations 0009 and 0015).

    The experts "Ask a teammate" tags there (users `U…`, user groups `S…`); whether questions asked
    there read workspace documents, and which other private channels' documents they also read; and
    whether a question posted there without mentioning the bot is answered.
    """

    __tablename__ = "channel_settings"

    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    experts: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list, server_default="{}")
    sources_workspace: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    source_channels: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list, server_default="{}")
    answer_unmentioned: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    updated_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = _created_at()


class Escalation(Base):
    """A thread where someone asked a teammate; open until a reply there is confirmed as the verified answer."""

    __tablename__ = "escalations"
    __table_args__ = (
        CheckConstraint("status in ('open', 'resolved')", name="ck_escalations_status"),
        Index("uq_escalations_one_open_per_thread", "channel", "thread_ts", unique=True,
              postgresql_where=text("status = 'open'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("answers.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(64))
    thread_ts: Mapped[str] = mapped_column(String(32))
    asker: Mapped[str | None] = mapped_column(String(64))
    requested_by: Mapped[str] = mapped_column(String(64))
    experts: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list, server_default="{}")
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    verified_answer_id: Mapped[int | None] = mapped_column(ForeignKey("verified_answers.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _created_at()
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DocumentNotice(Base):
    """A message for a person about their document (e.g. its page is gone), posted by the bot, then marked sent."""

    __tablename__ = "document_notices"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    recipient: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SlackEvent(Base):
    """A Slack delivery already claimed by some process: the exactly-once guard across workers."""

    __tablename__ = "slack_events"

    dedup_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="claimed", server_default="claimed")
    claimed_at: Mapped[datetime] = _created_at()


class Dataset(Base):
    """A versioned training dataset written to disk with its manifest."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    manifest: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    created_at: Mapped[datetime] = _created_at()


class TrainingRun(Base):
    """One request to retrain and what became of it; the bot reports finished runs back to Slack."""

    __tablename__ = "training_runs"
    __table_args__ = (
        # The queueing lock: at most one queued-or-running run, so overlapping triggers share it.
        Index("uq_training_runs_one_open", text("(true)"), unique=True,
              postgresql_where=text("status IN ('queued', 'running')")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="queued", server_default="queued")
    trigger: Mapped[str] = mapped_column(String(16))  # admin | schedule | cli
    requested_by: Mapped[str | None] = mapped_column(String(64))
    notify_channel: Mapped[str | None] = mapped_column(String(64))
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id"))
    adapter_id: Mapped[int | None] = mapped_column(ForeignKey("adapters.id"))
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    message: Mapped[str | None] = mapped_column(Text)
    report_path: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Refreshed by the owning worker every few seconds while the run executes (revision 0004).
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    progress: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    # Everyone who asked for this run and where to tell them (the first are also requested_by/notify_channel).
    notify_channels: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list, server_default="{}")
    requesters: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list, server_default="{}")
    # Where the bot posted the run's report in Slack: channel, ts and the uploaded chart files (revision 0006).
    report_post: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    # Set by the one process that refreshed the admins' Home tabs after the run finished (revision 0016).
    home_refreshed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ProcessHeartbeat(Base):
    """One running web, socket or worker process and what it really serves, refreshed every few
    seconds (revision 0011); a row not refreshed lately belongs to a dead process and is ignored."""

    __tablename__ = "process_heartbeats"
    __table_args__ = (
        CheckConstraint("kind IN ('web', 'socket', 'worker')", name="ck_process_heartbeats_kind"),
        Index("ix_process_heartbeats_last_seen", "last_seen"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    adapter_id: Mapped[int | None] = mapped_column(BigInteger)  # None: the base model (or no model: a worker)
    adapter_name: Mapped[str | None] = mapped_column(String(128))
    adapter_sha256: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(Text)  # the base model path or served model name
    ranking_model: Mapped[str | None] = mapped_column(Text)  # the ranking model it ranks with (revision 0024)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class UnansweredQuestion(Base):
    """A question the bot gave no answer to: 'busy' (every answering slot taken) or 'failed' (an error)
    (revision 0014). Answered and abstained questions are `answers` rows; these never were."""

    __tablename__ = "unanswered_questions"
    __table_args__ = (
        CheckConstraint("outcome IN ('busy', 'failed')", name="ck_unanswered_questions_outcome"),
        Index("ix_unanswered_questions_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    created_at: Mapped[datetime] = _created_at()
    channel: Mapped[str | None] = mapped_column(String(64))
    asker: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")


class UnitVectors(Base):
    """The embeddings of one chunk's units (sentences, list items, code blocks), kept once a question
    has read them (revision 0017): the evidence and the support check reuse them instead of embedding
    the same units for every question (bot/unit_vector_cache.py)."""

    __tablename__ = "unit_vectors"

    chunk_id: Mapped[int] = mapped_column(ForeignKey("chunks.id", ondelete="CASCADE"), primary_key=True)
    model: Mapped[str] = mapped_column(Text)
    """The embedder that computed the vectors (its `model_name`)."""
    digest: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the unit texts, so a change in how passages are split recomputes the row."""
    count: Mapped[int] = mapped_column(Integer)
    vectors: Mapped[bytes] = mapped_column(LargeBinary)
    """`count` × EMBEDDING_DIM little-endian float16 values, row by row."""
    computed_at: Mapped[datetime] = _created_at()


class RankingVectors(Base):
    """One ranking model's vectors of one chunk (revision 0020; per model since 0022): its embedding input
    and its heading, as float16. The answers re-order the search's top passages by them
    (knowledge/passage_ranking.py)."""

    __tablename__ = "ranking_vectors"
    # The ranking model's own search (revision 0021) orders by inner product with `search`; the index holds
    # the rows of the bundled model's width (a model of another width is searched without it).
    __table_args__ = (
        Index("ix_ranking_vectors_search_hnsw", text(f"(search::halfvec({RANKING_INDEXED_WIDTH}))"),
              postgresql_using="hnsw", postgresql_with={"m": 16, "ef_construction": 128},
              postgresql_ops={"search": "halfvec_ip_ops"},
              postgresql_where=text(f"vector_dims(search) = {RANKING_INDEXED_WIDTH}")),
    )

    chunk_id: Mapped[int] = mapped_column(ForeignKey("chunks.id", ondelete="CASCADE"), primary_key=True)
    model: Mapped[str] = mapped_column(Text, primary_key=True)
    """The ranking model that computed the vectors (its `model_name`); one row per chunk and model
    (revision 0022), so a tuned model's vectors are computed beside the serving model's."""
    passage: Mapped[bytes] = mapped_column(LargeBinary)
    """The chunk's embedding input (title and heading path above the text), little-endian float16."""
    heading: Mapped[bytes] = mapped_column(LargeBinary)
    """The chunk's innermost heading (or its document's title), little-endian float16."""
    search: Mapped[Any] = mapped_column(HALFVEC(), nullable=True)
    """The ranking score's mix of both (revision 0021): its inner product with a question's vector is the
    passage's ranking score. NULL until `kbbot kb rank` computes it for rows stored before."""
    scope: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    """The chunk's scope, copied so the search's scope filter runs inside the index scan (NULL only in rows
    written by code before revision 0021, which have no search vector either until `kbbot kb rank`)."""
    computed_at: Mapped[datetime] = _created_at()


class RankingDeployment(Base):
    """Append-only log of which ranking model serves (revision 0024): the newest row wins; `folder` NULL
    means the model `KB_RANKING_MODEL` configures. Inserts NOTIFY `ranking_model_changed`, so the serving
    processes switch without a restart (bot/ranking_follower.py)."""

    __tablename__ = "ranking_deployments"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    folder: Mapped[str | None] = mapped_column(Text)
    """The sentence-transformers folder of the model served from this entry on (NULL: the configured one)."""
    name: Mapped[str | None] = mapped_column(Text)
    """The model's name as its stored vectors say (`PassageRanker.model_name`: the folder's name)."""
    action: Mapped[str] = mapped_column(String(16))  # deploy | rollback | configured
    actor: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"), nullable=False)
    """What the tuning measured (votes, the gate's figures), for the log and the next run's "anything new?"."""
    created_at: Mapped[datetime] = _created_at()


class HomeViewer(Base):
    """A user who opened the App Home tab, and when they last did (revision 0016): any process can
    then refresh the admins' tabs after a run, whichever process saw them open it."""

    __tablename__ = "home_viewers"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    opened_at: Mapped[datetime] = _created_at()


class LearnedChannel(Base):
    """A Slack channel the bot learns from (`/kb learn`): its threads become documents, kept in sync (revision 0012).

    `scope` follows the documents rule: WORKSPACE_SCOPE for a public channel, the channel id for a
    private one. `trusted_users` / `trusted_groups` (user ids, user group ids), when any, limit the
    replies learned to those people. The backfill walks `conversations.history` from the newest root
    back to `oldest_ts`; `resume_ts` is the oldest root it finished, so a crashed backfill resumes
    there. `status` is active, stopped (`/kb learn stop`), left (the bot left) or deleted.
    """

    __tablename__ = "learned_channels"
    __table_args__ = (
        CheckConstraint("status in ('active', 'stopped', 'left', 'deleted')", name="ck_learned_channels_status"),
    )

    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(Text, default="", server_default="")
    kind: Mapped[str] = mapped_column(String(16))  # public | private
    scope: Mapped[str] = mapped_column(String(64))
    trusted_users: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list, server_default="{}")
    trusted_groups: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list, server_default="{}")
    oldest_ts: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    added_by: Mapped[str | None] = mapped_column(String(64))
    resume_ts: Mapped[str | None] = mapped_column(String(32))
    backfill_done: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    error_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _created_at()


class LearnedThread(Base):
    """One thread of a learned channel and the document built from it (NULL while it has nothing to index).

    `message_ts` / `authors` are the messages the document holds (a deleted message is found by its
    ts; `/kb forget-me` by its author); `reply_count` and `latest_reply` are what `conversations.history`
    said last time, so a re-sync fetches only threads that changed. `dirty_at` is set by events
    (new reply, edit, reaction) and cleared when the thread is rebuilt.
    """

    __tablename__ = "learned_threads"
    __table_args__ = (
        UniqueConstraint("channel", "thread_ts", name="uq_learned_threads_channel_thread"),
        Index("ix_learned_threads_dirty", "dirty_at", postgresql_where=text("dirty_at IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    channel: Mapped[str] = mapped_column(ForeignKey("learned_channels.channel", ondelete="CASCADE"))
    thread_ts: Mapped[str] = mapped_column(String(32))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id", ondelete="SET NULL"), index=True)
    uri: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text, default="", server_default="")
    message_ts: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list, server_default="{}")
    authors: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list, server_default="{}")
    reply_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    latest_reply: Mapped[str | None] = mapped_column(String(32))
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    dirty_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    synced_at: Mapped[datetime] = _created_at()


class ForgottenSlackUser(Base):
    """Someone who asked `/kb forget-me`: messages they wrote are left out of every learned thread."""

    __tablename__ = "forgotten_slack_users"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    requested_at: Mapped[datetime] = _created_at()


class LearnPolicy(Base):
    """Workspace policy of `/kb learn` (one row, id 1): whether channel members, not only admins, may start it."""

    __tablename__ = "learn_policy"
    __table_args__ = (CheckConstraint("id = 1", name="ck_learn_policy_single_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    members_may_learn: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    updated_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = _created_at()
