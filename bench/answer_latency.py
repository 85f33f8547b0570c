"""Answer-engine speed: pipeline vs bare `model.generate` on the same prompt, end-to-end latency, memory.

Measures, on the default model (converted SmolLM2-135M-Instruct) and this machine's CPU:
time to first token and tokens/s through the whole pipeline (search, prompt, streaming, recording)
against a bare `model.generate` of the very prompt the pipeline recorded, in the same run; the
end-to-end latency of a ~150-token answer; and the process RSS with embedder + generator loaded.

Run: `python -m bench.answer_latency [--runs 3] [--max-new-tokens 150] [--threads N]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import psutil
import torch

from bench.database import bench_database

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=150)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.threads:
        torch.set_num_threads(args.threads)

    from transformers import AutoModelForCausalLM, AutoTokenizer

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
    answerer = Answerer(sessions=sessions, embedder=embedder, generator=generator,
                        config=AnsweringConfig(max_new_tokens=args.max_new_tokens, timeout_s=None))
    answerer.answer(Question(text="When are releases cut?"))  # warm-up: first-call allocations

    pipeline = []
    for _ in range(args.runs):
        arrivals: list[float] = []
        started = time.perf_counter()
        result = answerer.answer(Question(text=QUESTION),
                                 on_delta=lambda _d, into=arrivals: into.append(time.perf_counter()))
        finished = time.perf_counter()
        tokens = generator.count_tokens(result.raw_completion)  # what the model wrote, before the support check
        pipeline.append((arrivals[0] - started, (tokens - 1) / max(1e-9, finished - arrivals[0]), tokens,
                         finished - started, result.answer_id))
    rss_pipeline = psutil.Process().memory_info().rss

    with sessions() as session:
        prompt = session.get(Answer, pipeline[-1][4]).prompt
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    bare_generate(model, tokenizer, prompt, 8, DEFAULT_REPETITION_PENALTY)  # warm-up
    bare = [bare_generate(model, tokenizer, prompt, args.max_new_tokens, DEFAULT_REPETITION_PENALTY)
            for _ in range(args.runs)]

    ttft_pipe, ttft_bare = statistics.median(p[0] for p in pipeline), statistics.median(b[0] for b in bare)
    rate_pipe, rate_bare = statistics.median(p[1] for p in pipeline), statistics.median(b[1] for b in bare)
    print(f"model {model_dir} on {torch.get_num_threads()} torch threads; load {load_s:.1f} s; "
          f"prompt {generator.count_tokens(prompt)} tokens; {args.runs} runs, medians")
    print(f"time to first token: pipeline {ttft_pipe:.2f} s vs bare generate {ttft_bare:.2f} s "
          f"(overhead {100 * (ttft_pipe / ttft_bare - 1):+.1f}%)")
    print(f"tokens/s after first: pipeline {rate_pipe:.1f} vs bare {rate_bare:.1f} "
          f"(overhead {100 * (rate_bare / rate_pipe - 1):+.1f}%)")
    print(f"end-to-end answer latency: {statistics.median(p[3] for p in pipeline):.1f} s for "
          f"{statistics.median(p[2] for p in pipeline):.0f} tokens (bare: {statistics.median(b[2] for b in bare):.0f})")
    print(f"projected latency of a {args.max_new_tokens}-token answer: "
          f"{ttft_pipe + (args.max_new_tokens - 1) / rate_pipe:.1f} s (first token + tokens at the measured rate)")
    print(f"RSS: {(rss_pipeline - rss_start) / 2**20:.0f} MB added by embedder + generator; "
          f"process {rss_pipeline / 2**20:.0f} MB")
    engine.dispose()


if __name__ == "__main__":
    main()
