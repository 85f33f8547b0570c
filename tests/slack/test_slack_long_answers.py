"""Long answers reach Slack whole (split over several messages) or cut cleanly with a pointer, never lost."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.answering import Answerer, AnsweringConfig
from bot.evidence import EvidenceConfig
from bot.slack.answer_pages import CUT_NOTE, MESSAGE_TEXT_BUDGET
from bot.slack.blocks import answer_blocks, continuation_blocks
from bot.slack.mrkdwn import SECTION_LIMIT, from_markdown
from bot.slack.streaming import StreamOptions
from knowledge.embedding import Embedder
from store.schema import Answer
from tests.fakes.block_kit import block_errors, block_text_chars
from tests.scripted_generator import ScriptedGenerator
from tests.slack.conftest import MakeBot
from tests.slack.harness import add_document

CONFIG_LINES = [f"  billing_worker_{n:03d}: {{replicas: {n % 7 + 1}, queue: billing-{n:03d}, timeout_s: {30 + n}}}"
                for n in range(400)]
CONFIG_DOC = ("Billing worker configuration", "# Billing worker configuration\n\nThe billing worker configuration "
              "file lists every billing worker with its replicas, queue and timeout:\n\n```yaml\nworkers:\n"
              + "\n".join(CONFIG_LINES) + "\n```\n")


def sections(blocks: list[dict[str, Any]]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]


def words(text: str) -> list[str]:
    return text.split()


@pytest.mark.parametrize("mode", ["native", "update"])
def test_an_answer_quoting_a_long_code_block_is_posted_completely(make_bot: MakeBot, sessions: sessionmaker[Session],
                                                                   embedder: Embedder, mode: str) -> None:
    add_document(sessions, embedder, *CONFIG_DOC)
    generator = ScriptedGenerator("The billing worker configuration lists every worker [1].")
    # A team that quotes whole configuration files (no code trimming, a large quote budget).
    generous = AnsweringConfig(passages=20, evidence=EvidenceConfig(passages=20, lead_words=6000, budget_words=6000,
                                                                    min_relative_score=0.0, max_code_lines=2000))
    bot = make_bot(generator=generator, streaming=StreamOptions(mode=mode, interval_s=0.05),  # type: ignore[arg-type]
                   answerer=Answerer(sessions=sessions, embedder=embedder, generator=generator, config=generous))
    ts = bot.ask("What does the billing worker configuration file list for every billing worker?")

    refused = [c for c in bot.fake.calls if c.reply and c.reply.get("ok") is False]
    assert not refused, [(c.method, c.reply) for c in refused]
    replies = [m for m in bot.fake.bot_replies("C1", ts) if m.get("blocks")]
    assert len(replies) >= 2, "a quote this long needs more than one message"
    shown = [text for message in replies for text in sections(message["blocks"])]
    assert all(len(text) <= SECTION_LIMIT for text in shown)
    assert all(block_text_chars(m["blocks"]) <= MESSAGE_TEXT_BUDGET + 500 for m in replies)
    assert all(not block_errors(m["blocks"]) for m in replies)
    [row] = bot.rows(Answer)
    assert len(row.published_text or "") > MESSAGE_TEXT_BUDGET, "the answer really is longer than one message"
    answer_text = [text for text in shown if not text.startswith("*Sources*")]
    assert words(" ".join(answer_text)) == words(from_markdown(row.published_text or "")), "every word shown, in order"
    assert "continues in the next" in str(replies[0]["blocks"]) and "part 2 of" in str(replies[1]["blocks"])
    # mrkdwn has no syntax highlighting: the fence's language would show as the code's first line.
    assert any("```\nworkers:" in text for text in shown) and not any("```yaml" in text for text in shown)


def test_an_answer_longer_than_five_messages_is_cut_at_a_section_with_a_pointer() -> None:
    text = "\n\n".join(f"Paragraph {i}: " + "word " * 500 for i in range(40))  # ~100k characters
    first = answer_blocks(answer_id=9, text=text, citations=[], adapter_name="base")
    rest = continuation_blocks(answer_id=9, text=text)
    messages = [first, *rest]
    assert len(messages) == 5 and all(not block_errors(m) for m in messages)
    assert all(block_text_chars(m) <= MESSAGE_TEXT_BUDGET + 500 for m in messages)
    assert CUT_NOTE in rest[-1][-1]["elements"][0]["text"] and "part 5 of 5" in rest[-1][-1]["elements"][0]["text"]
    shown = " ".join(" ".join(sections(m)) for m in messages)
    assert words(shown) == words(text)[:len(words(shown))], "what is shown is the answer's beginning, in order"
    assert shown.rstrip().endswith("word"), "cut between sections, never inside a word"
