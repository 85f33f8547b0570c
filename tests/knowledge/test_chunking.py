"""Structure-aware chunking: heading paths, whole code blocks, packing, overlap, source code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from knowledge.chunking import (
    ChunkingConfig,
    chunk_document,
    content_hash,
    document_title,
    embedding_input,
    looks_like_asciidoc,
)

SMALL = ChunkingConfig(max_chars=300, overlap_chars=60)


def _sentences(count: int, word: str = "Sentence") -> str:
    return " ".join(f"{word} number {i} sits here." for i in range(count))


def test_markdown_sections_carry_their_heading_path() -> None:
    text = "# Guide\n\nIntro.\n\n## Install\n\nSteps.\n\n### Linux\n\nApt.\n\n## Usage\n\nRun it.\n"
    chunks = chunk_document(text, fmt="markdown")
    assert [(c.heading, c.text) for c in chunks] == [
        ("Guide", "Intro."),
        ("Guide › Install", "Steps."),
        ("Guide › Install › Linux", "Apt."),
        ("Guide › Usage", "Run it."),
    ]
    assert [c.ordinal for c in chunks] == [0, 1, 2, 3]


def test_setext_headings_and_text_before_the_first_heading() -> None:
    text = "Preface line.\n\nTitle\n=====\n\nBody.\n\nPart\n----\n\nMore.\n"
    assert [(c.heading, c.text) for c in chunk_document(text, fmt="markdown")] == [
        ("", "Preface line."), ("Title", "Body."), ("Title › Part", "More."),
    ]


def test_hash_lines_inside_a_fence_are_not_headings() -> None:
    text = "# Real\n\n```bash\n# just a comment\necho hi\n```\n"
    [chunk] = chunk_document(text, fmt="markdown")
    assert chunk.heading == "Real"
    assert chunk.text == "```bash\n# just a comment\necho hi\n```"


def test_code_block_is_kept_whole_and_moves_to_the_next_chunk_with_its_introduction() -> None:
    code = "```python\n" + "\n".join(f"value_{i} = compute({i})" for i in range(8)) + "\n```"
    text = f"# H\n\n{_sentences(4)}\n\nRun this:\n\n{code}\n"
    chunks = chunk_document(text, fmt="markdown", config=SMALL)
    holding = [c for c in chunks if "```python" in c.text]
    assert len(holding) == 1 and code in holding[0].text
    assert holding[0].text.startswith("Run this:")


def test_oversized_code_block_is_split_on_lines_and_each_piece_is_fenced() -> None:
    lines = [f"x{i} = {i}  # a filler line" for i in range(60)]
    chunks = chunk_document("```python\n" + "\n".join(lines) + "\n```", fmt="markdown", config=SMALL)
    assert len(chunks) > 2
    assert all(len(c.text) <= SMALL.max_chars for c in chunks)
    assert all(c.text.startswith("```python\n") and c.text.endswith("\n```") for c in chunks)
    inner = [line for c in chunks for line in c.text.split("\n")[1:-1]]
    assert inner == lines


TABLE_HEAD = ["| variable | default | meaning |", "|---|---|---|"]
TABLE_ROWS = [f"| `APP_SETTING_{i}` | `{i}` | what setting {i} does; it is read at start (restart to change it) |"
              for i in range(12)]


def test_a_long_table_is_cut_between_rows_and_every_piece_starts_with_its_header() -> None:
    """Never half a row (it would be quoted as a sentence) nor a row without its column names."""
    text = "# Settings\n\n" + "\n".join(TABLE_HEAD + TABLE_ROWS) + "\n\nAfter the table.\n"
    chunks = chunk_document(text, fmt="markdown", config=SMALL)
    pieces = [c.text for c in chunks if "APP_SETTING_" in c.text]
    assert len(pieces) >= 3 and all(len(piece) <= SMALL.max_chars for piece in pieces)
    assert all(piece.split("\n")[:2] == TABLE_HEAD for piece in pieces)
    tables = [piece.split("\n\n")[0] for piece in pieces]  # what follows a blank line is not the table
    rows = [line for table in tables for line in table.split("\n")[2:]]
    assert rows == TABLE_ROWS, "every row once, whole, in order, no blank line inside a table"
    assert chunks[-1].text.endswith("After the table.")
    assert not any(c.text.startswith(TABLE_ROWS[0][-40:]) for c in chunks)  # no overlap copied from a row


def test_a_table_fits_with_its_introduction_and_a_row_longer_than_a_chunk_is_cut_as_prose() -> None:
    short = "# H\n\n" + _sentences(3) + "\n\nThe settings:\n\n" + "\n".join(TABLE_HEAD + TABLE_ROWS[:2]) + "\n"
    holding = [c.text for c in chunk_document(short, fmt="markdown", config=SMALL) if "APP_SETTING_0" in c.text]
    assert holding == ["The settings:\n\n" + "\n".join(TABLE_HEAD + TABLE_ROWS[:2])]
    huge_row = "| `HUGE` | `1` | " + " ".join(f"Clause {i} of a very long cell." for i in range(20)) + " |"
    text = "# H\n\n" + "\n".join([*TABLE_HEAD, TABLE_ROWS[0], huge_row, TABLE_ROWS[1]]) + "\n"
    chunks = chunk_document(text, fmt="markdown", config=SMALL)
    assert all(len(c.text) <= SMALL.max_chars and c.text.split("\n")[:2] == TABLE_HEAD for c in chunks)
    body = " ".join(line for c in chunks for line in c.text.split("\n")[2:])
    assert all(f"Clause {i} of a very long cell." in body for i in range(20))
    assert TABLE_ROWS[0] in body and TABLE_ROWS[1] in body


def test_long_section_is_packed_with_overlap_between_consecutive_chunks() -> None:
    paragraphs = "\n\n".join(_sentences(3, word=f"Para{p}") for p in range(8))
    chunks = chunk_document(f"# Long\n\n{paragraphs}", fmt="markdown", config=SMALL)
    assert len(chunks) >= 3
    for previous, following in zip(chunks, chunks[1:], strict=False):
        overlap = following.text.split("\n\n")[0]
        assert previous.text.endswith(overlap)
        assert 0 < len(overlap) <= SMALL.overlap_chars
    assert all(len(c.text) <= SMALL.max_chars for c in chunks)


def test_no_overlap_crosses_a_section_boundary() -> None:
    text = f"# A\n\n{_sentences(12, 'Alpha')}\n\n# B\n\n{_sentences(2, 'Beta')}"
    chunks = chunk_document(text, fmt="markdown", config=SMALL)
    first_b = next(c for c in chunks if c.heading == "B")
    assert "Alpha" not in first_b.text


def test_a_paragraph_longer_than_a_chunk_is_cut_at_sentence_ends() -> None:
    chunks = chunk_document(_sentences(40), fmt="text", config=SMALL)
    assert len(chunks) > 3
    assert all(len(c.text) <= SMALL.max_chars for c in chunks)
    assert all(c.text.rstrip().endswith(".") for c in chunks)
    assert {c.heading for c in chunks} == {""}


@pytest.mark.parametrize("fmt", ["markdown", "rst", "text"])
def test_no_word_is_lost(fmt: str) -> None:
    body = "\n\n".join(_sentences(5, word=f"W{p}") for p in range(10))
    text = {"markdown": f"# T\n\n{body}", "rst": f"T\n=\n\n{body}", "text": body}[fmt]
    chunks = chunk_document(text, fmt=fmt, config=SMALL)
    seen = {word for c in chunks for word in c.text.split()}
    assert set(body.split()) <= seen


RST = """\
=====
Title
=====

