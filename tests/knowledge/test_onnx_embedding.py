"""The ONNX embedding backends against the PyTorch one on real passages, and what a missing, stale or
damaged export says (the export is made once per test session from the bundled model, as setup does)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from knowledge.chunking import chunk_document, embedding_input
from knowledge.embedding import make_embedder
from knowledge.onnx_embedding import OnnxEmbedder, OnnxModelError
from knowledge.onnx_export import (
    FP32_FILE,
    INT8_FILE,
    MARKER_FILE,
    OnnxExportError,
    describe_source,
    ensure_onnx_export,
    onnx_dir,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def onnx_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder holding the ONNX export of the bundled all-MiniLM-L6-v2 (what `make setup` writes)."""
    models = tmp_path_factory.mktemp("models")
    ensure_onnx_export(None, onnx_dir(models))
    return models


@pytest.fixture(scope="session")
def passages() -> list[str]:
    """Real passages: this repository's README, chunked and framed as ingest embeds them."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    return [embedding_input("README", chunk.heading, chunk.text) for chunk in chunk_document(text, fmt="markdown")][:48]


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_onnx_backends_embed_like_the_torch_one(backend: str, onnx_models_dir: Path, embedder,
                                                passages: list[str]) -> None:
    assert len(passages) >= 20 and max(len(p.split()) for p in passages) > 150  # some past the 256-token cut
    onnx = make_embedder(backend, models_dir=onnx_models_dir)  # type: ignore[arg-type]
    mine = np.array(onnx.embed_documents(passages))
    reference = np.array(embedder.embed_documents(passages))
    assert mine.shape == reference.shape == (len(passages), 384)
    assert np.allclose(np.linalg.norm(mine, axis=1), 1.0, atol=1e-4)
    cosines = (mine * reference).sum(axis=1)
    assert cosines.min() >= (0.9999 if backend == "onnx" else 0.97), cosines.min()
    query = "How do I run the Slack bot in Socket Mode?"
    assert float(np.dot(onnx.embed_query(query), embedder.embed_query(query))) >= 0.97
    assert onnx.embed_documents([]) == []


def test_the_export_is_reused_until_the_model_changes(onnx_models_dir: Path) -> None:
    folder = onnx_dir(onnx_models_dir)
    marker = (folder / MARKER_FILE).read_text()
    assert ensure_onnx_export(None, folder) == folder
    assert (folder / MARKER_FILE).read_text() == marker  # not exported again
    assert json.loads(marker)["source"] == describe_source(None)


@pytest.fixture
def export_copy(onnx_models_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the export, for a test to damage."""
    models = tmp_path / "models"
    shutil.copytree(onnx_dir(onnx_models_dir), onnx_dir(models))
    return models


def test_a_missing_export_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(OnnxModelError, match=r"no ONNX embedding model at .*: run `make setup`"):
        make_embedder("onnx-int8", models_dir=tmp_path)


@pytest.mark.parametrize("damage", ["truncated", "flipped", "deleted"])
def test_a_damaged_model_file_names_the_file_and_the_fix(export_copy: Path, damage: str) -> None:
    graph = onnx_dir(export_copy) / INT8_FILE
    data = graph.read_bytes()
    if damage == "truncated":
        graph.write_bytes(data[: len(data) // 2])
    elif damage == "flipped":
        middle = len(data) // 2
        graph.write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:])
    else:
        graph.unlink()
    with pytest.raises(OnnxModelError, match=rf"{graph}.*(damaged|missing).*run `make setup`"):
        make_embedder("onnx-int8", models_dir=export_copy)
    make_embedder("onnx", models_dir=export_copy)  # the fp32 file is intact and still loads


def test_a_model_onnx_runtime_cannot_read_names_the_fix(export_copy: Path) -> None:
    folder = onnx_dir(export_copy)
    (folder / FP32_FILE).write_bytes(b"not an onnx graph")
    marker = json.loads((folder / MARKER_FILE).read_text())
    marker["files"][FP32_FILE] = {"size": 17, "sha256": hashlib.sha256(b"not an onnx graph").hexdigest()}
    (folder / MARKER_FILE).write_text(json.dumps(marker))
    with pytest.raises(OnnxModelError, match=r"cannot be loaded .*run `make setup`"):
        OnnxEmbedder(folder, quantized=False)


