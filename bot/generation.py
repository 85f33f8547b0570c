"""The in-process generator: a local causal LM with switchable LoRA adapters (adapter over transformers).

One `TransformersGenerator` per process loads the model once (CUDA when present, else CPU) and
implements `bot.generator_protocol.Generator`. Generation runs in a worker thread feeding a
`TextIteratorStreamer`, so callers get text as tokens arrive and can stop it through a cancel event
or a timeout, both checked by a stopping criterion between tokens.

Why the locking: switching adapters (`bot.lora_adapters`) changes the whole model, not one request,
so a switch takes the admission gate exclusively and waits for in-flight generations to finish.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
    TextIteratorStreamer,
)

from bot.admission import AdmissionGate, Cancelled
from bot.evidence_first import NO_PAUSES, EvidenceFirst, PauseBudget
from bot.generator_protocol import (
    Generator,
    GeneratorError,
    Messages,
    ModelNotFoundError,
    PromptTooLongError,
)
from bot.int8_layers import Quantization, quantize_model
from bot.lora_adapters import LoraAdapterSet
from bot.model_setup import SETUP_HINT
from bot.repetition import GeneratedRepetitionProcessor

logger = logging.getLogger(__name__)

DEFAULT_MAX_CONTEXT_TOKENS = 4096
"""Cap on `context_window`: SmolLM2 allows 8192, but prompts that long take ~20 s to read on CPU."""
DEFAULT_REPETITION_PENALTY = 1.15
"""Applied to generated tokens only (bot/repetition.py): greedy decoding on small models loops on a
phrase ("bot_name=..." forty times) without it."""
DEFAULT_NO_REPEAT_NGRAM = 4
"""An answer never writes the same 4 tokens twice; the prompt's n-grams stay free to copy."""

_generating = threading.local()
"""The pause budget of the generation running on this thread (None: nothing pauses it)."""


def _pause_before_forward(module: torch.nn.Module, args: Any) -> None:
    """Forward pre-hook on the decoder: before every forward pass of a generation (each prompt piece,
    each new token), wait while questions wait for their evidence (bot/evidence_first.py)."""
    pauses: PauseBudget | None = getattr(_generating, "pauses", None)
    if pauses is not None:
        pauses.pause()


