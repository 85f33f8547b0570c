"""The two modals (👎 reason, add a document) and reading their submissions back (pure).

A `view_submission` carries no channel, so each modal keeps what its handler needs (answer id,
channel) in `private_metadata` as JSON. The reason modal asks for `notify_on_close`, so closing it
arrives as `view_closed` and the handler can note that the 👎 stands without a reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from store.interactions import VOTE_REASONS

VIEW_REASON = "kb.reason"
VIEW_ADD = "kb.add"

BLOCK_REASON, BLOCK_DETAILS = "reason", "details"
BLOCK_TITLE, BLOCK_TEXT, BLOCK_URL, BLOCK_FILE = "title", "text", "url", "file"
ACTION_VALUE = "value"
"""The action id of every input element; block ids tell the inputs apart."""

REASON_LABELS = {"incorrect": "Incorrect", "incomplete": "Incomplete", "off_topic": "Off topic", "other": "Other"}
FILE_TYPES = ["txt", "md", "markdown", "rst", "html", "htm", "pdf", "csv", "json", "yaml", "yml", "py"]
MAX_DETAILS_CHARS = 2000
MAX_DOCUMENT_CHARS = 3000
"""Slack's own cap on a plain_text_input; longer text can be uploaded as a file in the same modal."""


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def _input(block_id: str, label: str, element: dict[str, Any], *, hint: str | None = None) -> dict[str, Any]:
    block = {"type": "input", "block_id": block_id, "optional": True, "label": _plain(label),
             "element": {**element, "action_id": ACTION_VALUE}}
    return {**block, "hint": _plain(hint)} if hint else block


def reason_modal(*, answer_id: int, channel: str, message_ts: str | None) -> dict[str, Any]:
    """The optional 'what was wrong?' form shown after a 👎; the vote is already recorded."""
    options = [{"text": _plain(REASON_LABELS[r]), "value": r} for r in VOTE_REASONS]
    return {
        "type": "modal", "callback_id": VIEW_REASON, "notify_on_close": True,
        "title": _plain("What was wrong?"), "submit": _plain("Send"), "close": _plain("Skip"),
        "private_metadata": json.dumps({"answer_id": answer_id, "channel": channel, "message_ts": message_ts}),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "Your 👎 is recorded. Saying why (optional) "
                                                                   "helps the next model version."}},
            _input(BLOCK_REASON, "Reason", {"type": "radio_buttons", "options": options}),
            _input(BLOCK_DETAILS, "Details", {"type": "plain_text_input", "multiline": True,
                                              "max_length": MAX_DETAILS_CHARS}),
        ],
    }


def add_document_modal(*, channel: str) -> dict[str, Any]:
    """The /kb add form: a title plus any of pasted text, a URL or uploaded files."""
    return {
        "type": "modal", "callback_id": VIEW_ADD, "title": _plain("Add to knowledge base"),
        "submit": _plain("Add"), "close": _plain("Cancel"), "private_metadata": json.dumps({"channel": channel}),
        "blocks": [
            _input(BLOCK_TITLE, "Title", {"type": "plain_text_input", "max_length": 200},
                   hint="Optional: the first line of the text, the page title or the file name is used otherwise."),
            _input(BLOCK_TEXT, "Text", {"type": "plain_text_input", "multiline": True,
                                        "max_length": MAX_DOCUMENT_CHARS}),
            _input(BLOCK_URL, "URL", {"type": "url_text_input"}),
            _input(BLOCK_FILE, "Files", {"type": "file_input", "filetypes": FILE_TYPES, "max_files": 5}),
        ],
    }


def _value(values: dict[str, Any], block_id: str) -> dict[str, Any]:
    return values.get(block_id, {}).get(ACTION_VALUE) or {}


@dataclass(frozen=True, slots=True, kw_only=True)
class ReasonSubmission:
    answer_id: int
    channel: str | None
    reason: str | None
    details: str | None


def read_reason(view: dict[str, Any]) -> ReasonSubmission:
    """The answer and the reason a reason-modal submission (or close) is about.

    Raises:
        ValueError: the metadata or reason is not one this bot wrote (a forged payload).
    """
    meta = json.loads(view.get("private_metadata") or "{}")
    values = view.get("state", {}).get("values", {})
    reason = (_value(values, BLOCK_REASON).get("selected_option") or {}).get("value")
    if reason is not None and reason not in VOTE_REASONS:
        raise ValueError(f"unknown vote reason {reason!r}")
    details = (_value(values, BLOCK_DETAILS).get("value") or "").strip()[:MAX_DETAILS_CHARS] or None
    return ReasonSubmission(answer_id=int(meta["answer_id"]), channel=meta.get("channel"),
                            reason=reason or ("other" if details else None), details=details)


@dataclass(frozen=True, slots=True, kw_only=True)
class AddSubmission:
    channel: str
    title: str | None
    text: str | None
    url: str | None
    files: list[dict[str, Any]]


def read_add(view: dict[str, Any]) -> AddSubmission:
    """What the /kb add form was submitted with."""
    meta = json.loads(view.get("private_metadata") or "{}")
    values = view.get("state", {}).get("values", {})

    def text_of(block_id: str) -> str | None:
        return (_value(values, block_id).get("value") or "").strip() or None

    return AddSubmission(channel=str(meta.get("channel") or ""), title=text_of(BLOCK_TITLE), text=text_of(BLOCK_TEXT),
                         url=text_of(BLOCK_URL), files=list(_value(values, BLOCK_FILE).get("files") or []))


def add_errors(submission: AddSubmission) -> dict[str, str]:
    """Per-block errors Slack shows in the form; empty when the submission can be ingested."""
    if not (submission.text or submission.url or submission.files):
        return {BLOCK_TEXT: "Paste some text, give a URL or attach a file."}
    if submission.url and not submission.url.lower().startswith(("http://", "https://")):
        return {BLOCK_URL: "Only http and https URLs can be added."}
    return {}
