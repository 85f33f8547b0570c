"""TransformersGenerator on a tiny random Llama: streaming, stopping, the busy gate, LoRA switching."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from bot.generation import TransformersGenerator
from bot.generator_protocol import (
    AdapterLoadError,
    Generator,
    GeneratorBusy,
    ModelNotFoundError,
    PromptTooLongError,
)

QUESTION = [
    {"role": "system", "content": "you are a team bot ."},
    {"role": "user", "content": "how do we deploy the bot ?"},
]


def _wait_until(condition, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_implements_the_protocol(tiny_generator: TransformersGenerator) -> None:
    assert isinstance(tiny_generator, Generator)


def test_render_is_the_chat_template_with_generation_prompt(tiny_generator: TransformersGenerator) -> None:
    prompt = tiny_generator.render(QUESTION)

    assert prompt == (
        "<|im_start|>system\nyou are a team bot .<|im_end|>\n"
        "<|im_start|>user\nhow do we deploy the bot ?<|im_end|>\n<|im_start|>assistant\n"
    )
    assert tiny_generator.count_tokens(prompt) == 21
    assert tiny_generator.context_window == 512


def test_stream_yields_deltas_that_join_to_generate(tiny_generator: TransformersGenerator) -> None:
    deltas = list(tiny_generator.stream(QUESTION, max_new_tokens=20))

    assert len(deltas) > 1
    assert "".join(deltas) == tiny_generator.generate(QUESTION, max_new_tokens=20)
    assert tiny_generator.count_tokens("".join(deltas)) == 20


def test_temperature_zero_is_deterministic_and_sampling_works(tiny_generator: TransformersGenerator) -> None:
    first = tiny_generator.generate(QUESTION, max_new_tokens=30)

    assert tiny_generator.generate(QUESTION, max_new_tokens=30) == first
    assert tiny_generator.generate(QUESTION, max_new_tokens=30, temperature=1.0).strip()


def test_cancel_stops_generation_early(tiny_generator: TransformersGenerator) -> None:
    cancel = threading.Event()
    deltas = []
    for delta in tiny_generator.stream(QUESTION, max_new_tokens=450, cancel=cancel):
        deltas.append(delta)
        cancel.set()

    assert tiny_generator.count_tokens("".join(deltas)) < 450
    assert tiny_generator.admission.running == 0


def test_timeout_stops_generation_early(tiny_generator: TransformersGenerator) -> None:
    started = time.monotonic()
    text = tiny_generator.generate(QUESTION, max_new_tokens=450, timeout_s=0.05)

    assert 0 < tiny_generator.count_tokens(text) < 450
    assert time.monotonic() - started < 2.0


def test_abandoned_stream_frees_its_slot(tiny_generator: TransformersGenerator) -> None:
    stream = tiny_generator.stream(QUESTION, max_new_tokens=450)
    next(stream)
    stream.close()

    assert tiny_generator.admission.running == 0


def test_prompt_longer_than_the_context_is_refused(tiny_generator: TransformersGenerator) -> None:
    long_question = [{"role": "user", "content": "bot " * 600}]

    with pytest.raises(PromptTooLongError, match="512"):
        tiny_generator.generate(long_question)


def _hold_slot(generator: TransformersGenerator, started: threading.Event, release: threading.Event) -> None:
    """Take the only slot and keep it (by not finishing the stream) until `release`."""
    stream = generator.stream(QUESTION, max_new_tokens=50)
    next(stream)
    started.set()
    release.wait(10)
    stream.close()


@pytest.fixture
def busy_generator(tiny_lm_dir: Path) -> Iterator[tuple[TransformersGenerator, threading.Event]]:
    """A one-slot, one-waiter generator whose slot is held until the returned event is set."""
    generator = TransformersGenerator(tiny_lm_dir, device="cpu", max_concurrent=1, max_waiting=1)
    started, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_slot, args=(generator, started, release), daemon=True)
    holder.start()
    assert started.wait(10)
    yield generator, release
    release.set()
    holder.join(10)


def test_busy_gate_refuses_beyond_max_waiting_and_cancelled_waiters_leave(
    busy_generator: tuple[TransformersGenerator, threading.Event],
) -> None:
    generator, release = busy_generator
    waiter_cancel = threading.Event()
    waiter_result: list[str] = []
    waiter = threading.Thread(
        target=lambda: waiter_result.append(generator.generate(QUESTION, max_new_tokens=5, cancel=waiter_cancel)),
        daemon=True,
    )
    waiter.start()
    _wait_until(lambda: generator.admission.waiting == 1)

    with pytest.raises(GeneratorBusy, match="try again"):
        generator.generate(QUESTION, max_new_tokens=5)

    waiter_cancel.set()
    waiter.join(5)
    assert waiter_result == [""]
    assert generator.admission.waiting == 0

    release.set()
    _wait_until(lambda: generator.admission.running == 0)
    assert generator.generate(QUESTION, max_new_tokens=5)


def test_waiter_gets_the_slot_when_it_frees(busy_generator: tuple[TransformersGenerator, threading.Event]) -> None:
    generator, release = busy_generator
    results: list[str] = []
    waiter = threading.Thread(target=lambda: results.append(generator.generate(QUESTION, max_new_tokens=5)))
    waiter.start()
    _wait_until(lambda: generator.admission.waiting == 1)

    release.set()
    waiter.join(10)

    assert len(results) == 1 and results[0]


def test_waiting_past_the_timeout_is_busy(busy_generator: tuple[TransformersGenerator, threading.Event]) -> None:
    generator, _ = busy_generator

    with pytest.raises(GeneratorBusy):
        generator.generate(QUESTION, max_new_tokens=5, timeout_s=0.2)


def test_adapters_change_outputs_and_base_restores_them(
    tiny_generator: TransformersGenerator, adapter_a_dir: Path, adapter_b_dir: Path
) -> None:
    base = tiny_generator.generate(QUESTION, max_new_tokens=30)

    tiny_generator.use_adapter("answers-v1", adapter_a_dir)
    with_a = tiny_generator.generate(QUESTION, max_new_tokens=30)
    tiny_generator.use_adapter("answers-v2", adapter_b_dir)
    with_b = tiny_generator.generate(QUESTION, max_new_tokens=30)

    assert tiny_generator.adapter_name == "answers-v2"
    assert len({base, with_a, with_b}) == 3

    tiny_generator.use_base()
    assert tiny_generator.adapter_name == "base"
    assert tiny_generator.generate(QUESTION, max_new_tokens=30) == base

    tiny_generator.use_adapter("answers-v1", adapter_a_dir)  # still loaded: a rollback is instant
    assert tiny_generator.generate(QUESTION, max_new_tokens=30) == with_a
    assert tiny_generator.loaded_adapters == ("answers-v2", "answers-v1")


def test_loaded_adapters_are_bounded(tiny_lm_dir: Path, adapter_a_dir: Path, adapter_b_dir: Path) -> None:
    generator = TransformersGenerator(tiny_lm_dir, device="cpu", max_loaded_adapters=2)
    for name, path in (("v1", adapter_a_dir), ("v2", adapter_b_dir), ("v3", adapter_a_dir)):
        generator.use_adapter(name, path)

    assert generator.loaded_adapters == ("v2", "v3")
    assert generator.adapter_name == "v3"


def test_corrupt_adapter_raises_and_the_previous_adapter_keeps_serving(
    tiny_generator: TransformersGenerator, adapter_a_dir: Path, corrupt_adapter_dir: Path
) -> None:
    tiny_generator.use_adapter("answers-v1", adapter_a_dir)
    with_a = tiny_generator.generate(QUESTION, max_new_tokens=30)

    with pytest.raises(AdapterLoadError, match=str(corrupt_adapter_dir)):
        tiny_generator.use_adapter("answers-v2", corrupt_adapter_dir)

    assert tiny_generator.adapter_name == "answers-v1"
    assert tiny_generator.generate(QUESTION, max_new_tokens=30) == with_a


def test_a_loaded_name_cannot_point_at_other_files(
    tiny_generator: TransformersGenerator, adapter_a_dir: Path, adapter_b_dir: Path
) -> None:
    tiny_generator.use_adapter("answers-v1", adapter_a_dir)

    with pytest.raises(AdapterLoadError, match="immutable"):
        tiny_generator.use_adapter("answers-v1", adapter_b_dir)
    assert tiny_generator.adapter_name == "answers-v1"


def test_missing_adapter_on_the_base_model_keeps_the_base(
    tiny_generator: TransformersGenerator, tmp_path: Path
) -> None:
    base = tiny_generator.generate(QUESTION, max_new_tokens=30)

    with pytest.raises(AdapterLoadError, match="nowhere"):
        tiny_generator.use_adapter("answers-v1", tmp_path / "nowhere")

    assert tiny_generator.adapter_name == "base"
    assert tiny_generator.generate(QUESTION, max_new_tokens=30) == base


@pytest.fixture
def mismatched_adapter_dir(adapter_a_dir: Path, tmp_path: Path) -> Path:
    """Readable files whose tensors have the wrong shapes: only peft itself can notice."""
    out = tmp_path / "mismatched"
    shutil.copytree(adapter_a_dir, out)
    weights = {name: torch.zeros(tensor.shape[0] + 3, tensor.shape[1]) for name, tensor in
               load_file(adapter_a_dir / "adapter_model.safetensors").items()}
    save_file(weights, out / "adapter_model.safetensors")
    return out


def test_adapter_failing_inside_peft_leaves_the_model_as_it_was(
    tiny_generator: TransformersGenerator, adapter_a_dir: Path, mismatched_adapter_dir: Path
) -> None:
    base = tiny_generator.generate(QUESTION, max_new_tokens=30)

    with pytest.raises(AdapterLoadError):
        tiny_generator.use_adapter("first", mismatched_adapter_dir)
    assert tiny_generator.generate(QUESTION, max_new_tokens=30) == base

    tiny_generator.use_adapter("answers-v1", adapter_a_dir)
    with_a = tiny_generator.generate(QUESTION, max_new_tokens=30)
    with pytest.raises(AdapterLoadError):
        tiny_generator.use_adapter("second", mismatched_adapter_dir)

    assert tiny_generator.adapter_name == "answers-v1"
    assert tiny_generator.loaded_adapters == ("answers-v1",)
    assert tiny_generator.generate(QUESTION, max_new_tokens=30) == with_a


def test_adapter_switch_waits_for_the_generation_in_flight(
    busy_generator: tuple[TransformersGenerator, threading.Event], adapter_a_dir: Path
) -> None:
    generator, release = busy_generator
    switcher = threading.Thread(target=generator.use_adapter, args=("answers-v1", adapter_a_dir), daemon=True)
    switcher.start()

    time.sleep(0.3)
    assert switcher.is_alive() and generator.adapter_name == "base"

    release.set()
    switcher.join(10)
    assert generator.adapter_name == "answers-v1"


def test_missing_model_names_the_setup_command(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"make setup.*python -m bot setup-model"):
        TransformersGenerator(tmp_path / "no-model-here")
