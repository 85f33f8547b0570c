"""Pure parts: Block Kit builders (validated by slack_sdk's models), mrkdwn, modals, pacing, parsing."""

from __future__ import annotations

import json
import os
import sys
import threading

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.citations import Citation
from bot.prompt import Turn
from bot.slack.blocks import (
    ACTION_DOWN,
    ACTION_UP,
    answer_blocks,
    continuation_blocks,
    parse_vote_value,
    progress_text,
    search_blocks,
)
from bot.slack.feedback import reaction_value
from bot.slack.history import turns_from_messages
from bot.slack.ingesting import url_argument
from bot.slack.modals import add_document_modal, add_errors, read_add, read_reason, reason_modal
from bot.slack.mrkdwn import SECTION_LIMIT, escape, from_markdown, link, split_text
from bot.slack.pacing import RateBudget, Throttle
from bot.slack.slack_text import decode_question
from bot.slack.work import BackgroundWork, WorkRejected
from store.types import Passage


def citation(number: int, *, cited: bool = True, uri: str = "https://wiki.example.com/a|b>c") -> Citation:
    return Citation(number=number, title=f"Doc <{number}>", uri=uri, heading="Setup & run", chunk_id=number,
                    document_id=number, cited=cited)


def valid(blocks: list[dict[str, object]]) -> list[dict[str, object]]:
    """Round-trip through slack_sdk's models, which validate lengths and required fields."""
    return [block.to_dict() for block in Block.parse_all(blocks)]


@pytest.mark.parametrize("style", ["native", "classic"])
def test_answer_blocks_are_valid_block_kit_with_sources_model_and_feedback(style: str) -> None:
    blocks = valid(answer_blocks(answer_id=7, text="Use **make deploy** [1] & check <logs> [2].",
                                 citations=[citation(1), citation(2), citation(3, cited=False)],
                                 adapter_name="kb-v3", latency_ms=1534.0, feedback=style))  # type: ignore[arg-type]
    assert blocks[0]["text"]["text"] == "Use *make deploy* [1] &amp; check &lt;logs&gt; [2]."
    sources = blocks[1]["text"]["text"]
    assert sources.startswith("*Sources*\n[1] <https://wiki.example.com/a%7Cb%3Ec|Doc &lt;1&gt; › Setup &amp; run>")
    assert "[3]" not in sources, "uncited passages are not listed as sources"
    assert "by the adapter `kb-v3`, checked against them · 1.5 s · answer 7" in blocks[2]["elements"][0]["text"]
    if style == "native":
        buttons = blocks[3]["elements"][0]
        assert (buttons["positive_button"]["value"], buttons["negative_button"]["value"]) == ("up:7", "down:7")
    else:
        assert [(e["action_id"], e["value"]) for e in blocks[3]["elements"]] == [(ACTION_UP, "7"), (ACTION_DOWN, "7")]


def test_abstention_lists_the_nearest_documents_as_possibly_related() -> None:
    abstained = valid(answer_blocks(answer_id=1, text="Not in the docs.", citations=[citation(1, cited=False)],
                                    adapter_name="base", abstained=True))
    assert not any("Sources" in json.dumps(b) for b in abstained)
    assert abstained[1]["text"]["text"].startswith("*Possibly related*\n[1] <https://wiki.example.com/")
    assert "No answer given" in abstained[2]["elements"][0]["text"]
    related = answer_blocks(answer_id=1, text="Something.", citations=[citation(1, cited=False)], adapter_name="base")
    assert related[1]["text"]["text"].startswith("*Related documents*")


def test_evidence_quotes_render_as_mrkdwn_quotes_with_escaped_text() -> None:
    text = "> Run `make deploy` & wait <5 min> [1]\n\n*Summary* (checked)\nIt takes <5 min [1]."
    blocks = valid(answer_blocks(answer_id=3, text=text, citations=[citation(1)], adapter_name="base"))
    shown = blocks[0]["text"]["text"]
    assert shown.startswith("> Run `make deploy` &amp; wait &lt;5 min&gt; [1]")
    assert "It takes &lt;5 min [1]." in shown


def test_long_answers_are_split_under_the_section_limit_without_losing_text() -> None:
    text = "\n\n".join(f"Paragraph {i}: " + "word " * 120 for i in range(30))
    messages = [answer_blocks(answer_id=1, text=text, citations=[], adapter_name="base"),
                *continuation_blocks(answer_id=1, text=text)]
    sections = [b["text"]["text"] for blocks in messages for b in valid(blocks) if b["type"] == "section"]
    assert len(sections) > 1 and all(len(s) <= SECTION_LIMIT for s in sections)
    assert " ".join(" ".join(sections).split()) == " ".join(text.split())


