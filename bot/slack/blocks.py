"""Block Kit for everything the bot shows in messages: answers, feedback, search, status, help (pure).

Slack ids (action ids, block id prefixes) are defined here once and imported by the listeners. Every
piece of outside text (answers, titles, headings, snippets) passes through `mrkdwn` escaping and is
split or cut to Slack's limits (3,000 characters per section, 50 blocks per message). Modals live
in `modals.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bot.citations import Citation
from bot.slack.answer_pages import CUT_NOTE, answer_pages
from bot.slack.mrkdwn import FALLBACK_LIMIT, SECTION_LIMIT, escape, from_markdown, link, truncate
from store.process_heartbeats import ProcessRecord
from store.training_runs import RunRecord
from store.types import Passage

ACTION_FEEDBACK = "kb.feedback"
"""The native `feedback_buttons` element; its values are `up:<answer id>` / `down:<answer id>`."""
ACTION_UP = "kb.feedback.up"
ACTION_DOWN = "kb.feedback.down"
"""The classic 👍/👎 buttons, used where native feedback buttons are not accepted; value = answer id."""
ACTION_EXPLAIN = "kb.feedback.explain"
"""Button under a 👎 reaction's ephemeral note that opens the reason modal; value = answer id."""
ACTION_ASK_TEAMMATE = "kb.escalate"
""""Ask a teammate" under every answer: tags the channel's experts in the thread; value = answer id."""

THINKING = "_Looking through the team's documents…_"
MAX_SOURCES = 10

FeedbackStyle = Literal["native", "classic"]
Blocks = list[dict[str, Any]]


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def fallback_text(text: str) -> str:
    """The message's top-level `text`: what notifications and screen readers get."""
    return truncate(escape(text), FALLBACK_LIMIT)


def progress_text(partial: str) -> str:
    """An answer still being written, as plain mrkdwn for an intermediate `chat.update`."""
    return truncate(from_markdown(partial), FALLBACK_LIMIT - 2) + " …"


def _source_line(citation: Citation) -> str:
    return f"[{citation.number}] {link(citation.uri, truncate(citation.label, 150))}"


def sources_text(citations: Sequence[Citation], *, abstained: bool) -> str | None:
    """The Sources list: cited passages; with none cited (or for an abstention), the nearest ones as related reading."""
    if not citations:
        return None
    cited = [c for c in citations if c.cited and not abstained]
    heading, shown = ("*Sources*", cited) if cited else (
        "*Possibly related*" if abstained else "*Related documents*", list(citations))
    lines = [_source_line(c) for c in shown[:MAX_SOURCES]]
    return truncate("\n".join([heading, *lines]), SECTION_LIMIT)


def feedback_block(answer_id: int, style: FeedbackStyle) -> dict[str, Any]:
    """👍/👎 for an answer: native `feedback_buttons` in a `context_actions` block, or classic buttons."""
    if style == "native":
        return {"type": "context_actions", "block_id": f"kb.feedback.{answer_id}", "elements": [{
            "type": "feedback_buttons", "action_id": ACTION_FEEDBACK,
            "positive_button": {"text": {"type": "plain_text", "text": "Helpful"}, "value": f"up:{answer_id}",
                                "accessibility_label": "Mark this answer as helpful"},
            "negative_button": {"text": {"type": "plain_text", "text": "Not helpful"}, "value": f"down:{answer_id}",
                                "accessibility_label": "Mark this answer as not helpful"}}]}
    return {"type": "actions", "block_id": f"kb.vote.{answer_id}", "elements": [
        {"type": "button", "action_id": ACTION_UP, "value": str(answer_id),
         "text": {"type": "plain_text", "text": "👍 Helpful", "emoji": True}},
        {"type": "button", "action_id": ACTION_DOWN, "value": str(answer_id),
         "text": {"type": "plain_text", "text": "👎 Not helpful", "emoji": True}}]}


def ask_teammate_block(answer_id: int, *, first: bool) -> dict[str, Any]:
    """The "Ask a teammate" button; `first` (an abstention) makes it the primary action, shown before feedback."""
    button: dict[str, Any] = {"type": "button", "action_id": ACTION_ASK_TEAMMATE, "value": str(answer_id),
                              "text": {"type": "plain_text", "text": "🙋 Ask a teammate", "emoji": True}}
    if first:
        button["style"] = "primary"
    return {"type": "actions", "block_id": f"kb.ask.{answer_id}", "elements": [button]}


