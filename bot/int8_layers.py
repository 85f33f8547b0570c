"""int8 Linear layers for generating on a CPU, and which layers of a model become int8 (over torch).

Dynamic int8 (int8 weights with one scale per output channel, activations quantized per call)
decodes the default 135M model faster on one CPU thread than float32 at the answer quality
bench/generation_speed.py measured. Two kinds of layer:

* `Int8Linear` replaces a layer outright (its float32 weight is dropped): the MLP and the output head.
* `AdapterReadyInt8Linear` is still an `nn.Linear` that keeps its float32 weight and runs its forward
  in int8: peft wraps only ordinary Linear layers, and the LoRA adapters the learning loop trains sit
  on the attention projections (training.config target_modules), so those become this kind. An
  adapter's low-rank update runs in float32 beside the int8 product. Merging an adapter into the
  weight (`merge_and_unload`) would change only the unused float32 copy; the bot never merges.
"""

from __future__ import annotations

import warnings
from typing import Literal

import torch

Quantization = Literal["none", "int8", "int8-all"]
"""`int8`: the MLP and output head (INT8_MODULES); `int8-all`: those plus the attention projections
as `AdapterReadyInt8Linear`; `none`: float32."""
INT8_MODULES = frozenset({"gate_proj", "up_proj", "down_proj", "lm_head"})
"""Linear layers replaced outright: the MLP and the output head, most of a small model's multiply-adds."""
ATTENTION_MODULES = frozenset({"q_proj", "k_proj", "v_proj", "o_proj"})
"""The attention projections `int8-all` converts in place, where LoRA adapters attach."""


def _pack_int8(weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """`weight` (out × in) as int8 with one scale per output channel, packed for the x86 int8 kernel."""
    weight = weight.detach().float()
    scales = (weight.abs().amax(dim=1) / 127).clamp(min=1e-8).double()
    with warnings.catch_warnings():  # the pinned torch (2.13) has these kernels; its deprecation note is for
        warnings.filterwarnings("ignore", message=".*quantize_per_channel.*deprecated")  # later releases
        int8 = torch.quantize_per_channel(weight, scales, torch.zeros(len(scales), dtype=torch.long), 0, torch.qint8)
    return torch.ops.quantized.linear_prepack(int8, None if bias is None else bias.detach().float())


_LINEAR_DYNAMIC = torch.ops.quantized.linear_dynamic.default
"""The overload itself: calling the overload packet re-resolves it on every call, ~3% of a decode step."""


def _linear_dynamic(x: torch.Tensor, packed: torch.Tensor) -> torch.Tensor:
    # reduce_range: x86's int8 multiply-add would overflow on full-range activations (as torch.ao does).
    return _LINEAR_DYNAMIC(x, packed, True)


class Int8Linear(torch.nn.Module):
    """A Linear layer with int8 weights (one scale per output channel) and activations quantized per call.

    Runs PyTorch's dynamic quantized linear kernel (fbgemm/x86 on CPU). The packed weight is a plain
    attribute, neither parameter nor buffer, so loading a LoRA adapter (a partial state dict over
    the whole model) passes this layer by; torch.ao's own dynamic Linear raises KeyError there.
    """

    def __init__(self, linear: torch.nn.Linear) -> None:
        super().__init__()
        self._packed = _pack_int8(linear.weight, linear.bias)
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _linear_dynamic(x, self._packed)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 per-channel"


class AdapterReadyInt8Linear(torch.nn.Linear):
    """An `nn.Linear` computed in int8 that keeps its float32 weight, so peft attaches LoRA adapters to it.

    peft reads the weight's device and dtype to place an adapter (float32 here, as on the float32
    model) and calls this layer's forward for the base product. The weight is shared with the layer
    it replaces, not copied: the model's memory grows by the packed int8 copy only.
    """

    def __init__(self, linear: torch.nn.Linear) -> None:
        super().__init__(linear.in_features, linear.out_features, bias=linear.bias is not None, device="meta")
        self.weight = linear.weight
        self.bias = linear.bias
        self._int8 = Int8Linear(linear)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._int8(x)


def quantize_linear_int8(model: torch.nn.Module, names: frozenset[str] | None = None) -> int:
    """Replace Linear layers (all, or those whose last name part is in `names`) by `Int8Linear`, in place.

    Returns how many layers were replaced.
    """
    return _replace_linear(model, names, Int8Linear)


def quantize_model(model: torch.nn.Module, quantization: Quantization) -> int:
    """Apply `quantization` to a causal LM in place; returns how many layers became int8."""
    if quantization == "none":
        return 0
    count = quantize_linear_int8(model, INT8_MODULES)
    if quantization == "int8-all":
        count += _replace_linear(model, ATTENTION_MODULES, AdapterReadyInt8Linear)
    return count


def _replace_linear(model: torch.nn.Module, names: frozenset[str] | None,
                    make: type[Int8Linear] | type[AdapterReadyInt8Linear]) -> int:
    chosen = [(name, module) for name, module in model.named_modules()
              if type(module) is torch.nn.Linear and (names is None or name.rsplit(".", 1)[-1] in names)]
    for name, module in chosen:
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, make(module))
    return len(chosen)
