"""Block Kit validation as Slack's Web API applies it, for the fake Slack (pure).

`block_errors(blocks)` returns the messages Slack puts in an `invalid_blocks` reply, each ending
with the JSON pointer of the offending field (`must be less than 3001 characters
[json-pointer:/blocks/0/text/text]`, the shape Slack sends). An empty list means Slack would
accept the blocks.

Limits, from Slack's Block Kit reference (docs.slack.dev/reference/block-kit): 50 blocks per
message and 100 per modal; `block_id` ≤ 255 and unique in a message; section `text` 1–3,000
characters, `fields` ≤ 10 of ≤ 2,000; header `text` plain_text ≤ 150; context ≤ 10 elements;
actions ≤ 25 elements; image `alt_text` ≤ 2,000 with one of `image_url` (≤ 3,000) or a
`slack_file` object (`id` or `url`), `title` plain_text ≤ 2,000; `markdown` block `text`
required, and the cumulative limit for all markdown blocks in one payload is 12,000 characters;
button `text` ≤ 75, `value` ≤ 2,000, `url` ≤ 3,000; `action_id` ≤ 255 and unique among the action
ids of its containing block (the slack_sdk models' docstrings: "Should be unique among all other
action_ids in the containing block"); modal `title`/`submit`/`close` ≤ 24; input `label` ≤ 2,000.

`block_text_chars` measures a message's total block text: Slack refuses messages over about 12,000
characters of it with `msg_blocks_too_long` (undocumented for sections; the figure a Slack
maintainer gave in slackapi/bolt-js#2509, and the documented cumulative limit of markdown blocks).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MESSAGE_BLOCKS = 50
MODAL_BLOCKS = 100
MARKDOWN_TOTAL = 12_000
_TEXT_TYPES = ("plain_text", "mrkdwn")


class _Checker:
    """Walks one payload's blocks, collecting Slack-style error messages."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.action_ids: set[str] = set()
        self.block_ids: set[str] = set()
        self.markdown_chars = 0

    def fail(self, message: str, pointer: str) -> None:
        self.errors.append(f"{message} [json-pointer:{pointer}]")

    def length(self, value: Any, pointer: str, *, most: int, least: int = 1) -> None:
        if not isinstance(value, str):
            self.fail("must be a string", pointer)
        elif len(value) > most:
            self.fail(f"must be less than {most + 1} characters", pointer)
        elif len(value) < least:
            self.fail(f"must be more than {least - 1} characters", pointer)

    def required(self, node: dict[str, Any], fields: Iterable[str], pointer: str) -> bool:
        missing = [name for name in fields if name not in node]
        for name in missing:
            self.fail(f"missing required field: {name}", pointer)
        return not missing

    def text(self, node: Any, pointer: str, *, most: int, kinds: tuple[str, ...] = _TEXT_TYPES) -> None:
        """A text composition object: `{"type": "plain_text"|"mrkdwn", "text": ...}`."""
        if not isinstance(node, dict):
            self.fail("must be an object", pointer)
            return
        if node.get("type") not in kinds:
            self.fail(f"must be one of {', '.join(kinds)}", f"{pointer}/type")
        if self.required(node, ("text",), pointer):
            self.length(node["text"], f"{pointer}/text", most=most)

    def items(self, node: dict[str, Any], key: str, pointer: str, *, most: int) -> list[Any]:
        values = node.get(key)
        if not isinstance(values, list) or not values:
            self.fail(f"must provide at least 1 item in {key}", f"{pointer}/{key}")
            return []
        if len(values) > most:
            self.fail(f"no more than {most} items allowed", f"{pointer}/{key}")
        return values

    def action_id(self, element: dict[str, Any], pointer: str) -> None:
        if "action_id" not in element:
            return  # Slack generates one
        self.length(element["action_id"], f"{pointer}/action_id", most=255)
        if element["action_id"] in self.action_ids:
            self.fail(f"action_id {element['action_id']} already exists", f"{pointer}/action_id")
        self.action_ids.add(element["action_id"])

    def element(self, element: Any, pointer: str) -> None:
        if not isinstance(element, dict) or "type" not in element:
            self.fail("missing required field: type", pointer)
            return
        self.action_id(element, pointer)
        kind = element["type"]
        if kind == "button":
            self.text(element.get("text"), f"{pointer}/text", most=75, kinds=("plain_text",))
            if "value" in element:
                self.length(element["value"], f"{pointer}/value", most=2000)
            if "url" in element:
                self.length(element["url"], f"{pointer}/url", most=3000)
        elif kind == "feedback_buttons":
            for side in ("positive_button", "negative_button"):
                button = element.get(side)
                if not isinstance(button, dict):
                    self.fail(f"missing required field: {side}", pointer)
                    continue
                self.text(button.get("text"), f"{pointer}/{side}/text", most=75, kinds=("plain_text",))
                self.length(button.get("value"), f"{pointer}/{side}/value", most=2000)

    def block(self, block: Any, pointer: str) -> None:
        if not isinstance(block, dict) or "type" not in block:
            self.fail("missing required field: type", pointer)
            return
        self.action_ids = set()
        if "block_id" in block:
            self.length(block["block_id"], f"{pointer}/block_id", most=255)
            if block["block_id"] in self.block_ids:
                self.fail(f"block_id {block['block_id']} already exists", f"{pointer}/block_id")
            self.block_ids.add(block["block_id"])
        check = getattr(self, "block_" + block["type"], None)
        if check is None:
            self.fail(f"unsupported block type: {block['type']}", f"{pointer}/type")
        else:
            check(block, pointer)

    def block_section(self, block: dict[str, Any], pointer: str) -> None:
        if "text" not in block and "fields" not in block:
            self.fail("must provide text or fields", pointer)
        if "text" in block:
            self.text(block["text"], f"{pointer}/text", most=3000)
        if "fields" in block:
            for index, field in enumerate(self.items(block, "fields", pointer, most=10)):
                self.text(field, f"{pointer}/fields/{index}", most=2000)
        if "accessory" in block:
            self.element(block["accessory"], f"{pointer}/accessory")

    def block_header(self, block: dict[str, Any], pointer: str) -> None:
        self.text(block.get("text"), f"{pointer}/text", most=150, kinds=("plain_text",))

    def block_context(self, block: dict[str, Any], pointer: str) -> None:
        for index, element in enumerate(self.items(block, "elements", pointer, most=10)):
            if isinstance(element, dict) and element.get("type") == "image":
                self.required(element, ("image_url", "alt_text"), f"{pointer}/elements/{index}")
            else:
                self.text(element, f"{pointer}/elements/{index}", most=3000)

    def block_actions(self, block: dict[str, Any], pointer: str) -> None:
        for index, element in enumerate(self.items(block, "elements", pointer, most=25)):
            self.element(element, f"{pointer}/elements/{index}")

    def block_context_actions(self, block: dict[str, Any], pointer: str) -> None:
        for index, element in enumerate(self.items(block, "elements", pointer, most=5)):
            self.element(element, f"{pointer}/elements/{index}")

    def block_markdown(self, block: dict[str, Any], pointer: str) -> None:
        if self.required(block, ("text",), pointer):
            self.length(block["text"], f"{pointer}/text", most=MARKDOWN_TOTAL)
            self.markdown_chars += len(block["text"]) if isinstance(block["text"], str) else 0

    def block_image(self, block: dict[str, Any], pointer: str) -> None:
        """An image block: `alt_text` ≤ 2,000 and exactly one of `image_url` (≤ 3,000) or `slack_file`."""
        if self.required(block, ("alt_text",), pointer):
            self.length(block["alt_text"], f"{pointer}/alt_text", most=2000)
        sources = [key for key in ("image_url", "slack_file") if key in block]
        if len(sources) != 1:
            self.fail("must provide exactly one of image_url or slack_file", pointer)
        elif sources == ["image_url"]:
            self.length(block["image_url"], f"{pointer}/image_url", most=3000)
        elif not isinstance(block["slack_file"], dict) or not ({"id", "url"} & set(block["slack_file"])):
            self.fail("must provide id or url", f"{pointer}/slack_file")
        if "title" in block:
            self.text(block["title"], f"{pointer}/title", most=2000, kinds=("plain_text",))

    def block_divider(self, block: dict[str, Any], pointer: str) -> None:
        """A divider has no fields to check."""

    def block_input(self, block: dict[str, Any], pointer: str) -> None:
        self.text(block.get("label"), f"{pointer}/label", most=2000, kinds=("plain_text",))
        if "hint" in block:
            self.text(block["hint"], f"{pointer}/hint", most=2000, kinds=("plain_text",))
        if self.required(block, ("element",), pointer):
            self.element(block["element"], f"{pointer}/element")


