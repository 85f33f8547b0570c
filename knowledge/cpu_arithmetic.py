"""What this machine's CPU offers (probes): native bf16 arithmetic, and the cores this process may use.

bfloat16 halves the bytes a matrix multiply moves and, on CPUs with AVX512-BF16 or AMX tiles, runs
on dedicated instructions that oneDNN uses: on this project's machine a bulk ingest embedded 3.0x the
chunks/s of float32 with one encoder, 3.9x with one per core (bench/ingest_speed.py), and training
runs bf16 autocast. Elsewhere bf16 is emulated and slower than float32, so callers keep float32 there.
"""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, not the host's count), at least one."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cpu_computes_bf16() -> bool:
    """Whether this CPU has native bfloat16 arithmetic (AVX512-BF16 or AMX tiles)."""
    import torch

    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # a torch without these probes: assume no
        return False
