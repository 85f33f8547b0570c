"""Give freed tensor memory back to the system in training: glibc malloc, fixed mmap threshold (adapter: libc).

glibc serves allocations above its mmap threshold (128 KiB at start) with their own mappings,
returned to the system on free; but each such free raises the threshold (up to 32 MiB), so later
activation-sized tensors (a few MiB at 1,024 tokens) come from the heap arenas, and the heap keeps
what they freed. Over a training step the process then holds every step's transient tensors at
once: measured here on one LoRA step of the 135M model at 2 × 1,024 tokens, peak RSS 5,455 MiB with
glibc's defaults against 2,855 MiB with the threshold fixed (bench/results/train_memory.json has
the whole-run figures). Fixing it (`mallopt(M_MMAP_THRESHOLD)`, which also stops the dynamic
adjustment) and lowering the trim threshold keeps the peak to what the step really needs, at the
cost of a few more mmap calls. It is what the MALLOC_MMAP_THRESHOLD_ environment variable does, set
from inside the process so that no launcher has to remember it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

logger = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
"""mallopt parameter numbers from glibc's malloc.h."""

THRESHOLD_BYTES = 128 * 1024
"""glibc's own initial mmap threshold, kept fixed."""


def return_freed_memory(threshold_bytes: int = THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap and trim thresholds at `threshold_bytes`; False without glibc's mallopt (musl, macOS)."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        logger.info("no glibc mallopt here; freed memory is returned as the C library decides")
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, threshold_bytes)) and bool(mallopt(M_TRIM_THRESHOLD, threshold_bytes))
