"""How long a waiting question may wait for the model: the prompt read whole against in pieces.

With evidence-first pausing (bot/evidence_first.py) a generation waits, before each forward pass,
while questions wait for their quoted evidence. A forward pass already running cannot stop, so the
longest single pass is the longest a question that just arrived waits for the model to let go of
the core. Reading the prompt whole makes that pass the whole prompt; transformers' chunked prefill
(`prefill_chunk_size`, `TransformersGenerator(prefill_chunk_tokens=…)`, `KB_PREFILL_CHUNK_TOKENS`)
cuts it into pieces.

Measured on real answering prompts (the default model as the product loads it, one torch thread,
passages retrieved for test paraphrases from the FAQ knowledge base of bench/quality.py), each
prompt read by every variant in turn, in rounds (the host is noisy): the longest forward pass, the
whole prompt's reading time (the cost of the pieces) and the answer's first 16 tokens (they must
not change).

Run: `python -m bench.prefill_chunks [--prompts 12] [--rounds 3]`; figures go to
bench/results/prefill_chunks.json (and .md, rendered by bench/readme_tables.py).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.machine import machine_at_end, machine_at_start
from bench.readme_tables import write_result

RESULTS = Path("bench/results/prefill_chunks.json")
VARIANTS: dict[str, int | None] = {"whole prompt (before)": None, "pieces of 32": 32, "pieces of 64": 64,
                                   "pieces of 128": 128}
ANSWER_TOKENS = 16


def _prompts(count: int, count_tokens: Callable[[str], int]) -> list[list[dict[str, str]]]:
    """The messages the model reads for `count` test paraphrases over the FAQ knowledge base
    (`count_tokens`: the model's tokenizer, which sizes the passages)."""
    from bench.faq import load_faq
    from bench.quality import _corpus_database, corpora, ensure_doc_sources, spread
    from bench.question_sets import paraphrases
    from bot.prompt import build_prompt
    from knowledge.embedding import SentenceTransformerEmbedder
    from knowledge.search import search_passages

    sources = ensure_doc_sources()
    questions = spread(paraphrases(load_faq(sources), "test"), count)
    engine, sessions = _corpus_database(corpora(sources)["faq"])
    embedder = SentenceTransformerEmbedder()
    prompts = []
    for asked in questions:
        passages = search_passages(sessions, embedder, asked.text, limit=3)
        prompts.append([dict(m) for m in build_prompt(asked.text, passages, count_tokens=count_tokens,
                                                      passage_token_budget=1200).messages])
    engine.dispose()
    return prompts


def _timed_passes(generator: Any) -> list[list[float]]:
    """Start/end times of each decoder forward pass, with the tokens it read, recorded by hooks."""
    passes: list[list[float]] = []
    decoder = generator._base.get_decoder()

    def before(module, args, kwargs) -> None:  # type: ignore[no-untyped-def]
        tokens = kwargs["input_ids"] if kwargs.get("input_ids") is not None else kwargs["inputs_embeds"]
        passes.append([time.perf_counter(), 0.0, float(tokens.shape[1])])

    def after(module, args, output) -> None:  # type: ignore[no-untyped-def]
        passes[-1][1] = time.perf_counter()

    decoder.register_forward_pre_hook(before, with_kwargs=True)
    decoder.register_forward_hook(after)
    return passes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from bot.evidence_first import EvidenceFirst
    from bot.generation import TransformersGenerator
    from bot.model_setup import default_model_dir
    from bot.runtime import generation_quantization
    from bot.settings import GenerationSettings

    generation = GenerationSettings()
    torch.set_num_threads(generation.torch_threads)
    quantize = generation_quantization(generation.quantize, cuda_available=False)
    machine = machine_at_start()
    generators = {name: TransformersGenerator(default_model_dir(Path("var/models")), device="cpu", quantize=quantize,
                                              evidence_first=EvidenceFirst(), prefill_chunk_tokens=chunk)
                  for name, chunk in VARIANTS.items()}
    prompts = _prompts(args.prompts, next(iter(generators.values())).count_tokens)
    recorders = {name: _timed_passes(generator) for name, generator in generators.items()}
    longest: dict[str, list[float]] = {name: [] for name in VARIANTS}
    reading: dict[str, list[float]] = {name: [] for name in VARIANTS}
    answers: dict[str, list[str]] = {name: [] for name in VARIANTS}
    tokens: list[int] = []
    for round_number in range(args.rounds):
        for messages in prompts:
            for name, generator in generators.items():
                passes = recorders[name]
                passes.clear()
                answer = "".join(generator.stream(messages, max_new_tokens=ANSWER_TOKENS))
                prompt_passes = [(end - begin) * 1000 for begin, end, read in passes if read > 1]
                longest[name].append(max((end - begin) * 1000 for begin, end, _ in passes))
                reading[name].append(sum(prompt_passes))
                if round_number == 0:
                    answers[name].append(answer)
                    if name == next(iter(VARIANTS)):
                        tokens.append(int(sum(read for _, _, read in passes if read > 1)))
        print(f"round {round_number + 1}: " + ", ".join(
            f"{name} longest pass p50 {statistics.median(longest[name]):.0f} ms" for name in VARIANTS))
    baseline = next(iter(VARIANTS))
    figures = {name: {
        "longest_pass_ms": {"p50": round(statistics.median(longest[name]), 1), "max": round(max(longest[name]), 1)},
        "prompt_reading_ms_p50": round(statistics.median(reading[name]), 1),
        "prompt_reading_ratio": round(statistics.median(reading[name]) / statistics.median(reading[baseline]), 3),
        "longest_pass_ratio": round(statistics.median(longest[name]) / statistics.median(longest[baseline]), 3),
        "same_answers": sum(a == b for a, b in zip(answers[name], answers[baseline], strict=True)),
    } for name in VARIANTS}
    results = {"settings": {"prompts": len(prompts), "rounds": args.rounds, "quantize": quantize,
                            "torch_threads": generation.torch_threads, "answer_tokens": ANSWER_TOKENS,
                            "prompt_tokens": {"p50": statistics.median(tokens), "max": max(tokens)}},
               "variants": figures, "machine": machine_at_end(machine)}
    write_result("prefill_chunks", results, args.out)
    for name, f in figures.items():
        print(f"{name:>22}: {f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
