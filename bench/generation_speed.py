"""CPU generation speed and answer quality per generator setting, all beside bare `generate` in one run.

Every variant answers the same questions through the product's answer path (bench/quality.py's
`run_questions` over its FAQ corpus: retrieval, the grounded prompt, the generator, the sentence
checks), so the prompts are the product's and the published-answer F1 is the quality bench's
figure. Questions are interleaved (each question answered by every variant before the next), so
load on the shared cores falls on all variants alike. Per variant: generated tokens per second of
decoding in the answer path (the support checks of the sentences already written run beside it, on
the answering embedder), the same variant's decoding alone (`generate` forced to `--decode-tokens`
tokens on the prompt of every `--decode-every`-th question, nothing beside it; median), time to
first token (prompt read + first token), and published / raw F1.

Variants (the default model, SmolLM2-135M-Instruct, fp32, 1 torch thread is the baseline):
* int8 MLP + head: `TransformersGenerator(quantize="int8")`, dynamic int8 for the MLP and output
  head; attention projections stay fp32 so LoRA adapters still attach (the product's option);
* int8 every Linear: attention too (measured for the upper bound; adapters could not attach);
* int8-all with the prompt read in pieces of 128 or 64 tokens (transformers' chunked prefill, what
  `KB_PREFILL_CHUNK_TOKENS` turns on so a generation can pause between pieces; off by default;
  bench/prefill_chunks.py): the int8 kernels quantize activations per forward pass, so pieces give
  other (not worse by construction) answers, which is why quality is measured here;
* static KV cache: `cache_implementation="static"`;
* int8 MLP + head + static KV cache: the two together;
* system-prompt prefix cache: the KV cache of the fixed system message computed once and copied
  into every request;
* 2 torch threads;
* prompt lookup decoding (transformers' `prompt_lookup_num_tokens`), alone and with int8;
* torch.compile (`--compile`; compiling takes minutes on 2 cores, reported separately).

Run: `nice python -m bench.generation_speed [--questions 12] [--compile] [--only NAME,NAME]`; the FAQ corpus goes into
its own embedded Postgres (var/bench-generation-faq-pg) on the first run. Questions are test
paraphrases the answer path does not abstain on (an abstention never calls the model). Writes
bench/results/generation_speed.json, rewritten after every question so a stopped run keeps its figures.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from bot.evidence_first import EvidenceFirst
from bot.generation import TransformersGenerator
from bot.int8_layers import quantize_linear_int8

RESULTS = Path("bench/results/generation_speed.json")
BASELINE = "bare generate (before)"


class TimedGenerator:
    """Delegates to a generator and records each stream's time to first text, tokens and decode time."""

    def __init__(self, inner: Any, *, threads: int = 1) -> None:
        self._inner = inner
        self._threads = threads
        self.records: list[dict[str, float]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def stream(self, messages: Any, **options: Any) -> Iterator[str]:
        torch.set_num_threads(self._threads)
        started = time.perf_counter()
        first = last = None
        pieces: list[str] = []
        try:
            for piece in self._inner.stream(messages, **options):
                last = time.perf_counter()
                first = first or last
                pieces.append(piece)
                yield piece
        finally:
            torch.set_num_threads(1)
        if first is not None and last is not None:
            tokens = self._inner.count_tokens("".join(pieces))
            self.records.append({"ttft_s": first - started, "tokens": tokens, "decode_s": last - first})
        self.last_messages = messages

    def decode_alone(self, tokens: int) -> float:
        """Tokens/s of the model decoding the last answer's prompt alone: `generate` with this variant's
        generation config forced to `tokens` new tokens, no streaming consumer, no answer checks beside it."""
        clock = _TokenClock()
        inner = self._inner
        config = inner._generation_config(tokens, 0.0)  # noqa: SLF001 - the variant's own settings
        config.min_new_tokens = tokens
        ids = inner._tokenizer(inner.render(self.last_messages), return_tensors="pt")  # noqa: SLF001
        torch.set_num_threads(self._threads)
        try:
            with torch.inference_mode():
                inner._adapters.model.generate(**ids, generation_config=config, streamer=clock)  # noqa: SLF001
        finally:
            torch.set_num_threads(1)
        return clock.rate()


class _TokenClock:
    """A streamer that only timestamps: `generate` puts the prompt first, then each new token."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def put(self, value: Any) -> None:
        self.times.append(time.perf_counter())

    def end(self) -> None:
        pass

    def rate(self) -> float:
        """Tokens per second after the first new token (the prompt's read excluded)."""
        decoded = self.times[1:]
        return (len(decoded) - 1) / (decoded[-1] - decoded[0]) if len(decoded) > 1 else 0.0


class StaticCacheGenerator(TransformersGenerator):
    """Generates with transformers' static (preallocated) KV cache."""

    def _generation_config(self, max_new_tokens: int, temperature: float) -> Any:
        config = super()._generation_config(max_new_tokens, temperature)
        config.cache_implementation = "static"
        return config


class PromptLookupGenerator(TransformersGenerator):
    """Prompt lookup decoding: drafts tokens by matching the answer's last words in the prompt, verified in
    one forward pass (greedy output unchanged); a grounded answer copies its passages, so drafts may hold."""

    def __init__(self, *args: Any, lookup_tokens: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lookup_tokens = lookup_tokens

    def _generation_config(self, max_new_tokens: int, temperature: float) -> Any:
        config = super()._generation_config(max_new_tokens, temperature)
        config.prompt_lookup_num_tokens = self._lookup_tokens
        return config


class PrefixCachedGenerator(TransformersGenerator):
    """Reads the fixed system message once: its KV cache is copied into every request that starts with it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from bot.prompt import SYSTEM_RULES

        rendered = self._tokenizer.apply_chat_template([{"role": "system", "content": SYSTEM_RULES}], tokenize=False)
        self._prefix = self._tokenizer(rendered, add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.inference_mode():
            self._prefix_cache = self._base(self._prefix, use_cache=True).past_key_values
        self.hits = 0
        self._lock = threading.Lock()

    def _generate_into(self, kwargs: dict[str, Any], streamer: Any, failures: list) -> None:  # type: ignore[type-arg]
        ids = kwargs["input_ids"]
        width = self._prefix.shape[1]
        if ids.shape[1] > width and torch.equal(ids[0, :width], self._prefix[0]):
            with self._lock:
                self.hits += 1
            kwargs = {**kwargs, "past_key_values": copy.deepcopy(self._prefix_cache)}
        super()._generate_into(kwargs, streamer, failures)


def _variants(model_dir: Path, with_compile: bool) -> dict[str, tuple[Callable[[], Any], int]]:
    """Variant name → (generator factory, torch threads)."""

    def all_int8() -> TransformersGenerator:
        generator = TransformersGenerator(model_dir)
        quantize_linear_int8(generator._base)  # noqa: SLF001 - the bench measures the model itself
        return generator

    def compiled() -> TransformersGenerator:
        generator = TransformersGenerator(model_dir)
        generator._base.forward = torch.compile(generator._base.forward, dynamic=True)  # noqa: SLF001
        return generator

    variants: dict[str, tuple[Callable[[], Any], int]] = {
        BASELINE: (lambda: TransformersGenerator(model_dir), 1),
        "int8 MLP + head (KB_GENERATION_QUANTIZE=int8)": (lambda: TransformersGenerator(model_dir, quantize="int8"), 1),
        "int8 every Linear (no adapters)": (all_int8, 1),
        "int8 every Linear with adapter-ready attention (KB_GENERATION_QUANTIZE=int8-all)": (
            lambda: TransformersGenerator(model_dir, quantize="int8-all"), 1),
        "int8-all + prompt read in pieces of 128 (evidence-first pausing on)": (
            lambda: TransformersGenerator(model_dir, quantize="int8-all", evidence_first=EvidenceFirst(),
                                          prefill_chunk_tokens=128), 1),
        "int8-all + prompt read in pieces of 64 (evidence-first pausing on)": (
            lambda: TransformersGenerator(model_dir, quantize="int8-all", evidence_first=EvidenceFirst(),
                                          prefill_chunk_tokens=64), 1),
        "static KV cache": (lambda: StaticCacheGenerator(model_dir), 1),
        "int8 MLP + head + static KV cache": (lambda: StaticCacheGenerator(model_dir, quantize="int8"), 1),
        "system-prompt prefix cache": (lambda: PrefixCachedGenerator(model_dir), 1),
        "2 torch threads": (lambda: TransformersGenerator(model_dir), 2),
        "prompt lookup decoding (10 tokens)": (lambda: PromptLookupGenerator(model_dir, lookup_tokens=10), 1),
        "int8 MLP + head + prompt lookup decoding (10 tokens)": (
            lambda: PromptLookupGenerator(model_dir, quantize="int8", lookup_tokens=10), 1),
    }
    if with_compile:
        variants["torch.compile (dynamic shapes)"] = (compiled, 1)
    return variants


def _speed(records: list[dict[str, float]]) -> dict[str, Any]:
    decoded = [r for r in records if r["tokens"] > 1 and r["decode_s"] > 0]
    tokens = sum(r["tokens"] - 1 for r in decoded)
    seconds = sum(r["decode_s"] for r in decoded)
    return {"answers_generated": len(records), "tokens_per_s": round(tokens / seconds, 2) if seconds else None,
            "ttft_median_s": round(statistics.median(r["ttft_s"] for r in records), 3) if records else None,
            "generated_tokens": sum(r["tokens"] for r in records)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=12, help="test paraphrases answered by every variant")
    parser.add_argument("--compile", action="store_true", help="also measure torch.compile (minutes to compile)")
    parser.add_argument("--only", default="", help="comma-separated variant names to run besides the baseline "
                                                    "(default: all)")
    parser.add_argument("--corpus-db", type=Path, default=Path("var/bench-generation-faq-pg"),
                        help="embedded Postgres of this bench's own FAQ corpus (ingested when empty)")
    parser.add_argument("--decode-tokens", type=int, default=48,
                        help="tokens each variant decodes alone on every --decode-every-th question's prompt")
    parser.add_argument("--decode-every", type=int, default=4)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from bench.answer_quality import run_questions, summarise_answers
    from bench.faq import load_faq
    from bench.quality import Corpus, _corpus_database, ensure_doc_sources, ingest_corpus, is_gold, spread
    from bench.question_sets import paraphrases
    from bot.answering import Answerer, AnsweringConfig, Question
    from bot.model_setup import default_model_dir
    from knowledge.embedding import make_embedder, resolve_backend
    from knowledge.settings import KnowledgeSettings

    sources = ensure_doc_sources()
    items = load_faq(sources)
    engine, sessions = _corpus_database(Corpus("faq", sources / "faq", args.corpus_db))
    # The answering process's embedder (auto: int8 ONNX Runtime on a CPU): the support checks beside
    # generation run on it, as in the product.
    embedder = make_embedder(resolve_backend(KnowledgeSettings().embedding_backend))
    ingest_corpus(sessions, embedder, sources / "faq")  # a no-op once ingested: every page is unchanged
    # Only questions the answer path sends to the model measure generation: those it answers from
    # evidence (most unanswered ones abstain before any model call), spread over the test split.
    model_dir = default_model_dir(Path("var/models"))
    evidence_only = Answerer(sessions=sessions, embedder=embedder, generator=TransformersGenerator(model_dir),
                             config=AnsweringConfig(summarise=False))  # builds the prompt, never generates
    answered = [asked for asked in paraphrases(items, "test")
                if not evidence_only.answer(Question(text=asked.text)).abstained]
    questions = spread(answered, args.questions)
    warm_up = next(asked for asked in paraphrases(items, "dev")
                   if not evidence_only.answer(Question(text=asked.text)).abstained)
    timed: dict[str, TimedGenerator] = {}
    answerers: dict[str, Answerer] = {}
    setup_s: dict[str, float] = {}
    failed: dict[str, str] = {}
    chosen = {name.strip() for name in args.only.split(",") if name.strip()}
    variants = {name: variant for name, variant in _variants(model_dir, args.compile).items()
                if not chosen or name in chosen or name == BASELINE}
    for name, (factory, threads) in variants.items():
        started = time.perf_counter()
        try:
            generator = TimedGenerator(factory(), threads=threads)
            answerer = Answerer(sessions=sessions, embedder=embedder, generator=generator,  # type: ignore[arg-type]
                                config=AnsweringConfig())
            run_questions(answerer, [warm_up], is_gold=is_gold)  # first call: lazy init, compile
        except Exception as exc:  # a variant this stack cannot run is reported, not fatal
            failed[name] = f"{type(exc).__name__}: {exc}"[:300]
            print(f"failed: {name}: {failed[name]}", flush=True)
            continue
        if not generator.records:
            failed[name] = "the warm-up answer did not reach the model (abstained)"
        generator.records.clear()
        timed[name], answerers[name] = generator, answerer
        setup_s[name] = round(time.perf_counter() - started, 1)
        print(f"ready: {name} ({setup_s[name]} s with a warm-up answer)", flush=True)
    outcomes: dict[str, list[Any]] = {name: [] for name in timed}
    results: dict[str, Any] = {"model": str(model_dir), "questions": [q.text for q in questions],
                               "decode_tokens": args.decode_tokens,
                               "embedding_backend": getattr(embedder, "model_name", ""),
                               "corpus": "Python FAQ pages (bench/quality.py corpus faq)", "failed_variants": failed}
    decode_rates: dict[str, list[float]] = {name: [] for name in timed}
    for number, asked in enumerate(questions, start=1):
        for name, answerer in answerers.items():
            outcomes[name] += run_questions(answerer, [asked], is_gold=is_gold)
        if args.decode_every and (number - 1) % args.decode_every == 0:
            for name, generator in timed.items():
                if getattr(generator, "last_messages", None) is not None:
                    decode_rates[name].append(generator.decode_alone(args.decode_tokens))
        table = {}
        for name in timed:
            quality = summarise_answers(outcomes[name])
            table[name] = {**_speed(timed[name].records), "setup_s": setup_s[name],
                           "decode_alone_tokens_per_s": (round(statistics.median(decode_rates[name]), 2)
                                                         if decode_rates[name] else None),
                           "decode_alone_prompts": len(decode_rates[name]),
                           **{key: quality[key] for key in ("questions", "f1_published", "f1_raw_generation",
                                                             "answered_share", "invented_specifics")}}
        base = table[BASELINE]
        for name, row in table.items():
            row["tokens_per_s_ratio"] = (round(row["tokens_per_s"] / base["tokens_per_s"], 2)
                                         if row["tokens_per_s"] and base["tokens_per_s"] else None)
            row["decode_alone_ratio"] = (round(row["decode_alone_tokens_per_s"] / base["decode_alone_tokens_per_s"], 2)
                                         if row["decode_alone_tokens_per_s"] and base["decode_alone_tokens_per_s"]
                                         else None)
            row["ttft_ratio"] = (round(row["ttft_median_s"] / base["ttft_median_s"], 2)
                                 if row["ttft_median_s"] and base["ttft_median_s"] else None)
            row["f1_published_difference"] = (round(row["f1_published"] - base["f1_published"], 4)
                                              if row["f1_published"] is not None else None)
            row["questions_with_baseline_f1"] = sum(  # same published F1: almost surely the same text
                1 for mine, theirs in zip(outcomes[name], outcomes[BASELINE], strict=True)
                if mine.f1_published == theirs.f1_published)
        results["variants"] = table
        results["answered_questions"] = number
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"question {number}/{len(questions)}: " + "; ".join(
            f"{name}: {row['tokens_per_s']} tok/s (alone {row['decode_alone_tokens_per_s']}), "
            f"ttft {row['ttft_median_s']} s, F1 {row['f1_published']}"
            for name, row in table.items()), flush=True)
    engine.dispose()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
