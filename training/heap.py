"""Give freed tensor memory back to the system in training: glibc malloc, fixed mmap threshold (adapter: libc).

glibc serves allocations above its mmap threshold (128 KiB at start) with their own mappings,
returned to the system on free; but each such free raises the threshold (up to 32 MiB), so later
activation-sized tensors (a few MiB at 1,024 tokens) come from the heap arenas, and the heap keeps
what they freed: over a step the process holds many steps' transients at once. Fixing the threshold
(`mallopt(M_MMAP_THRESHOLD)`, which also stops the dynamic adjustment) bounds that. Where to fix
it was measured on three LoRA steps of the 135M model (2 × 768 tokens, bf16 autocast, one thread,
each setting in a fresh process, same session): glibc's default peaked at 2,884–2,953 MiB for
24.5–27.5 CPU-s; 128 KiB at 2,248 MiB but 46–51 CPU-s (every mid-size tensor a fresh mapping,
zero-filled page by page); 1 MiB 2,277 MiB / 41 s; **2 MiB 2,470 MiB / 27.8 s**; 4 MiB no gain.
The probe understates the cost: a whole training child (2 optimiser steps on product prompts, quiet
machine, same run; bench/results/train_memory.json) peaked at 3,547 MiB against 4,265 MiB for 241
against 181 CPU-s (+33%): the price of staying under 4 GB on a CPU. Where memory is plentiful,
TRAINING_RELEASE_FREED_MEMORY=false keeps glibc's defaults. It is what MALLOC_MMAP_THRESHOLD_ does, set from inside the
process so that no launcher has to remember it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

logger = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
"""mallopt parameter numbers from glibc's malloc.h."""

THRESHOLD_BYTES = 2 * 1024 * 1024
"""Allocations from this size up get their own mapping, handed back on free (see the module docstring)."""


def return_freed_memory(threshold_bytes: int = THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap and trim thresholds at `threshold_bytes`; False without glibc's mallopt (musl, macOS)."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        logger.info("no glibc mallopt here; freed memory is returned as the C library decides")
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, threshold_bytes)) and bool(mallopt(M_TRIM_THRESHOLD, threshold_bytes))