def parse_vote_value(value: str) -> tuple[int | None, int]:
    """(direction, answer id) from a feedback value: `up:12` → (1, 12), `down:12` → (-1, 12), `12` → (None, 12).

    Raises:
        ValueError: the value is none of these (a forged or foreign payload).
    """
    direction, _, number = value.rpartition(":")
    if direction not in ("", "up", "down") or not number.isdigit():
        raise ValueError(f"not a feedback value: {value!r}")
    return {"": None, "up": 1, "down": -1}[direction], int(number)


SUMMARY_BUSY_NOTE = ("_The model was busy, so this answer is the quoted evidence only. "
                     "Ask again in a minute for a summary._")
SUMMARY_FAILED_NOTE = "_The model failed to write a summary, so this answer is the quoted evidence only._"


def answer_blocks(*, answer_id: int, text: str, citations: Sequence[Citation], adapter_name: str,
                  latency_ms: float | None = None, timed_out: bool = False, abstained: bool = False,
                  feedback: FeedbackStyle = "native", verified_note: str | None = None,
                  verified_served: bool = False, summary_skipped: str = "") -> Blocks:
    """The finished answer: text with [n] markers, Sources, model context line, feedback buttons.

    A long answer shows its first page here and says how many messages follow (`continuation_blocks`).
    "Ask a teammate" follows the feedback buttons, or precedes them when the bot abstained.
    `verified_note` (mrkdwn: who verified, when, the thread link) follows the text when a teammate's
    verified answer was served (`verified_served`) or shown above the evidence. `summary_skipped`
    ("busy", "failed") says why a quoted-evidence answer has no summary.
    """
    pages, cut = answer_pages(from_markdown(text))
    blocks: Blocks = [section(piece) for piece in pages[0]]
    if len(pages) > 1:
        blocks.append(context(f"_The answer continues in the next {len(pages) - 1} message(s) of this thread._"))
    elif cut:
        blocks.append(context(CUT_NOTE))
    if timed_out:
        blocks.append(context("_The answer was cut short: generation took too long._"))
    if summary_skipped:
        blocks.append(context(SUMMARY_BUSY_NOTE if summary_skipped == "busy" else SUMMARY_FAILED_NOTE))
    if verified_note:
        blocks.append(context(verified_note))
    sources = sources_text(citations, abstained=abstained)
    if sources:
        blocks.append(section(sources))
    model = "base model" if adapter_name == "base" else f"adapter `{escape(adapter_name)}`"
    took = f" · {latency_ms / 1000:.1f} s" if latency_ms is not None else ""
    about = ("A teammate's verified answer, shown as confirmed (no model)" if verified_served else
             "No answer given: the documents don't cover this" if abstained else
             f"Quotes are verbatim from the sources; any summary is by the {model}, checked against them")
    blocks.append(context(f"{about}{took} · answer {answer_id}"))
    ask, votes = ask_teammate_block(answer_id, first=abstained), feedback_block(answer_id, feedback)
    blocks.extend([ask, votes] if abstained else [votes, ask])
    return blocks


def continuation_blocks(*, answer_id: int, text: str) -> list[Blocks]:
    """The pages of a long answer after the first, one message each, numbered; the last says if it was cut."""
    pages, cut = answer_pages(from_markdown(text))
    messages = []
    for number, page in enumerate(pages[1:], start=2):
        note = f"_Answer {answer_id}, part {number} of {len(pages)}_"
        if cut and number == len(pages):
            note += " · " + CUT_NOTE
        messages.append([*(section(piece) for piece in page), context(note)])
    return messages


def explain_prompt_blocks(answer_id: int) -> Blocks:
    """Shown (ephemerally) after a 👎 reaction: reactions carry no trigger to open a modal with."""
    return [section("Thanks for the 👎. Telling me what was wrong (optional) helps the next model version."),
            {"type": "actions", "block_id": f"kb.explain.{answer_id}", "elements": [
                {"type": "button", "action_id": ACTION_EXPLAIN, "value": str(answer_id),
                 "text": {"type": "plain_text", "text": "Say what was wrong"}}]}]


