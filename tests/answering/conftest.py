"""Fixtures of the answering tests."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from knowledge.embedding import Embedder
from tests.answering.handbook import add_handbook


@pytest.fixture
def handbook(sessions: sessionmaker[Session], embedder: Embedder) -> sessionmaker[Session]:
    """The test database holding the three-page handbook (tests.answering.handbook)."""
    return add_handbook(sessions, embedder)
