"""Build a dataset version from the database and publish it (orch).

Reads rated answers through `store.datasets_store` (and verified answers through
`store.verified_answers`), builds the rows with the pure builder,
writes them with a manifest into an immutable, content-addressed version folder and records the
version in the `datasets` table. The same feedback and config give the same version: rebuilding
returns the existing folder and row instead of a copy. Below the minimum counts nothing is
written and the result says why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from knowledge.scrubbing import SCRUBBER_VERSION
from store.datasets_store import DatasetRecord, rated_answers, record_dataset
from store.verified_answers import verified_examples
from training.artifacts import abandon, publish, stage
from training.config import DatasetConfig
from training.dataset_builder import build_dataset
from training.dataset_files import content_hash, files_section, read_dataset, write_files, write_manifest

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportResult:
    """A published dataset version, or the reason there is none.

    Attributes:
        dataset: the recorded version, or None when skipped.
        objective: "kto" or "sft" when built.
        skip_reason: one sentence for the admin when skipped.
        stats: the builder's counts (also in the manifest when built).
    """

    dataset: DatasetRecord | None
    objective: str | None
    skip_reason: str | None
    stats: dict[str, Any] = field(default_factory=dict)


def export_dataset(sessions: sessionmaker[Session], *, datasets_root: Path, config: DatasetConfig,
                   since: datetime | None = None) -> ExportResult:
    """Build, write and record one dataset version from the current feedback."""
    with sessions() as session:
        answers = rated_answers(session, since=since)
        verified = verified_examples(session)
    built = build_dataset(answers, config, verified)
    if built.objective is None:
        logger.info("dataset skipped: %s", built.skip_reason)
        return ExportResult(dataset=None, objective=None, skip_reason=built.skip_reason, stats=built.stats)

    identity = {"format": FORMAT_VERSION, "objective": built.objective, "weights": built.weights,
                "config": config.as_dict(), "scrubber_version": SCRUBBER_VERSION,
                "since": since.isoformat() if since else None}
    files = files_section(built.files)
    digest = content_hash({stem: entry["sha256"] for stem, entry in files.items()}, identity)
    version = f"ds-{digest[:16]}"
    target = datasets_root / version
    if not target.exists():
        staging = stage(target)
        try:
            if not target.exists():  # another exporter may have published it while we waited for the lock
                write_files(staging.path, built.files)
                write_manifest(staging.path, {"version": version, "content_hash": digest, "files": files,
                                              "stats": built.stats, **identity})
                publish(staging)
                logger.info("dataset %s written to %s", version, target)
        finally:
            abandon(staging)
    read_dataset(target)  # an existing folder must still match its manifest before it is reused
    with sessions() as session, session.begin():
        manifest = {"objective": built.objective, "weights": built.weights, "stats": built.stats,
                    "files": files, "config": config.as_dict()}
        record = record_dataset(session, version=version, path=str(target.resolve()), content_hash=digest,
                                manifest=manifest)
    return ExportResult(dataset=record, objective=built.objective, skip_reason=None, stats=built.stats)
