"""Errors of the knowledge package that callers catch by name, and how they are worded (pure).

* IngestError: a document could not be read, fetched or indexed. Nothing of it was written.
  * PageGone: its URL answered 404 Not Found or 410 Gone (a scheduled re-fetch counts these).
"""

from __future__ import annotations


class IngestError(Exception):
    """Raised when a document cannot be ingested; its one-line message names the input and is shown to users."""


class PageGone(IngestError):
    """Raised when a URL answers 404 or 410; the message names the URL and the status."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status
