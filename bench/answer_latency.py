"""Answer-engine speed: the answer pipeline against bare `model.generate` on the same prompt, in one run.

Measures, on the default model (converted SmolLM2-135M-Instruct) and this machine's CPU, per torch
thread setting (`--threads 1,2`), answering one long question `--runs` times:

* the pipeline (`Answerer.answer`): time to the first text shown (the quoted evidence), the
  generator's time to its first token and its tokens/s after it, the time spent outside generation
  (search, evidence, support checks, recording) and the end-to-end latency;
* the baseline, bare `model.generate` streaming the very prompt that run's answer recorded, right
  after it (so load on the shared cores falls on both alike): time to first token and tokens/s;
* once: model load time, prompt tokens, and the process RSS with embedder + generator loaded.

Run: `python -m bench.answer_latency [--runs 3] [--max-new-tokens 150] [--threads 1,2] [--out PATH]`;
writes bench/results/answer_latency.json and its table (bench/readme_tables.py) as answer_latency.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

import psutil
import torch

from bench.database import bench_database
from bench.machine import machine_at_end, machine_at_start
from bench.readme_tables import write_result

RESULTS = Path("bench/results/answer_latency.json")

HANDBOOK = """# Release process

## Preparing a release
Releases are cut every second Tuesday. The release manager creates a branch named release/X.Y from main,
bumps the version in pyproject.toml, writes the changelog from merged pull requests, and opens a release
pull request that needs two approvals from the platform team.

## Deploying
After the release pull request merges, the CI pipeline builds the container image, runs the integration
suite against staging, and waits for a manual approval in the deploy channel. Production deploys use a
canary: five percent of traffic for thirty minutes, then the full rollout if error rates stay flat.

