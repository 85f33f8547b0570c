"""Vector, full-text and fused search on the real Postgres + pgvector, with scope isolation."""

from __future__ import annotations

from knowledge.search import (
    fulltext_search,
    fuse_rankings,
    search_passages,
    unknown_terms,
    vector_search,
    visible_scopes,
)
from store.types import Passage
from tests.knowledge_search_fixtures import add_document, unit_vector


def test_vector_search_orders_by_cosine_similarity(sessions) -> None:
    near = add_document(sessions, title="near", scope="workspace", chunks=[("n", unit_vector(1, 0.1))])
    far = add_document(sessions, title="far", scope="workspace", chunks=[("f", unit_vector(0.2, 1))])
    mid = add_document(sessions, title="mid", scope="workspace", chunks=[("m", unit_vector(1, 0.6))])
    with sessions() as session, session.begin():
        found = vector_search(session, unit_vector(1, 0), scopes=["workspace"], limit=3)
    assert [p.chunk_id for p in found] == near + mid + far
    assert found[0].score > found[1].score > found[2].score
    assert abs(found[0].score - 0.995) < 0.01


def test_heading_vectors_re_score_the_nearest_chunks(sessions) -> None:
    # Two chunks equally near the question; only one sits under a heading that names what is asked.
    plain = add_document(sessions, title="plain", scope="workspace", chunks=[("a", unit_vector(1, 0.5))],
                         heading_vector=unit_vector(0, 1))
    titled = add_document(sessions, title="titled", scope="workspace", chunks=[("b", unit_vector(1, 0.5, 0))],
                          heading_vector=unit_vector(1, 0))
    unfilled = add_document(sessions, title="unfilled", scope="workspace", chunks=[("c", unit_vector(1, 0.45))])
    with sessions() as session, session.begin():
        rescored = vector_search(session, unit_vector(1, 0), scopes=["workspace"], limit=3)
        chunk_only = vector_search(session, unit_vector(1, 0), scopes=["workspace"], limit=3, heading_weight=0.0)
    assert [p.chunk_id for p in rescored] == titled + unfilled + plain
    assert [p.chunk_id for p in chunk_only][0] in unfilled  # the nearest chunk vector wins without headings
    similarity = round(unit_vector(1, 0.5)[0], 4)
    assert round(rescored[0].similarity, 4) == similarity  # thresholds read the chunk's own similarity
    assert round(rescored[0].score, 4) == round(0.8 * similarity + 0.2 * 1.0, 4)
    # A chunk without a heading vector (stored before 0005) keeps its own similarity in the mix.
    assert abs(rescored[1].score - rescored[1].similarity) < 1e-6


def test_unknown_terms_are_the_stems_no_visible_passage_contains(sessions) -> None:
    add_document(sessions, title="deploys", scope="workspace",
                 chunks=[("Deploying the billing service runs migrations first", unit_vector(1))])
    add_document(sessions, title="secret", scope="C_PRIVATE", chunks=[("Terraform state lives in S3", unit_vector(1))])
    # Stems as bot/lexicon.py makes them (Snowball English, as Postgres's english configuration).
    terms = ["deploy", "migrat", "terraform", "kubernet"]
    assert unknown_terms(sessions, terms) == ["kubernet", "terraform"]
    assert unknown_terms(sessions, terms, channel="C_PRIVATE") == ["kubernet"]  # visible there only
    assert unknown_terms(sessions, []) == []


def test_scope_filter_returns_full_limit_even_when_selective(sessions) -> None:
    # 200 workspace chunks closer to the query than the 5 channel chunks: without iterative scan the
    # HNSW candidate list would hold no channel chunk at all.
    for i in range(20):
        add_document(sessions, title=f"w{i}", scope="workspace",
                     chunks=[(f"w{i}-{j}", unit_vector(1, 0.01 * j, 0.001 * i)) for j in range(10)])
    private = add_document(sessions, title="private", scope="C_PRIVATE",
                           chunks=[(f"p{j}", unit_vector(0.3, 1, 0.01 * j)) for j in range(5)])
    with sessions() as session, session.begin():
        found = vector_search(session, unit_vector(1, 0), scopes=["C_PRIVATE"], limit=5)
    assert sorted(p.chunk_id for p in found) == sorted(private)


def test_channel_sees_workspace_and_own_documents_but_never_another_channel(sessions) -> None:
    add_document(sessions, title="shared", scope="workspace", chunks=[("s", unit_vector(1, 0))])
    add_document(sessions, title="mine", scope="C_MINE", chunks=[("m", unit_vector(1, 0.1))])
    add_document(sessions, title="theirs", scope="C_THEIRS", chunks=[("t", unit_vector(1, 0.05))])
    with sessions() as session, session.begin():
        from_mine = vector_search(session, unit_vector(1, 0), scopes=visible_scopes("C_MINE"), limit=10)
        from_elsewhere = vector_search(session, unit_vector(1, 0), scopes=visible_scopes("C_OTHER"), limit=10)
        from_cli = vector_search(session, unit_vector(1, 0), scopes=visible_scopes(None), limit=10)
    assert {p.title for p in from_mine} == {"shared", "mine"}
    assert {p.title for p in from_elsewhere} == {"shared"}
    assert {p.title for p in from_cli} == {"shared"}