def notice_blocks(text: str) -> Blocks:
    """A short bot notice (apology, busy, refused question) as a single section."""
    return [section(escape(text))]


def search_blocks(query: str, passages: Sequence[Passage], *, snippet_chars: int = 280) -> Blocks:
    """/kb search results: title link, heading, score and a quoted snippet per passage."""
    if not passages:
        return [section(f"Nothing in the knowledge base matches “{escape(truncate(query, 200))}”.")]
    blocks: Blocks = [section(f"*Results for* “{escape(truncate(query, 200))}”")]
    for number, passage in enumerate(passages, start=1):
        heading = f" › {escape(passage.heading)}" if passage.heading and passage.heading != passage.title else ""
        snippet = escape(truncate(" ".join(passage.text.split()), snippet_chars))
        blocks.append(section(f"*{number}.* {link(passage.uri, truncate(passage.title, 150))}{heading} "
                              f"_(score {passage.score:.2f} · document {passage.document_id})_\n>{snippet}"))
    return blocks


@dataclass(frozen=True, slots=True, kw_only=True)
class KbStatus:
    """What /kb status reports."""

    documents: int
    chunks: int
    older_chunking: int
    """Documents cut by an older chunker: re-chunked when their source is added or refreshed again."""
    votes_up: int
    votes_down: int
    adapter_name: str
    last_run: RunRecord | None
    processes: Sequence[ProcessRecord] = ()
    """Live processes and what each really serves (`store.process_heartbeats`)."""
    ranking_model: str | None = None
    """The deployed ranking model (`store.ranking_registry`); None: the configured one."""


def metrics_summary(metrics: dict[str, Any], *, limit: int = 6) -> str:
    """The first few scalar metrics as `name=value` pairs (numbers to 3 significant digits)."""
    pairs = []
    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            continue
        shown = f"{value:.3g}" if isinstance(value, float) else str(value)
        pairs.append(f"{name}={truncate(shown, 40)}")
        if len(pairs) == limit:
            break
    return " · ".join(pairs)


GATE_METRICS = (("gate_gain", "margin gain"), ("gate_gain_lower", "its 95% lower bound"),
                ("held_out_good", "held-out 👍"), ("held_out_bad", "held-out 👎"))
"""The gate's headline figures, shown by name (JSONB keeps no key order)."""


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def progress_line(run: RunRecord) -> str | None:
    """For a running run: phase, step, loss, ETA and whether its worker is alive (heartbeat age)."""
    if run.status != "running":
        return None
    parts = []
    progress = run.progress or {}
    if progress.get("phase"):
        parts.append(str(progress["phase"]))
    if progress.get("step") is not None and progress.get("max_steps"):
        parts.append(f"step {progress['step']}/{progress['max_steps']}")
    if isinstance(progress.get("loss"), int | float):
        parts.append(f"loss {progress['loss']:.3g}")
    if isinstance(progress.get("eta_s"), int | float):
        parts.append(f"ETA {_duration(progress['eta_s'])}")
    if run.worker_alive is False:
        parts.append("*its worker is gone*: the run will be marked failed and the next one can start")
    elif run.heartbeat_age_s is not None:
        parts.append(f"worker heartbeat {_duration(run.heartbeat_age_s)} ago")
    return ("Progress: " + " · ".join(escape(part) if "*" not in part else part for part in parts)) if parts else None


def gate_line(metrics: dict[str, Any]) -> str | None:
    """The gate's figures by name, when the run got that far."""
    shown = [f"{label} {metrics[key]:.3g}" if isinstance(metrics[key], float) else f"{label} {metrics[key]}"
             for key, label in GATE_METRICS if isinstance(metrics.get(key), int | float)]
    return f"Gate: {escape(' · '.join(shown))}" if shown else None


def run_summary(run: RunRecord) -> str:
    """One paragraph about a training run: number, status, who asked, progress, its message and metrics."""
    who = f" by <@{run.requested_by}>" if run.requested_by else ""
    lines = [f"Training run #{run.id} ({run.trigger}{who}): *{run.status}*"]
    if line := progress_line(run):
        lines.append(line)
    if run.message:
        lines.append(escape(truncate(run.message, 500)))
    if run.metrics and (gate := gate_line(run.metrics)):
        lines.append(gate)
    elif run.metrics and (summary := metrics_summary(run.metrics)):
        lines.append(f"Metrics: {escape(summary)}")
    return "\n".join(lines)


