"""Version folders appear whole or not at all, never overwrite, and only dead writers' leftovers are removed."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.artifacts import VersionExists, abandon, directory_sha256, discard_staging, publish, stage


def test_a_version_appears_only_when_published(tmp_path: Path) -> None:
    target = tmp_path / "v1"
    staging = stage(target)
    (staging.path / "weights.bin").write_bytes(b"abc")
    assert not target.exists()
    publish(staging)
    assert (target / "weights.bin").read_bytes() == b"abc"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v1"]  # no staging folder or lock file left
    abandon(staging)  # after publish: a no-op, the version stays
    assert target.is_dir()


def test_a_published_version_is_never_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "v1"
    first = stage(target)
    publish(first)
    digest = directory_sha256(target)
    second = stage(target)
    (second.path / "other.bin").write_bytes(b"x")
    with pytest.raises(VersionExists):
        publish(second)
    abandon(second)
    assert directory_sha256(target) == digest


def test_only_leftovers_of_dead_writers_are_discarded(tmp_path: Path) -> None:
    live = stage(tmp_path / "in-progress")
    dead = tmp_path / ".staging-killed"  # what a killed writer leaves: a folder nobody holds a lock on
    dead.mkdir()
    (dead / "half.bin").write_bytes(b"half")
    assert discard_staging(tmp_path) == [dead]
    assert live.path.is_dir()
    abandon(live)
    assert not live.path.exists() and discard_staging(tmp_path) == []
