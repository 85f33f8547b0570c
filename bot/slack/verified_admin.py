"""`/kb verified`: admins list, edit and retire verified answers (orch).

Admins only: verified answers quote replies from private channels too, and what they say is served
to everyone who asks. An edit changes the text that is served and appends it to the answer's
history (`/kb verified history <id>` shows every version); a retired answer is never served again
nor trained on. Edited text is scrubbed like the confirmed reply was.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Respond

from bot.slack.deps import SlackDeps
from bot.slack.verified_blocks import VERIFIED_USAGE, revision_blocks, verified_list_blocks
from knowledge.scrubbing import scrub
from store.verified_answers import (
    UnknownVerifiedAnswer,
    edit_verified_answer,
    list_verified,
    retire_verified_answer,
    revisions,
    verified_answer,
)

NOT_ADMIN = "Only admins can manage verified answers. Ask one of them, or see KB_ADMIN_USER_IDS in the README."


def verified_command(deps: SlackDeps, command: dict[str, Any], argument: str, respond: Respond) -> None:
    """`/kb verified [all | edit <id> <text> | retire <id> | history <id>]`."""
    user = command["user_id"]
    if not deps.admins.is_admin(user):
        respond(text=NOT_ADMIN, response_type="ephemeral")
        return
    action, _, rest = argument.partition(" ")
    action = action.lower()
    if action in ("", "list", "all"):
        with deps.sessions() as session:
            records = list_verified(session, include_retired=action == "all", limit=40)
        respond(text=f"{len(records)} verified answers", blocks=verified_list_blocks(records),
                response_type="ephemeral")
        return
    number, _, text = rest.strip().partition(" ")
    if action not in ("edit", "retire", "history") or not number.isdigit() or (action == "edit") != bool(text.strip()):
        respond(text=VERIFIED_USAGE, response_type="ephemeral")
        return
    try:
        respond(**_apply(deps, action, int(number), text.strip(), user), response_type="ephemeral")
    except UnknownVerifiedAnswer as exc:
        respond(text=str(exc), response_type="ephemeral")


def _apply(deps: SlackDeps, action: str, verified_id: int, text: str, user: str) -> dict[str, Any]:
    """Carry out the action, committed before the reply is built (UnknownVerifiedAnswer rolls it back)."""
    if action == "edit":
        answer_text = scrub(text).text
        with deps.sessions() as session, session.begin():
            record = edit_verified_answer(session, verified_id, answer_text=answer_text, editor=user)
        return {"text": f"Verified answer #{record.id} now reads as you wrote it; earlier versions are kept.",
                "blocks": verified_list_blocks([record])}
    if action == "retire":
        with deps.sessions() as session, session.begin():
            record = retire_verified_answer(session, verified_id, by=user)
        return {"text": f"Verified answer #{record.id} is retired: I won't serve it again."}
    with deps.sessions() as session:
        record = verified_answer(session, verified_id)
        history = revisions(session, verified_id)
    return {"text": f"History of verified answer #{record.id}", "blocks": revision_blocks(record, history)}
