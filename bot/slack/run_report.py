"""A training run's report as Block Kit: outcome, gate decision, before/after, counts by class and channel (pure).

Built from what the worker records on the run (`training_runs.metrics`: the dataset's stats, the
gate's scores and reasons), never from files on the worker's disk, so any web process can show it;
the charts travel separately as uploaded images (`run_charts`). The same blocks go to the admin
channel and onto the admins' Home tab.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from bot.slack.blocks import Blocks, context, run_summary, section
from bot.slack.gap_blocks import channel_name
from bot.slack.mrkdwn import SECTION_LIMIT, escape, link, truncate
from store.training_runs import RunRecord

CHANNELS_SHOWN = 8
SCORES = (("margin", "reward margin"), ("good", "👍 log-likelihood"), ("bad", "👎 log-likelihood"),
          ("golden_f1", "golden-set F1"), ("general_perplexity", "general-text perplexity"))
"""The gate's per-model scores shown before/after, by key of `ModelScores.as_dict`."""


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) and not isinstance(value, bool) else "—"


def gate_text(gate: dict[str, Any]) -> str | None:
    """The gate's decision and every reason it gave; None when the run never reached the gate."""
    if not gate:
        return None
    verdict = "*Gate: passed* (the candidate now serves)" if gate.get("passed") else \
        "*Gate: rejected* (the serving model is unchanged)"
    reasons = [f"• {escape(truncate(str(reason), 400))}" for reason in gate.get("reasons") or []]
    return truncate("\n".join([verdict, *reasons]), SECTION_LIMIT)


def before_after_text(gate: dict[str, Any]) -> str | None:
    """Each score for the model serving before the run and for the candidate, side by side."""
    before, after = gate.get("current") or {}, gate.get("candidate") or {}
    if not before and not after:
        return None
    name = escape(str(gate.get("current_name") or "current"))
    lines = [f"*Before → after* (`{name}` → candidate)"]
    lines += [f"{label}: {_num(before.get(key))} → {_num(after.get(key))}" for key, label in SCORES
              if before.get(key) is not None or after.get(key) is not None]
    return "\n".join(lines)


def class_counts_text(stats: dict[str, Any]) -> str | None:
    """Train and eval examples per class, and the training examples per channel (most first)."""
    if not stats.get("train") and not stats.get("eval"):
        return None

    def counts(split: str) -> str:
        part = stats.get(split) or {}
        return (f"👍 {part.get('desirable', 0)} · 👎 {part.get('undesirable', 0)} · "
                f"corrections {part.get('corrections', 0)}")

    lines = [f"*Dataset:* train {counts('train')}; eval {counts('eval')}"]
    channels = sorted((stats.get("channels") or {}).items(), key=lambda item: (-item[1], item[0]))
    if channels:
        shown = " · ".join(f"{channel_name(channel)} {count}" for channel, count in channels[:CHANNELS_SHOWN])
        more = len(channels) - CHANNELS_SHOWN
        lines.append(f"*By channel:* {shown}" + (f" · {more} more" if more > 0 else ""))
    return truncate("\n".join(lines), SECTION_LIMIT)


def report_blocks(run: RunRecord) -> Blocks:
    """The report of a finished run: what happened, why, and on what data."""
    metrics = run.metrics or {}
    gate = metrics.get("gate") or {}
    parts = [run_summary(run), gate_text(gate), before_after_text(gate),
             class_counts_text((metrics.get("dataset") or {}).get("stats") or {})]
    blocks = [section(part) for part in parts if part]
    if run.finished_at is not None:
        blocks.append(context(f"Finished {run.finished_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"))
    return blocks


def message_link(channel: str, ts: str, label: str) -> str:
    """A link to a Slack message that works in any workspace (slack.com redirects to the team's domain)."""
    return link(f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}", label)


def posted_report_blocks(run: RunRecord) -> Blocks:
    """The report as the admins' Home tab shows it: the report, where it was posted, and its loss chart."""
    blocks = report_blocks(run)
    post = run.report_post
    if post.get("channel") and post.get("ts"):
        blocks.append(context(message_link(post["channel"], post["ts"], f"Posted in <#{post['channel']}>")))
    if loss_file := (post.get("files") or {}).get("loss"):
        blocks.append({"type": "image", "slack_file": {"id": loss_file},
                       "alt_text": f"Training loss per step of run {run.id}",
                       "title": {"type": "plain_text", "text": f"Training run #{run.id}: loss per step"}})
    return blocks
