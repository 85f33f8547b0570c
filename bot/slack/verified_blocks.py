"""Block Kit for verified answers: who verified an answer, the "Use this as the answer" offer, `/kb verified` (pure).

Mentions and links are the only `<…>` written here; every text a person typed is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.slack.blocks import Blocks, context, section
from bot.slack.mrkdwn import SECTION_LIMIT, escape, link, truncate
from bot.verified import VerifiedMatch
from store.verified_answers import Revision, VerifiedRecord

ACTION_USE_ANSWER = "kb.verified.use"
"""Button offering a teammate's reply as the verified answer; value = the reference answer id."""

VERIFIED_USAGE = "\n".join([
    "*Verified answers* (admins)",
    "• `/kb verified`: the active verified answers (`/kb verified all` includes retired ones)",
    "• `/kb verified edit <id> <new text>`: change the text that is served (every version is kept)",
    "• `/kb verified retire <id>`: never serve it again",
    "• `/kb verified history <id>`: every version of its text",
])


def verified_by(record: VerifiedRecord) -> str:
    """`Verified by @author` (and who confirmed it, when someone else did), the date and the source thread."""
    who = f"<@{record.author}>" if record.author == record.confirmed_by else \
        f"<@{record.author}> (confirmed by <@{record.confirmed_by}>)"
    thread = f" · {link(record.permalink, 'source thread')}" if record.permalink else ""
    return f"Verified by {who}, {record.created_at:%Y-%m-%d}{thread}"


def verified_note(match: VerifiedMatch) -> str:
    """The context line under an answer that served or showed a verified answer."""
    if match.served:
        return f"✅ {verified_by(match.record)}"
    return f"☝️ The quote above is a verified answer to a similar question. {verified_by(match.record)}"


def use_answer_blocks(reference_id: int, reply_text: str, *, lead: str) -> Blocks:
    """The ephemeral offer to make a teammate's reply the verified answer to the thread's question."""
    preview = "\n".join(f">{line}" for line in escape(truncate(reply_text.strip(), 600)).splitlines())
    return [section(truncate(f"{lead}\n{preview}", SECTION_LIMIT)),
            {"type": "actions", "block_id": f"kb.verified.offer.{reference_id}", "elements": [
                {"type": "button", "action_id": ACTION_USE_ANSWER, "value": str(reference_id), "style": "primary",
                 "text": {"type": "plain_text", "text": "Use this as the answer"}}]},
            context("I'll answer with it (marked as verified) when this question comes again.")]


def verified_list_blocks(records: Sequence[VerifiedRecord]) -> Blocks:
    """`/kb verified`: each answer's id, status, question, text preview and who verified it (at most 40)."""
    if not records:
        return [section("No verified answers yet. They come from teammates' replies confirmed with "
                        "*Use this as the answer*.")]
    blocks: Blocks = [section(f"*Verified answers* ({len(records)} shown, newest first)")]
    for record in records[:40]:
        status = "" if record.active else " · _retired_"
        blocks.append(section(truncate(
            f"*#{record.id}*{status} “{escape(truncate(record.question, 200))}”\n"
            f">{escape(truncate(' '.join(record.answer_text.split()), 400))}\n{verified_by(record)}", SECTION_LIMIT)))
    blocks.append(context("`/kb verified edit <id> <text>` · `/kb verified retire <id>` · `/kb verified history <id>`"))
    return blocks


def revision_blocks(record: VerifiedRecord, history: Sequence[Revision]) -> Blocks:
    """`/kb verified history <id>`: every version of the text, oldest first, with who wrote it and when."""
    blocks: Blocks = [section(f"*Verified answer #{record.id}* “{escape(truncate(record.question, 200))}”")]
    for number, revision in enumerate(history[-20:], start=max(1, len(history) - 19)):
        blocks.append(section(truncate(
            f"*Version {number}* by <@{revision.edited_by}>, {revision.created_at:%Y-%m-%d %H:%M} UTC\n"
            f">{escape(truncate(' '.join(revision.answer_text.split()), 600))}", SECTION_LIMIT)))
    return blocks
