"""One-time export of the sentence-embedding model to ONNX, fp32 and dynamic int8 (setup step).

`KB_EMBEDDING_BACKEND=onnx|onnx-int8` embeds with ONNX Runtime (knowledge/onnx_embedding.py), which
measured faster than PyTorch on 2 CPU cores (bench/ingest_speed.py). The model is exported from the
very weights the torch backend loads (the bundled all-MiniLM-L6-v2, or `KB_EMBEDDING_MODEL`), never
downloaded: `make setup` runs this once, and later runs see the marker and return at once.

What is exported: the transformer *and* sentence-transformers' mean pooling and L2 normalisation,
so the graph's output is the finished sentence vector and the runtime needs only a tokenizer and
ONNX Runtime (no torch). Models whose sentence-transformers pipeline is not transformer → mean
pooling → normalise are refused with a message pointing at the torch backend.

The int8 file is `onnxruntime.quantization.quantize_dynamic` with per-channel weight scales
(per-tensor scales measured cosine 0.90 min to the PyTorch vectors on FAQ passages), the
feed-forward output projections left fp32 (`_quantize` says why). Why torch.onnx and not
optimum: `optimum-onnx` pins transformers 4.x, which conflicts with this project's transformers 5.

Files are written into a temporary sibling folder, described by a marker (source fingerprint and
each file's size and sha256, checked when a session loads them) and renamed into place under a file
lock, so a killed export leaves nothing that looks complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from knowledge.file_digest import file_sha256
from knowledge.file_lock import exclusive_lock

logger = logging.getLogger(__name__)

ONNX_FOLDER_NAME = "embedding-onnx"
"""Folder under the models folder (`KB_MODELS_DIR`, default var/models) that holds the export."""
FP32_FILE = "model.onnx"
INT8_FILE = "model-int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
MARKER_FILE = "kbbot-onnx-export.json"
OPSET = 17
RECIPE = 3
"""Version of the export recipe; a marker with another one is exported again (2: eager attention,
which traces into a graph that measured ~1.5x faster under int8 than the sdpa trace of recipe 1;
3: the feed-forward output projections stay fp32 in the int8 graph, see `_quantize`)."""
ONNX_SETUP_HINT = "run `make setup` (or `python -m bot setup-model`), which exports it"
"""What an operator must do when the export is missing, stale or damaged; errors quote it."""


class OnnxExportError(RuntimeError):
    """The embedding model cannot be exported; the message says why and what to do instead."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportedFile:
    size: int
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportMarker:
    """What an export folder holds and what it was made from (its JSON is the folder's marker file).

    Attributes:
        source: the model folder or name exported (`describe_source`).
        source_fingerprint: sha256 over the source's weight files; a changed model means a stale export.
        max_seq_length: tokens per text the model reads (sentence-transformers truncates there too).
        input_names: the graph's inputs, a subset of input_ids / attention_mask / token_type_ids.
        pad_token_id: the id padding positions carry.
        files: name → size and sha256 of every exported file.
        recipe: the RECIPE that wrote it.
    """

    source: str
    source_fingerprint: str
    max_seq_length: int
    input_names: tuple[str, ...]
    pad_token_id: int
    files: dict[str, ExportedFile] = field(default_factory=dict)
    recipe: int = RECIPE

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ExportMarker:
        data = json.loads(text)
        return cls(source=data["source"], source_fingerprint=data["source_fingerprint"],
                   max_seq_length=int(data["max_seq_length"]), input_names=tuple(data["input_names"]),
                   pad_token_id=int(data["pad_token_id"]),
                   files={name: ExportedFile(**entry) for name, entry in data["files"].items()},
                   recipe=int(data.get("recipe", 1)))


def onnx_dir(models_dir: Path) -> Path:
    """Where the export lives under a models folder."""
    return Path(models_dir) / ONNX_FOLDER_NAME


def describe_source(model: str | Path | None) -> str:
    """The source as the marker records it: an absolute folder, or a model name as given."""
    from knowledge.embedding import bundled_model_dir

    if not model:
        return str(bundled_model_dir().resolve())
    path = Path(model).expanduser()
    return str(path.resolve()) if path.exists() else str(model)


def source_fingerprint(source: str) -> str:
    """sha256 over the weight files of a local model folder; the name itself for a hub name."""
    folder = Path(source)
    if not folder.is_dir():
        return hashlib.sha256(source.encode()).hexdigest()
    weights = sorted(p for p in folder.rglob("*") if p.suffix in {".safetensors", ".bin"} and p.is_file())
    digest = hashlib.sha256()
    for weight in weights:
        digest.update(f"{weight.relative_to(folder)}:{file_sha256(weight)}\n".encode())
    return digest.hexdigest()


