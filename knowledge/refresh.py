"""Keeping URL documents fresh: conditional re-fetch, re-chunk when changed, retire when gone (orch).

For every document added from an http(s) URL, least recently checked first:

* the stored ETag / Last-Modified go out as If-None-Match / If-Modified-Since: an unchanged page
  answering 304 costs that one request and nothing else (a page cut by an older chunker is fetched
  without them, once, to be re-chunked);
* a 200 goes through `ingest_bytes` under the document's uri and scope: the same text (content
  hash) cut by the current chunker is "unchanged" and embeds nothing; a changed one, or one cut by
  an older chunker, is re-chunked and its chunks swapped in one transaction, so a question sees the
  old version or the new one, never a mix;
* 404 or 410 counts as missing; the `gone_after`-th in a row deletes the document (it stops being
  retrieved at once) and leaves a notice for whoever added it, when that was a Slack user;
* anything else (timeout, 500, a refused address) is logged and changes nothing but `checked_at`.

Touches the network (through `knowledge.fetching`, SSRF rules included), the embedder and the database.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from knowledge.chunking import DEFAULT_CHUNKING
from knowledge.embedding import Embedder
from knowledge.errors import IngestError, PageGone
from knowledge.fetching import fetch_url
from knowledge.ingest import ingest_bytes
from store.notices import add_notice
from store.schema import Document

logger = logging.getLogger(__name__)

GONE_AFTER = 2
"""Consecutive 404/410 answers that retire a document: one can be a deploy in progress."""
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")


@dataclass(slots=True)
class RefreshReport:
    """How each checked document came out: not_modified, unchanged, replaced, missing, retired or failed."""

    outcomes: Counter[str] = field(default_factory=Counter)
    retired: list[str] = field(default_factory=list)

    @property
    def checked(self) -> int:
        return sum(self.outcomes.values())


@dataclass(frozen=True, slots=True, kw_only=True)
class _UrlDocument:
    id: int
    uri: str
    title: str
    scope: str
    added_by: str | None
    etag: str | None
    last_modified: str | None
    missing_count: int
    chunking: str | None


def refresh_url_documents(sessions: sessionmaker[Session], embedder: Embedder, *, allowlist: Sequence[str],
                          max_bytes: int, timeout_s: float, gone_after: int = GONE_AFTER) -> RefreshReport:
    """Re-fetch every URL document once (see the module docstring); one failure never stops the rest."""
    report = RefreshReport()
    for document in _url_documents(sessions):
        try:
            outcome = _refresh_one(sessions, embedder, document, allowlist=allowlist, max_bytes=max_bytes,
                                   timeout_s=timeout_s, gone_after=gone_after)
        except Exception:  # a bug or a failing embedder on one page must not keep the others stale
            logger.exception("re-fetching document %s (%s) failed", document.id, document.uri)
            outcome = "failed"
        report.outcomes[outcome] += 1
        if outcome == "retired":
            report.retired.append(document.uri)
    logger.info("URL documents refreshed: %s", dict(report.outcomes))
    return report


def _url_documents(sessions: sessionmaker[Session]) -> list[_UrlDocument]:
    with sessions() as session:
        rows = session.execute(select(Document.id, Document.uri, Document.title, Document.scope, Document.added_by,
                                      Document.etag, Document.last_modified, Document.missing_count,
                                      Document.chunking)
                               .where(Document.source == "url")
                               .order_by(Document.checked_at.asc().nulls_first(), Document.id)).all()
    return [_UrlDocument(id=row.id, uri=row.uri, title=row.title, scope=row.scope, added_by=row.added_by,
                         etag=row.etag, last_modified=row.last_modified, missing_count=row.missing_count,
                         chunking=row.chunking)
            for row in rows]


def _refresh_one(sessions: sessionmaker[Session], embedder: Embedder, document: _UrlDocument, *,
                 allowlist: Sequence[str], max_bytes: int, timeout_s: float, gone_after: int) -> str:
    # A page cut by an older chunker is fetched whole even if unchanged, so that it is re-chunked.
    current = document.chunking == DEFAULT_CHUNKING.signature()
    validators = {name: value for name, value in (("If-None-Match", document.etag),
                                                  ("If-Modified-Since", document.last_modified))
                  if value and current}
    try:
        fetched = fetch_url(document.uri, allowlist=allowlist, max_bytes=max_bytes, timeout_s=timeout_s,
                            validators=validators)
        if not fetched.not_modified:
            result = ingest_bytes(sessions, embedder, fetched.data, name=fetched.final_url, source="url",
                                  max_bytes=max_bytes, uri=document.uri, content_type=fetched.content_type,
                                  title=document.title, scope=document.scope, added_by=document.added_by)
    except PageGone as exc:
        if document.missing_count + 1 >= gone_after:
            _retire(sessions, document, exc.status)
            return "retired"
        _record_check(sessions, document.id, missing_count=document.missing_count + 1)
        return "missing"
    except IngestError as exc:
        logger.warning("re-fetching document %s failed: %s", document.id, exc)
        _record_check(sessions, document.id)
        return "failed"
    _record_check(sessions, document.id, missing_count=0, etag=fetched.etag or document.etag,
                  last_modified=fetched.last_modified or document.last_modified)
    return "not_modified" if fetched.not_modified else result.status


def _record_check(sessions: sessionmaker[Session], document_id: int, **values: object) -> None:
    with sessions.begin() as session:
        session.execute(update(Document).where(Document.id == document_id).values(checked_at=func.now(), **values))


def _retire(sessions: sessionmaker[Session], document: _UrlDocument, status: int) -> None:
    """Delete the document (its chunks go with it) and tell whoever added it, in one transaction."""
    with sessions.begin() as session:
        session.execute(delete(Document).where(Document.id == document.id))
        if document.added_by and _SLACK_USER.match(document.added_by):
            add_notice(session, recipient=document.added_by, text=_gone_text(document, status))
    logger.info("document %s (%s) retired: HTTP %s on %d checks in a row", document.id, document.uri, status,
                document.missing_count + 1)


def _gone_text(document: _UrlDocument, status: int) -> str:
    return (f"The page {document.uri} (“{document.title}”) you added to the knowledge base answered HTTP {status} "
            f"on {document.missing_count + 1} checks in a row, so I removed it and no longer answer from it. "
            "If it moved, add the new address with `/kb add <url>`.")
