"""A Slack thread as a document: entities decoded, system and bot messages left out, trusted people, scrubbing."""

from __future__ import annotations

from typing import Any

import pytest

from knowledge.slack_threads import ThreadRules, build_thread_document, is_thread_root
from knowledge.slack_threads_client import Pacer
from knowledge.slack_threads_text import decode, mentioned_users

NAMES = {"UDANA": "Dana", "UERIK": "Erik Lund", "UOPS": "ops-bot"}


def names(user: str) -> str | None:
    return NAMES.get(user)


def msg(ts: str, user: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "message", "user": user, "text": text, "ts": ts, **extra}


def test_decode_shows_entities_as_slack_does_and_unescapes_last() -> None:
    raw = ("<@UDANA> see <#C42|deploys> and <!subteam^S9|@oncall>, <!here>: <https://ci.example.com/run/7|the run> "
           "&amp; <mailto:a@b.c|a@b.c>; run `a &lt; b &amp;&amp; c` &amp;lt;kept&amp;gt; <@UNKNOWN|who>")
    assert decode(raw, names) == ("@Dana see #deploys and @oncall, @here: the run (https://ci.example.com/run/7) & "
                                  "a@b.c; run `a < b && c` &lt;kept&gt; @who")
    assert mentioned_users(raw) == ["UDANA", "UNKNOWN"]


def test_code_blocks_become_fenced_blocks_on_their_own_lines() -> None:
    raw = "try this ```kubectl rollout undo deploy/api\nkubectl get pods``` then check"
    assert decode(raw, names) == "try this\n```\nkubectl rollout undo deploy/api\nkubectl get pods\n```\nthen check"
    assert decode("an unclosed ``` fence", names) == "an unclosed ``` fence"


def test_thread_document_keeps_people_and_drops_bots_and_system_messages() -> None:
    thread = [
        msg("100.000001", "UDANA", "How did we fix the staging deploy last time? It hangs on migrations.",
            thread_ts="100.000001", reply_count=4),
        msg("100.000002", "UOPS", "Deploy #42 failed", bot_id="B1", thread_ts="100.000001"),
        msg("100.000003", "UERIK", "<@UERIK> has joined the channel", subtype="channel_join", thread_ts="100.000001"),
        msg("100.000004", "UERIK", "Run ```make unlock-migrations``` and redeploy, the lock was stale.",
            thread_ts="100.000001",
            reactions=[{"name": "white_check_mark::skin-tone-2", "count": 1, "users": ["UDANA"]}]),
        msg("100.000005", "UDANA", "Thanks <@UERIK>, that worked", subtype="thread_broadcast", thread_ts="100.000001"),
    ]
    document = build_thread_document(thread, thread_ts="100.000001", channel_name="deploys", names=names)
    assert document is not None
    assert document.title == "#deploys · Dana: How did we fix the staging deploy last time? It hangs on migrations."
    assert document.text == ("Dana: How did we fix the staging deploy last time? It hangs on migrations.\n\n"
                             "Erik Lund: Run\n```\nmake unlock-migrations\n```\nand redeploy, the lock was stale.\n\n"
                             "Dana: Thanks @Erik Lund, that worked")
    assert document.message_ts == ("100.000001", "100.000004", "100.000005")
    assert document.authors == ("UDANA", "UERIK")
    assert document.confirmed, "the ✅ (any skin tone) on Erik's reply marks the thread"


def test_trusted_people_keep_only_their_replies_and_the_question() -> None:
    thread = [msg("1.1", "UDANA", "Where do the nightly backups of the billing database go?"),
              msg("1.2", "URANDOM", "I think they go to S3 somewhere, maybe the old bucket", thread_ts="1.1"),
              msg("1.3", "UERIK", "They go to the kb-backups bucket, retained 30 days.", thread_ts="1.1")]
    document = build_thread_document(thread, thread_ts="1.1", channel_name="ops", names=names,
                                     rules=ThreadRules(trusted=frozenset({"UERIK"})))
    assert document is not None and "maybe the old bucket" not in document.text
    assert document.text.startswith("Dana: Where do") and "kb-backups bucket" in document.text
    untrusted_only = build_thread_document(thread[:2], thread_ts="1.1", channel_name="ops", names=names,
                                           rules=ThreadRules(trusted=frozenset({"UERIK"})))
    assert untrusted_only is None, "no trusted person said anything: nothing to learn"


def test_forgotten_people_short_threads_and_secrets() -> None:
    thread = [msg("2.1", "UDANA", "The staging database password is hunter2hunter2, mail dana@example.com"),
              msg("2.2", "UERIK", "Rotate it: the token xoxb-123456789012-123456789012-abcdefghijklmnopqrstuvwx leaked",
                  thread_ts="2.1")]
    document = build_thread_document(thread, thread_ts="2.1", channel_name="ops", names=names)
    assert document is not None and "dana@example.com" not in document.text and "<EMAIL>" in document.text
    assert "xoxb-" not in document.text
    forgotten = build_thread_document(thread, thread_ts="2.1", channel_name="ops", names=names,
                                      rules=ThreadRules(forgotten=frozenset({"UDANA"})))
    assert forgotten is not None and "Dana" not in forgotten.text and forgotten.authors == ("UERIK",)
    assert forgotten.title.startswith("#ops · Erik Lund: Rotate it")
    assert build_thread_document([msg("3.1", "UDANA", "lunch?")], thread_ts="3.1", channel_name="x",
                                 names=names) is None
    question = [msg("4.1", "UDANA", "<@UBOT> how do we rotate the signing keys of the payments service?"),
                msg("4.2", "UBOT", "Rotate them with keyctl rotate [1].", bot_id="BBOT", thread_ts="4.1")]
    assert build_thread_document(question, thread_ts="4.1", channel_name="x", names=names) is None, \
        "a question only the bot answered is not knowledge"


def test_roots_and_broadcast_replies_in_history() -> None:
    assert is_thread_root(msg("1.1", "U", "a")) and is_thread_root(msg("1.1", "U", "a", thread_ts="1.1"))
    assert not is_thread_root(msg("1.2", "U", "a", thread_ts="1.1", subtype="thread_broadcast"))


def test_pacer_spaces_calls_of_one_method_evenly() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        now[0] += seconds

    pacer = Pacer({"conversations.replies": 60.0, "users.info": 120.0}, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        pacer.wait("conversations.replies")
    pacer.wait("users.info")
    assert slept == [1.0, 1.0], "50/min is one call a second, never a burst; another method has its own pace"
    with pytest.raises(KeyError):
        pacer.wait("chat.postMessage")
