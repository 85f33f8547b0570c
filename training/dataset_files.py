"""A dataset version on disk: JSONL files plus manifest.json with counts and sha256s (adapter: filesystem).

Writing is deterministic (sorted keys, one row per line, files in a fixed order), so the same rows
give the same bytes and the same content hash. Reading checks every file against the manifest
before any row is used: a corrupt or edited file stops the run with a message naming the file
instead of training on damaged data.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knowledge.file_digest import file_sha256

MANIFEST = "manifest.json"


class DatasetCorrupt(ValueError):
    """Raised when a dataset version on disk does not match its manifest; the message names the file."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetFiles:
    """A verified dataset version: its manifest and the rows of every file."""

    path: Path
    manifest: dict[str, Any]
    rows: dict[str, list[dict[str, Any]]]

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def objective(self) -> str:
        return str(self.manifest["objective"])


def jsonl_bytes(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n" for row in rows).encode()


def content_hash(file_hashes: dict[str, str], identity: dict[str, Any]) -> str:
    """The version's identity: every file's hash plus what produced them (config, scrubber, objective)."""
    payload = json.dumps({"files": file_hashes, **identity}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def files_section(files: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """The manifest's "files" section: path, row count and sha256 of each file's bytes."""
    return {stem: {"path": f"{stem}.jsonl", "rows": len(rows), "sha256": hashlib.sha256(jsonl_bytes(rows)).hexdigest()}
            for stem, rows in sorted(files.items())}


def write_files(folder: Path, files: dict[str, list[dict[str, Any]]]) -> None:
    """Write each file's rows as `<stem>.jsonl` in `folder`."""
    for stem, rows in sorted(files.items()):
        (folder / f"{stem}.jsonl").write_bytes(jsonl_bytes(rows))


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def read_dataset(path: Path) -> DatasetFiles:
    """Load and verify the dataset version in `path`.

    Raises:
        DatasetCorrupt: the manifest is missing or unreadable, a file is missing, its sha256 or
            row count differs from the manifest, or a line is not a JSON object.
    """
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetCorrupt(f"dataset {path}: unreadable {MANIFEST} ({exc})") from exc
    rows: dict[str, list[dict[str, Any]]] = {}
    for stem, entry in files.items():
        file = path / entry["path"]
        if not file.is_file():
            raise DatasetCorrupt(f"dataset {path}: {entry['path']} is missing")
        actual = file_sha256(file)
        if actual != entry["sha256"]:
            raise DatasetCorrupt(f"dataset {path}: {entry['path']} has sha256 {actual[:12]}…, "
                                 f"the manifest says {entry['sha256'][:12]}… (corrupt or edited)")
        parsed: list[dict[str, Any]] = []
        for number, line in enumerate(file.read_text().splitlines(), start=1):
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise DatasetCorrupt(f"dataset {path}: {entry['path']} line {number} is not JSON ({exc})") from exc
            if not isinstance(row, dict):
                raise DatasetCorrupt(f"dataset {path}: {entry['path']} line {number} is not a JSON object")
            parsed.append(row)
        if len(parsed) != entry["rows"]:
            raise DatasetCorrupt(f"dataset {path}: {entry['path']} has {len(parsed)} rows, "
                                 f"the manifest says {entry['rows']}")
        rows[stem] = parsed
    return DatasetFiles(path=path, manifest=manifest, rows=rows)