BLOCK_TEXT_TOTAL = 12_000


def block_text_chars(node: Any) -> int:
    """Characters in every `text` string of `node` (blocks, elements, text objects), nested included."""
    if isinstance(node, list):
        return sum(block_text_chars(item) for item in node)
    if not isinstance(node, dict):
        return 0
    own = len(node["text"]) if isinstance(node.get("text"), str) else 0
    return own + sum(block_text_chars(value) for key, value in node.items() if isinstance(value, dict | list))


def block_errors(blocks: Any, *, most: int = MESSAGE_BLOCKS, pointer: str = "/blocks") -> list[str]:
    """Slack's complaints about `blocks` (a message's, or a view's with `most=MODAL_BLOCKS`)."""
    checker = _Checker()
    if not isinstance(blocks, list):
        checker.fail("must be an array", pointer)
        return checker.errors
    if len(blocks) > most:
        checker.fail(f"no more than {most} items allowed", pointer)
    for index, block in enumerate(blocks):
        checker.block(block, f"{pointer}/{index}")
    if checker.markdown_chars > MARKDOWN_TOTAL:
        checker.fail(f"markdown blocks must total less than {MARKDOWN_TOTAL + 1} characters", pointer)
    return checker.errors


def view_errors(view: Any) -> list[str]:
    """Slack's complaints about a modal view (`views.open`/`views.update`)."""
    if not isinstance(view, dict):
        return ["must be an object [json-pointer:/view]"]
    errors = []
    if view.get("type") != "modal":
        errors.append("must be modal [json-pointer:/view/type]")
    for key in ("title", "submit", "close"):
        checker = _Checker()
        if key in view or key == "title":
            checker.text(view.get(key), f"/view/{key}", most=24, kinds=("plain_text",))
        errors += checker.errors
    return errors + block_errors(view.get("blocks"), most=MODAL_BLOCKS, pointer="/view/blocks")


HOME_BLOCKS = 100
METADATA_CHARS = 3000


def home_view_errors(view: Any) -> list[str]:
    """Slack's complaints about a Home tab view (`views.publish`): type home, ≤ 100 blocks, field lengths.

    Per docs.slack.dev/reference/views/home-tab-views: `blocks` required (max 100), `private_metadata`
    ≤ 3,000 characters, `callback_id` ≤ 255.
    """
    if not isinstance(view, dict):
        return ["must be an object [json-pointer:/view]"]
    checker = _Checker()
    if view.get("type") != "home":
        checker.fail("must be home", "/view/type")
    if "private_metadata" in view:
        checker.length(view["private_metadata"], "/view/private_metadata", most=METADATA_CHARS, least=0)
    if "callback_id" in view:
        checker.length(view["callback_id"], "/view/callback_id", most=255)
    return checker.errors + block_errors(view.get("blocks"), most=HOME_BLOCKS, pointer="/view/blocks")


def invalid_blocks(errors: list[str]) -> dict[str, Any]:
    """The reply Slack sends for invalid blocks (errors also echoed in response_metadata)."""
    return {"ok": False, "error": "invalid_blocks", "errors": errors,
            "response_metadata": {"messages": [f"[ERROR] {error}" for error in errors]}}
