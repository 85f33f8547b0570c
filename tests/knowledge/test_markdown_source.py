"""Markdown read by CommonMark rules (markdown-it-py): headings, breaks, code, front matter as metadata."""

from __future__ import annotations

import pytest

from knowledge.chunking import chunk_document, document_title
from knowledge.extraction import extract_document
from knowledge.markdown_source import front_matter, markdown_blocks

LIMIT = 1_000_000

HUGO_PAGE = """---
title: "Deploying the ledger"
date: 2024-03-01
tags: [ops, ledger]
draft: false
---

# Deploy

Run `make deploy` from main.

- check the dashboards
- tell #ops
---

## Rollback

Run `make rollback`.
"""


def test_a_dash_line_after_a_list_item_is_a_thematic_break_not_a_heading() -> None:
    chunks = chunk_document("# Steps\n\n- item one\n- item two\n---\n\nAfter the break.\n", fmt="markdown")
    assert [(c.heading, c.text) for c in chunks] == [("Steps", "- item one\n- item two\n\nAfter the break.")]


def test_a_dash_line_under_a_paragraph_is_still_a_setext_heading() -> None:
    chunks = chunk_document("Install\n---\n\nRun the installer.\n", fmt="markdown")
    assert [(c.heading, c.text) for c in chunks] == [("Install", "Run the installer.")]


def test_yaml_front_matter_titles_the_document_and_is_never_a_passage() -> None:
    document = extract_document(HUGO_PAGE.encode(), name="content/deploy.md", max_bytes=LIMIT)
    assert (document.title, document.fmt) == ("Deploying the ledger", "markdown")
    chunks = chunk_document(document.text, fmt="markdown")
    assert [c.heading for c in chunks] == ["Deploy", "Deploy › Rollback"]
    assert not any("draft" in c.text or "2024-03-01" in c.text for c in chunks)
    assert chunks[0].text == "Run `make deploy` from main.\n\n- check the dashboards\n- tell #ops"


def test_toml_front_matter_is_metadata_too() -> None:
    text = '+++\ntitle = "Release checklist"\nweight = 3\n+++\n\nTag the release.\n'
    assert document_title(text, "markdown") == "Release checklist"
    assert [c.text for c in chunk_document(text, fmt="markdown")] == ["Tag the release."]


def test_front_matter_without_a_title_leaves_the_first_heading_as_title() -> None:
    text = "---\nlayout: post\n---\n# Real title\n\nBody.\n"
    assert document_title(text, "markdown") == "Real title"
    assert front_matter(text.split("\n")).line_count == 3


@pytest.mark.parametrize("text", [
    "---\nJust a line between two breaks\n---\n\nBody.\n",  # not a mapping
    "---\nkey: [unclosed\n---\n\nBody.\n",  # not YAML
    "Intro.\n\n---\ntitle: late\n---\n",  # not at the start
])
def test_a_dash_block_that_is_not_front_matter_stays_in_the_document(text: str) -> None:
    assert front_matter(text.split("\n")).line_count == 0
    assert "".join(c.text for c in chunk_document(text, fmt="markdown"))


def test_hash_words_and_indented_code_are_not_headings() -> None:
    text = "# Notes\n\n#hashtag is text.\n\nExample:\n\n    # a comment in indented code\n    run()\n"
    chunks = chunk_document(text, fmt="markdown")
    assert [c.heading for c in chunks] == ["Notes"]
    assert chunks[0].text == "#hashtag is text.\n\nExample:\n\n    # a comment in indented code\n    run()"


def test_blocks_keep_their_source_lines_and_an_unclosed_fence_is_closed() -> None:
    blocks = list(markdown_blocks("Title\n=====\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```sh\necho hi\n"))
    assert [(b.kind, b.level, b.text) for b in blocks] == [("heading", 1, "Title"), ("table", 0, ""), ("code", 0, "")]
    assert blocks[1].lines == ("| a | b |", "|---|---|", "| 1 | 2 |")
    assert (blocks[2].opener, blocks[2].lines[0], blocks[2].closer) == ("```sh", "echo hi", "```")
