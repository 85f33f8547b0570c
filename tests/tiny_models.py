"""Tiny causal LMs and LoRA adapters built in code, so generator tests run in seconds offline.

The model is a 2-layer Llama with random (seeded) weights and a word-level tokenizer carrying a
ChatML template like SmolLM2's. Its output head never picks a special token, so generation always
runs to `max_new_tokens` and emits one space-separated word per token: streaming tests get many
deltas and cancel/timeout tests have something long-running to stop.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

SPECIAL_TOKENS = ("<pad>", "[UNK]", "<|im_start|>", "<|im_end|>")
_WORD_LIST = (
    "system user assistant the a an of to in and or is are was be it this that for on with as at by "
    "from we you they he she not no yes can will do does how what why when where who which answer "
    "question document docs team bot model adapter data test code python postgres slack vector search "
    "index table query row column file page link user config deploy build run error fix bug issue "
    "release version train tune loss good bad thanks please help need use add remove update new old "
    "fast slow small large one two three four five six seven eight nine ten hello world "
    ". , ? ! : ; ( ) ' \" - + = / * 0 1 2 3 4 5 6 7 8 9"
)
WORDS = tuple(_WORD_LIST.split())
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A whitespace/punctuation word-level tokenizer; unknown words map to [UNK]."""
    vocab = {token: index for index, token in enumerate(dict.fromkeys((*SPECIAL_TOKENS, *WORDS)))}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        unk_token="[UNK]",
        eos_token="<|im_end|>",
        additional_special_tokens=["<|im_start|>"],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_causal_lm(out_dir: Path, *, seed: int = 0) -> Path:
    """Save a tiny random Llama and its tokenizer into `out_dir` (a `from_pretrained` folder)."""
    tokenizer = build_tiny_tokenizer()
    config = LlamaConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        vocab_size=len(tokenizer),
        max_position_embeddings=512,
        tie_word_embeddings=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        # Larger output weights make greedy choices clear-cut (no near-ties across runs); zero rows
        # for special tokens keep them below every word's logit, so the model never stops early.
        model.lm_head.weight.normal_(0.0, 1.0)
        for token in SPECIAL_TOKENS:
            model.lm_head.weight[tokenizer.convert_tokens_to_ids(token)] = 0.0
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def build_tiny_lora_adapter(base_dir: Path, out_dir: Path, seed: int) -> Path:
    """Save a LoRA adapter (r=4 on q_proj/v_proj) with random non-zero A and B for `base_dir`.

    peft initialises lora_B to zero (the adapter starts as a no-op); `init_lora_weights=False`
    randomises it, so outputs differ from the base and between seeds.
    """
    from peft import LoraConfig, get_peft_model  # tests may import peft; the bot's code goes through bot.generation

    base = LlamaForCausalLM.from_pretrained(base_dir)
    torch.manual_seed(seed)
    config = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False, task_type="CAUSAL_LM"
    )
    model = get_peft_model(base, config)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_" in name:
                parameter.normal_(0.0, 0.5)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    return out_dir
