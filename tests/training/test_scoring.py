"""The gate's instrument applies the LM head only where a token is scored, and scores exactly as a full forward does.

Reference values come from the plain full-logits computation (`model(...).logits`, log-softmax over
the whole vocabulary at every position) on a real tiny Llama with and without a real LoRA adapter.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from tests.tiny_models import build_tiny_lora_adapter
from training.scoring import BASE, ScoringModel, completion_token_ids

PAIRS = [("the deploy failed on staging", "run the migration first then retry the deploy"),
         ("how do I rotate the token", "open settings and press rotate"),
         ("where are the logs", "in the logs folder")]


def _full_forward_scores(model: torch.nn.Module, tokenizer, pairs, *, max_length: int) -> list[float]:
    scores = []
    for prompt, completion in pairs:
        ids, start = completion_token_ids(tokenizer, prompt, completion)
        cut = max(0, len(ids) - max_length)
        ids, start = ids[cut:], max(1, start - cut)
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits.float()
        logprobs = torch.log_softmax(logits[0, :-1], dim=-1).gather(-1, torch.tensor(ids[1:]).unsqueeze(-1))
        scores.append(float(logprobs[start - 1 :].mean()))
    return scores


@pytest.mark.parametrize("max_length", [64, 9])
def test_completion_scores_equal_a_full_forward_with_and_without_the_adapter(tiny_base_dir: Path, tmp_path: Path,
                                                                             max_length: int) -> None:
    adapter = build_tiny_lora_adapter(tiny_base_dir, tmp_path / "adapter", seed=3)
    scoring = ScoringModel(tiny_base_dir, {"candidate": adapter})
    base = AutoModelForCausalLM.from_pretrained(tiny_base_dir).eval()
    with scoring.using(BASE):
        base_scores = scoring.completion_logprobs(PAIRS, max_length=max_length, batch_size=2)
    with scoring.using("candidate"):
        adapter_scores = scoring.completion_logprobs(PAIRS, max_length=max_length, batch_size=2)
    expected_base = _full_forward_scores(base, scoring.tokenizer, PAIRS, max_length=max_length)
    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_base_dir), str(adapter)).eval()
    expected_adapter = _full_forward_scores(tuned, scoring.tokenizer, PAIRS, max_length=max_length)
    assert base_scores == pytest.approx(expected_base, abs=1e-4)
    assert adapter_scores == pytest.approx(expected_adapter, abs=1e-4)
    assert max(abs(a - b) for a, b in zip(adapter_scores, base_scores, strict=True)) > 1e-3  # the adapter counts


def test_perplexity_equals_a_full_forward_over_windows(tiny_base_dir: Path) -> None:
    scoring = ScoringModel(tiny_base_dir, {})
    base = AutoModelForCausalLM.from_pretrained(tiny_base_dir).eval()
    text = " ".join(["the deploy failed on staging and we ran the migration first"] * 4)
    ids = scoring.tokenizer(text=text)["input_ids"]
    total, count = 0.0, 0
    for offset in range(0, len(ids) - 1, 16):
        window = ids[offset : offset + 16]
        if len(window) < 2:
            break
        with torch.no_grad():
            logits = base(input_ids=torch.tensor([window])).logits.float()
        total -= float(torch.log_softmax(logits[0, :-1], -1).gather(-1, torch.tensor(window[1:]).unsqueeze(-1)).sum())
        count += len(window) - 1
    assert scoring.perplexity(text, max_length=16) == pytest.approx(math.exp(total / count), rel=1e-4)


def test_each_distinct_pair_is_scored_once_in_length_order_and_returned_in_the_order_given(
        tiny_base_dir: Path) -> None:
    """A held-out correction is also a golden reference: the gate must not pay for it twice."""
    scoring = ScoringModel(tiny_base_dir, {})
    short, long, medium = PAIRS[2], PAIRS[0], PAIRS[1]
    asked = [short, long, short, medium]
    widths: list[list[int]] = []
    decoder = scoring.model.get_decoder()
    hook = decoder.register_forward_hook(
        lambda _module, _args, kwargs, _output: widths.append(kwargs["attention_mask"].sum(dim=1).tolist()),
        with_kwargs=True)
    try:
        scores = scoring.completion_logprobs(asked, max_length=64, batch_size=2)
    finally:
        hook.remove()
    base = AutoModelForCausalLM.from_pretrained(tiny_base_dir).eval()
    assert scores == pytest.approx(_full_forward_scores(base, scoring.tokenizer, asked, max_length=64), abs=1e-4)
    assert scores[0] == scores[2]
    assert sum(len(batch) for batch in widths) == 3, "three distinct pairs, three rows through the model"
    lengths = [length for batch in widths for length in batch]
    assert lengths == sorted(lengths, reverse=True), "batched longest first, so a batch pads little"
