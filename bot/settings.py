"""The answering process's sections of the configuration tree: generation and answering (entry-side).

`BotSettings` is what an answering process (`kbbot ask`, the Slack web and socket processes) reads:
the shared sections of `store.config` (database, logging, models), the knowledge base's
(`knowledge.settings`) and the two defined here. Only an entry point constructs it; `bot.runtime`
turns it into live parts. Defaults of the answering tunables were chosen with bench/quality.py
(README, "Answer quality"); the 135M default model measured 12.0 tokens/s on 1 torch thread vs 9.6
on 2 (bench/answer_latency.py), hence `KB_TORCH_THREADS=1`.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from knowledge.settings import KnowledgeSettings
from store.config import DatabaseSettings, LoggingSettings, ModelsSettings, Section, setting


class GenerationSettings(Section):
    """How the bot runs its generator: backend, admission gate, CPU threads, repetition control."""

    heading: ClassVar[str] = "Generation (answering processes)"

    backend: Literal["transformers", "openai"] = setting(
        "transformers", "KB_GENERATOR_BACKEND",
        help="`transformers` (in process), or `openai` to call a vLLM/OpenAI-compatible server (each adapter "
             "version served under its own model name)")
    openai_base_url: str = setting("", "KB_OPENAI_BASE_URL", help="server URL for the `openai` backend")
    openai_model: str = setting("", "KB_OPENAI_MODEL", help="model name of the base model on that server")
    openai_api_key: str = setting("", "KB_OPENAI_API_KEY", help="API key for that server, if it wants one",
                                  secret=True)
    openai_context_window: int = setting(0, "KB_OPENAI_CONTEXT_WINDOW",
                                         help="context length of the served model when the server's /v1/models does "
                                              "not report it (vLLM does: `max_model_len`); 0: the server must say")
    max_concurrent: int = setting(1, "KB_MAX_CONCURRENT_GENERATIONS",
                                  help="the model's admission gate: generations at once; beyond it and the waiting "
                                       "ones \"busy, try again\" (in Slack: the evidence alone, saying the model "
                                       "was busy; Slack writes summaries on this many + the waiting threads)")
    max_waiting: int = setting(8, "KB_MAX_WAITING_GENERATIONS", help="generations allowed to wait for the gate")
    summary_nice: int = setting(0, "KB_SUMMARY_NICE",
                                help="how much lower the CPU priority (nice) of the Slack threads writing summaries, "
                                     "and of the generation they run, is, so the next questions' evidence gets the "
                                     "cores first (Linux; 0: same priority; not shown to help on 2 cores, see "
                                     "*Throughput under a burst*)")
    evidence_first_pause_s: float = setting(
        5.0, "KB_EVIDENCE_FIRST_PAUSE_S",
        help="the most seconds one in-process generation pauses in all, before its prompt and between tokens, "
             "while questions wait for their quoted evidence, and the most a shown answer's record and final "
             "blocks wait for them (0: never pauses); see *Throughput under a burst*")
    prefill_chunk_tokens: int = setting(
        0, "KB_PREFILL_CHUNK_TOKENS",
        help="while pausing is on (`KB_EVIDENCE_FIRST_PAUSE_S` above 0), read the in-process model's prompt in "
             "pieces of this many tokens and let it pause between them too (0: the prompt in one pass; measured, "
             "not better under a burst on 2 cores, see *Throughput under a burst*)")
    torch_threads: int = setting(1, "KB_TORCH_THREADS",
                                 help="CPU threads for generation (0: torch's default); the 135M default is fastest "
                                      "on 1, raise it for large CPU models")
    quantize: Literal["auto", "none", "int8", "int8-all"] = setting(
        "auto", "KB_GENERATION_QUANTIZE",
        help="`int8`: dynamic int8 MLP and output-head layers of the in-process model on CPU; `int8-all`: the "
             "attention projections too, kept adapter-ready (LoRA adapters still attach); `auto`: int8-all on a "
             "CPU, none on a GPU; see *Generation speed*")
    repetition_penalty: float = setting(1.15, "KB_REPETITION_PENALTY",
                                        help="keeps greedy decoding on small models from looping; applied to "
                                             "generated tokens only, so the passages' words stay free to copy")
    no_repeat_ngram_size: int = setting(4, "KB_NO_REPEAT_NGRAM_SIZE",
                                        help="no generated n-gram of this size repeats (generated tokens only)")
    adapter_poll_interval_s: float = setting(5.0, "KB_ADAPTER_POLL_INTERVAL_S",
                                             help="how often the adapter and ranking-model followers re-read "
                                                  "their registries besides LISTEN/NOTIFY")

    @property
    def places(self) -> int:
        """Generations the admission gate holds at once, running plus waiting: where Slack's summaries run."""
        return self.max_concurrent + self.max_waiting


