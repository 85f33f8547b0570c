"""The real default model (SmolLM2-135M) end to end: answers carry the fact and never invent.

These are the behaviours the whole answer design exists for, so they run on the real model rather
than a scripted one: the published text contains the documented fact, and nothing in it (URL,
command, flag, identifier, number) is missing from the passages or the question.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.answer_quality import invented_specifics
from bot.answering import Answerer, Question
from knowledge.ingest import ingest_file, ingest_text

pytestmark = pytest.mark.slow

DOCS = {
    "Deploys": "# Deploying the API\n\nTo deploy the API, run `make deploy ENV=production` from the repository "
               "root. The deploy needs the `release` role; ask in #platform to get it.\n\n## Rolling back\n\n"
               "Run `make rollback` to return to the previous release. Rollbacks take about 3 minutes.",
    "VPN": "# VPN\n\nTo connect to the office VPN install WireGuard and import the profile from the IT portal. "
           "The VPN server is vpn.example.com on port 51820.",
    "Backups": "# Database backups\n\nPostgres backups run nightly at 02:00 UTC with pg_dump and are copied to "
               "the kb-backups bucket. Restore one with `pg_restore --clean`.",
}
QUESTIONS = [
    ("how do we ship the api to prod?", ["make deploy ENV=production"]),
    ("we need to undo a bad release, what's the command?", ["make rollback"]),
    ("which port is the vpn on", ["51820"]),
    ("when do db backups happen?", ["02:00 UTC"]),
]


@pytest.fixture
def answerer(sessions, embedder, default_generator) -> Answerer:
    for title, text in DOCS.items():
        ingest_text(sessions, embedder, title=title, text=text, fmt="markdown", uri=f"doc:{title}", source="text")
    return Answerer(sessions=sessions, embedder=embedder, generator=default_generator)


@pytest.mark.parametrize(("question", "facts"), QUESTIONS)
def test_answers_contain_the_fact_and_invent_nothing(answerer: Answerer, question: str, facts: list[str]) -> None:
    result = answerer.answer(Question(text=question))
    assert not result.abstained
    for fact in facts:
        assert fact in result.text
    assert invented_specifics(result, question) == []
    assert all(verdict.supported for verdict in result.verdicts if verdict.text in result.summary)


def test_make_runs_demo_question_is_answered_from_the_readme(sessions, embedder, default_generator) -> None:
    readme = Path(__file__).resolve().parents[2] / "README.md"
    ingest_file(sessions, embedder, readme, max_bytes=2_000_000)
    answerer = Answerer(sessions=sessions, embedder=embedder, generator=default_generator)
    question = "How do I run the Slack bot in Socket Mode?"
    result = answerer.answer(Question(text=question))
    assert any(command in result.text for command in ("kbbot slack socket", "python -m bot.slack socket"))
    assert "SLACK_APP_TOKEN" in result.text
    assert invented_specifics(result, question) == []
