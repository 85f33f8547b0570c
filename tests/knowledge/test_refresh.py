"""Re-fetching URL documents against a local site that changes, answers 304 and loses pages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from knowledge.chunking import DEFAULT_CHUNKING
from knowledge.embedding import Embedder
from knowledge.ingest import ingest_url
from knowledge.refresh import refresh_url_documents
from knowledge.search import search_passages
from store.schema import Chunk, Document, DocumentNotice
from tests.fakes.changing_site import ChangingSite, Page
from tests.knowledge.test_ingest import CountingEmbedder

GUIDE_V1 = b"# Deploy guide\n\nRun `make deploy` from the main branch after the tests pass.\n"
GUIDE_V2 = b"# Deploy guide\n\nRun `make ship` from the release branch; deploys need the release role.\n"
FAQ = b"# Backups\n\nBackups run nightly at 02:00 UTC and are kept for 30 days.\n"
OLD = b"# Old runbook\n\nRestart the legacy queue with `svc restart legacy`.\n"


@pytest.fixture
def site() -> Iterator[ChangingSite]:
    with ChangingSite() as served:
        served.pages = {"/guide": Page(GUIDE_V1, etag='"v1"'),
                        "/faq": Page(FAQ, last_modified="Tue, 01 Dec 2026 10:00:00 GMT"),
                        "/old": Page(OLD, etag='"o1"')}
        yield served


def refresh(sessions: sessionmaker[Session], embedder: Embedder):
    return refresh_url_documents(sessions, embedder, allowlist=["127.0.0.1"], max_bytes=100_000, timeout_s=5.0)


def document(sessions: sessionmaker[Session], uri: str) -> Document | None:
    with sessions() as session:
        return session.scalars(select(Document).where(Document.uri == uri)).one_or_none()


def test_unchanged_pages_cost_one_conditional_request_and_no_embedding_changed_ones_are_rechunked_gone_ones_retired(
        sessions: sessionmaker[Session], embedder: Embedder, site: ChangingSite) -> None:
    for path in ("/guide", "/faq", "/old"):
        ingest_url(sessions, embedder, site.url + path, allowlist=["127.0.0.1"], max_bytes=100_000, timeout_s=5.0,
                   added_by="UADDER")
    counting = CountingEmbedder(embedder)
    site.requests.clear()

    report = refresh(sessions, counting)
    assert dict(report.outcomes) == {"not_modified": 3} and counting.embedded == 0
    assert sorted((r.path, r.if_none_match, r.if_modified_since, r.status) for r in site.requests) == [
        ("/faq", None, "Tue, 01 Dec 2026 10:00:00 GMT", 304), ("/guide", '"v1"', None, 304),
        ("/old", '"o1"', None, 304)]

    site.pages["/guide"] = Page(GUIDE_V2, etag='"v2"')
    site.pages["/old"].status = 404
    site.requests.clear()
    report = refresh(sessions, counting)
    assert dict(report.outcomes) == {"replaced": 1, "not_modified": 1, "missing": 1} and counting.embedded > 0
    guide = document(sessions, site.url + "/guide")
    assert guide is not None and guide.etag == '"v2"'
    with sessions() as session:
        texts = list(session.scalars(select(Chunk.text).where(Chunk.document_id == guide.id)))
    assert any("make ship" in text for text in texts) and not any("make deploy" in text for text in texts)
    found = search_passages(sessions, embedder, "how do I ship a release?", limit=1)
    assert "make ship" in found[0].text, "the new version is retrieved at once"
    assert document(sessions, site.url + "/old") is not None, "one 404 does not retire a page"

    site.pages["/old"].status = 410
    site.pages["/guide"].body = b"# Deploy guide\n\nChanged without a new ETag, which the server still honours.\n"
    report = refresh(sessions, counting)
    assert report.outcomes["retired"] == 1 and report.retired == [site.url + "/old"]
    assert report.outcomes["not_modified"] == 2, "a 304 is trusted: the page is not downloaded"
    assert document(sessions, site.url + "/old") is None
    with sessions() as session:
        [notice] = session.scalars(select(DocumentNotice)).all()
    assert notice.recipient == "UADDER" and site.url + "/old" in notice.text and "410" in notice.text


def test_a_page_that_errors_is_kept_and_one_that_comes_back_resets_its_missing_count(
        sessions: sessionmaker[Session], embedder: Embedder, site: ChangingSite) -> None:
    ingest_url(sessions, embedder, site.url + "/faq", allowlist=["127.0.0.1"], max_bytes=100_000, timeout_s=5.0)
    site.pages["/faq"].status = 500
    assert dict(refresh(sessions, embedder).outcomes) == {"failed": 1}
    site.pages["/faq"].status = 404
    assert dict(refresh(sessions, embedder).outcomes) == {"missing": 1}
    site.pages["/faq"].status = 200
    assert dict(refresh(sessions, embedder).outcomes) == {"not_modified": 1}
    site.pages["/faq"].status = 404
    assert dict(refresh(sessions, embedder).outcomes) == {"missing": 1}, "the count restarted after it came back"
    faq = document(sessions, site.url + "/faq")
    assert faq is not None and faq.missing_count == 1 and faq.checked_at is not None


def test_a_page_cut_by_an_older_chunker_is_fetched_whole_once_and_re_chunked(
        sessions: sessionmaker[Session], embedder: Embedder, site: ChangingSite) -> None:
    """Its text is unchanged and the server would answer 304: the refresh asks without validators."""
    ingest_url(sessions, embedder, site.url + "/guide", allowlist=["127.0.0.1"], max_bytes=100_000, timeout_s=5.0)
    with sessions.begin() as session:  # what a knowledge base built before revision 0018 holds
        session.execute(update(Document).values(chunking=None))
    site.requests.clear()
    report = refresh(sessions, embedder)
    assert dict(report.outcomes) == {"replaced": 1}
    assert [(r.if_none_match, r.status) for r in site.requests] == [(None, 200)]
    guide = document(sessions, site.url + "/guide")
    assert guide is not None and guide.chunking == DEFAULT_CHUNKING.signature()
    site.requests.clear()
    assert dict(refresh(sessions, embedder).outcomes) == {"not_modified": 1}  # conditional again from now on
    assert [r.if_none_match for r in site.requests] == ['"v1"']
