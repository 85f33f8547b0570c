"""The knowledge base's sections of the configuration tree: ingest limits, search, schedules (entry-side).

`KnowledgeSettings` is read by every process that adds or searches documents (`kbbot kb`, the Slack
bot, the worker's re-fetch); `ScheduleSettings` holds the worker's cron schedules here, beside
`knowledge.schedule`, because the Slack web process shows admins when the next retrain fires and
must read the same variable with the same default. The machinery is `store.config`'s.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from knowledge.embedding import EmbeddingBackend
from knowledge.schedule import DEFAULT_TRAINING_CRON
from store.config import Section, setting


class KnowledgeSettings(Section):
    """Ingest limits and the search mode."""

    heading: ClassVar[str] = "Knowledge base (ingest and search)"

    url_allowlist: str = setting("", "KB_URL_ALLOWLIST", help="comma-separated hosts/CIDRs URL ingest may reach "
                                                              "although private or loopback (SSRF guard)")
    max_document_bytes: int = setting(20 * 1024 * 1024, "KB_MAX_DOCUMENT_BYTES",
                                      help="largest file or download accepted (20 MiB)")
    fetch_timeout_s: float = setting(10.0, "KB_FETCH_TIMEOUT_S", help="URL ingest connect/read timeout")
    embedding_backend: EmbeddingBackend = setting(
        "auto", "KB_EMBEDDING_BACKEND",
        help="`auto` (on a CPU `onnx-int8`, and `torch-bf16` for `kbbot kb add` of a directory or several "
             "sources when the CPU has native bfloat16, AMX or AVX512-BF16; `torch` with CUDA), `torch-bf16` "
             "(sentence-transformers in bfloat16), `onnx-int8` (ONNX Runtime, int8), `onnx` (fp32) or `torch` "
             "(float32); the ONNX ones read the export `make setup` writes under `KB_MODELS_DIR`; speeds and "
             "hit@k in *Ingest speed*")
    search_mode: Literal["vector", "fulltext", "hybrid"] = setting(
        "vector", "KB_SEARCH_MODE", help="`vector`, `fulltext` or `hybrid` (see Retrieval quality); the bot and "
                                         "`kbbot kb search` both read it")

    def allowlist_entries(self) -> list[str]:
        """The allow-list as a list of non-empty host or CIDR strings."""
        return [entry.strip() for entry in self.url_allowlist.split(",") if entry.strip()]


class ScheduleSettings(Section):
    """When the worker retrains and re-fetches (procrastinate cron syntax, UTC; a sixth field gives seconds)."""

    heading: ClassVar[str] = "Schedules (training worker; the web process shows the next retrain)"

    training_cron: str = setting(DEFAULT_TRAINING_CRON, "TRAINING_CRON",
                                 help="when the periodic retrain is requested (Sundays 03:00 UTC by default); set it "
                                      "on the web process too, whose admins' Home tab shows the next one")
    refresh_cron: str = setting("17 * * * *", "KB_REFRESH_CRON",
                                help="when the worker re-fetches URL documents (conditional requests; see "
                                     "*Documents kept fresh*)")
    ranking_cron: str = setting("41 4 * * 0", "TRAINING_RANKING_CRON",
                                help="when the worker tunes the ranking model on the votes given since the last "
                                     "tuning and deploys it if its gate passes (Sundays 04:41 UTC by default; `off` "
                                     "never; see *Tuning the ranking model on votes*)")