class AnsweringSettings(Section):
    """Retrieval depth, abstention thresholds and the summary of an answer.

    Declared here rather than generated from `AnsweringConfig`/`AbstentionConfig` (as the training
    section is from its dataclasses): importing the answer engine would bring scikit-learn into every
    `kbbot --help`. tests/kbbot/test_settings.py keeps each default equal to the engine's own.
    """

    heading: ClassVar[str] = "Answering (answering processes)"

    passages: int = setting(5, "KB_ANSWER_PASSAGES", help="passages retrieved (the answer's sources)")
    rerank_depth: int = setting(20, "KB_RERANK_DEPTH",
                                help="how many of the search's top passages are re-ordered (by the ranking model "
                                     "and their best-matching sentence) before the answer's sources are taken (0: "
                                     "the search's order) — see *Answer quality*")
    rerank_unit_weight: float = setting(0.5, "KB_RERANK_UNIT_WEIGHT",
                                        help="re-ranking: weight of a passage's best sentence score against the "
                                             "passage's own")
    ranking_search: int = setting(10, "KB_RERANK_RANKING_SEARCH",
                                  help="how many passages the ranking model's own search adds to the search's "
                                       "top passages before they are re-ordered (0: none) — see *Answer quality*")
    ranking_max_waiting: int = setting(1, "KB_RANKING_MAX_WAITING",
                                       help="the ranking model re-orders a question's passages only while at most "
                                            "this many questions (it included) wait for their evidence in this "
                                            "process and its siblings (1: no other question waits); above, the "
                                            "best-sentence order, so a burst's evidence stays within a second (see "
                                            "*Throughput under a burst*)")
    min_score: float = setting(0.36, "KB_ANSWER_MIN_SCORE",
                               help="abstention: least relevance (mean of the best passage's similarity and the "
                                    "best evidence sentence's score) — see *Answer quality*")
    unknown_score: float = setting(0.46, "KB_ANSWER_UNKNOWN_SCORE",
                                   help="abstention: least relevance when the question names something no "
                                        "document mentions")
    loose_margin: float = setting(0.06, "KB_ANSWER_LOOSE_MARGIN",
                                  help="an answer whose relevance clears its bar by less than this shows a line "
                                       "above its evidence saying the documents match the question only loosely "
                                       "(0: never) — see *Answer quality*")
    min_coverage: float = setting(0.0, "KB_ANSWER_MIN_COVERAGE",
                                  help="abstention: least share of the question's key terms in the top passages "
                                       "(0: off)")
    max_new_tokens: int = setting(128, "KB_ANSWER_MAX_NEW_TOKENS", help="longest generated summary, in tokens")
    summary: bool = setting(True, "KB_ANSWER_SUMMARY",
                            help="false: answer with the quoted evidence alone, never calling the model")
    timeout_s: float = setting(120.0, "KB_ANSWER_TIMEOUT_S", help="generation time limit of one answer")
    unit_vector_cache: bool = setting(True, "KB_ANSWER_UNIT_VECTOR_CACHE",
                                      help="keep the vectors of passages' sentences in the database once a question "
                                           "has embedded them (false: embed them for every question)")


class BotSettings(BaseModel):
    """The branch of the configuration tree an answering process reads, one section per field.

    `BotSettings()` reads every section from the environment; a test passes the sections it changes.
    """

    model_config = ConfigDict(frozen=True)

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    models: ModelsSettings = Field(default_factory=ModelsSettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    answering: AnsweringSettings = Field(default_factory=AnsweringSettings)