Intro.

Section A
---------

Example::

    first = 1

    second = 2

After the literal block.

.. code-block:: python

    def f():
        return 1

Sub
~~~

In sub.

----------

Section B
---------

B text.
"""


def test_rst_titles_nest_by_adornment_style_and_literal_blocks_stay_whole() -> None:
    chunks = chunk_document(RST, fmt="rst")
    assert [c.heading for c in chunks] == ["Title", "Title › Section A", "Title › Section A › Sub",
                                          "Title › Section B"]
    section_a = chunks[1].text
    assert "Example::\n\n    first = 1\n\n    second = 2" in section_a
    assert ".. code-block:: python\n\n    def f():\n        return 1" in section_a
    assert "----------" not in chunks[2].text  # a transition carries no text


def test_oversized_rst_literal_block_is_split_on_lines() -> None:
    literal = "\n".join(f"    line_{i} = {i} * 2  # filler" for i in range(40))
    chunks = chunk_document(f"Demo::\n\n{literal}\n", fmt="rst", config=SMALL)
    code_lines = [line for c in chunks for line in c.text.split("\n") if line.startswith("    ")]
    assert code_lines == literal.split("\n")
    assert all(len(c.text) <= SMALL.max_chars for c in chunks)


PYTHON = '''\
"""Module doc."""
import os


@decorator
def first(x):
    return x


class Second:
    """Doc."""

    def method(self):
        pass
# about third
async def third():
    pass
'''


def test_python_is_split_on_top_level_definitions_with_decorators_and_comments() -> None:
    chunks = chunk_document(PYTHON, fmt="code", language="python")
    assert [c.heading for c in chunks] == ["", "def first(x)", "class Second", "async def third()"]
    assert chunks[1].text.startswith("@decorator\ndef first(x):")
    assert "def method(self)" in chunks[2].text
    assert chunks[3].text.startswith("# about third\n")


@pytest.mark.parametrize(("language", "source", "headings"), [
    ("go", 'package main\n\n// Hello greets.\nfunc Hello() {\n\tprintln("hi")\n}\n\ntype T struct {\n\tA int\n}\n',
     ["", "func Hello()", "type T struct"]),
    ("javascript", "import x from 'x';\n\nexport function a() {\n  return 1;\n}\n\nclass B {\n  m() {}\n}\n",
     ["", "export function a()", "class B"]),
    ("rust", "use std::io;\n\n#[derive(Debug)]\npub struct P {\n    x: i32,\n}\n\nfn main() {\n}\n",
     ["", "pub struct P", "fn main()"]),
    ("sql", "CREATE TABLE a (x int);\n\nSELECT x\nFROM a;\nINSERT INTO a VALUES (1);\n",
     ["CREATE TABLE a (x int);", "SELECT x", "INSERT INTO a VALUES (1);"]),
    ("c", "#include <stdio.h>\n\nstatic int\nhelper(void)\n{\n  return 1;\n}\n\n"
          "int main(void) {\n  return helper();\n}\n",
     ["", "helper(void)", "int main(void)"]),
])
def test_other_languages_split_on_their_definitions(language: str, source: str, headings: list[str]) -> None:
    chunks = chunk_document(source, fmt="code", language=language)
    assert [c.heading for c in chunks] == headings
    assert "\n".join(c.text for c in chunks).split() == source.split()


def test_unknown_language_packs_top_level_blocks_without_overlap() -> None:
    source = "\n\n".join(f"key_{i}:\n  value: {i}\n  other: {i * 2}" for i in range(30))
    chunks = chunk_document(source, fmt="code", language="yaml", config=SMALL)
    assert len(chunks) > 1
    assert all(len(c.text) <= SMALL.max_chars for c in chunks)
    blocks = [block for c in chunks for block in c.text.split("\n\n")]
    assert blocks == source.split("\n\n")  # every block whole, none repeated


def test_a_huge_function_is_split_but_keeps_its_heading() -> None:
    body = "\n".join(f"    total += {i}" for i in range(80))
    chunks = chunk_document(f"def big():\n    total = 0\n{body}\n", fmt="code", language="python", config=SMALL)
    assert len(chunks) > 2
    assert {c.heading for c in chunks} == {"def big()"}
    assert all(len(c.text) <= SMALL.max_chars for c in chunks)


def test_crlf_input_chunks_like_lf_input() -> None:
    text = "# T\n\nline one\n\n## S\n\nline two\n"
    assert chunk_document(text.replace("\n", "\r\n"), fmt="markdown") == chunk_document(text, fmt="markdown")


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="docx"):
        chunk_document("x", fmt="docx")


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"max_chars": 10}, "max_chars"),
    ({"overlap_chars": -1}, "overlap_chars"),
    ({"max_chars": 200, "overlap_chars": 150}, "overlap_chars"),
])
def test_config_validation_names_the_field(kwargs: dict[str, int], field: str) -> None:
    with pytest.raises(ValueError, match=f"`{field}`"):
        ChunkingConfig(**kwargs)


def test_embedding_input_puts_title_and_heading_above_the_text() -> None:
    assert embedding_input("Deploy notes", "Rollback", "Run it.") == "Deploy notes › Rollback\n\nRun it."
    assert embedding_input("Guide", "Guide › Install", "x") == "Guide › Install\n\nx"
    assert embedding_input("", "", "bare") == "bare"


def test_content_hash_ignores_whitespace_noise_but_not_content() -> None:
    base = content_hash("# T\n\nSome text.\n")
    assert re.fullmatch(r"[0-9a-f]{64}", base)
    assert content_hash("# T  \r\n\r\n\r\n\r\nSome text.") == base
    assert content_hash("# T\n\nSome text!\n") != base


@pytest.mark.parametrize(("text", "fmt", "title"), [
    ("intro\n\n## Sub\n\n# Real Title\n\nx", "markdown", "Real Title"),
    ("no heading here", "markdown", ""),
    (RST, "rst", "Title"),
    ("# Looks like a title", "text", ""),
])
def test_document_title_is_the_first_top_level_heading(text: str, fmt: str, title: str) -> None:
    assert document_title(text, fmt) == title


# --- permalink signs ----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "fmt"), [
    ("# Guide ¶\n\nIntro.\n\n## Install¶\n\nSteps ¶\n", "markdown"),
    ("Guide¶\n======\n\nIntro.\n\nInstall ¶\n---------\n\nSteps ¶\n", "rst"),
    ("= Guide ¶\n\nIntro.\n\n== Install¶\n\nSteps ¶\n", "asciidoc"),
])
def test_a_trailing_pilcrow_is_not_part_of_a_heading_or_the_text(text: str, fmt: str) -> None:
    assert [(c.heading, c.text) for c in chunk_document(text, fmt=fmt)] == [
        ("Guide", "Intro."), ("Guide › Install", "Steps"),
    ]
    assert document_title(text, fmt) == "Guide"


def test_text_copied_from_a_rendered_sphinx_page_keeps_its_headings() -> None:
    copied = ("Deploying services¶\nA service is deployed with deployctl deploy.\n\nPrerequisites¶\n\n"
              "You need a team token.\n\nPrices in ¶ 3 of the contract stay.\n")
    assert [(c.heading, c.text) for c in chunk_document(copied, fmt="text")] == [
        ("Deploying services", "A service is deployed with deployctl deploy."),
        ("Prerequisites", "You need a team token.\n\nPrices in ¶ 3 of the contract stay."),
    ]


# --- AsciiDoc -----------------------------------------------------------------------------------

RUNBOOK = (Path(__file__).parent / "fixtures" / "runbook.adoc").read_text(encoding="utf-8")


def test_asciidoc_sections_nest_by_their_equals_signs() -> None:
    chunks = chunk_document(RUNBOOK, fmt="asciidoc")
    assert [c.heading for c in chunks] == [
        "Ledger Operations Runbook",
        "Ledger Operations Runbook › Deploying",
        "Ledger Operations Runbook › Deploying › Configuration",
        "Ledger Operations Runbook › Alerts › LedgerReplicaLag",
        "Ledger Operations Runbook › Alerts › LedgerSettlementLate",
    ]
    assert document_title(RUNBOOK, "asciidoc") == "Ledger Operations Runbook"


def test_asciidoc_blocks_stay_whole_as_fenced_code_and_markup_lines_go() -> None:
    text = "\n\n".join(c.text for c in chunk_document(RUNBOOK, fmt="asciidoc"))
    assert ("```shell\ndeployctl deploy ledger --wait\n\n# the rollout stops by itself above a 2% error rate\n"
            "deployctl status ledger\n```") in text
    assert "```sql\nSELECT now() - pg_last_xact_replay_timestamp() AS lag;\n```" in text
    assert "```\n$ ledgerctl replica restart --zone b\nRestarting ledger-replica-b ... done\n```" in text
    for markup in ("[source", "----", "....", "====", "|===", ":toc:", "[[config-table]]", "[WARNING]", "//",
                   "Old instructions", "pg_ctl restart"):
        assert markup not in text
    assert "NOTE: This alert is informational during the settlement window." in text
    assert "Do not rerun the settlement batch by hand while it is still running" in text
    assert "Settings read at start-up\n\n| Variable | Default | Meaning\n| LEDGER_DB_URL" in text


def test_asciidoc_definition_list_terms_stay_with_their_descriptions() -> None:
    small = ChunkingConfig(max_chars=200, overlap_chars=40)
    chunks = chunk_document(RUNBOOK, fmt="asciidoc", config=small)
    for term, description in [("Glossary::", "The terms used by the alerts below."),
                              ("replica lag::", "The number of seconds the read replica is behind the primary."),
                              ("settlement window::", "The hour (02:00-03:00 UTC)")]:
        [holding] = [c for c in chunks if term in c.text]
        assert description in holding.text.split(term, 1)[1]
    assert "replica lag::\nThe number of seconds" in next(c.text for c in chunks if "replica lag::" in c.text)


def test_asciidoc_two_line_titles_literal_paragraphs_and_unclosed_delimiters() -> None:
    text = ("Guide\n=====\n\nIntro.\n\nInstall\n-------\n\n  $ pip install ledger\n  $ ledger --version\n\n"
            "Output:\n----\nledger 1.2\n----\n\nA stray rule\n\n----\n\nis just text.\n")
    assert [(c.heading, c.text) for c in chunk_document(text, fmt="asciidoc")] == [
        ("Guide", "Intro."),
        ("Guide › Install", "```\n$ pip install ledger\n$ ledger --version\n```\n\nOutput:\n\n```\nledger 1.2\n```"
                            "\n\nA stray rule\n\n----\n\nis just text."),
    ]


def test_an_oversized_asciidoc_listing_is_split_into_fenced_pieces() -> None:
    lines = [f"step_{i} = run({i})  # filler" for i in range(40)]
    text = "= Big\n\n[source,python]\n----\n" + "\n".join(lines) + "\n----\n"
    chunks = chunk_document(text, fmt="asciidoc", config=SMALL)
    assert len(chunks) > 2 and all(len(c.text) <= SMALL.max_chars for c in chunks)
    assert all(c.text.startswith("```python\n") and c.text.endswith("\n```") for c in chunks)
    assert [line for c in chunks for line in c.text.split("\n")[1:-1]] == lines


@pytest.mark.parametrize(("text", "expected"), [
    ("= Title\n\n== Section\n\nText.\n", True),
    ("Intro.\n\n[source,shell]\n----\nmake deploy\n----\n", True),
    ("Intro.\n\n....\nliteral output line\n....\n", True),
    ("= Title only\n\nText.\n", False),
    ("Title\n=====\n\nSection\n-------\n\nText.\n", False),
    ("\n-----------\nRST title\n-----------\n\nText.\n", False),
    ("notes\n\n----\n\nmore notes\n\n----\n", False),
    ("plain text with -- dashes\n", False),
    ("\n----\n----\nafter an empty block\n", False),
])
def test_looks_like_asciidoc(text: str, expected: bool) -> None:
    assert looks_like_asciidoc(text) is expected
