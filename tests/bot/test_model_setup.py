"""The one-time GGUF → safetensors conversion of the default model, and the model it yields."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.__main__ import cli
from bot.generation import TransformersGenerator
from bot.model_setup import (
    DEFAULT_MODEL_NAME,
    MARKER_FILENAME,
    ModelSetupError,
    ensure_converted,
    ensure_default_model,
)


def _mtimes(folder: Path) -> dict[str, int]:
    return {entry.name: entry.stat().st_mtime_ns for entry in folder.iterdir()}


def test_second_call_is_fast_and_rewrites_nothing(default_model_dir: Path) -> None:
    before = _mtimes(default_model_dir)
    started = time.perf_counter()
    again = ensure_default_model(default_model_dir.parent)
    elapsed = time.perf_counter() - started

    assert again == default_model_dir
    assert elapsed < 1.0
    assert _mtimes(default_model_dir) == before
    assert {"config.json", "model.safetensors", "tokenizer.json", MARKER_FILENAME} <= set(before)


def test_leftovers_of_a_killed_conversion_are_swept(default_model_dir: Path, tmp_path: Path) -> None:
    (tmp_path / DEFAULT_MODEL_NAME).symlink_to(default_model_dir)
    leftover = tmp_path / f".{DEFAULT_MODEL_NAME}.tmp-12345"
    leftover.mkdir()
    (leftover / "model.safetensors").write_bytes(b"half a model")

    assert ensure_default_model(tmp_path) == tmp_path / DEFAULT_MODEL_NAME
    assert not leftover.exists()


def test_setup_model_command_reports_the_folder(default_model_dir: Path, tmp_path: Path) -> None:
    (tmp_path / DEFAULT_MODEL_NAME).symlink_to(default_model_dir)

    result = CliRunner().invoke(cli, ["setup-model", "--models-dir", str(tmp_path)])

    assert result.exit_code == 0, result.output
    assert f"default model ready at {tmp_path / DEFAULT_MODEL_NAME}" in result.output
    # The same step exports the embedding model for KB_EMBEDDING_BACKEND=onnx|onnx-int8.
    assert f"ONNX embedding model ready at {tmp_path / 'embedding-onnx'}" in result.output
    assert (tmp_path / "embedding-onnx" / "model-int8.onnx").is_file()
    again = CliRunner().invoke(cli, ["setup-model", "--models-dir", str(tmp_path)])
    assert again.exit_code == 0 and "ONNX embedding model ready" in again.output


def test_every_command_has_help() -> None:
    assert all(command.help for command in cli.commands.values())


def test_failed_conversion_leaves_nothing_behind(tmp_path: Path) -> None:
    fake = tmp_path / "broken.gguf"
    fake.write_bytes(b"GGUF but not really" * 100)
    target = tmp_path / "models" / "broken"

    with pytest.raises(ModelSetupError, match="broken.gguf"):
        ensure_converted(fake, target)

    assert not target.exists()
    assert [entry.name for entry in target.parent.iterdir() if not entry.name.endswith(".lock")] == []


def test_converted_default_model_answers(default_generator: TransformersGenerator) -> None:
    messages = [{"role": "user", "content": "What is the capital of France?"}]

    prompt = default_generator.render(messages)
    answer = default_generator.generate(messages, max_new_tokens=12)

    assert prompt.startswith("<|im_start|>system\n") and prompt.endswith("<|im_start|>assistant\n")
    assert "Paris" in answer
    assert default_generator.context_window == 4096
    assert default_generator.adapter_name == "base"