## Rolling back
If the canary's error rate rises, the on-call engineer runs the rollback job, which redeploys the previous
image and posts a summary in the incident channel.
"""

QUESTION = "Explain step by step how a release is prepared, deployed with the canary, and rolled back."


def bare_generate(model, tokenizer, prompt: str, max_new_tokens: int,
                  repetition_penalty: float) -> tuple[float, float, int]:
    """(time to first text s, tokens/s after it, new tokens) of plain `model.generate` streaming `prompt`.

    The baseline streams with the same TextIteratorStreamer and generation settings a bare
    streaming app would use, so the comparison isolates the pipeline: search, prompt building,
    admission, cancellation checks and recording.
    """
    import threading

    from transformers import TextIteratorStreamer

    inputs = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    output: list[torch.Tensor] = []
    started = time.perf_counter()

    def run() -> None:
        with torch.inference_mode():
            output.append(model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, streamer=streamer,
                                         repetition_penalty=repetition_penalty, pad_token_id=tokenizer.eos_token_id))

    worker = threading.Thread(target=run)
    worker.start()
    first = None
    for text in streamer:
        if text and first is None:
            first = time.perf_counter()
    worker.join()
    finished = time.perf_counter()
    new_tokens = int(output[0].shape[1] - inputs["input_ids"].shape[1])
    first = first or finished
    return first - started, (new_tokens - 1) / max(1e-9, finished - first), new_tokens


def pipeline_run(answerer: Any, timed: Any, question: Any) -> dict[str, float]:
    """One answer through the pipeline, its generation timed by `timed` (bench.generation_speed.TimedGenerator)."""
    timed.records.clear()
    started = time.perf_counter()
    result = answerer.answer(question)
    end_to_end = time.perf_counter() - started
    generation = timed.records[-1]  # ttft_s from the stream call, decode_s from first to last text
    return {"answer_id": result.answer_id, "first_text_s": round(result.first_text_ms / 1000, 3),
            "first_token_s": round(generation["ttft_s"], 3), "tokens": generation["tokens"],
            "tokens_per_s": round((generation["tokens"] - 1) / max(1e-9, generation["decode_s"]), 2),
            "outside_generation_s": round(end_to_end - generation["ttft_s"] - generation["decode_s"], 3),
            "end_to_end_s": round(end_to_end, 3)}


def medians(runs: list[dict[str, Any]], keys: list[str]) -> dict[str, float]:
    """The median of each figure in `keys` over the runs (the runs themselves stay in the result for audit)."""
    return {key: round(statistics.median(run[key] for run in runs), 3) for key in keys}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="answers per thread setting, each followed by bare")
    parser.add_argument("--max-new-tokens", type=int, default=150)
    parser.add_argument("--threads", default="1,2",
                        help="comma list of torch thread counts, each measured in this run [default: %(default)s]")
    parser.add_argument("--out", type=Path, default=RESULTS, help="result file [default: %(default)s]")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    thread_counts = [int(count) for count in args.threads.split(",")]
    machine = machine_at_start()

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from bench.generation_speed import TimedGenerator
    from bot.answering import Answerer, AnsweringConfig, Question
    from bot.generation import DEFAULT_REPETITION_PENALTY, TransformersGenerator
    from bot.model_setup import default_model_dir
    from knowledge.embedding import SentenceTransformerEmbedder
    from knowledge.ingest import ingest_text
    from store.schema import Answer

    engine, sessions, _ = bench_database("answer")
    rss_start = psutil.Process().memory_info().rss
    embedder = SentenceTransformerEmbedder()
    model_dir = default_model_dir(Path("var/models"))
    started = time.perf_counter()
    generator = TransformersGenerator(model_dir)
    load_s = time.perf_counter() - started
    ingest_text(sessions, embedder, title="Release handbook", text=HANDBOOK, fmt="markdown", uri="bench:release",
                source="text")
    config = AnsweringConfig(max_new_tokens=args.max_new_tokens, timeout_s=None)
    Answerer(sessions=sessions, embedder=embedder, generator=generator, config=config).answer(
        Question(text="When are releases cut?"))  # warm-up: first-call allocations
    rss = psutil.Process().memory_info().rss  # embedder + generator, before the baseline's own copy is loaded

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    prompt = Answerer(sessions=sessions, embedder=embedder, generator=generator,
                      config=config).training_prompt(Question(text=QUESTION))
    by_threads: dict[str, Any] = {}
    for threads in thread_counts:
        timed = TimedGenerator(generator, threads=threads)
        answerer = Answerer(sessions=sessions, embedder=embedder, generator=timed, config=config)
        torch.set_num_threads(threads)
        bare_generate(model, tokenizer, prompt, 8, DEFAULT_REPETITION_PENALTY)  # warm-up at this thread count
        pipeline, bare = [], []
        for _ in range(args.runs):
            # Retrieval and evidence run with `threads` too; TimedGenerator sets them for the stream (1 after it).
            torch.set_num_threads(threads)
            pipeline.append(pipeline_run(answerer, timed, Question(text=QUESTION)))
            with sessions() as session:
                prompt = session.get_one(Answer, pipeline[-1]["answer_id"]).prompt
            torch.set_num_threads(threads)
            first, rate, tokens = bare_generate(model, tokenizer, prompt, args.max_new_tokens,
                                                DEFAULT_REPETITION_PENALTY)
            bare.append({"first_token_s": round(first, 3), "tokens_per_s": round(rate, 2), "tokens": tokens})
        piped = medians(pipeline, ["first_text_s", "first_token_s", "tokens_per_s", "tokens", "outside_generation_s",
                                   "end_to_end_s"])
        baseline = medians(bare, ["first_token_s", "tokens_per_s", "tokens"])
        by_threads[str(threads)] = {
            "pipeline": {**piped, "runs": pipeline}, "bare_generate": {**baseline, "runs": bare},
            "first_token_ratio": round(piped["first_token_s"] / baseline["first_token_s"], 3),
            "tokens_per_s_ratio": round(piped["tokens_per_s"] / baseline["tokens_per_s"], 3),
            "projected_answer_s": round(piped["outside_generation_s"] + piped["first_token_s"]
                                        + (args.max_new_tokens - 1) / piped["tokens_per_s"], 2)}
        print(f"{threads} torch thread(s), medians of {args.runs}: first text {piped['first_text_s']:.2f} s; first "
              f"token pipeline {piped['first_token_s']:.2f} s vs bare {baseline['first_token_s']:.2f} s; tokens/s "
              f"{piped['tokens_per_s']:.1f} vs {baseline['tokens_per_s']:.1f}; outside generation "
              f"{piped['outside_generation_s']:.2f} s; end to end {piped['end_to_end_s']:.1f} s for "
              f"{piped['tokens']:.0f} tokens")
    results = {"settings": {"runs": args.runs, "max_new_tokens": args.max_new_tokens, "threads": thread_counts,
                            "model": str(model_dir), "question": QUESTION},
               "machine": machine_at_end(machine), "model_load_s": round(load_s, 2),
               "prompt_tokens": generator.count_tokens(prompt),
               "rss_mb": {"added": round((rss - rss_start) / 2**20), "process": round(rss / 2**20)},
               "threads": by_threads}
    engine.dispose()
    print(f"wrote {write_result('answer_latency', results, args.out)}")


if __name__ == "__main__":
    main()
