"""The loss curve kept in a run's metrics (for the bot's chart) is bounded and ends where training ended."""

from __future__ import annotations

from training.pipeline import thinned


def test_a_long_curve_is_thinned_to_the_bound_keeping_the_last_step() -> None:
    curve = [(step, 10.0 / step) for step in range(1, 1001)]
    kept = thinned(curve, 200)
    assert len(kept) <= 200 and kept[0] == [1, 10.0] and kept[-1] == [1000, 0.01]
    assert [step for step, _ in kept] == sorted({step for step, _ in kept}), "in step order, no repeats"


def test_a_short_curve_is_kept_whole() -> None:
    assert thinned([(1, 2.0), (2, 1.5)], 200) == [[1, 2.0], [2, 1.5]] and thinned([], 200) == []
