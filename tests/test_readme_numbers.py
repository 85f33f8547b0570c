"""The README's benchmark tables are exactly what the committed results render (bench/readme_tables.py).

Reads the real README and the real bench/results/*.json (no models, no database), so CI fails when
someone edits a figure by hand, commits new results without `python -m bench.readme_tables --write`,
or points a block at a result file that is not committed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import readme_tables
from bench.readme_tables import RESULTS, ReadmeBlocksError, blocks, problems, render, with_rendered

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_readme_block_is_its_committed_result_rendered() -> None:
    assert problems(README) == []


def test_the_readme_has_a_block_for_each_bench_it_quotes() -> None:
    names = [block.name for block in blocks(README)]
    assert len(names) == len(set(names)), f"a result file rendered twice: {names}"
    for name in ("quality", "slack_ack", "train_profile", "learning_curve", "train_memory", "app_home",
                 "scrubber", "verified_match", "cli_startup", "search_scale", "answer_latency"):
        assert name in names


@pytest.mark.parametrize("name", sorted(readme_tables.RENDERERS))
def test_each_renderer_renders_its_committed_result(name: str) -> None:
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        pytest.skip(f"bench/results/{name}.json is not committed")
    rendered = render(name)
    assert "\n|---|" in rendered, "every rendering holds a Markdown table"
    assert "None" not in rendered, "a missing figure must show as —, never None"


def test_a_changed_figure_is_named(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    figures = json.loads((RESULTS / "slack_ack.json").read_text())
    (results / "slack_ack.json").write_text(json.dumps(figures))
    readme = with_rendered("intro\n<!-- bench:slack_ack:start -->\n<!-- bench:slack_ack:end -->\nend\n", results)
    assert problems(readme, results) == []
    first_text = figures["answers"]["first_text_s_median"]
    shown = f"| first answer text (the quoted evidence) | {first_text:.2f} s |"
    assert shown in readme
    figures["answers"]["first_text_s_median"] = first_text + 0.5
    (results / "slack_ack.json").write_text(json.dumps(figures))
    assert problems(readme, results) == [
        "bench:slack_ack: differs from bench/results/slack_ack.json (run `python -m bench.readme_tables --write`)"]
    edited = readme.replace(shown, f"| first answer text (the quoted evidence) | {first_text + 0.01:.2f} s |")
    (results / "slack_ack.json").write_text(json.dumps(json.loads((RESULTS / "slack_ack.json").read_text())))
    assert [line.split(":")[1] for line in problems(edited, results)] == ["slack_ack"]


def test_a_block_naming_a_missing_result_file_is_named(tmp_path: Path) -> None:
    readme = "<!-- bench:no_such_bench:start -->\n| a | b |\n<!-- bench:no_such_bench:end -->\n"
    found = problems(readme, tmp_path)
    assert found == ["bench:no_such_bench: no renderer for bench/results/no_such_bench.json in bench/readme_tables.py"]
    readme = "<!-- bench:app_home:start -->\n<!-- bench:app_home:end -->\n"
    assert problems(readme, tmp_path) == ["bench:app_home: bench/results/app_home.json does not exist"]
    with pytest.raises(ReadmeBlocksError, match="app_home.json does not exist"):
        with_rendered(readme, tmp_path)


def test_unbalanced_markers_are_refused() -> None:
    with pytest.raises(ReadmeBlocksError, match="bench:app_home:start -->.*no matching end"):
        blocks("text\n<!-- bench:app_home:start -->\n| table |\n")
    with pytest.raises(ReadmeBlocksError, match="no matching start"):
        blocks("<!-- bench:app_home:end -->\n")


def test_check_exits_non_zero_naming_the_block(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(with_rendered("<!-- bench:cli_startup:start -->\n<!-- bench:cli_startup:end -->\n"))
    assert readme_tables.main(["--check", "--readme", str(readme)]) == 0
    readme.write_text(readme.read_text().replace("| 0.24 |", "| 0.20 |", 1))
    assert readme_tables.main(["--check", "--readme", str(readme)]) == 1
    assert "bench:cli_startup: differs from bench/results/cli_startup.json" in capsys.readouterr().err


def test_a_block_inside_another_is_refused() -> None:
    nested = ("<!-- bench:app_home:start -->\n<!-- bench:scrubber:start -->\n<!-- bench:scrubber:end -->\n"
              "<!-- bench:app_home:end -->\n")
    with pytest.raises(ReadmeBlocksError, match="bench:app_home contains another block's marker"):
        blocks(nested)
