"""The PyTorch backends and `auto` on real passages: bfloat16 embeds like float32, and `auto` picks by the CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from knowledge.cpu_arithmetic import cpu_computes_bf16
from knowledge.embedding import SentenceTransformerEmbedder, make_embedder, resolve_backend

PASSAGES = [
    "Deploys go out from the main branch: run `make deploy` in the repository root and watch the canary "
    "dashboard for ten minutes before promoting.",
    "Database backups run nightly at 02:00 UTC with pg_dump and are kept for thirty days in the backups bucket.",
    "To rotate the API keys, open the vault, create a new key, update the service's secret and revoke the old "
    "key once traffic has moved.",
    "The on-call engineer answers pages within fifteen minutes and hands over every Monday at 10:00.",
    "Socket Mode needs no public URL: set SLACK_APP_TOKEN and run the socket process.",
    "Expense reports are due by the fifth working day of the following month.",
]


def test_bfloat16_vectors_are_float32_unit_vectors_close_to_the_float32_ones(embedder) -> None:
    bf16 = make_embedder("torch-bf16")
    assert isinstance(bf16, SentenceTransformerEmbedder) and bf16.model_name.endswith("(bfloat16)")
    mine = np.array(bf16.embed_documents(PASSAGES))
    reference = np.array(embedder.embed_documents(PASSAGES))
    assert mine.shape == reference.shape == (len(PASSAGES), 384)
    assert np.allclose(np.linalg.norm(mine, axis=1), 1.0, atol=1e-5)  # normalised in float32
    cosines = (mine * reference).sum(axis=1)
    assert cosines.min() >= 0.995, cosines.min()
    question = "How do I run the Slack bot in Socket Mode?"
    assert float(np.dot(bf16.embed_query(question), embedder.embed_query(question))) >= 0.995
    scores = mine @ np.array(bf16.embed_query(question))
    ranked = np.argsort(-scores)
    assert ranked[0] == 4 and scores[ranked[0]] - scores[ranked[1]] > 0.1  # the Socket Mode passage, clearly
    assert bf16.embed_documents([]) == []


def test_auto_is_int8_for_answering_and_bf16_for_a_bulk_ingest_on_a_cpu_that_computes_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import knowledge.cpu_arithmetic as arithmetic
    import knowledge.embedding as embedding

    assert resolve_backend("onnx") == "onnx" and resolve_backend("torch", bulk=True) == "torch"
    monkeypatch.setattr(embedding, "_cuda_available", lambda: False)
    assert resolve_backend("auto") == "onnx-int8"
    assert resolve_backend("auto", bulk=True) == ("torch-bf16" if cpu_computes_bf16() else "onnx-int8")
    monkeypatch.setattr(arithmetic, "cpu_computes_bf16", lambda: False)
    assert resolve_backend("auto", bulk=True) == "onnx-int8"
    monkeypatch.setattr(arithmetic, "cpu_computes_bf16", lambda: True)
    assert resolve_backend("auto", bulk=True) == "torch-bf16" and resolve_backend("auto") == "onnx-int8"
    monkeypatch.setattr(embedding, "_cuda_available", lambda: True)
    assert resolve_backend("auto") == resolve_backend("auto", bulk=True) == "torch"


def test_answering_on_auto_without_a_gpu_driver_does_not_import_torch() -> None:
    import subprocess
    import sys

    probe = ("import sys; from knowledge.embedding import resolve_backend; backend = resolve_backend('auto'); "
             "print(backend, 'torch' in sys.modules)")
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    if Path("/proc/driver/nvidia/version").exists():
        pytest.skip("an NVIDIA driver is present: auto asks PyTorch whether CUDA works")
    assert shown == ["onnx-int8", "False"]


def test_parallel_encoders_give_the_same_vectors_in_the_same_order_on_several_threads(
        embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import torch

    texts = [passage[:length] for passage in PASSAGES for length in (12, 60, 400)] + ["", "x"]
    parallel = SentenceTransformerEmbedder(batch_size=4, encoders=2)
    threads: set[str] = set()
    forward = type(parallel._model).forward

    def recording_forward(model, *args, **kwargs):
        if model is parallel._model:
            threads.add(threading.current_thread().name)
        return forward(model, *args, **kwargs)

    monkeypatch.setattr(type(parallel._model), "forward", recording_forward)
    threads_before = torch.get_num_threads()
    mine = np.array(parallel.embed_documents(texts))
    reference = np.array(embedder.embed_documents(texts))
    assert mine.shape == reference.shape == (len(texts), 384)
    assert (mine * reference).sum(axis=1).min() >= 0.9999  # same text, same row
    assert np.allclose(np.linalg.norm(mine, axis=1), 1.0, atol=1e-5)
    assert len(threads) == 2 and all(name.startswith("embedding-encoder") for name in threads), threads
    assert torch.get_num_threads() == threads_before  # PyTorch's own threads are given back
    threads.clear()
    assert np.allclose(parallel.embed_documents(texts[:3]), embedder.embed_documents(texts[:3]), atol=1e-5)
    assert threads == {threading.current_thread().name}  # one batch or less: encoded on the caller's thread
    with pytest.raises(ValueError, match="encoders must be at least 1"):
        SentenceTransformerEmbedder(encoders=0)


def test_a_bulk_ingest_on_a_cpu_gets_one_encoder_per_core_and_answering_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import knowledge.embedding as embedding
    from knowledge.embedding import bulk_encoders, encoder_threads

    monkeypatch.setattr(embedding, "_cuda_available", lambda: False)
    monkeypatch.setattr(embedding.os, "sched_getaffinity", lambda _pid: {0, 1, 2}, raising=False)
    assert bulk_encoders() == 3
    assert encoder_threads("torch-bf16", bulk=True) == encoder_threads("torch", bulk=True) == 3
    assert encoder_threads("torch-bf16", bulk=False) == encoder_threads("onnx-int8", bulk=True) == 1
    monkeypatch.setattr(embedding.os, "sched_getaffinity", lambda _pid: set(range(64)), raising=False)
    assert bulk_encoders() == 8  # capped
    bulk = make_embedder("torch", bulk=True)
    assert isinstance(bulk, SentenceTransformerEmbedder) and bulk.encoders == 8 and bulk.batch_size == 16
    monkeypatch.setattr(embedding, "_cuda_available", lambda: True)  # a GPU runs one batch at a time
    assert encoder_threads("torch-bf16", bulk=True) == 1
