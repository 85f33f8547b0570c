"""An exclusive lock on a file, held while one process writes a folder others may be writing too (adapter: flock).

Setting up the default model and exporting the embedding model to ONNX can run in several processes
at once (`make setup` beside a starting bot); each takes this lock on a file beside its target
folder, so the second waits and then finds the work done. The kernel drops the lock when its
holder dies.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def exclusive_lock(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive `flock` on `lock_path` (created if missing) for the `with` block; waits for it."""
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