def read_marker(folder: Path) -> ExportMarker | None:
    """The folder's marker, or None when it is missing or unreadable."""
    try:
        return ExportMarker.from_json((folder / MARKER_FILE).read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None


def ensure_onnx_export(model: str | Path | None, folder: Path) -> Path:
    """Export `model` (None: the bundled all-MiniLM-L6-v2) into `folder` unless a current export is there.

    Raises:
        OnnxExportError: the model is not a mean-pooled, normalised sentence-transformers model, or
            exporting failed.
    """
    source = describe_source(model)
    fingerprint = source_fingerprint(source)
    if _is_current(folder, source, fingerprint):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(folder.parent / f".{folder.name}.lock"):
        if _is_current(folder, source, fingerprint):  # another process exported while we waited
            return folder
        for leftover in folder.parent.glob(f".{folder.name}.tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        temp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
        started = time.perf_counter()
        try:
            temp.mkdir(parents=True)
            marker = _export(source, fingerprint, temp)
            (temp / MARKER_FILE).write_text(marker.to_json())
            for written in temp.iterdir():
                written.chmod(0o644)
            if folder.exists():
                shutil.rmtree(folder)
            temp.rename(folder)
        except OnnxExportError:
            shutil.rmtree(temp, ignore_errors=True)
            raise
        except Exception as exc:
            shutil.rmtree(temp, ignore_errors=True)
            raise OnnxExportError(f"exporting the embedding model {source} to ONNX failed: {exc}") from exc
        logger.info("exported %s to ONNX in %s (%.1f s)", source, folder, time.perf_counter() - started)
    return folder


def _is_current(folder: Path, source: str, fingerprint: str) -> bool:
    marker = read_marker(folder)
    return (marker is not None and marker.recipe == RECIPE and marker.source == source
            and marker.source_fingerprint == fingerprint
            and all((folder / name).is_file() and (folder / name).stat().st_size == entry.size
                    for name, entry in marker.files.items()))


def _export(source: str, fingerprint: str, out: Path) -> ExportMarker:
    """Export the pooled, normalised sentence vector graph, its int8 twin and the tokenizer into `out`."""
    import warnings

    import torch
    from sentence_transformers import SentenceTransformer
    try:  # sentence-transformers 6 moved them; 5.x has them under .models only
        from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    except ImportError:
        from sentence_transformers.models import Normalize, Pooling, Transformer  # type: ignore[no-redef,import-not-found]

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # The eager attention traces into plain ONNX ops that dynamic quantization handles well.
    model = SentenceTransformer(source, device="cpu", model_kwargs={"attn_implementation": "eager"})
    modules = list(model)
    mean_pooled = len(modules) == 3 and isinstance(modules[1], Pooling) and \
        modules[1].get_config_dict().get("pooling_mode") in ("mean", ["mean"])
    if not (mean_pooled and isinstance(modules[0], Transformer) and isinstance(modules[2], Normalize)):
        raise OnnxExportError(
            f"{source}: the ONNX embedding backends support transformer → mean pooling → normalise models "
            f"(like all-MiniLM-L6-v2), not {[type(m).__name__ for m in modules]}; "
            "set KB_EMBEDDING_BACKEND=torch for this model")
    transformer: Transformer = modules[0]
    tokenizer = transformer.tokenizer
    if tokenizer is None or not getattr(tokenizer, "is_fast", False):
        raise OnnxExportError(f"{source}: has no fast (tokenizer.json) tokenizer; set KB_EMBEDDING_BACKEND=torch")
    input_names = tuple(name for name in ("input_ids", "attention_mask", "token_type_ids")
                        if name in tokenizer.model_input_names)
    encoder = transformer.auto_model.eval()
    sample = tokenizer(["a short text", "a somewhat longer text to give the batch padding"], padding=True,
                       return_tensors="pt")
    class PooledEncoder(torch.nn.Module):
        """The encoder followed by attention-masked mean pooling and L2 normalisation."""

        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            named = dict(zip(input_names, inputs, strict=True))
            hidden = self.encoder(**named).last_hidden_state
            mask = named["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    dynamic_axes: dict[str, dict[int, str]] = {name: {0: "batch", 1: "tokens"} for name in input_names}
    dynamic_axes["sentence_embedding"] = {0: "batch"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            PooledEncoder(), tuple(sample[name] for name in input_names), str(out / FP32_FILE),
            dynamo=False, input_names=list(input_names), output_names=["sentence_embedding"], opset_version=OPSET,
            dynamic_axes=dynamic_axes)
    _quantize(out / FP32_FILE, out / INT8_FILE)
    (out / TOKENIZER_FILE).write_text(tokenizer.backend_tokenizer.to_str())
    files = {name: ExportedFile(size=(out / name).stat().st_size, sha256=file_sha256(out / name))
             for name in (FP32_FILE, INT8_FILE, TOKENIZER_FILE)}
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return ExportMarker(source=source, source_fingerprint=fingerprint, max_seq_length=int(model.max_seq_length or 512),
                        input_names=input_names, pad_token_id=int(pad), files=files)


def _quantize(fp32: Path, int8: Path) -> None:
    """Dynamic int8 weights with one scale per output channel, except the feed-forward output projections.

    Those read the GELU's output, whose outliers int8 rounds worst: quantizing them too measured
    cosine min 0.967 / mean 0.985 to the fp32 vectors on 128 FAQ passages, keeping them fp32 0.991 /
    0.995 for most of the speed (they are a sixth of the multiply-adds). Matched by the node names
    torch.onnx gives BERT-style encoders; a model named otherwise is quantized whole.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(fp32), load_external_data=False).graph
    keep_fp32 = [node.name for node in graph.node if node.op_type == "MatMul"
                 and node.name.endswith("/output/dense/MatMul") and "/attention/" not in node.name]
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic logs a "consider pre-processing" warning on root
    try:
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True,
                         nodes_to_exclude=keep_fp32)
    finally:
        root.setLevel(level)
