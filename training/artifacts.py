"""Immutable version folders on disk: staged, then published by one atomic rename (adapter: filesystem).

A dataset or adapter version is written into a hidden staging folder beside its final place and
renamed into place only when complete. A crash or kill therefore leaves at most a staging folder,
never a half-written version, and an existing version is never overwritten: the rename fails.

The writer holds an exclusive `flock` on `.staging-<name>.lock` while it writes; the kernel drops
it when the writer dies, so `discard_staging` removes only folders whose writer is gone and never
one that a live run (or a manual `train` in another shell) is still filling.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from knowledge.file_digest import file_sha256

STAGING_PREFIX = ".staging-"


class VersionExists(FileExistsError):
    """Raised when publishing would overwrite an existing immutable version."""


@dataclass(slots=True)
class Staging:
    """A staging folder owned by this process until `publish` or `abandon`."""

    path: Path
    target: Path
    _lock: IO[bytes] | None = field(default=None, repr=False)

    def release(self) -> None:
        if self._lock is not None:
            _lock_path(self.target).unlink(missing_ok=True)
            self._lock.close()
            self._lock = None


def staging_dir(target: Path) -> Path:
    """The staging folder for `target`: a fixed name, so every process of a distributed run agrees on it."""
    return target.parent / f"{STAGING_PREFIX}{target.name}"


def _lock_path(target: Path) -> Path:
    return target.parent / f"{STAGING_PREFIX}{target.name}.lock"


def stage(target: Path) -> Staging:
    """Own an empty staging folder for `target`, replacing leftovers of an earlier killed attempt."""
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = _lock_path(target).open("wb")
    fcntl.flock(lock, fcntl.LOCK_EX)  # taken before the folder exists, so discard_staging never sees it unowned
    path = staging_dir(target)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    return Staging(path=path, target=target, _lock=lock)


def publish(staging: Staging) -> Path:
    """Rename the complete staging folder to its target in one step and give up ownership."""
    try:
        if staging.target.exists():
            raise VersionExists(f"{staging.target} already exists; versions are immutable")
        for path in staging.path.rglob("*"):
            if path.is_file():
                with path.open("rb") as handle:
                    os.fsync(handle.fileno())
        os.rename(staging.path, staging.target)
    finally:
        staging.release()
    return staging.target


def abandon(staging: Staging) -> None:
    """Remove the staging folder unless it was published; safe to call after `publish`."""
    if staging._lock is None:
        return  # published (or abandoned) already: the folder may belong to someone else by now
    shutil.rmtree(staging.path, ignore_errors=True)
    staging.release()


def discard_staging(root: Path) -> list[Path]:
    """Remove staging folders under `root` whose writer is gone; return what was removed."""
    if not root.is_dir():
        return []
    removed: list[Path] = []
    for path in root.iterdir():
        if not (path.is_dir() and path.name.startswith(STAGING_PREFIX)):
            continue
        lock_file = path.with_name(path.name + ".lock")
        with lock_file.open("ab") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its writer is alive
            shutil.rmtree(path, ignore_errors=True)
            lock_file.unlink(missing_ok=True)
            removed.append(path)
    return removed


def directory_sha256(path: Path) -> str:
    """sha256 over the relative names and contents of every file under `path`, in sorted order."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        digest.update(file_sha256(file).encode() + b"\n")
    return digest.hexdigest()