def test_an_export_of_another_model_is_refused(export_copy: Path, tmp_path: Path) -> None:
    with pytest.raises(OnnxModelError, match=r"exported from .*, not the configured .*other-model: run `make setup`"):
        make_embedder("onnx", model=str(tmp_path / "other-model"), models_dir=export_copy)


def test_a_model_that_is_not_mean_pooled_is_not_exported(tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    from knowledge.embedding import bundled_model_dir

    model = SentenceTransformer(str(bundled_model_dir()), device="cpu")
    cls_model = SentenceTransformer(modules=[model[0], Pooling(384, pooling_mode="cls")], device="cpu")
    cls_model.save(str(tmp_path / "cls-model"))
    with pytest.raises(OnnxExportError, match=r"mean pooling → normalise .*KB_EMBEDDING_BACKEND=torch"):
        ensure_onnx_export(tmp_path / "cls-model", tmp_path / "export")
    assert not (tmp_path / "export").exists()


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError,
                       match="unknown embedding backend 'gpu'; choose one of auto, torch, torch-bf16, onnx, onnx-int8"):
        make_embedder("gpu")  # type: ignore[arg-type]


def _chunks_by_uri(sessions, scope: str) -> dict[str, list[tuple[int, str, str, np.ndarray]]]:
    from sqlalchemy import select

    from store.schema import Chunk, Document

    with sessions() as session:
        rows = session.execute(select(Document.uri, Chunk.ordinal, Chunk.heading, Chunk.text, Chunk.embedding)
                               .join(Chunk, Chunk.document_id == Document.id).where(Document.scope == scope)
                               .order_by(Document.uri, Chunk.ordinal))
        found: dict[str, list[tuple[int, str, str, np.ndarray]]] = {}
        for uri, ordinal, heading, text, embedding in rows:
            found.setdefault(uri, []).append((ordinal, heading, text, np.array(embedding)))
    return found


def test_the_cli_with_the_int8_backend_lands_the_chunks_torch_lands(onnx_models_dir: Path, database_url: str,
                                                                     sessions, embedder, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from knowledge.__main__ import cli
    from knowledge.ingest import ingest_path

    docs = tmp_path / "docs"
    docs.mkdir()
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    (docs / "readme.md").write_text(readme)
    (docs / "deploy.md").write_text("# Deploy\n\n## Staging\n\nRun `make deploy ENV=staging` from main.\n\n"
                                    "## Rollback\n\nRun `make rollback` to undo the last deploy.\n")
    environment = {"DATABASE_URL": database_url, "KB_EMBEDDING_BACKEND": "onnx-int8",
                   "KB_MODELS_DIR": str(onnx_models_dir)}
    result = CliRunner().invoke(cli, ["add", str(docs), "--scope", "C0ONNX"], env=environment)
    assert result.exit_code == 0, result.output
    assert "2 ingested (2 added)" in result.stdout
    ingest_path(sessions, embedder, docs, max_bytes=20 * 1024 * 1024, scope="C0TORCH", progress=False)

    with_onnx, with_torch = _chunks_by_uri(sessions, "C0ONNX"), _chunks_by_uri(sessions, "C0TORCH")
    assert with_onnx.keys() == with_torch.keys() and len(with_onnx) == 2
    for uri, chunks in with_torch.items():
        assert [c[:3] for c in with_onnx[uri]] == [c[:3] for c in chunks]
        assert min(float(a[3] @ b[3]) for a, b in zip(with_onnx[uri], chunks, strict=True)) >= 0.97

    found = CliRunner().invoke(cli, ["search", "how do I undo a deploy", "--channel", "C0ONNX", "--limit", "1"],
                               env=environment)
    assert found.exit_code == 0, found.output
    assert "§ Deploy › Rollback" in found.stdout


def test_the_cli_without_the_export_fails_in_one_line_naming_the_fix(database_url: str, sessions,
                                                                      tmp_path: Path) -> None:
    from click.testing import CliRunner

    from knowledge.__main__ import cli

    (tmp_path / "note.md").write_text("# Note\n\nSomething worth keeping.\n")
    result = CliRunner().invoke(cli, ["add", str(tmp_path / "note.md")],
                                env={"DATABASE_URL": database_url, "KB_EMBEDDING_BACKEND": "onnx-int8",
                                     "KB_MODELS_DIR": str(tmp_path / "no-models")})
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: no ONNX embedding model at {tmp_path / 'no-models' / 'embedding-onnx'}: run `make setup` "
        "(or `python -m bot setup-model`), which exports it")