def test_split_never_cuts_an_escaped_entity() -> None:
    pieces = split_text(escape("a" * 2996 + "<b>"), limit=3000)
    assert all(not p.endswith(("&", "&l", "&lt")) for p in pieces) and "".join(pieces) == escape("a" * 2996 + "<b>")


def test_mrkdwn_conversion_keeps_code_and_links() -> None:
    converted = from_markdown("## Steps\nSee [the runbook](https://wiki.example.com/run) and **do it**.\n"
                              "```\nif a < b: **x**\n```")
    assert converted.startswith("*Steps*\nSee <https://wiki.example.com/run|the runbook> and *do it*.")
    assert "```\nif a &lt; b: **x**\n```" in converted
    assert link("text:abc123", "Pasted <note>") == "Pasted &lt;note&gt;"


def test_a_code_blocks_language_is_not_shown_as_its_first_line() -> None:
    """mrkdwn has no syntax highlighting: "```python" would show "python" atop the code."""
    converted = from_markdown("Run:\n```sh\nmake deploy ENV=a<b\n```\nthen ```x``` and\n```\nplain\n```")
    assert converted == "Run:\n```\nmake deploy ENV=a&lt;b\n```\nthen ```x``` and\n```\nplain\n```"


def test_progress_text_marks_an_unfinished_answer() -> None:
    assert progress_text("Run **make") == "Run **make …"


def test_search_blocks_quote_snippets_escaped() -> None:
    passage = Passage(chunk_id=1, document_id=1, title="Backups", uri="https://wiki.example.com/b", heading="Cron",
                      text="Runs at <02:00> & copies.", score=0.8123, scope="workspace")
    blocks = valid(search_blocks("backups?", [passage]))
    assert blocks[1]["text"]["text"] == ("*1.* <https://wiki.example.com/b|Backups> › Cron "
                                         "_(score 0.81 · document 1)_\n>Runs at &lt;02:00&gt; &amp; copies.")
    assert "Nothing in the knowledge base" in search_blocks("zzz", [])[0]["text"]["text"]


@pytest.mark.parametrize(("value", "parsed"), [("up:12", (1, 12)), ("down:3", (-1, 3)), ("44", (None, 44))])
def test_feedback_values_parse(value: str, parsed: tuple[int | None, int]) -> None:
    assert parse_vote_value(value) == parsed


@pytest.mark.parametrize("value", ["sideways:1", "up:", "up:x", "", "1:2:3"])
def test_forged_feedback_values_are_rejected(value: str) -> None:
    with pytest.raises(ValueError):
        parse_vote_value(value)


@pytest.mark.parametrize(("name", "value"), [("+1", 1), ("thumbsup", 1), ("+1::skin-tone-6", 1), ("-1", -1),
                                             ("thumbsdown::skin-tone-2", -1), ("heart", None), ("-1x", None)])
def test_reaction_names_map_to_votes(name: str, value: int | None) -> None:
    assert reaction_value(name) == value


def test_modals_are_valid_views_and_submissions_read_back() -> None:
    reason = reason_modal(answer_id=5, channel="C1", message_ts="1.2")
    View(**reason).validate_json()
    add = add_document_modal(channel="C9")
    View(**add).validate_json()
    values = {"reason": {"value": {"selected_option": {"value": "off_topic"}}},
              "details": {"value": {"value": "  wrong product  "}}}
    submission = read_reason({**reason, "state": {"values": values}})
    assert (submission.answer_id, submission.reason, submission.details) == (5, "off_topic", "wrong product")
    only_details = read_reason({**reason, "state": {"values": {"details": {"value": {"value": "meh"}}}}})
    assert only_details.reason == "other", "details without a reason count as 'other'"
    with pytest.raises(ValueError):
        read_reason({**reason, "state": {"values": {"reason": {"value": {"selected_option": {"value": "evil"}}}}}})
    empty = read_add({**add, "state": {"values": {}}})
    assert empty.channel == "C9" and "text" in add_errors(empty)
    bad_url = read_add({**add, "state": {"values": {"url": {"value": {"value": "ftp://x"}}}}})
    assert "url" in add_errors(bad_url)


@pytest.mark.parametrize(("text", "url"), [("<https://a.example/x|a.example/x>", "https://a.example/x"),
                                           ("https://a.example/y", "https://a.example/y"),
                                           ("see https://a.example/y", None), ("plain words", None)])
