"""Errors of the knowledge package that callers catch by name (pure).

* IngestError: a document could not be read, fetched or indexed. Nothing of it was written.
"""

from __future__ import annotations


class IngestError(Exception):
    """Raised when a document cannot be ingested; its one-line message names the input and is shown to users."""
