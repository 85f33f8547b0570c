"""The run report: report.json, report.md, loss.png and feedback.png in one folder per run (adapter: filesystem).

What `/kb status` links to or summarises: dataset counts and class balance, 👎 reasons, why a run
was skipped, training metrics with the loss curve, the gate's measurements, its gain estimate
(point, lower confidence bound, held-out rows per class) and verdict, and for a failed run the
error. The charts (training loss per step, 👍/👎 per week) are drawn by `knowledge.charts`, which
the bot also uses for the report it posts to Slack.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knowledge.charts import feedback_chart, loss_chart
from store.insight import FeedbackCount


@dataclass(frozen=True, slots=True, kw_only=True)
class RunReport:
    """Everything known about one run when it ends."""

    run_id: int | None
    status: str
    summary: str
    dataset: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    loss_curve: Sequence[tuple[int, float]] = ()
    gate: dict[str, Any] = field(default_factory=dict)
    adapter: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    feedback_weeks: Sequence[FeedbackCount] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "status": self.status, "summary": self.summary, "dataset": self.dataset,
                "training": self.training, "loss_curve": [list(point) for point in self.loss_curve],
                "gate": self.gate, "adapter": self.adapter, "error": self.error,
                "feedback_weeks": [[w.key, w.up, w.down] for w in self.feedback_weeks]}


def _table(rows: dict[str, Any]) -> list[str]:
    return ["| | |", "|---|---|", *(f"| {key} | {value} |" for key, value in rows.items())]


def markdown(report: RunReport, *, has_plot: bool, has_feedback_plot: bool = False) -> str:
    """The human-readable report."""
    title = f"Training run {report.run_id}" if report.run_id is not None else "Training run"
    lines = [f"# {title}: {report.status}", "", report.summary, ""]
    if report.dataset:
        stats = report.dataset.get("stats", {})
        lines += ["## Dataset", "", *_table({
            "version": report.dataset.get("version", "—"), "objective": report.dataset.get("objective", "—"),
            "answers read": stats.get("answers_read"), "train 👍/👎": _pair(stats.get("train")),
            "eval 👍/👎": _pair(stats.get("eval")), "class ratio 👍:👎": stats.get("class_ratio"),
            "KTO weights": report.dataset.get("weights"), "excluded": stats.get("excluded"),
            "scrubbed": stats.get("scrubbed"), "channels": stats.get("channels"),
            "spared by the channel cap": stats.get("channel_cap_spared")}), ""]
        reasons = stats.get("thumbs_down_reasons") or {}
        if reasons.get("codes"):
            lines += ["### 👎 reasons", "", *_table(reasons["codes"]), ""]
            lines += [f"> {_one_line(text)}" for text in reasons.get("examples", [])] + [""]
    if has_feedback_plot:
        lines += ["## Feedback per week", "", "![feedback per week](feedback.png)", ""]
    if report.training:
        shown = {k: v for k, v in report.training.items() if k != "final_log"}
        lines += ["## Training", "", *_table(shown), ""]
        if has_plot:
            lines += ["![loss curve](loss.png)", ""]
    if report.gate:
        lines += ["## Evaluation gate", "", f"**{'passed' if report.gate.get('passed') else 'rejected'}**", ""]
        lines += [f"- {reason}" for reason in report.gate.get("reasons", [])] + [""]
        if gain := report.gate.get("gain"):
            lines += [*_table({"statistic": gain["statistic"], "gain (point estimate)": _num(gain["point"]),
                               f"{gain['confidence']:.0%} one-sided lower bound": _num(gain["lower"]),
                               "bootstrap resamples": gain["resamples"], "held-out 👍": gain["n_good"],
                               "held-out 👎": gain["n_bad"]}), ""]
        lines += ["| model | 👍 loglik | 👎 loglik | margin | golden | golden F1 | general ppl |",
                  "|---|---|---|---|---|---|---|"]
        for name in ("candidate", "current", "base"):
            s = report.gate.get(name, {})
            lines.append(f"| {name} | {_num(s.get('good'))} | {_num(s.get('bad'))} | {_num(s.get('margin'))} | "
                         f"{_num(s.get('golden'))} | {_num(s.get('golden_f1'))} | "
                         f"{_num(s.get('general_perplexity'))} |")
        lines.append("")
    if report.adapter:
        lines += ["## Adapter", "", *_table(report.adapter), ""]
    if report.error:
        lines += ["## Error", "", "```", report.error.rstrip(), "```", ""]
    return "\n".join(lines)


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _pair(counts: dict[str, int] | None) -> str:
    return f"{counts['desirable']}/{counts['undesirable']}" if counts else "—"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def write_report(folder: Path, report: RunReport) -> Path:
    """Write the report files into `folder`; return the path of report.md."""
    folder.mkdir(parents=True, exist_ok=True)
    has_plot = len(report.loss_curve) > 0
    if has_plot:
        (folder / "loss.png").write_bytes(loss_chart(report.loss_curve))
    has_feedback_plot = len(report.feedback_weeks) > 0
    if has_feedback_plot:
        (folder / "feedback.png").write_bytes(feedback_chart(report.feedback_weeks))
    (folder / "report.json").write_text(json.dumps(report.as_dict(), indent=2, sort_keys=True,
                                                   ensure_ascii=False, default=str) + "\n")
    path = folder / "report.md"
    path.write_text(markdown(report, has_plot=has_plot, has_feedback_plot=has_feedback_plot))
    return path
