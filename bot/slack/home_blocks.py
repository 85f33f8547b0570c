"""The App Home tab: what the bot knows and how to ask for everyone, team insight for admins (pure).

Everyone sees the workspace documents (private-scope documents only as a count: their channels are
not everyone's business), how to ask, and their own recent questions linked to their threads.
Admins also see feedback per week, per channel and by 👎 reason, answer outcomes, the serving
model, the last training runs, the newest finished run's report (as posted to the admin channel,
with its loss chart), the knowledge gaps, and the retrain / roll back buttons. A Home tab
holds at most 100 blocks; every list here is capped so an admin's tab stays far below that.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.slack.blocks import Blocks, context, run_summary, section
from bot.slack.gap_blocks import channel_name, gap_blocks
from bot.slack.mrkdwn import SECTION_LIMIT, escape, truncate
from bot.slack.run_report import message_link, posted_report_blocks
from knowledge.gaps import GapCluster
from store.adapter_registry import AdapterRecord, DeploymentRecord
from store.insight import AskedQuestion, FeedbackCount, Outcomes, ScopeCount
from store.learned_channels import LearningSummary
from store.ranking_registry import RankingEntry
from store.schema import WORKSPACE_SCOPE
from store.training_runs import RunRecord

HOME_CALLBACK = "kb.home"
ACTION_HOME_RETRAIN = "kb.home.retrain"
ACTION_HOME_ROLLBACK = "kb.home.rollback"
ACTION_HOME_RANKING_ROLLBACK = "kb.home.ranking_rollback"
"""Serves the previous ranking model (shown only while one tuned on votes serves)."""
ACTION_HOME_PROMOTE = "kb.home.promote"
"""Promotes the adapter whose id is the button's value (re-checked on click)."""
HOME_DEPLOYMENTS = 5
SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
HOME_GAPS = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class HomeData:
    """What every user's Home tab shows."""

    scopes: list[ScopeCount]
    latest_titles: list[str]
    questions: list[AskedQuestion]
    learning: LearningSummary | None = None
    """Public channels the bot learns from (`/kb learn`); None or none: the line is not shown."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminData:
    """What only admins see: feedback, outcomes (`outcome_days` back), the model and its deployments, the
    schedule, runs, the newest finished run's report, an adapter that may be promoted, and gaps."""

    weeks: list[FeedbackCount]
    channels: list[FeedbackCount]
    reasons: list[FeedbackCount]
    outcomes: Outcomes
    outcome_days: int
    adapter_name: str
    runs: list[RunRecord]
    gaps: list[GapCluster]
    latest_report: RunRecord | None = None
    deployments: list[DeploymentRecord] = field(default_factory=list)
    next_retrain: datetime | None = None
    training_cron: str = ""
    promotable: AdapterRecord | None = None
    ranking: list[RankingEntry] = field(default_factory=list)
    """The ranking models' deployment log, newest first (empty: the configured model has always served)."""
    ranking_metrics: dict[str, Any] | None = None
    """What the serving ranking model was tuned on (its newest deployment's metrics), if it was."""


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": truncate(text, 150)}}


def knowledge_text(data: HomeData) -> str:
    workspace = next((s for s in data.scopes if s.scope == WORKSPACE_SCOPE), None)
    private = sum(s.documents for s in data.scopes if s.scope != WORKSPACE_SCOPE)
    lines = [f"*{workspace.documents:,} documents* for everyone in the workspace, last added "
             f"{workspace.last_added_at:%Y-%m-%d}" if workspace else "*No documents* for the whole workspace yet."]
    if data.latest_titles:
        lines.append("Newest: " + ", ".join(f"_{escape(truncate(t, 80))}_" for t in data.latest_titles))
    if private:
        conversations = sum(1 for s in data.scopes if s.scope != WORKSPACE_SCOPE)
        lines.append(f"{private:,} more kept to the {conversations} private conversation"
                     f"{'s' if conversations != 1 else ''} they were added in.")
    if data.learning and data.learning.channels:
        lines.append(learning_text(data.learning))
    return "\n".join(lines)


def learning_text(summary: LearningSummary) -> str:
    """The Home tab's line about learned channels."""
    count = summary.channels
    line = (f"Learning from *{count} channel{'s' if count != 1 else ''}*: {summary.messages:,} messages in "
            f"{summary.threads:,} threads" + (f", last synced {summary.synced_at:%Y-%m-%d %H:%M} UTC"
                                             if summary.synced_at else ", first sync under way") + ".")
    if summary.failing:
        line += f" ⚠️ {summary.failing} need{'s' if summary.failing == 1 else ''} attention: `/kb learn list`."
    return line


