"""`EvidenceFirst`: generations pause while questions wait for their evidence, within a budget."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from bot.evidence_first import EvidenceFirst, SharedCounts
from bot.generation import TransformersGenerator

QUESTION = [{"role": "user", "content": "hello there"}]
PIECE = 128
LONG_QUESTION = [{"role": "user", "content": " ".join(["hello there"] * 200)}]


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


def test_work_put_off_waits_for_the_evidence_until_its_deadline_not_longer() -> None:
    """`wait_before`: a wall-clock deadline set when the work was put off, so work queued behind other work
    does not wait again once its time is up."""
    first_in_line = EvidenceFirst(max_pause_s=0.3)
    assert first_in_line.wait_before(first_in_line.deadline()) < 0.05, "nobody waits: at once"
    timer = _release_after(0.1, first_in_line.question())
    waited = first_in_line.wait_before(first_in_line.deadline())
    timer.join()
    assert 0.08 <= waited < 0.25, "until the question's evidence is shown"
    ticket = first_in_line.question()  # never shown during the test
    deadline = first_in_line.deadline()
    assert 0.25 <= first_in_line.wait_before(deadline) < 0.6, "until the deadline"
    assert first_in_line.wait_before(deadline) < 0.05, "past its deadline, put-off work no longer waits"
    assert EvidenceFirst(max_pause_s=0).wait_before(EvidenceFirst(max_pause_s=0).deadline()) < 0.05
    ticket.done()


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


def _record_forward_passes(generator: TransformersGenerator, on_pass=None) -> list[tuple[float, int]]:  # type: ignore[no-untyped-def]
    """(time, tokens read) of each forward pass of the decoder, after the pausing hook ran."""
    passes: list[tuple[float, int]] = []

    def record(module, args, kwargs) -> None:  # type: ignore[no-untyped-def]
        tokens = kwargs["input_ids"] if kwargs.get("input_ids") is not None else kwargs["inputs_embeds"]
        passes.append((time.monotonic(), int(tokens.shape[1])))
        if on_pass is not None:
            on_pass(len(passes))

    generator._base.get_decoder().register_forward_pre_hook(record, with_kwargs=True)
    return passes


def test_a_question_arriving_while_the_prompt_is_read_pauses_it_between_pieces(tiny_lm_dir: Path) -> None:
    first_in_line = EvidenceFirst(max_pause_s=5.0)
    generator = TransformersGenerator(tiny_lm_dir, device="cpu", evidence_first=first_in_line,
                                      prefill_chunk_tokens=PIECE)
    timers: list[threading.Timer] = []
    passes = _record_forward_passes(generator, on_pass=lambda n: timers.append(
        _release_after(0.4, first_in_line.question())) if n == 1 else None)
    prompt_tokens = generator.count_tokens(generator.render(LONG_QUESTION))
    assert prompt_tokens > 2 * PIECE
    assert "".join(generator.stream(LONG_QUESTION, max_new_tokens=3))
    timers[0].join()
    pieces = [tokens for _, tokens in passes if tokens > 1]
    assert pieces[0] == PIECE and sum(pieces) == prompt_tokens  # read in pieces, each token once
    assert passes[1][0] - passes[0][0] >= 0.35  # the second piece waited for the question's evidence
    assert first_in_line.waiting == 0


def test_without_pausing_the_prompt_is_read_in_one_pass_to_the_same_answer(tiny_lm_dir: Path) -> None:
    whole = TransformersGenerator(tiny_lm_dir, device="cpu")
    passes = _record_forward_passes(whole)
    in_one = "".join(whole.stream(LONG_QUESTION, max_new_tokens=6))
    assert passes[0][1] == whole.count_tokens(whole.render(LONG_QUESTION))
    pieces = TransformersGenerator(tiny_lm_dir, device="cpu", evidence_first=EvidenceFirst(max_pause_s=5.0),
                                   prefill_chunk_tokens=PIECE)
    assert "".join(pieces.stream(LONG_QUESTION, max_new_tokens=6)) == in_one


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


def test_a_generation_pauses_for_a_sibling_processs_waiting_question(tmp_path: Path) -> None:
    mine = EvidenceFirst(max_pause_s=5.0, siblings=SharedCounts(tmp_path, name="mine"))
    sibling = EvidenceFirst(max_pause_s=5.0, siblings=SharedCounts(tmp_path, name="sibling"))
    ticket = sibling.question()
    assert mine.waiting == 0 and mine.waiting_anywhere() == 1 and sibling.waiting_anywhere() == 1
    timer = _release_after(0.3, ticket)
    pauses = mine.pauses()
    started = time.monotonic()
    pauses.pause()
    timer.join()
    assert 0.25 <= time.monotonic() - started < 2.0
    assert mine.waiting_anywhere() == 0 and (tmp_path / "sibling.count").read_text().strip() == "0"


def test_a_count_left_by_a_process_that_is_gone_or_silent_or_garbled_is_ignored(tmp_path: Path) -> None:
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    (tmp_path / f"{gone}.count").write_text("3")  # its process ended with questions waiting
    silent = tmp_path / "silent.count"
    silent.write_text("2")
    os.utime(silent, (time.time() - 120, time.time() - 120))  # not rewritten for two minutes
    (tmp_path / "garbled.count").write_text("three")
    (tmp_path / "notes.txt").write_text("5")
    counts = SharedCounts(tmp_path, name="mine")
    assert counts.others() == 0
    (tmp_path / "live.count").write_text("2")
    assert counts.others() == 2
    counts.publish(12)
    counts.publish(4)  # rewritten in place: no "42" left from the longer count
    assert (tmp_path / "mine.count").read_text().strip() == "4" and counts.others() == 2  # its own is no sibling
    counts.close()
    assert not (tmp_path / "mine.count").exists()


def test_across_real_processes_the_model_waits_for_the_other_processs_evidence(tmp_path: Path) -> None:
    import subprocess
    import sys

    holder = ("import sys, time; from pathlib import Path; from bot.evidence_first import EvidenceFirst, "
              "SharedCounts; first = EvidenceFirst(siblings=SharedCounts(Path(sys.argv[1]))); "
              "ticket = first.question(); print('waiting', flush=True); time.sleep(0.6); ticket.done(); "
              "time.sleep(0.2)")
    other = subprocess.Popen([sys.executable, "-c", holder, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "waiting"
        mine = EvidenceFirst(max_pause_s=5.0, siblings=SharedCounts(tmp_path))
        started = time.monotonic()
        mine.pauses().pause()
        waited = time.monotonic() - started
    finally:
        other.wait(10)
    assert 0.3 <= waited < 3.0, waited


@pytest.mark.parametrize(("configured", "first_pass"), [("32", 32), ("0", None)])
def test_the_prompt_piece_size_comes_from_the_settings(tiny_lm_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                       configured: str, first_pass: int | None) -> None:
    from bot.runtime import build_generator
    from bot.settings import BotSettings

    monkeypatch.setenv("KB_BASE_MODEL", str(tiny_lm_dir))
    monkeypatch.setenv("KB_TORCH_THREADS", "0")  # leave the test process's threads alone
    monkeypatch.setenv("KB_PREFILL_CHUNK_TOKENS", configured)
    generator = build_generator(BotSettings(), evidence_first=EvidenceFirst(max_pause_s=5.0))
    assert isinstance(generator, TransformersGenerator)
    passes = _record_forward_passes(generator)
    assert "".join(generator.stream(LONG_QUESTION, max_new_tokens=2))
    assert passes[0][1] == (first_pass or generator.count_tokens(generator.render(LONG_QUESTION)))
