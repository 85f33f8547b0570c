"""What arithmetic this machine's CPU does natively (probe): decides bf16 for embedding and training.

bfloat16 halves the bytes a matrix multiply moves and, on CPUs with AVX512-BF16 or AMX tiles, runs
on dedicated instructions that oneDNN uses: on this project's machine a bulk ingest embedded 2.5x the
chunks/s of float32 (bench/ingest_speed.py), and training runs bf16 autocast. Elsewhere bf16 is
emulated and slower than float32, so callers keep float32 there.
"""

from __future__ import annotations


def cpu_computes_bf16() -> bool:
    """Whether this CPU has native bfloat16 arithmetic (AVX512-BF16 or AMX tiles)."""
    import torch

    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # a torch without these probes: assume no
        return False