HOW_TO_ASK = ("Mention me with a question in a channel I'm in, or write to me in the Messages tab. I answer in a "
              "thread, quoting the team's documents as [1], [2]. Rate answers with 👍/👎; add documents with "
              "`/kb add`; `/kb help` lists everything.")


def questions_text(questions: list[AskedQuestion]) -> str:
    if not questions:
        return "You haven't asked me anything yet."
    lines = []
    for q in questions:
        label = truncate(" ".join(q.question.split()), 120)
        shown = message_link(q.channel, q.thread_ts, label) if q.channel and q.thread_ts else escape(label)
        lines.append(f"• {shown} _({q.asked_at:%Y-%m-%d}{', not answered' if q.abstained else ''})_")
    return truncate("\n".join(lines), SECTION_LIMIT)


def _counts(rows: list[FeedbackCount], name: Callable[[str], str]) -> str:
    return "\n".join(f"{name(r.key)} · 👍 {r.up} · 👎 {r.down}" for r in rows) or "No votes yet."


def feedback_text(data: AdminData) -> str:
    weeks = _counts(data.weeks, lambda key: f"week of {key}")
    channels = _counts(data.channels, channel_name)
    reasons = " · ".join(f"{escape(r.key.replace('_', ' '))} {r.down}" for r in data.reasons) or "none yet"
    return truncate(f"*Per week*\n{weeks}\n*Per channel*\n{channels}\n*👎 reasons:* {reasons}", SECTION_LIMIT)


def outcomes_text(data: AdminData) -> str:
    o = data.outcomes
    latency = (f" · latency p50 {o.p50_ms / 1000:.1f} s, p95 {o.p95_ms / 1000:.1f} s"
               if o.p50_ms is not None and o.p95_ms is not None else "")
    model = "the base model" if data.adapter_name == "base" else f"adapter `{escape(data.adapter_name)}`"
    return (f"*Last {data.outcome_days} days:* {o.answered:,} answered · {o.abstained:,} not answered (abstained)"
            f" · {o.busy:,} turned away (busy) · {o.failed:,} failed{latency}\n*Serving:* {model}")


_ACTIONS = {"promote": "promoted", "rollback": "rolled back to", "base": "switched to"}


def deployments_text(deployments: list[DeploymentRecord]) -> str:
    """The newest entries of the deployment log: when, what, to which model, by whom and why."""
    lines = []
    for d in deployments:
        model = f"`{escape(d.adapter.name)}`" if d.adapter else "the base model"
        who = "the training loop" if d.actor in (None, "training") else f"<@{d.actor}>"
        why = f" ({escape(truncate(d.reason, 100))})" if d.reason else ""
        lines.append(f"• {d.created_at.astimezone(UTC):%Y-%m-%d %H:%M} {_ACTIONS.get(d.action, d.action)} {model} "
                     f"by {who}{why}")
    return "*Deployments* (newest first)\n" + ("\n".join(lines) or "None yet: the base model has always served.")


_RANKING_ACTIONS = {"deploy": "deployed", "rollback": "rolled back to", "configured": "switched to"}


def ranking_text(entries: list[RankingEntry], metrics: dict[str, Any] | None = None) -> str:
    """Which ranking model picks the passages to quote, what it learned from (`metrics`), and the newest
    log entries."""
    serving = entries[0] if entries else None
    if serving is None or serving.name is None:
        head = "*Ranking model* (picks the passages to quote): the configured one, not tuned on votes"
    else:
        learned = ""
        if metrics and metrics.get("train_pairs") is not None:
            gate = metrics.get("gate_votes") or {}
            learned = (f", tuned on {metrics['train_pairs']} 👍-voted answers (held-out votes lost "
                       f"{gate.get('lost', '?')}, won {gate.get('won', '?')})")
        head = f"*Ranking model* (picks the passages to quote): `{escape(serving.name)}`{learned}"
    lines = []
    for entry in entries:
        model = f"`{escape(entry.name)}`" if entry.name else "the configured model"
        lines.append(f"• {entry.created_at.astimezone(UTC):%Y-%m-%d %H:%M} "
                     f"{_RANKING_ACTIONS.get(entry.action, entry.action)} {model} by {_ranking_actor(entry.actor)}")
    return head + ("\n" + "\n".join(lines) if lines else "")


