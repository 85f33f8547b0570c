"""`EvidenceFirst`: generations pause while questions wait for their evidence, within a budget."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import torch

from bot.evidence_first import EvidenceFirst
from bot.generation import TransformersGenerator, _StopWhen

QUESTION = [{"role": "user", "content": "hello there"}]


def _release_after(seconds: float, ticket) -> threading.Timer:  # type: ignore[no-untyped-def]
    timer = threading.Timer(seconds, ticket.done)
    timer.start()
    return timer


def test_tickets_count_each_question_once() -> None:
    first_in_line = EvidenceFirst()
    first, second = first_in_line.question(), first_in_line.question()
    assert first_in_line.waiting == 2
    first.done()
    first.done()  # a second call gives nothing back twice
    assert first_in_line.waiting == 1
    second.done()
    assert first_in_line.waiting == 0
    with pytest.raises(ValueError, match="max_pause_s"):
        EvidenceFirst(max_pause_s=-1)


def test_a_pause_waits_for_the_evidence_and_no_longer() -> None:
    first_in_line = EvidenceFirst(max_pause_s=5.0)
    pauses = first_in_line.pauses()
    started = time.monotonic()
    pauses.pause()  # nobody waits: at once
    assert time.monotonic() - started < 0.05 and pauses.paused_s == 0.0
    timer = _release_after(0.3, first_in_line.question())
    started = time.monotonic()
    pauses.pause()
    waited = time.monotonic() - started
    timer.join()
    assert 0.25 <= waited < 2.0 and pauses.paused_s == pytest.approx(waited, abs=0.05)


def test_a_generation_pauses_no_more_than_its_budget() -> None:
    first_in_line = EvidenceFirst(max_pause_s=0.2)
    ticket = first_in_line.question()  # never shown during the test: a steady stream of questions
    pauses = first_in_line.pauses()
    started = time.monotonic()
    pauses.pause()
    pauses.pause()  # the budget is spent: no more waiting
    assert 0.15 <= time.monotonic() - started < 1.0 and pauses.left_s <= 0
    never = EvidenceFirst(max_pause_s=0.0).pauses()
    started = time.monotonic()
    never.pause()
    assert time.monotonic() - started < 0.05
    ticket.done()


def test_between_tokens_the_stopping_check_pauses_then_lets_generation_go_on() -> None:
    first_in_line = EvidenceFirst(max_pause_s=5.0)
    check = _StopWhen(threading.Event(), None, None, first_in_line.pauses())
    tokens = torch.zeros((1, 3), dtype=torch.long)
    timer = _release_after(0.3, first_in_line.question())
    started = time.monotonic()
    flags = check(tokens, torch.zeros((1, 8)))
    timer.join()
    assert time.monotonic() - started >= 0.25 and not bool(flags[0])  # paused, and not stopped


def test_the_model_writes_nothing_until_the_waiting_question_has_its_evidence(tiny_lm_dir: Path) -> None:
    first_in_line = EvidenceFirst(max_pause_s=5.0)
    generator = TransformersGenerator(tiny_lm_dir, device="cpu", evidence_first=first_in_line)
    started = time.monotonic()
    assert "".join(generator.stream(QUESTION, max_new_tokens=4))
    alone = time.monotonic() - started
    timer = _release_after(0.5, first_in_line.question())
    started = time.monotonic()
    chunks = [(time.monotonic() - started, text) for text in generator.stream(QUESTION, max_new_tokens=4)]
    timer.join()
    assert chunks and chunks[0][0] >= 0.45 > alone  # the first word came after the evidence, not before
    assert first_in_line.waiting == 0
