"""The README's configuration table, generated from the settings classes (`python -m kbbot.config_table`).

The table lives in README.md between `<!-- config-table:start -->` and `<!-- config-table:end -->`.
`--write` regenerates it in place; `--check` (CI: tests/kbbot/test_config_table.py does the same)
exits 1 when the README's table differs from what the code declares, so it cannot drift.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kbbot.settings import sections
from store.config import settings_table

START = "<!-- config-table:start -->"
END = "<!-- config-table:end -->"
README = Path(__file__).resolve().parent.parent / "README.md"


class MarkersMissing(ValueError):
    """The README has no (or a broken) pair of table markers."""


def generated_block() -> str:
    """What belongs between the markers: a note that the table is generated, then the table."""
    note = ("<!-- Generated from the settings classes by `python -m kbbot.config_table --write`; "
            "do not edit by hand. -->")
    return f"{START}\n{note}\n\n{settings_table(sections())}\n{END}"


def _span(readme: str) -> tuple[int, int]:
    start, end = readme.find(START), readme.find(END)
    if start < 0 or end < 0 or end < start or readme.count(START) != 1 or readme.count(END) != 1:
        raise MarkersMissing(f"README.md needs exactly one {START} … {END} pair around the configuration table")
    return start, end + len(END)


def current_block(readme: str) -> str:
    """The README's block between (and including) the markers."""
    start, end = _span(readme)
    return readme[start:end]


def with_generated_table(readme: str) -> str:
    """The README with its block replaced by the generated one."""
    start, end = _span(readme)
    return readme[:start] + generated_block() + readme[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kbbot.config_table", description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="rewrite the table in the README")
    action.add_argument("--check", action="store_true", help="exit 1 when the README's table is not the generated one")
    parser.add_argument("--readme", type=Path, default=README, help="the README to read [default: %(default)s]")
    args = parser.parse_args(argv)
    if not (args.write or args.check):
        print(generated_block())
        return 0
    text = args.readme.read_text(encoding="utf-8")
    try:
        if args.write:
            args.readme.write_text(with_generated_table(text), encoding="utf-8")
            return 0
        if current_block(text) == generated_block():
            return 0
    except MarkersMissing as exc:
        print(f"{args.readme}: {exc}", file=sys.stderr)
        return 1
    print(f"{args.readme}: the configuration table differs from the settings classes; run "
          "`python -m kbbot.config_table --write`", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