def test_url_argument(text: str, url: str | None) -> None:
    assert url_argument(text) == url


def test_history_keeps_people_and_known_answers_before_the_question() -> None:
    messages = [
        {"ts": "1.0", "user": "UA", "text": "<@UBOT> how do I deploy?"},
        {"ts": "2.0", "user": "UBOT", "bot_id": "B", "text": "_Looking through the team's documents…_"},
        {"ts": "3.0", "user": "UBOT", "bot_id": "B", "text": "Run make deploy &amp; wait [1]."},
        {"ts": "4.0", "user": "UA", "subtype": "channel_join", "text": "joined"},
        {"ts": "5.0", "user": "UA", "text": "and the role?"},
        {"ts": "6.0", "user": "UA", "text": "later message"},
    ]
    turns = turns_from_messages(messages, before_ts="6.0", bot_user_id="UBOT", answer_ts=["3.0"])
    assert turns == [Turn(role="user", text="how do I deploy?"),
                     Turn(role="assistant", text="Run make deploy & wait [1]."),
                     Turn(role="user", text="and the role?")]
    assert decode_question("<@UBOT> ask <@U2|bob> now", bot_user_id="UBOT") == "ask @bob now"


def test_throttle_and_budget_pace_edits() -> None:
    now = [0.0]
    throttle = Throttle(1.0, clock=lambda: now[0])
    assert throttle.ready()
    throttle.mark()
    now[0] = 0.5
    assert not throttle.ready()
    now[0] = 1.0
    assert throttle.ready()

    budget = RateBudget(per_minute=60, capacity=2, clock=lambda: now[0])
    assert budget.try_take() and budget.try_take() and not budget.try_take()
    now[0] += 1.0  # one token a second
    assert budget.try_take() and not budget.try_take()

    budget.spend()  # a call that must go: the bucket owes one token now
    now[0] += 1.0
    assert not budget.try_take()  # the first second's token paid the debt
    now[0] += 1.0
    assert budget.try_take()
    for _ in range(10):
        budget.spend()
    now[0] += 10.0  # every forced call is owed: ten seconds pay the ten back
    assert not budget.try_take()
    now[0] += 1.0
    assert budget.try_take()


def test_work_pool_refuses_past_its_queue_and_reports_idle() -> None:
    release = threading.Event()
    work = BackgroundWork(max_workers=1, max_queued=1)
    try:
        work.submit(release.wait)
        work.submit(lambda: None)
        with pytest.raises(WorkRejected):
            work.submit(lambda: None)
        assert work.pending == 2 and not work.wait_idle(0.05)
        release.set()
        assert work.wait_idle(5) and work.pending == 0
        work.submit(lambda: None)  # room again
    finally:
        release.set()
        work.shutdown()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_a_nicer_summaries_pool_runs_nicer_and_so_do_the_threads_it_starts() -> None:
    """KB_SUMMARY_NICE: the model writing summaries (a thread the summary job starts) yields the cores."""
    from bot.slack.deps import DEFAULT_SUMMARY_NICE, summaries_pool

    def priorities() -> tuple[int, int]:
        own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        started: list[int] = []
        child = threading.Thread(target=lambda: started.append(os.getpriority(os.PRIO_PROCESS,
                                                                               threading.get_native_id())))
        child.start()
        child.join()
        return own, started[0]

    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    summaries, answers = summaries_pool(2, nice=10), BackgroundWork(max_workers=1)
    default = summaries_pool(2)
    try:
        assert DEFAULT_SUMMARY_NICE == 0  # measured without a difference on 2 cores: off unless asked
        assert default.submit(priorities).result(10) == (base, base)
        assert summaries.submit(priorities).result(10) == (min(19, base + 10),) * 2
        assert answers.submit(priorities).result(10) == (base, base)  # the answering pool keeps its priority
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base  # and so does the caller
    finally:
        summaries.shutdown()
        answers.shutdown()
        default.shutdown()


def test_a_live_running_run_shows_its_heartbeat_age() -> None:
    from datetime import UTC, datetime

    from bot.slack.blocks import progress_line
    from store.training_runs import RunRecord

    run = RunRecord(id=3, status="running", trigger="schedule", requested_by=None, notify_channel=None, message=None,
                    metrics={}, adapter_id=None, dataset_id=None, report_path=None,
                    created_at=datetime.now(UTC), finished_at=None, heartbeat_age_s=4.2, worker_alive=True,
                    progress={"phase": "evaluating"})
    assert progress_line(run) == "Progress: evaluating · worker heartbeat 4s ago"
