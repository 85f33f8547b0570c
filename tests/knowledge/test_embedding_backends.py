"""The PyTorch backends and `auto` on real passages: bfloat16 embeds like float32, and `auto` picks by the CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from knowledge.chunking import chunk_document, embedding_input
from knowledge.cpu_arithmetic import cpu_computes_bf16
from knowledge.embedding import SentenceTransformerEmbedder, make_embedder, resolve_backend

REPO_ROOT = Path(__file__).resolve().parents[2]


def _passages() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    return [embedding_input("README", chunk.heading, chunk.text) for chunk in chunk_document(text, fmt="markdown")][:32]


def test_bfloat16_vectors_are_float32_unit_vectors_close_to_the_float32_ones(embedder) -> None:
    passages = _passages()
    bf16 = make_embedder("torch-bf16")
    assert isinstance(bf16, SentenceTransformerEmbedder) and bf16.model_name.endswith("(bfloat16)")
    mine = np.array(bf16.embed_documents(passages))
    reference = np.array(embedder.embed_documents(passages))
    assert mine.dtype == np.float64 and mine.shape == reference.shape == (len(passages), 384)
    assert np.allclose(np.linalg.norm(mine, axis=1), 1.0, atol=1e-3)
    cosines = (mine * reference).sum(axis=1)
    assert cosines.min() >= 0.995, cosines.min()
    query = "How do I run the Slack bot in Socket Mode?"
    assert float(np.dot(bf16.embed_query(query), embedder.embed_query(query))) >= 0.995
    # the nearest passage to the question is the same under both
    assert int(np.argmax(mine @ np.array(bf16.embed_query(query)))) == int(
        np.argmax(reference @ np.array(embedder.embed_query(query))))


def test_auto_is_int8_for_answering_and_bf16_for_a_bulk_ingest_on_a_cpu_that_computes_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import knowledge.cpu_arithmetic as arithmetic

    assert resolve_backend("onnx") == "onnx" and resolve_backend("torch", bulk=True) == "torch"
    if torch.cuda.is_available():
        assert resolve_backend("auto") == resolve_backend("auto", bulk=True) == "torch"
        return
    assert resolve_backend("auto") == "onnx-int8"
    assert resolve_backend("auto", bulk=True) == ("torch-bf16" if cpu_computes_bf16() else "onnx-int8")
    monkeypatch.setattr(arithmetic, "cpu_computes_bf16", lambda: False)
    assert resolve_backend("auto", bulk=True) == "onnx-int8"
    monkeypatch.setattr(arithmetic, "cpu_computes_bf16", lambda: True)
    assert resolve_backend("auto", bulk=True) == "torch-bf16" and resolve_backend("auto") == "onnx-int8"
