"""PNG charts of the learning loop: training loss per step and 👍/👎 per week (adapter: matplotlib).

Drawn by the training worker into each run's report folder and by the bot for the run report it
uploads to Slack, from the same figures, so both show the same picture. Matplotlib's Agg canvas is
used directly (no pyplot global state, no display), which keeps drawing thread-safe in the web
process.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from store.insight import FeedbackCount


def _png(figure: Figure) -> bytes:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _figure() -> Figure:
    figure = Figure(figsize=(6, 3.5), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def loss_chart(curve: Sequence[tuple[int, float]]) -> bytes:
    """The training loss per logged step as a PNG."""
    figure = _figure()
    axes = figure.add_subplot()
    axes.plot([step for step, _ in curve], [loss for _, loss in curve], marker="o" if len(curve) < 40 else None)
    axes.set_xlabel("step")
    axes.set_ylabel("training loss")
    axes.grid(alpha=0.3)
    return _png(figure)


def feedback_chart(weeks: Sequence[FeedbackCount]) -> bytes:
    """👍 and 👎 per week (`key` = the week's Monday) as side-by-side bars, oldest week first, as a PNG."""
    figure = _figure()
    axes = figure.add_subplot()
    positions = range(len(weeks))
    axes.bar([p - 0.2 for p in positions], [week.up for week in weeks], width=0.4, label="helpful", color="#2e7d32")
    axes.bar([p + 0.2 for p in positions], [week.down for week in weeks], width=0.4, label="not helpful",
             color="#c62828")
    axes.set_xticks(list(positions), [week.key[5:] for week in weeks])  # MM-DD of each Monday
    axes.set_xlabel("week of")
    axes.set_ylabel("votes")
    axes.legend()
    axes.grid(axis="y", alpha=0.3)
    return _png(figure)
