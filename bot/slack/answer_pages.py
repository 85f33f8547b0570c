"""Splitting a long answer over several Slack messages so none of it vanishes (pure).

Slack refuses a section over 3,000 characters (`invalid_blocks`) and a message whose blocks carry
too much text in total (`msg_blocks_too_long`; the markdown block's docs give 12,000 characters as
the cumulative limit, and a Slack maintainer gave the same figure for a message's block text in
slackapi/bolt-js#2509). A refused final update would leave the asker with a half-streamed
answer, so the answer's mrkdwn is cut into sections at paragraph, line or word boundaries
(`mrkdwn.split_text`) and the sections are grouped into pages: the first page shares its message
with the Sources list, the context line and the feedback buttons, each later page is a message of
its own in the thread. Past `MAX_PAGES` the answer is cut at a section boundary and says so.
"""

from __future__ import annotations

from bot.slack.mrkdwn import SECTION_LIMIT, split_text

MESSAGE_TEXT_BUDGET = 11_000
"""Most characters of block text the bot puts in one message (under Slack's 12,000, with room to spare)."""
FIRST_PAGE_BUDGET = MESSAGE_TEXT_BUDGET - SECTION_LIMIT - 1_000
"""The answer's share of the first message: the Sources section (≤ 3,000) and context lines use the rest."""
MAX_PAGES = 5
"""Most messages one answer takes; beyond that it is cut with a pointer to the sources."""
CUT_NOTE = "_The answer is longer than Slack can show here; the rest is in the sources listed above._"


def answer_pages(mrkdwn: str, *, first_budget: int = FIRST_PAGE_BUDGET, budget: int = MESSAGE_TEXT_BUDGET,
                 max_pages: int = MAX_PAGES) -> tuple[list[list[str]], bool]:
    """The answer's sections grouped into messages, and whether the answer had to be cut.

    Every section is at most `SECTION_LIMIT` characters; the sections of the first page total at
    most `first_budget`, those of each later page at most `budget`.
    """
    pages: list[list[str]] = [[]]
    used = 0
    for piece in split_text(mrkdwn):
        limit = first_budget if len(pages) == 1 else budget
        if pages[-1] and used + len(piece) > limit:
            if len(pages) == max_pages:
                return pages, True
            pages.append([])
            used = 0
        pages[-1].append(piece)
        used += len(piece)
    return pages, False