def test_fulltext_matches_any_word_and_ranks_denser_matches_first(sessions) -> None:
    add_document(sessions, title="gc", scope="workspace",
                 chunks=[("Python garbage collection frees cycles; the garbage collector runs", unit_vector(1))])
    add_document(sessions, title="loops", scope="workspace", chunks=[("A for loop iterates", unit_vector(0, 1))])
    add_document(sessions, title="one", scope="workspace", chunks=[("collection types", unit_vector(0, 0, 1))])
    with sessions() as session, session.begin():
        found = fulltext_search(session, "how does garbage collection work?", unit_vector(1),
                                scopes=["workspace"], limit=5)
    assert [p.title for p in found] == ["gc", "one"]
    # Every mode reports the cosine similarity too, so one relevance threshold serves them all.
    assert [round(p.similarity, 3) for p in found] == [1.0, 0.0]


def _p(chunk_id: int) -> Passage:
    return Passage(chunk_id=chunk_id, document_id=1, title="t", uri="u", heading="", text="x", score=0.0,
                   scope="workspace")


def test_rrf_fusion_rewards_agreement_and_respects_weights() -> None:
    vector = [_p(1), _p(2), _p(3)]
    fulltext = [_p(3), _p(4)]
    fused = fuse_rankings([vector, fulltext], [1.0, 1.0], limit=4)
    assert fused[0].chunk_id == 3  # in both lists
    assert [p.chunk_id for p in fuse_rankings([vector, fulltext], [1.0, 0.0], limit=3)] == [1, 2, 3]


def test_search_passages_with_real_embeddings_finds_the_relevant_chunk(sessions, embedder) -> None:
    texts = ["To reset your VPN password open the IT portal and choose Reset.",
             "Lunch is served in the cafeteria at noon.",
             "Deployments run through the CI pipeline after review."]
    for text in texts:
        add_document(sessions, title=text[:10], scope="workspace", chunks=[(text, embedder.embed_query(text))])
    for mode in ("vector", "hybrid", "fulltext"):
        found = search_passages(sessions, embedder, "how do I reset my vpn password", mode=mode, limit=3)
        assert found[0].text == texts[0], mode


IGNORE_SCRIPTS = ("## Configuration\n\n### `ignore-scripts`\n\n* Default: false\n* Type: Boolean\n\n"
                  "If true, npm does not run scripts specified in package.json files.\n")


def test_a_section_repeated_in_several_documents_is_returned_once_and_the_rest_fill_the_places(
        sessions, embedder) -> None:
    """npm's docs repeat the same option section on every command page; each copy took a place."""
    from knowledge.ingest import ingest_text

    for command in ("ci", "install", "dedupe", "install-test"):
        ingest_text(sessions, embedder, title=f"npm-{command}", fmt="markdown", source="file",
                    uri=f"file:///docs/npm-{command}.md",
                    text=f"# npm-{command}\n\nRuns npm {command} for the project in the current folder.\n\n"
                         + IGNORE_SCRIPTS.replace("\n\nIf", "\n\n  If"))  # whitespace differs per page
    ingest_text(sessions, embedder, title="Scripts", fmt="markdown", source="file", uri="file:///docs/scripts.md",
                text="# Scripts\n\n## Life cycle\n\nThe postinstall script of a dependency runs after it is "
                     "installed, unless scripts are turned off.\n")
    question = "how do i stop npm running the postinstall scripts of dependencies?"
    for mode in ("vector", "hybrid", "fulltext"):
        found = search_passages(sessions, embedder, question, mode=mode, limit=4)
        texts = [" ".join(passage.text.split()) for passage in found]
        assert len(texts) == len(set(texts)), mode
        assert sum("does not run scripts" in text for text in texts) == 1, mode
        assert any("postinstall script of a dependency" in text for text in texts), mode


def test_a_search_deeper_than_pgvectors_scan_bound_still_returns_every_passage(sessions) -> None:
    # limit 300 asks for ef_search 1,200, past pgvector's bound of 1,000: the search must clamp it
    # (a KB_RERANK_DEPTH of 300 failed every question before) and the iterative scan fill the rest.
    for i in range(31):
        add_document(sessions, title=f"d{i}", scope="workspace",
                     chunks=[(f"d{i}-{j}", unit_vector(1, 0.01 * j, 0.001 * i)) for j in range(10)])
    with sessions() as session, session.begin():
        found = vector_search(session, unit_vector(1, 0), scopes=["workspace"], limit=300)
    assert len(found) == 300
    assert found[0].score >= found[-1].score
