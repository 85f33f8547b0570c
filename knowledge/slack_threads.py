"""A Slack thread as one knowledge-base document: who said what, decoded and scrubbed (pure).

A thread is its root message and the replies `conversations.replies` returns. Kept are messages
people wrote: plain ones, replies also sent to the channel (`thread_broadcast`), messages with files
(`file_share`, their text) and `/me` messages. Left out: bot and app messages (`bot_id`,
`bot_message`), joins, leaves, topic and purpose changes and every other system subtype, deleted
roots (`tombstone`), messages of people who asked `/kb forget-me`, and, when the channel names
trusted people, replies by anyone else (the root stays: it is the question the trusted people
answered). A thread with no message by a trusted person, a question nobody answered (a lone
message ending in "?", such as a question put to the bot, whose answer is not learned), or fewer
than `min_words` words in all (a "thanks!", a lunch call) yields no document.

The document reads like the thread: one paragraph per message, "Name: text", with names from
`users.info` and Slack's entities and code blocks decoded (`slack_threads_text`). Its title names
the channel and the root's author and starts with the root's first line, which is what a citation
shows: "#deploys · Dana: how did we fix the staging deploy last time?". Text and title go through
the scrubber the training data uses (`knowledge.scrubbing`), so secrets and personal data pasted in
a thread are not indexed. A ✅ (`reaction`) on any kept message, or a verified answer confirmed in
the thread, marks the thread confirmed: the signal search can rank by.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from knowledge.scrubbing import scrub
from knowledge.slack_entities import NameLookup
from knowledge.slack_threads_text import decode

PEOPLE_SUBTYPES = frozenset({"thread_broadcast", "file_share", "me_message"})
"""Subtypes written by a person; every other subtype is a system message or a bot's."""
TITLE_WORDS = 16
DEFAULT_REACTION = "white_check_mark"
DEFAULT_MIN_WORDS = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class ThreadRules:
    """What a thread document keeps.

    Attributes:
        trusted: user ids whose replies are learned; empty means everyone's.
        forgotten: user ids never learned (`/kb forget-me`).
        reaction: the reaction name that marks a confirmed answer (skin tones ignored).
        min_words: threads with fewer words in all are not indexed.
    """

    trusted: frozenset[str] = frozenset()
    forgotten: frozenset[str] = frozenset()
    reaction: str = DEFAULT_REACTION
    min_words: int = DEFAULT_MIN_WORDS


@dataclass(frozen=True, slots=True, kw_only=True)
class ThreadDocument:
    """What gets indexed for one thread, and what it holds (for deletes, forget-me and the list)."""

    title: str
    text: str
    message_ts: tuple[str, ...]
    authors: tuple[str, ...]
    confirmed: bool


def is_person_message(message: dict[str, Any], *, bot_user_id: str | None = None) -> bool:
    """Whether a person wrote `message` (see the module docstring for what is not)."""
    subtype = message.get("subtype")
    if subtype is not None and subtype not in PEOPLE_SUBTYPES:
        return False
    user = message.get("user")
    return bool(user) and not message.get("bot_id") and user != bot_user_id


def is_thread_root(message: dict[str, Any]) -> bool:
    """A top-level message of `conversations.history` that starts a thread (or stands alone), not a broadcast reply."""
    thread_ts = message.get("thread_ts")
    return not thread_ts or thread_ts == message.get("ts")


def _has_reaction(message: dict[str, Any], reaction: str) -> bool:
    return any(str(r.get("name", "")).split("::")[0] == reaction and int(r.get("count", 1)) > 0
               for r in message.get("reactions") or [])


def _first_line(text: str) -> str:
    line = next((line for line in text.splitlines() if line.strip() and not line.startswith("```")), "")
    words = line.split()
    return " ".join(words[:TITLE_WORDS]) + (" …" if len(words) > TITLE_WORDS else "")


def build_thread_document(messages: Sequence[dict[str, Any]], *, thread_ts: str, channel_name: str,
                          names: NameLookup, rules: ThreadRules = ThreadRules(),
                          bot_user_id: str | None = None, verified: bool = False) -> ThreadDocument | None:
    """The document for the thread `thread_ts` made of `messages` (root first), or None when nothing is worth indexing.

    Args:
        channel_name: the channel's name without "#", for the title.
        names: user id → display name (`users.info`, cached by the caller).
        verified: a verified answer was confirmed in this thread.
    """
    ordered = sorted(messages, key=lambda m: float(m.get("ts") or 0))
    kept: list[dict[str, Any]] = []
    for message in ordered:
        if not is_person_message(message, bot_user_id=bot_user_id) or message.get("user") in rules.forgotten:
            continue
        is_root = message.get("ts") == thread_ts
        if rules.trusted and not is_root and message.get("user") not in rules.trusted:
            continue
        text = decode(message.get("text") or "", names)
        if text:
            kept.append({**message, "decoded": text})
    if not kept or (rules.trusted and not any(m["user"] in rules.trusted for m in kept)):
        return None
    if len(kept) == 1 and kept[0]["decoded"].rstrip().endswith("?"):
        return None  # an unanswered question is not knowledge (and would be quoted as evidence for itself)
    speakers = {m["user"]: names(m["user"]) or m["user"] for m in kept}
    paragraphs = [f"{speakers[m['user']]}: {m['decoded']}" for m in kept]
    text = scrub("\n\n".join(paragraphs)).text
    if len(text.split()) < rules.min_words:
        return None
    first = kept[0]
    title = scrub(f"#{channel_name} · {speakers[first['user']]}: {_first_line(first['decoded'])}").text
    return ThreadDocument(title=title, text=text, message_ts=tuple(m["ts"] for m in kept),
                          authors=tuple(dict.fromkeys(m["user"] for m in kept)),
                          confirmed=verified or any(_has_reaction(m, rules.reaction) for m in kept))


def trusted_people(users: Collection[str], group_members: Collection[str]) -> frozenset[str]:
    """The trusted user ids: those named plus the members of the named user groups."""
    return frozenset(users) | frozenset(group_members)