class TransformersGenerator(Generator):
    """A chat model served from a local `save_pretrained` folder, optionally with a LoRA adapter.

    Args:
        model_path: folder with config, weights and tokenizer (see `bot.model_setup`).
        device: "cuda", "cpu", ...; default CUDA when available.
        dtype: default bf16 (or fp16 without bf16 support) on CUDA, fp32 on CPU.
        max_concurrent: generations allowed to run at once.
        max_waiting: generations allowed to wait; more raise `GeneratorBusy`.
        max_context_tokens: cap on `context_window` below the model's own limit.
        max_loaded_adapters: adapters kept in memory for instant switching back.
        repetition_penalty: penalty on tokens the answer already generated (1.0: none); prompt
            tokens are never penalised, so passages can be copied.
        no_repeat_ngram_size: n-grams of this size are not repeated within the answer (0: off).
        quantize: "int8" replaces the MLP and output head by int8 layers, "int8-all" the attention
            projections too, keeping them adapter-ready (bot/int8_layers.py; CPU only): faster on CPU at
            the answer quality bench/generation_speed.py measured; "none" keeps fp32.
        evidence_first: whose waiting questions a generation pauses for, before each piece of its
            prompt and each new token (bot/evidence_first.py); by default nothing pauses it.
        prefill_chunk_tokens: read the prompt in pieces of this many tokens (transformers' chunked
            prefill) when something may pause the generation, so it can pause between pieces too
            (None, the default: in one forward pass). Measured and not the default: a question waits
            at most one piece instead of the whole prompt (bench/prefill_chunks.py), but under a
            burst the app used more CPU and did not show the evidence sooner (*Throughput under a
            burst*).

    Raises:
        ModelNotFoundError: `model_path` holds no model.
        ValueError: int8 asked for on a GPU.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        device: str | None = None,
        dtype: torch.dtype | None = None,
        max_concurrent: int = 1,
        max_waiting: int = 8,
        max_context_tokens: int = DEFAULT_MAX_CONTEXT_TOKENS,
        max_loaded_adapters: int = 3,
        repetition_penalty: float = DEFAULT_REPETITION_PENALTY,
        no_repeat_ngram_size: int = DEFAULT_NO_REPEAT_NGRAM,
        quantize: Quantization = "none",
        evidence_first: EvidenceFirst = NO_PAUSES,
        prefill_chunk_tokens: int | None = None,
    ) -> None:
        if _looks_local(model_path) and not (Path(model_path) / "config.json").is_file():
            raise ModelNotFoundError(f"No model found at {model_path}: {SETUP_HINT}.")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if quantize != "none" and self.device.type != "cpu":
            raise ValueError(f"quantize={quantize!r} (dynamic int8 Linear layers) runs on CPU only, not {self.device}")
        self.dtype = dtype or _default_dtype(self.device)
        self.model_path = model_path
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(model_path)
            self._base = AutoModelForCausalLM.from_pretrained(model_path, dtype=self.dtype)
        except OSError as exc:  # a hub id that is not in the local cache (we run offline)
            raise ModelNotFoundError(f"Could not load the model {model_path}: {exc}. {SETUP_HINT}.") from exc
        # transformers types .to through a self-less decorator
        self._base.to(self.device).eval()  # type: ignore[arg-type]
        self.quantization: Quantization = quantize
        quantize_model(self._base, quantize)
        self._adapters = LoraAdapterSet(self._base, max_loaded=max_loaded_adapters)
        model_limit = int(getattr(self._base.config, "max_position_embeddings", 0) or max_context_tokens)
        self._context_window = min(model_limit, max_context_tokens)
        self._gate = AdmissionGate(max_concurrent=max_concurrent, max_waiting=max_waiting)
        self._repetition_penalty = repetition_penalty
        self._no_repeat_ngram_size = no_repeat_ngram_size
        self._evidence_first = evidence_first
        if prefill_chunk_tokens is not None and prefill_chunk_tokens < 1:
            raise ValueError(f"prefill_chunk_tokens must be at least 1 (or None), not {prefill_chunk_tokens}")
        self._prefill_chunk_tokens = prefill_chunk_tokens if evidence_first.max_pause_s > 0 else None
        # On the decoder, which every wrapper (a LoRA adapter's too) calls as a module: its hooks always run.
        self._base.get_decoder().register_forward_pre_hook(_pause_before_forward)

    @property
    def context_window(self) -> int:
        return self._context_window

    @property
    def adapter_name(self) -> str:
        return self._adapters.active

    @property
    def loaded_adapters(self) -> tuple[str, ...]:
        """Adapters held in memory, least recently used first."""
        return self._adapters.loaded

    @property
    def admission(self) -> AdmissionGate:
        """The gate in front of the model (its `running`/`waiting` counts suit a health check)."""
        return self._gate

    def render(self, messages: Messages) -> str:
        return str(self._tokenizer.apply_chat_template(  # a str with tokenize=False
            [dict(message) for message in messages], tokenize=False, add_generation_prompt=True
        ))

    def count_tokens(self, text: str) -> int:
        # Like apply_chat_template(tokenize=True): the rendered prompt already has its special tokens.
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def stream(
        self,
        messages: Messages,
        *,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        cancel: threading.Event | None = None,
        timeout_s: float | None = None,
    ) -> Iterator[str]:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        inputs = self._tokenizer(self.render(messages), add_special_tokens=False, return_tensors="pt")
        prompt_tokens = int(inputs["input_ids"].shape[1])
        room = self._context_window - prompt_tokens
        if room < 1:
            raise PromptTooLongError(
                f"The question and its context take {prompt_tokens} tokens; the model reads at most "
                f"{self._context_window}."
            )
        stop = threading.Event()  # set when the consumer goes away, so the worker stops too
        try:
            with self._gate.admit(cancel=cancel, deadline=deadline):
                streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True)
                failures: list[BaseException] = []
                worker = threading.Thread(
                    target=self._generate_into,
                    name="generation",
                    daemon=True,
                    args=(
                        {
                            **{key: value.to(self.device) for key, value in inputs.items()},
                            "generation_config": self._generation_config(min(max_new_tokens, room), temperature),
                            "streamer": streamer,
                            "stopping_criteria": StoppingCriteriaList([_StopWhen(stop, cancel, deadline)]),
                            "logits_processor": LogitsProcessorList([GeneratedRepetitionProcessor(
                                prompt_tokens, penalty=self._repetition_penalty,
                                no_repeat_ngram_size=self._no_repeat_ngram_size)]),
                        },
                        streamer,
                        failures,
                        self._evidence_first.pauses(),
                    ),
                )
                worker.start()
                try:
                    for text in streamer:
                        if text:
                            yield text
                finally:
                    stop.set()
                    worker.join()
                if failures:
                    raise GeneratorError("The model failed while writing the answer.") from failures[0]
        except Cancelled:
            return

    def use_adapter(self, name: str, path: Path) -> None:
        with self._gate.exclusive():
            self._adapters.use(name, Path(path))
        logger.info("serving adapter %s from %s", name, path)

    def use_base(self) -> None:
        with self._gate.exclusive():
            self._adapters.use_base()
        logger.info("serving the base model")

    def _generation_config(self, max_new_tokens: int, temperature: float) -> GenerationConfig:
        tokenizer = self._tokenizer
        eos = self._base.generation_config.eos_token_id
        eos = tokenizer.eos_token_id if eos is None else eos
        sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
        return GenerationConfig(
            max_new_tokens=max_new_tokens,
            eos_token_id=eos,
            pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos,
            prefill_chunk_size=self._prefill_chunk_tokens,
            **sampling,
        )

    def _generate_into(self, kwargs: dict[str, Any], streamer: TextIteratorStreamer, failures: list,
                       pauses: PauseBudget) -> None:
        """Worker thread body: generate (pausing for waiting evidence through the decoder's hook), and
        always end the stream so the consumer never hangs."""
        _generating.pauses = pauses
        try:
            with torch.inference_mode():
                self._adapters.model.generate(**kwargs)
        except BaseException as exc:  # handed to the consumer thread, which raises GeneratorError
            logger.exception("generation failed")
            failures.append(exc)
            streamer.end()
        finally:
            _generating.pauses = None


class _StopWhen(StoppingCriteria):
    """Stops generation between tokens once cancelled, abandoned or past the deadline."""

    def __init__(self, stop: threading.Event, cancel: threading.Event | None, deadline: float | None) -> None:
        self._events = [event for event in (stop, cancel) if event is not None]
        self._deadline = deadline

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        done = any(event.is_set() for event in self._events) or (
            self._deadline is not None and time.monotonic() >= self._deadline
        )
        flags = torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)
        return cast(torch.BoolTensor, flags)


def _looks_local(model_path: str | Path) -> bool:
    """A folder path rather than a hub id ("org/name"): those must exist on disk."""
    if isinstance(model_path, Path) or Path(model_path).exists():
        return True
    return model_path.startswith((".", "/", "~")) or model_path.count("/") != 1


def _default_dtype(device: torch.device) -> torch.dtype:
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32
