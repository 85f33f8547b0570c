"""Block Kit for knowledge gaps: one section per cluster with an "Add a document" button (pure).

Shown by `/kb gaps` and in the admin part of the App Home. A cluster names the channels its
questions came from (DMs as "a DM", since a DM id means nothing to a reader) and quotes its most
central questions; the button opens the `/kb add` form for the cluster's main channel, so the new
document gets that channel's scope (the workspace for a public channel).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.slack.blocks import Blocks, context, section
from bot.slack.mrkdwn import SECTION_LIMIT, escape, truncate
from knowledge.gaps import GapCluster

ACTION_GAP_ADD = "kb.gaps.add"
"""The "Add a document" button of a gap cluster; value = the channel the document is for."""
MAX_CLUSTERS = 10
QUESTION_CHARS = 300


def channel_name(channel: str) -> str:
    """A channel as readers see it: a mention, "a DM", or "outside Slack" for answers given elsewhere (no id)."""
    if not channel:
        return "outside Slack"
    return "a DM" if channel.startswith("D") else f"<#{channel}>"


def gap_text(cluster: GapCluster) -> str:
    """A cluster as mrkdwn: counts, where it was asked, when last, and its representative questions."""
    counts = [f"*{cluster.size} question{'s' if cluster.size != 1 else ''}*"]
    if cluster.abstained:
        counts.append(f"{cluster.abstained} unanswered")
    if cluster.downvoted:
        counts.append(f"{cluster.downvoted} with 👎")
    where = ", ".join(f"{channel_name(channel)} ({count})" if count > 1 else channel_name(channel)
                      for channel, count in cluster.channels[:5])
    if where:
        counts.append(f"asked in {where}")
    counts.append(f"last {cluster.last_asked_at:%Y-%m-%d}")
    quotes = [f">{escape(truncate(' '.join(q.question.split()), QUESTION_CHARS))}" for q in cluster.representatives]
    return truncate("\n".join([" · ".join(counts), *quotes]), SECTION_LIMIT)


def gap_section(cluster: GapCluster, number: int) -> dict[str, Any]:
    """The cluster's section; with an "Add a document" button when its questions came from a channel."""
    block = {**section(gap_text(cluster)), "block_id": f"kb.gap.{number}"}
    if cluster.channels:
        block["accessory"] = {"type": "button", "action_id": ACTION_GAP_ADD, "value": cluster.channels[0][0],
                              "text": {"type": "plain_text", "text": "Add a document"}}
    return block


def gap_blocks(clusters: Sequence[GapCluster], *, limit: int = MAX_CLUSTERS) -> Blocks:
    """The biggest `limit` gaps, or a line saying there are none."""
    if not clusters:
        return [section("No knowledge gaps: every recent question was answered and none got a 👎.")]
    questions = sum(c.size for c in clusters)
    blocks: Blocks = [section(f"*Knowledge gaps*: {questions} unanswered or 👎 question"
                              f"{'s' if questions != 1 else ''} in {len(clusters)} group"
                              f"{'s' if len(clusters) != 1 else ''}, biggest first")]
    blocks += [gap_section(cluster, number) for number, cluster in enumerate(clusters[:limit], start=1)]
    if len(clusters) > limit:
        blocks.append(context(f"_{len(clusters) - limit} smaller groups not shown._"))
    return blocks
