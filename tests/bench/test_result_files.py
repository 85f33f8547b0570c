"""Benches write their result JSON and its table through bench/readme_tables.py, the README blocks' renderer.

No model or database: the renderers get hand-made figures shaped as the scripts write them (the
smoke runs of bench.search_scale, bench.answer_latency and bench.slack_ack), or the committed results.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import quality
from bench.readme_tables import RENDERERS, RESULTS, render, write_result
from bench.search_scale import _hnsw_operator_class

MACHINE = {"cores": 2, "python": "3.11.7", "load_average_at_start": [1.5, 1.2, 1.0],
           "load_average_at_end": [2.25, 1.4, 1.1]}


def _query(filter_name: str, ef_search: int | None, p50_ms: float) -> dict[str, Any]:
    return {"filter": filter_name, "ef_search": ef_search, "p50_ms": p50_ms, "p95_ms": 2 * p50_ms,
            "recall_at_10": 0.999, "rows_returned": 10, "postgres_rss_mb": 665}


def _search_scale(ef_values: list[int | None]) -> dict[str, Any]:
    return {"settings": {"sizes": [100000], "queries": 200, "m": 16, "ef_construction": 128, "ef_search": ef_values},
            "machine": MACHINE,
            "sizes": [{"rows": 100000, "copy_rows_per_s": 4232, "index_build_s": 25.31,
                       "queries": [_query(name, ef, 3.85) for name in ("none", "1 chan", "ws+chan")
                                   for ef in ef_values]}],
            "ingest": {"embedder": "all-MiniLM-L6-v2 on PyTorch (SentenceTransformerEmbedder)", "chunks": 120,
                       "seconds": 13.0, "chunks_per_s": 9.2, "chars_per_s": 7300, "process_rss_mb": 892}}


def test_write_result_writes_the_json_then_the_readme_rendering_beside_it(tmp_path: Path) -> None:
    figures = json.loads((RESULTS / "observability_cost.json").read_text())
    path = write_result("observability_cost", figures, tmp_path / "observability_cost.json")
    assert json.loads(path.read_text()) == figures
    assert path.with_suffix(".md").read_text() == render("observability_cost") == render("observability_cost",
                                                                                          tmp_path)


def test_a_renderer_failing_on_new_figures_loses_no_run(tmp_path: Path) -> None:
    path = tmp_path / "smoke.json"
    with pytest.raises(KeyError):
        write_result("observability_cost", {"records": 10}, path)
    assert json.loads(path.read_text()) == {"records": 10}
    assert not path.with_suffix(".md").exists()


def test_search_scale_shows_every_size_and_filter_with_its_same_run_recall() -> None:
    rendered = RENDERERS["search_scale"](_search_scale([None]))
    assert "| 100,000 | 4,232 | 25.3 s | none | 3.85 | 7.70 | 0.999 | 10.0 | 665 MB |" in rendered
    assert "|  |  |  | ws+chan | 3.85 |" in rendered
    assert "ef_search" not in rendered, "the column shows only when --ef-search set values"
    assert "200 queries per filter; HNSW m 16, ef_construction 128; on 2 cores (1-minute load average 1.50 at " \
           "the start, 2.25 at the end)." in rendered
    assert "120 chunks at 9.2 chunks/s (7,300 characters/s)" in rendered
    with_ef = RENDERERS["search_scale"](_search_scale([64, 128]))
    assert "| 100,000 | 4,232 | 25.3 s | none | 64 | 3.85 |" in with_ef
    assert "|  |  |  | none | 128 | 3.85 |" in with_ef


def test_answer_latency_shows_pipeline_and_bare_generate_per_thread_setting() -> None:
    def side(first_token_s: float, tokens_per_s: float) -> dict[str, Any]:
        return {"first_token_s": first_token_s, "tokens_per_s": tokens_per_s, "tokens": 149, "runs": []}

    setting = {"pipeline": {**side(1.2, 12.0), "first_text_s": 0.35, "outside_generation_s": 0.41,
                            "end_to_end_s": 13.5},
               "bare_generate": side(1.1, 12.1), "first_token_ratio": 1.091, "tokens_per_s_ratio": 0.992,
               "projected_answer_s": 14.03}
    rendered = RENDERERS["answer_latency"]({
        "settings": {"runs": 3, "max_new_tokens": 150, "threads": [1]}, "machine": MACHINE, "model_load_s": 0.8,
        "prompt_tokens": 336, "rss_mb": {"added": 914, "process": 1220}, "threads": {"1": setting}})
    assert ("| 1 | 0.35 s | 1.20 s / 1.10 s | ×1.09 | 12.0 / 12.1 | ×0.99 | 0.41 s | 13.5 s (149 tokens) | 14.0 s |"
            in rendered)
    assert "projected 150-token answer" in rendered
    assert "RSS 914 MB added by the embedder and generator, process 1,220 MB; on 2 cores" in rendered


def test_slack_ack_renders_the_ack_rows_when_the_result_holds_them() -> None:
    committed = json.loads((RESULTS / "slack_ack.json").read_text())
    if "acks" not in committed:  # written before the script recorded acks: rendered as it was
        assert "ack of" not in RENDERERS["slack_ack"](committed)
    acks = {"concurrency": 4, "non_200": 0, "generation_running_at_last_ack": True,
            "event": {"requests": 100, "p50_ms": 40.7, "p99_ms": 211.0, "max_ms": 230.2},
            "command": {"requests": 100, "p50_ms": 21.9, "p99_ms": 35.9, "max_ms": 40.0},
            "all": {"requests": 200, "p50_ms": 31.9, "p99_ms": 92.3, "max_ms": 230.2}}
    rendered = RENDERERS["slack_ack"]({"answers": committed["answers"], "acks": acks, "machine": MACHINE,
                                        "settings": {"workers": 1, "threads": 8}})
    assert "| signed events (reactions, channel chatter) | 100 | 40.7 ms | 211.0 ms | 230.2 ms |" in rendered
    assert "| all | 200 | 31.9 ms | 92.3 ms | 230.2 ms |" in rendered
    assert "Non-200 acks: 0 of 200, sent 4 at a time; the generation was still running" in rendered
    assert rendered.endswith("questions, gunicorn 1 gthread worker(s) × 8 threads, on 2 cores (1-minute load "
                             "average 1.50 at the start, 2.25 at the end).")


def test_quality_writes_its_table_with_the_readme_renderer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quality, "plot_results", lambda results, path: None)
    quality.write_results(json.loads((RESULTS / "quality.json").read_text()), [{"question": "q"}], tmp_path)
    assert (tmp_path / "quality.md").read_text() == render("quality")
    assert (tmp_path / "quality_answers.jsonl").read_text() == '{"question": "q"}\n'


def test_search_scale_builds_the_index_store_schema_declares() -> None:
    assert _hnsw_operator_class() == "halfvec_cosine_ops"


def test_unit_vector_cache_shows_each_way_beside_the_baseline() -> None:
    figures = {"corpus": "faq", "embedding_backend": "onnx-int8", "questions": 40, "same_evidence_all_ways": 39,
               "ways": {"embedded every question (before)": {"wall_ms_p50": 150.0, "wall_ms_p95": 210.0,
                                                             "cpu_ms_p50": 240.0, "x_baseline": 1.0},
                        "read back": {"wall_ms_p50": 30.0, "wall_ms_p95": 41.0, "cpu_ms_p50": 28.0,
                                      "x_baseline": 0.2}},
               "stored_for_all_questions": {"chunks": 100, "units": 1000, "table_bytes": 1024 * 1024},
               "machine": {"cores": 2, "python": "3.11.7", "load_average_at_start": [1.0, 1.0, 1.0],
                           "load_average_at_end": [1.0, 1.0, 1.0]}}
    rendered = RENDERERS["unit_vector_cache"](figures)
    assert "| read back | 30.0 ms | 41.0 ms | 28.0 ms | ×0.20 |" in rendered
    assert "100 chunks, 1000 units, 1,024 KiB with indexes (1,049 bytes a unit)" in rendered
    assert "the same evidence the first three ways for 39 of 40." in rendered
    figures["evidence_changed_by_the_reranking"] = 11
    assert "for 39 of 40, and the re-ranking changed it for 11." in RENDERERS["unit_vector_cache"](figures)


def test_generation_speed_shows_decoding_alone_when_measured() -> None:
    row = {"tokens_per_s": 18.8, "tokens_per_s_ratio": 1.47, "decode_alone_tokens_per_s": 24.0,
           "decode_alone_ratio": 1.71, "decode_alone_prompts": 10, "ttft_median_s": 1.22, "ttft_ratio": 0.63,
           "f1_published": 0.657, "f1_raw_generation": 0.159, "questions_with_baseline_f1": 14, "questions": 40,
           "invented_specifics": 0}
    figures = {"variants": {"int8-all": row}, "answered_questions": 40, "questions": ["q"] * 40, "decode_tokens": 48}
    rendered = RENDERERS["generation_speed_int8_all"](figures)
    assert "| int8-all | 18.8 | ×1.47 | 24.0 | ×1.71 | 1.22 | ×0.63 |" in rendered
    assert "the median over 10 of those prompts, 48 tokens forced" in rendered
    old = {key: value for key, value in row.items() if not key.startswith("decode_alone")}
    assert "decoding alone" not in RENDERERS["generation_speed"]({**figures, "variants": {"int8": old}})


def test_unit_vector_herd_shows_single_flight_beside_the_baseline_of_the_same_run() -> None:
    figures = json.loads((RESULTS / "unit_vector_herd.json").read_text())
    rendered = RENDERERS["unit_vector_herd"](figures)
    baseline, single_flight = rendered.splitlines()[2:4]
    assert baseline.startswith("| each question embeds (before) |") and "| ×1.00 |" in baseline
    assert single_flight.startswith("| single-flight |")
    assert f"{figures['rounds']} waves of {figures['wave']} FAQ test paraphrases" in rendered


def test_repeated_sections_shows_each_text_once_beside_every_copy_of_the_same_run() -> None:
    from bench.repeated_sections import is_answer

    assert is_answer("npm-install › Configuration › `ignore-scripts`", "ignore-scripts")
    assert not is_answer("npm-install › Configuration › `ignore-scripts`", "scripts")
    figures = json.loads((RESULTS / "repeated_sections.json").read_text())
    rows = RENDERERS["repeated_sections"](figures).splitlines()
    assert rows[2].startswith("| every copy (before) |") and rows[3].startswith("| each text once |")
    assert f"{figures['questions']} questions over npm's docs" in rows[5]


def test_new_docs_counts_each_answerable_question_once_and_judges_sections_by_file_and_heading() -> None:
    from bench.new_docs import is_gold, load_questions
    from store.types import Passage

    questions = load_questions()
    answerable = [q for q in questions if q["gold"]]
    assert (len(questions), len(answerable)) == (43, 35)
    assert all(set(g) == {"file", "heading"} for q in answerable for g in q["gold"])

    def passage(uri: str, heading: str) -> Passage:
        return Passage(chunk_id=1, document_id=1, title="t", uri=uri, heading=heading, text="x", score=0.5,
                       scope="workspace")

    gold = [{"file": "topics/caching.md.gz", "heading": "Where"}]
    assert is_gold(passage("file:///d/topics/caching.md.gz", "Caching › where is the cache stored"), gold)
    assert not is_gold(passage("file:///d/topics/caching.md.gz", "Caching › What is cached"), gold)
    assert not is_gold(passage("file:///d/topics/caching.md", "Caching › Where"), gold), "the file must match"
    figures = json.loads((RESULTS / "new_docs.json").read_text())
    answers = figures["answers"]
    assert answers["answered"] + answers["abstained"] == figures["answerable"] == 35
    assert answers["right_quoted"] + answers["wrong_only"] == answers["answered"]
    assert answers["unanswerable_refused"] + answers["unanswerable_answered"] == figures["unanswerable"] == 8
    assert set(figures["retrieval"]) == {"top 20 re-ranked by the ranking model and best unit (shipped)",
                                         "top 10 re-ranked by the ranking model and best unit (before the top 20)",
                                         "top 10 re-ranked by best unit (before the ranking model)",
                                         "first stage (before the re-ranking)"}
    assert figures["ranking_model"]["chunks"] > 0 and figures["ranking_model"]["model"] == "all-mpnet-base-v2"
