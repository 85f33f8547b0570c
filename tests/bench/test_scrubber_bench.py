"""The scrubber bench aligns placeholders with what they replaced, scores hand-checked cases, and runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.scrubber import CORPUS, Line, evaluate, load_corpus, main, old_scrub, replaced_regions
from knowledge.scrubbing import Finding


def test_placeholders_align_with_the_stretches_they_replaced() -> None:
    original = "call 415-555-0134 or mail dana@example.com now"
    assert replaced_regions(original, "call <PHONE> or mail <EMAIL> now") == [
        Finding(5, 17, "phone"), Finding(26, 42, "email")]
    assert replaced_regions(original, original) == []
    with pytest.raises(ValueError, match="does not align"):
        replaced_regions(original, "call <PHONE> or write to <EMAIL> now")


def test_a_fragment_left_behind_is_a_leak_and_a_wrongly_typed_region_a_false_positive() -> None:
    text = "card 4111 1111 1111 1111"
    assert old_scrub(text) == "card <PHONE> 1111"
    figures = evaluate(old_scrub, [Line(text, (Finding(5, 24, "card"),))])
    assert figures["kinds"]["card"] == {"labels": 1, "detected": 0, "leaked": 1, "predicted": 0, "correct": 0,
                                        "precision": 1.0, "recall": 0.0}
    assert figures["kinds"]["phone"]["predicted"] == 1 and figures["kinds"]["phone"]["precision"] == 0.0
    assert figures["mistakes"] == [{"text": text, "scrubbed": "card <PHONE> 1111"}]


def test_the_corpus_labels_what_its_text_says() -> None:
    rows = [json.loads(raw) for raw in CORPUS.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 150
    assert all(row["text"][s["start"]:s["end"]] == s["value"] for row in rows for s in row["spans"])
    kinds = {s["kind"] for row in rows for s in row["spans"]}
    assert {"phone", "card", "iban", "ssn", "email", "slack_token", "api_key", "secret", "jwt",
            "private_key"} <= kinds
    assert sum(not row["spans"] for row in rows) >= 50


def test_the_bench_runs_on_a_slice_and_writes_its_figures(tmp_path: Path) -> None:
    out = tmp_path / "scrubber.json"
    main(["--limit", "30", "--repeats", "1", "--out", str(out)])
    results = json.loads(out.read_text())
    assert results["lines"] == 30 == len(load_corpus(limit=30))
    assert set(results["scrubbers"]) == {"old", "new"}
    new = results["scrubbers"]["new"]["overall"]
    assert 0.0 <= new["precision"] <= 1.0 and new["labels"] == sum(results["labels"].values())
    assert all(ms > 0 for ms in results["ms_per_10k_chars"].values())
