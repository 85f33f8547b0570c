"""`TransformersGenerator(quantize="int8")`: which layers become int8, adapters still attach, GPUs are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bot.generation import TransformersGenerator
from bot.int8_layers import INT8_MODULES, Int8Linear

QUESTION = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "How do I deploy?"}]


def _modules(generator: TransformersGenerator) -> dict[str, type]:
    return {name: type(module) for name, module in generator._base.named_modules()  # noqa: SLF001
            if isinstance(module, (torch.nn.Linear, Int8Linear))}


def test_int8_converts_the_mlp_and_head_and_keeps_attention_fp32(tiny_lm_dir: Path) -> None:
    generator = TransformersGenerator(tiny_lm_dir, device="cpu", quantize="int8")
    layers = _modules(generator)
    converted = {name for name, kind in layers.items() if kind is Int8Linear}
    assert converted and all(name.rsplit(".", 1)[-1] in INT8_MODULES for name in converted)
    assert {name.rsplit(".", 1)[-1] for name in converted} == INT8_MODULES  # every kind found in a llama
    attention = {name: kind for name, kind in layers.items() if name.rsplit(".", 1)[-1] in {"q_proj", "k_proj",
                                                                                          "v_proj", "o_proj"}}
    assert attention and set(attention.values()) == {torch.nn.Linear}
    assert generator.quantization == "int8"
    assert "".join(generator.stream(QUESTION, max_new_tokens=12))  # it still writes


def test_lora_adapters_attach_to_the_int8_model_and_change_its_output(tiny_lm_dir: Path, adapter_a_dir: Path) -> None:
    generator = TransformersGenerator(tiny_lm_dir, device="cpu", quantize="int8")
    base = "".join(generator.stream(QUESTION, max_new_tokens=20))
    generator.use_adapter("answers-v1", adapter_a_dir)
    assert "".join(generator.stream(QUESTION, max_new_tokens=20)) != base
    generator.use_base()
    assert "".join(generator.stream(QUESTION, max_new_tokens=20)) == base


def test_int8_on_a_gpu_is_refused_before_loading(tiny_lm_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"quantize=.int8. .* runs on CPU only, not cuda"):
        TransformersGenerator(tiny_lm_dir, device="cuda", quantize="int8")


def test_auto_quantization_is_int8_on_a_cpu_and_none_on_a_gpu() -> None:
    from bot.runtime import generation_quantization
    from bot.settings import GenerationSettings

    assert GenerationSettings().quantize == "auto", "the default: measured as good and faster on a CPU"
    assert generation_quantization("auto", cuda_available=False) == "int8-all"
    assert generation_quantization("auto", cuda_available=True) == "none", "int8 Linear layers run on CPU only"
    assert generation_quantization("none", cuda_available=False) == "none"
    assert generation_quantization("int8", cuda_available=True) == "int8", "explicit: the generator says why not"
    assert generation_quantization("int8-all", cuda_available=False) == "int8-all"
    with pytest.raises(ValueError, match="auto, none, int8 or int8-all"):
        generation_quantization("int4", cuda_available=False)


def test_int8_all_makes_attention_int8_too_and_keeps_it_an_ordinary_linear(tiny_lm_dir: Path) -> None:
    from bot.int8_layers import ATTENTION_MODULES, AdapterReadyInt8Linear

    fp32 = TransformersGenerator(tiny_lm_dir, device="cpu")
    generator = TransformersGenerator(tiny_lm_dir, device="cpu", quantize="int8-all")
    layers = {name: module for name, module in generator._base.named_modules()  # noqa: SLF001
              if name.rsplit(".", 1)[-1] in ATTENTION_MODULES}
    assert layers and all(type(module) is AdapterReadyInt8Linear for module in layers.values())
    assert all(isinstance(module, torch.nn.Linear) for module in layers.values())  # what peft wraps
    name, layer = next(iter(layers.items()))
    original = fp32._base.get_submodule(name)  # noqa: SLF001
    assert torch.equal(layer.weight, original.weight)  # the float32 weight is kept for peft
    x = torch.randn(3, layer.in_features)
    with torch.inference_mode():
        int8, exact = layer(x), original(x)
    assert not torch.equal(int8, exact)  # computed in int8 …
    assert torch.allclose(int8, exact, atol=0.05 * float(exact.abs().max()))  # … close to float32
    assert "".join(generator.stream(QUESTION, max_new_tokens=12))


def test_lora_adapters_attach_to_the_int8_attention_and_add_their_update(tiny_lm_dir: Path,
                                                                         adapter_a_dir: Path) -> None:
    from bot.int8_layers import AdapterReadyInt8Linear

    generator = TransformersGenerator(tiny_lm_dir, device="cpu", quantize="int8-all")
    base = "".join(generator.stream(QUESTION, max_new_tokens=20))
    generator.use_adapter("answers-v1", adapter_a_dir)
    adapted = "".join(generator.stream(QUESTION, max_new_tokens=20))
    assert adapted != base
    wrapped = [module for module in generator._adapters.model.modules()  # noqa: SLF001
               if hasattr(module, "base_layer") and hasattr(module, "lora_A")]
    assert wrapped and all(type(module.base_layer) is AdapterReadyInt8Linear for module in wrapped)
    layer = wrapped[0]
    x = torch.randn(2, layer.base_layer.in_features)
    with torch.inference_mode():
        lora_a, lora_b = layer.lora_A["answers-v1"], layer.lora_B["answers-v1"]
        expected = layer.base_layer(x) + lora_b(lora_a(x)) * layer.scaling["answers-v1"]
        assert torch.allclose(layer(x), expected, atol=1e-5)  # the int8 product plus the float32 update
    generator.use_base()
    assert "".join(generator.stream(QUESTION, max_new_tokens=20)) == base