def process_line(process: ProcessRecord) -> str:
    """One live process: kind, host and pid, the adapter it really serves (with its sha256), its model and the
    ranking model it ranks with."""
    if process.kind == "worker":
        serves = f"trains on `{escape(truncate(process.model, 80))}`"
    else:
        adapter = "the base model" if process.adapter_id is None else f"adapter `{escape(process.adapter_name or '?')}`"
        sha = f" (sha256 {process.adapter_sha256[:12]})" if process.adapter_sha256 else ""
        serves = f"serves {adapter}{sha} on `{escape(truncate(process.model, 80))}`"
        if process.ranking_model:
            serves += f", ranks with `{escape(truncate(process.ranking_model, 80))}`"
    return f"• {process.kind} `{escape(process.host)}` pid {process.pid}: {serves}"


def status_blocks(status: KbStatus) -> Blocks:
    model = "the base model" if status.adapter_name == "base" else f"adapter `{escape(status.adapter_name)}`"
    older = (f"; {status.older_chunking:,} cut by an older chunker: add their files or URLs again to re-chunk them"
             if status.older_chunking else "")
    lines = [f"*Documents:* {status.documents:,} ({status.chunks:,} passages{older})",
             f"*Feedback:* {status.votes_up:,} 👍 · {status.votes_down:,} 👎",
             f"*Serving:* {model} (deployed)",
             "*Ranking model:* " + (f"`{escape(status.ranking_model)}` (deployed)"
                                    if status.ranking_model else "the configured one")]
    processes = "\n".join(process_line(p) for p in status.processes[:20]) or "No process reported in the last minute."
    run = run_summary(status.last_run) if status.last_run else "No training run yet."
    return [section("\n".join(lines)), section(f"*Processes*\n{processes}"),
            section(f"*Last training run*\n{run}")]


HELP_TEXT = "\n".join([
    "*Team knowledge assistant*",
    "• Mention me with a question in a channel, or DM me. I answer in a thread from the team's documents "
    "and cite them as [1], [2].",
    "• Reply in my thread to ask a follow-up; no need to mention me again.",
    "• Rate answers with the 👍/👎 buttons or reactions. After a 👎, a teammate's reply in the thread (unless it "
    "is a question) is saved as a better answer, and the asker can make it the verified answer I give next time.",
    "• Share a file in a DM with me, or in one of my threads, to add it to the knowledge base.",
    "",
    "*Commands*",
    "• `/kb add <text or URL>`: add a document (no argument opens a form with a file upload)",
    "• `/kb search <query>`: show matching passages, only to you",
    "• `/kb remove <URL or document id>`: remove a document added in this channel's scope (admins: any)",
    "• `/kb status`: documents, feedback, the serving model and the last training run",
    "• `/kb history`: training runs and dataset versions, and what changed in the last dataset",
    "• `/kb gaps`: (admins) questions I could not answer or that got a 👎, grouped by topic",
    "• `/kb retrain`: (admins) queue a fine-tuning run; I report back here when it finishes",
    "• `/kb rollback`: (admins) serve the previous model version again (`/kb rollback ranking`: the previous "
    "ranking model, which picks the passages to quote)",
    "• `/kb verified`: (admins) list, edit and retire teammates' verified answers",
    "• `/kb experts #channel @someone @some-group`: (admins) who “Ask a teammate” tags in a channel; "
    "`/kb experts` shows them",
    "• `/kb channel [#channel]`: a channel's settings (experts, the documents it answers from, questions that "
    "don't mention me). Admins: `… sources workspace|channel-only`, `… sources add|remove #private-channel` "
    "(shows that channel's documents here), `… unmentioned on|off` (answer questions without a mention; "
    "silent when I have no answer)",
    "• `/kb learn #channel [from @someone @some-group] [since 12mo]`: (admins, or the channel's members when "
    "allowed) learn the channel's threads and keep them in sync; `/kb learn list` shows each channel's sync, "
    "`/kb learn stop #channel` forgets it",
    "• `/kb forget-me`: take your messages out of everything I learned from channels",
    "• `/kb help`: this message",
    "",
    "Documents added in a private channel or a DM are only used for questions asked there, unless an admin lets "
    "another private channel answer from them (`/kb channel`).",
])
