"""The packages' dependency rule, read from the source: `bot → {knowledge, store} ← training`, `knowledge → store`.

`store` (the database) imports none of the product's other packages; `knowledge` imports only `store`;
`bot` and `training` never import each other: they meet in the database. `kbbot` (the console script
and the whole configuration tree) sits above them all: it may import every package, none may import it.
Every `import` and `from … import` is read with `ast`, including those inside functions (lazy imports
count too).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "knowledge", "store", "training", "kbbot")
ALLOWED: dict[str, set[str]] = {
    "kbbot": {"bot", "knowledge", "store", "training"},
    "store": set(),
    "knowledge": {"store"},
    "bot": {"knowledge", "store"},
    "training": {"knowledge", "store"},
}


def _imported_packages(source: Path) -> set[tuple[str, int]]:
    """(top-level package, line) of every absolute import of one of PACKAGES in `source`."""
    found: set[tuple[str, int]] = set()
    for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            if top in PACKAGES:
                found.add((top, node.lineno))
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_what_the_dependency_rule_allows(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no Python files under {package}/"
    breaches = [f"{path.relative_to(ROOT)}:{line} imports {top}"
                for path in files for top, line in sorted(_imported_packages(path))
                if top != package and top not in ALLOWED[package]]
    assert not breaches, "\n".join(breaches)


def test_the_rule_reader_sees_lazy_imports_inside_functions(tmp_path: Path) -> None:
    source = tmp_path / "lazy.py"
    source.write_text("def f():\n    from training.jobs import QUEUE\n    import bot.slack\n")
    assert _imported_packages(source) == {("training", 2), ("bot", 3)}
