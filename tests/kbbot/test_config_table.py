"""The README's configuration table is the one the settings classes generate (the CI check against drift)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kbbot.config_table import (
    END,
    README,
    START,
    MarkersMissing,
    current_block,
    generated_block,
    main,
    with_generated_table,
)
from kbbot.settings import sections
from store.config import every_variable


def test_the_readme_table_is_the_generated_one() -> None:
    readme = README.read_text(encoding="utf-8")
    try:
        block = current_block(readme)
    except MarkersMissing as exc:
        pytest.fail(f"{exc}: paste the generated table (`python -m kbbot.config_table --write`)")
    assert block == generated_block(), "README.md's configuration table drifted: run `python -m kbbot.config_table " \
                                       "--write` and commit the result"


def test_the_table_lists_every_variable_once_with_its_default() -> None:
    block = generated_block()
    for variable in every_variable(sections().values()):
        assert f"`{variable}`" in block, variable
    assert "| `KB_DB_POOL_SIZE` | `16` |" in block
    assert "| `KB_BASE_MODEL` (also `KB_MODEL_PATH`, `TRAINING_BASE_MODEL`) | empty |" in block
    assert "| `TRAINING_BATCH_SIZE` | profile |" in block
    assert "— `training`, `training/settings.py`" in block, "each section says where it is defined"


def test_write_replaces_only_the_block_and_check_then_passes(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nBefore.\n\n{START}\n| stale | table |\n{END}\n\nAfter.\n", encoding="utf-8")
    assert main(["--check", "--readme", str(readme)]) == 1
    assert "differs from the settings classes" in capsys.readouterr().err
    assert main(["--write", "--readme", str(readme)]) == 0
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# Title\n\nBefore.\n\n") and text.endswith("\n\nAfter.\n") and "stale" not in text
    assert main(["--check", "--readme", str(readme)]) == 0
    assert with_generated_table(text) == text


def test_a_readme_without_markers_fails_the_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n\nNo table here.\n", encoding="utf-8")
    assert main(["--check", "--readme", str(readme)]) == 1
    assert "needs exactly one <!-- config-table:start -->" in capsys.readouterr().err
    with pytest.raises(MarkersMissing):
        with_generated_table(f"{END}\n{START}\n")