def _ranking_actor(actor: str | None) -> str:
    """Who a ranking log entry names: a Slack user as a mention, the worker's schedule as the training loop,
    anything else (`kbbot train ranking --actor`) as written."""
    if actor is None or actor == "schedule":
        return "the training loop"
    if SLACK_USER_ID.fullmatch(actor):
        return f"<@{actor}>"
    return f"`{escape(actor)}` (command line)" if actor != "cli" else "the command line"


def schedule_text(data: AdminData) -> str:
    if data.next_retrain is None:
        return f"*Next scheduled retrain:* unknown (`TRAINING_CRON` = `{escape(data.training_cron)}` is not a cron)"
    return (f"*Next scheduled retrain:* {data.next_retrain.astimezone(UTC):%a %Y-%m-%d %H:%M} UTC "
            f"(`{escape(data.training_cron)}`)")


def promote_button(adapter: AdapterRecord) -> dict[str, Any]:
    confirm = {"title": {"type": "plain_text", "text": "Promote this adapter?"},
               "text": {"type": "plain_text", "text": truncate(f"Every bot switches to {adapter.name}.", 300)},
               "confirm": {"type": "plain_text", "text": "Promote"}, "deny": {"type": "plain_text", "text": "Cancel"}}
    return {"type": "button", "action_id": ACTION_HOME_PROMOTE, "value": str(adapter.id), "confirm": confirm,
            "text": {"type": "plain_text", "text": truncate(f"Promote {adapter.name}", 75)}}


def ranking_rollback_button(serving: str) -> dict[str, Any]:
    confirm = {"title": {"type": "plain_text", "text": "Roll back the ranking model?"},
               "text": {"type": "plain_text", "text": "Every bot ranks passages with the previous ranking model."},
               "confirm": {"type": "plain_text", "text": "Roll back"}, "deny": {"type": "plain_text", "text": "Cancel"}}
    return {"type": "button", "action_id": ACTION_HOME_RANKING_ROLLBACK, "value": truncate(serving, 2000),
            "text": {"type": "plain_text", "text": "Roll back ranking"}, "confirm": confirm}


def admin_buttons(promotable: AdapterRecord | None = None, *, tuned_ranking: str | None = None) -> dict[str, Any]:
    confirm = {"title": {"type": "plain_text", "text": "Roll back the model?"},
               "text": {"type": "plain_text", "text": "Every bot switches to the previous model version."},
               "confirm": {"type": "plain_text", "text": "Roll back"}, "deny": {"type": "plain_text", "text": "Cancel"}}
    return {"type": "actions", "block_id": "kb.home.admin", "elements": [
        {"type": "button", "action_id": ACTION_HOME_RETRAIN, "style": "primary", "value": "retrain",
         "text": {"type": "plain_text", "text": "Retrain now"}},
        {"type": "button", "action_id": ACTION_HOME_ROLLBACK, "style": "danger", "value": "rollback",
         "text": {"type": "plain_text", "text": "Roll back"}, "confirm": confirm},
        *([promote_button(promotable)] if promotable else []),
        *([ranking_rollback_button(tuned_ranking)] if tuned_ranking else [])]}


def admin_blocks(data: AdminData) -> Blocks:
    runs = [section(run_summary(run)) for run in data.runs] or [section("No training run yet.")]
    report = ([header(f"Latest training report (run #{data.latest_report.id})"),
               *posted_report_blocks(data.latest_report)] if data.latest_report else [])
    return [{"type": "divider"}, header("Team insight (admins)"), section(feedback_text(data)),
            section(outcomes_text(data)), header("Training"), section(schedule_text(data)), *runs,
            section(truncate(deployments_text(data.deployments), SECTION_LIMIT)),
            section(truncate(ranking_text(data.ranking, data.ranking_metrics), SECTION_LIMIT)),
            admin_buttons(data.promotable, tuned_ranking=data.ranking[0].name if data.ranking else None),
            *report,
            header("Knowledge gaps"), *gap_blocks(data.gaps, limit=HOME_GAPS)]


def home_view(data: HomeData, admin: AdminData | None = None, *, notice: str | None = None) -> dict[str, Any]:
    """The Home tab for one user; `admin` is given only for admins; `notice` answers their last click."""
    blocks: Blocks = [context(escape(notice))] if notice else []
    blocks += [header("What I know"), section(knowledge_text(data)), header("How to ask"), section(HOW_TO_ASK),
               header("Your recent questions"), section(questions_text(data.questions))]
    if admin is not None:
        blocks += admin_blocks(admin)
    return {"type": "home", "callback_id": HOME_CALLBACK, "blocks": blocks}
