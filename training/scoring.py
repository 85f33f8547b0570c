"""Log-likelihoods, greedy answers and perplexity of a causal LM, with or without a LoRA adapter (adapter: torch/peft).

The gate's measuring instrument. Completions are tokenised exactly as TRL's trainers do it (the
prompt, then prompt + completion + EOS, the completion starting where the two diverge), so what
is scored is what was trained. Scores are mean log-probabilities per completion token, which keeps
long and short answers comparable.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

BASE = "__base__"
"""Name under which `ScoringModel` scores the base model with every adapter disabled."""


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_base(path: Path, device: torch.device) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The base model (evaluation mode, no gradients) and its tokenizer from a local folder."""
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    model = model.to(device)  # type: ignore[arg-type]  # transformers types .to through a self-less decorator
    model.eval()
    return model, tokenizer


def completion_token_ids(tokenizer: PreTrainedTokenizerBase, prompt: str, completion: str) -> tuple[list[int], int]:
    """Token ids of prompt + completion + EOS and the index where the completion starts."""
    eos = tokenizer.eos_token or ""
    if not completion.endswith(eos):
        completion += eos
    prompt_ids = tokenizer(text=prompt)["input_ids"]
    full_ids = tokenizer(text=prompt + completion)["input_ids"]
    start = 0
    for left, right in zip(prompt_ids, full_ids, strict=False):
        if left != right:
            break
        start += 1
    return list(full_ids), start


class ScoringModel:
    """A base model with named LoRA adapters loaded side by side, scored one adapter at a time."""

    def __init__(self, base_path: Path, adapters: dict[str, Path], *, device: torch.device | None = None):
        self.device = device or pick_device()
        model, self.tokenizer = load_base(base_path, self.device)
        self.names = [BASE, *adapters]
        self.model: Any = model
        for name, path in adapters.items():
            if isinstance(self.model, PeftModel):
                self.model.load_adapter(str(path), adapter_name=name)
            else:
                self.model = PeftModel.from_pretrained(model, str(path), adapter_name=name)
        self.model.eval()

    @contextmanager
    def using(self, name: str) -> Iterator[None]:
        """Score with adapter `name` active (or none at all for `BASE`)."""
        if name == BASE:
            if isinstance(self.model, PeftModel):
                with self.model.disable_adapter():
                    yield
            else:
                yield
            return
        self.model.set_adapter(name)
        yield

    def _span_logprobs(self, input_ids: torch.Tensor, attention: torch.Tensor,
                       spans: Sequence[tuple[int, int]]) -> list[torch.Tensor]:
        """Log-probabilities of tokens `start..end-1` of each row (one span per row), the LM head applied there only.

        The backbone runs on the whole batch; the vocabulary projection and its log-softmax (batch ×
        length × 49k floats with full logits: the gate's largest tensor on a CPU) run only at the
        positions that predict a scored token. Position t predicts token t+1. The LoRA layers sit
        inside the backbone's modules, so the active adapter applies as in a full forward.
        """
        causal_lm: Any = self.model.get_base_model() if isinstance(self.model, PeftModel) else self.model
        decoder = cast(torch.nn.Module, causal_lm.get_decoder())  # typed Tensor | Module via nn.Module.__getattr__
        hidden = decoder(input_ids=input_ids.to(self.device),
                         attention_mask=attention.to(self.device)).last_hidden_state
        head = cast(torch.nn.Module, causal_lm.get_output_embeddings())
        values: list[torch.Tensor] = []
        for row, (start, end) in enumerate(spans):
            if end <= start:
                values.append(torch.zeros(0))
                continue
            logits = head(hidden[row, start - 1 : end - 1]).float()
            targets = input_ids[row, start:end].to(self.device)
            values.append(torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1))
        return values

    @torch.no_grad()
    def completion_logprobs(self, pairs: Sequence[tuple[str, str]], *, max_length: int,
                            batch_size: int) -> list[float]:
        """Mean log-probability per completion token of each (prompt, completion) pair, in the order given.

        Sequences longer than `max_length` lose the start of their prompt, never their completion.
        Each distinct pair is scored once, and batches are formed from rows of similar length
        (longest first): a batch pads to its longest row, and on a CPU every padded position costs
        a full forward. Neither changes a score (padding is masked and on the right).
        """
        distinct = list(dict.fromkeys(pairs))
        encoded = []
        for prompt, completion in distinct:
            ids, start = completion_token_ids(self.tokenizer, prompt, completion)
            cut = max(0, len(ids) - max_length)
            encoded.append((ids[cut:], max(1, start - cut)))
        order = sorted(range(len(encoded)), key=lambda index: -len(encoded[index][0]))
        scores: dict[int, float] = {}
        pad = self.tokenizer.pad_token_id
        for offset in range(0, len(order), batch_size):
            indices = order[offset : offset + batch_size]
            batch = [encoded[index] for index in indices]
            width = max(len(ids) for ids, _ in batch)
            input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
            attention = torch.zeros((len(batch), width), dtype=torch.long)
            for row, (ids, _) in enumerate(batch):
                input_ids[row, : len(ids)] = torch.tensor(ids)
                attention[row, : len(ids)] = 1
            spans = [(start, len(ids)) for ids, start in batch]
            for index, values in zip(indices, self._span_logprobs(input_ids, attention, spans), strict=True):
                scores[index] = float(values.mean()) if values.numel() else 0.0
        position = {pair: index for index, pair in enumerate(distinct)}
        return [scores[position[pair]] for pair in pairs]

    @torch.no_grad()
    def generate(self, prompts: Sequence[str], *, max_new_tokens: int, max_length: int) -> list[str]:
        """Greedy answers to `prompts` (one at a time: no padding to get wrong), special tokens removed.

        Prompts longer than `max_length - max_new_tokens` tokens lose their start.
        """
        answers: list[str] = []
        keep = max(1, max_length - max_new_tokens)
        for prompt in prompts:
            ids = self.tokenizer(text=prompt)["input_ids"][-keep:]
            input_ids = torch.tensor([ids], device=self.device)
            output = self.model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                         max_new_tokens=max_new_tokens, do_sample=False,
                                         pad_token_id=self.tokenizer.pad_token_id)
            answers.append(str(self.tokenizer.decode(output[0, len(ids):], skip_special_tokens=True)))
        return answers

    @torch.no_grad()
    def perplexity(self, text: str, *, max_length: int) -> float:
        """Perplexity of `text`, read in consecutive windows of `max_length` tokens."""
        ids = self.tokenizer(text=text)["input_ids"]
        total, count = 0.0, 0
        for offset in range(0, len(ids) - 1, max_length):
            window = torch.tensor([ids[offset : offset + max_length]], device=self.device)
            if window.shape[1] < 2:
                break
            (logprobs,) = self._span_logprobs(window, torch.ones_like(window), [(1, window.shape[1])])
            total -= float(logprobs.sum())
            count += window.shape[1] - 1
        return math.exp(total / count) if count else float("nan")
