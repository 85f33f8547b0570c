"""The charts that go with a run's report in Slack, as `files_upload_v2` items (orch: database → PNG).

The loss curve comes from the run's metrics (the worker stores a thinned copy there), feedback per
week from the votes table, so any web process can draw both without the worker's disk. Each item is
what `WebClient.files_upload_v2(file_uploads=...)` takes: bytes, a file name, a title and the
alt text screen readers get.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from knowledge.charts import feedback_chart, loss_chart
from store.insight import RECENT_WEEKS, recent_feedback_weeks
from store.training_runs import RunRecord

LOSS_CHART = "loss"
FEEDBACK_CHART = "feedback"


def run_charts(sessions: sessionmaker[Session], run: RunRecord) -> dict[str, dict[str, Any]]:
    """The run's charts by name (`loss`, `feedback`), each only when there is something to draw."""
    charts: dict[str, dict[str, Any]] = {}
    curve = [(int(step), float(loss)) for step, loss in run.metrics.get("loss_curve") or []]
    if curve:
        charts[LOSS_CHART] = {
            "content": loss_chart(curve), "filename": f"training-run-{run.id}-loss.png",
            "title": f"Training run #{run.id}: training loss per step",
            "alt_txt": (f"Line chart of the training loss over {curve[-1][0]} steps of run {run.id}, "
                        f"from {curve[0][1]:.3g} to {curve[-1][1]:.3g}.")}
    with sessions() as session:
        weeks = recent_feedback_weeks(session)
    if weeks:
        charts[FEEDBACK_CHART] = {
            "content": feedback_chart(weeks), "filename": f"training-run-{run.id}-feedback.png",
            "title": f"Helpful / not helpful votes per week (last {RECENT_WEEKS} weeks)",
            "alt_txt": "Bar chart of votes per week: " + "; ".join(
                f"week of {w.key}: {w.up} helpful, {w.down} not helpful" for w in weeks)}
    return charts
