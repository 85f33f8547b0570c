"""Fixtures of the generator runtime tests (the model fixtures themselves live in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Run these tests' models on one intra-op thread, then restore the setting.

    The test machine's two cores are shared with other jobs; measured there under load, SmolLM2 made
    ~3 tokens/s with two threads and ~10 with one (OpenMP threads spin against the other jobs).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
