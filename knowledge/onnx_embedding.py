"""Sentence embeddings through ONNX Runtime (adapter): the fast backends of `KB_EMBEDDING_BACKEND`.

Runs the graph `knowledge.onnx_export` wrote at setup (encoder + mean pooling + normalisation) with
the model's own `tokenizer.json` through `tokenizers`, so embedding needs neither torch nor
sentence-transformers at run time. Texts are tokenized once, sorted by length and run in batches of
similar lengths (little padding), then put back in their order, as sentence-transformers does.

The export is checked before use: a missing folder, a marker naming another model, a file whose
size or sha256 differs from the marker's, or a graph ONNX Runtime cannot load each raise
`OnnxModelError` with the fix (`make setup`). ONNX Runtime sessions are safe to run from several
threads at once, so no lock is taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from knowledge.file_digest import file_sha256
from knowledge.onnx_export import (
    FP32_FILE,
    INT8_FILE,
    ONNX_SETUP_HINT,
    TOKENIZER_FILE,
    ExportedFile,
    read_marker,
)
from store.schema import EMBEDDING_DIM


class OnnxModelError(RuntimeError):
    """The ONNX export is missing, stale or damaged; the message names the file and the fix."""


class OnnxEmbedder:
    """Embeds with an exported sentence-embedding graph, fp32 or dynamic int8.

    Args:
        folder: the export folder (`knowledge.onnx_export.onnx_dir(models_dir)`).
        quantized: use the int8 graph (faster; cosine ≥ 0.98 to the fp32 vectors on real passages).
        expected_source: the model the caller configured (`describe_source`); None skips the check.
        batch_size: texts per ONNX Runtime call.
        threads: ONNX Runtime intra-op threads (0: its default, one per physical core).
        width: the vector width the graph must emit (the schema's); None accepts any (the ranking
            model's query side, knowledge/passage_ranking.py).

    Raises:
        OnnxModelError: see the module docstring.
    """

    def __init__(self, folder: Path, *, quantized: bool, expected_source: str | None = None, batch_size: int = 32,
                 threads: int = 0, width: int | None = EMBEDDING_DIM) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        folder = Path(folder)
        marker = read_marker(folder)
        if marker is None:
            raise OnnxModelError(f"no ONNX embedding model at {folder}: {ONNX_SETUP_HINT}")
        if expected_source is not None and marker.source != expected_source:
            raise OnnxModelError(f"the ONNX embedding model at {folder} was exported from {marker.source}, "
                                 f"not the configured {expected_source}: {ONNX_SETUP_HINT}")
        graph = INT8_FILE if quantized else FP32_FILE
        for name in (graph, TOKENIZER_FILE):
            _check_file(folder / name, marker.files.get(name))
        self.model_name = f"{marker.source} ({graph})"
        self.batch_size = batch_size
        self._max_tokens = marker.max_seq_length
        self._input_names = marker.input_names
        self._pad_id = marker.pad_token_id
        options = onnxruntime.SessionOptions()
        if threads > 0:
            options.intra_op_num_threads = threads
        # Idle worker threads sleep rather than spin: on shared cores a spinning thread takes the CPU
        # that the ingest pipeline's preparing thread and Postgres need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = onnxruntime.InferenceSession(str(folder / graph), options,
                                                         providers=["CPUExecutionProvider"])
            self._tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types; all mean the same here
            raise OnnxModelError(f"{folder / graph} cannot be loaded ({exc}): {ONNX_SETUP_HINT}") from exc
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(self._max_tokens)
        emitted = self._session.get_outputs()[0].shape[-1]
        if width is not None and emitted != width:
            raise OnnxModelError(f"{folder / graph} emits {emitted} dims; the schema stores {width}")
        self._width = int(emitted)

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(encodings)), key=lambda index: len(encodings[index].ids))
        vectors = np.empty((len(encodings), self._width), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            vectors[batch] = self._run([encodings[index] for index in batch])
        return vectors.tolist()

    def _run(self, encodings: list) -> np.ndarray:
        """One padded batch through the graph (the last batch is as long as its longest text)."""
        width = max(len(encoding.ids) for encoding in encodings)
        ids = np.full((len(encodings), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            length = len(encoding.ids)
            ids[row, :length] = encoding.ids
            mask[row, :length] = 1
            types[row, :length] = encoding.type_ids
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        return self._session.run(None, {name: feeds[name] for name in self._input_names})[0]


def _check_file(path: Path, recorded: ExportedFile | None) -> None:
    """Refuse a file that is absent or differs from what the export wrote (a partial copy, a bad disk)."""
    if not path.is_file():
        raise OnnxModelError(f"{path} is missing: {ONNX_SETUP_HINT}")
    if recorded is None:
        raise OnnxModelError(f"{path} is not listed in the export's marker: {ONNX_SETUP_HINT}")
    if path.stat().st_size != recorded.size or file_sha256(path) != recorded.sha256:
        raise OnnxModelError(f"{path} is damaged (it differs from the file the export wrote): {ONNX_SETUP_HINT}")
