"""Questions: mentions, DMs and follow-ups answered in threads, streamed, deduplicated, failing politely."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from bot.abstention import AbstentionConfig
from bot.answering import Answerer, AnsweringConfig
from bot.evidence_first import EvidenceFirst
from bot.generator_protocol import GeneratorBusy, GeneratorError
from bot.slack.blocks import ACTION_DOWN, ACTION_FEEDBACK, ACTION_UP, SUMMARY_BUSY_NOTE, SUMMARY_FAILED_NOTE, THINKING
from bot.slack.notices import APOLOGY, BUSY
from bot.slack.streaming import STATUS_TEXT, StreamOptions
from bot.slack.work import BackgroundWork
from store.schema import Answer, Chunk, UnitVectors
from tests.fakes.slack_api import BOT_USER_ID, TEAM_ID
from tests.fakes.slack_requests import ASKER, mention, message
from tests.scripted_generator import ScriptedGenerator
from tests.slack.conftest import MakeBot
from tests.slack.harness import DEPLOY_SUMMARY, SlackHarness

pytestmark = pytest.mark.usefixtures("documents")


def test_mention_streams_into_the_thread_and_ends_with_cited_answer(make_bot: MakeBot) -> None:
    bot = make_bot(generator=ScriptedGenerator("Run `make deploy` from the repository root, with the release "
                                               "role [1].", delay_s=0.03))
    ts = bot.ask("How do I deploy the billing service?")

    calls = [c.method for c in bot.fake.calls if c.method and c.method != "auth.test"]
    assert calls[0] == "assistant.threads.setStatus"  # something visible at once
    status = bot.fake.one_call("assistant.threads.setStatus").body
    assert (status["channel_id"], status["thread_ts"], status["status"]) == ("C1", ts, STATUS_TEXT)
    start = bot.fake.one_call("chat.startStream").body
    assert (start["thread_ts"], start["recipient_user_id"], start["recipient_team_id"]) == (ts, ASKER, TEAM_ID)
    assert bot.fake.calls_to("chat.appendStream"), "the answer should arrive in several pieces"
    assert calls.index("chat.startStream") < calls.index("chat.stopStream") < calls.index("chat.update")

    answer = bot.final_answer("C1", ts)
    sections = [b["text"]["text"] for b in answer["blocks"] if b["type"] == "section"]
    assert "release role [1]" in sections[0]
    assert any(s.startswith("*Sources*") and "Deploying the billing service" in s for s in sections)
    context = [b["elements"][0]["text"] for b in answer["blocks"] if b["type"] == "context"]
    assert any("base model" in text for text in context)
    [row] = bot.rows(Answer)
    feedback = next(b for b in answer["blocks"] if b["type"] == "context_actions")["elements"][0]
    assert feedback["type"] == "feedback_buttons" and feedback["action_id"] == ACTION_FEEDBACK
    assert (feedback["positive_button"]["value"], feedback["negative_button"]["value"]) == (f"up:{row.id}",
                                                                                              f"down:{row.id}")
    assert row.message_ts == answer["ts"] and row.thread_ts == ts and row.channel == "C1"


def test_the_quoted_evidence_is_the_first_text_shown_and_invented_text_never_is(make_bot: MakeBot) -> None:
    bot = make_bot(generator=ScriptedGenerator(f"Deploy with `kubectl apply -f billing.yaml` [1]. {DEPLOY_SUMMARY}",
                                               delay_s=0.03),
                   streaming=StreamOptions(mode="update", interval_s=5.0))
    ts = bot.ask("How do I deploy the billing service?")

    first_edit = bot.fake.calls_to("chat.update")[0].body
    assert first_edit["text"].startswith("> To deploy the billing service, run `make deploy`")
    assert "kubectl" not in first_edit["text"]
    final = bot.final_answer("C1", ts)
    shown = "\n".join(b["text"]["text"] for b in final["blocks"] if b["type"] == "section")
    assert shown.startswith("> To deploy the billing service, run `make deploy` from the repository root.")
    assert DEPLOY_SUMMARY in shown
    assert "kubectl" not in shown and "kubectl" not in final["text"]
    [row] = bot.rows(Answer)
    assert "kubectl" in row.completion and row.support[0]["supported"] is False


def test_a_passage_read_once_keeps_its_unit_vectors_for_the_next_question_in_slack(make_bot: MakeBot) -> None:
    """Through signed events: the first question stores its passages' unit vectors, the second reads them
    back instead of computing and rewriting them, and both show their quoted evidence first."""
    def stored_rows() -> dict[int, object]:
        with bot.sessions() as session:
            return {chunk: at for chunk, at in session.execute(select(UnitVectors.chunk_id, UnitVectors.computed_at))}

    bot = make_bot(generator=ScriptedGenerator("Run make deploy from the repository root [1]."),
                   streaming=StreamOptions(mode="update", interval_s=5.0))
    first = bot.ask("How do I deploy the billing service?")
    stored = stored_rows()
    assert stored and set(stored) <= {row.id for row in bot.rows(Chunk)}
    second = bot.ask("how do I deploy billing?")
    assert {chunk: at for chunk, at in stored_rows().items() if chunk in stored} == stored
    evidence = [call.body["text"] for call in bot.fake.calls_to("chat.update") if call.body["text"].startswith(">")]
    assert len(evidence) >= 2 and evidence[0].startswith("> To deploy the billing service, run `make deploy`")
    assert bot.final_answer("C1", first) and bot.final_answer("C1", second)


def test_a_question_the_documents_do_not_cover_lists_possibly_related_documents(make_bot: MakeBot) -> None:
    bot = make_bot()
    ts = bot.ask("How do I rotate the Kubernetes secrets for the billing service in Vault?")
    final = bot.final_answer("C1", ts)
    sections = [b["text"]["text"] for b in final["blocks"] if b["type"] == "section"]
    assert sections[0].startswith("I couldn't find an answer to this in the team's documents "
                                  '(they never mention "Kubernetes")')
    assert sections[1].startswith("*Possibly related*") and "Deploying the billing service" in sections[1]
    assert bot.generator.calls == []
    [row] = bot.rows(Answer)
    assert row.abstained and row.abstain_reason == "unknown_terms" and row.relevance["unknown"] == ["kubernet"]


def test_a_loose_match_says_so_in_slack_above_its_evidence(make_bot: MakeBot, sessions, embedder) -> None:
    """Answered close to its bar (here every answer is: a margin of 1), the message opens with the line
    that says the documents match only loosely, naming the word they never mention, then the quotes."""
    rule = AbstentionConfig(min_score=0.1, unknown_score=0.1, loose_margin=1.0)
    answerer = Answerer(sessions=sessions, embedder=embedder, generator=ScriptedGenerator(),
                        config=AnsweringConfig(timeout_s=30.0, summarise=False, abstention=rule))
    bot = make_bot(answerer=answerer, streaming=StreamOptions(mode="update", interval_s=5.0))
    ts = bot.ask("How do I rotate the Kubernetes secrets for the billing service in Vault?")
    first_edit = bot.fake.calls_to("chat.update")[0].body["text"]
    assert first_edit.startswith("Loose match: "), "the first text shown carries the line above the quotes"
    final = bot.final_answer("C1", ts)
    sections = [b["text"]["text"] for b in final["blocks"] if b["type"] == "section"]
    assert sections[0].startswith("Loose match: the documents come close to this question without clearly "
                                  'answering it (they never mention "Kubernetes").')
    assert "\n> " in sections[0] and "[1]" in sections[0], "the quoted evidence follows the line"
    [row] = bot.rows(Answer)
    assert not row.abstained and row.published_text.startswith("Loose match")


def test_update_mode_posts_a_placeholder_then_edits_it(make_bot: MakeBot) -> None:
    bot = make_bot(generator=ScriptedGenerator("Backups run nightly at 02:00 UTC with pg_dump [1] and go to the "
                                               "kb-backups bucket [1].", delay_s=0.04),
                   streaming=StreamOptions(mode="update", interval_s=0.1))
    ts = bot.ask("When do database backups run?")

    first = bot.fake.calls_to("chat.postMessage")[0].body
    assert first["text"] == THINKING and first["thread_ts"] == ts
    assert not bot.fake.calls_to("chat.startStream")
    answer = bot.final_answer("C1", ts)
    progress = [r["text"] for r in answer["revisions"] if not r.get("blocks")]
    assert progress and all(text.endswith(" …") for text in progress), "intermediate edits show partial text"
    assert "02:00 UTC" in answer["blocks"][0]["text"]["text"]


def test_the_evidence_is_shown_before_the_summary_even_when_the_shared_edit_budget_is_spent(
        make_bot: MakeBot) -> None:
    """One edit a minute for every answer together: the first answer's evidence takes it, and the second
    answer's evidence must still show at once (only later progress edits may be skipped)."""
    bot = make_bot(generator=ScriptedGenerator("Run make deploy from the repository root [1].", delay_s=0.03),
                   streaming=StreamOptions(mode="update", interval_s=5.0, updates_per_minute=1))
    first = bot.ask("How do I deploy the billing service?")
    second = bot.ask("When do database backups run?")
    for ts in (first, second):
        answer = bot.final_answer("C1", ts)
        progress = [r["text"] for r in answer["revisions"] if not r.get("blocks")]
        assert progress and progress[0].startswith("> "), (ts, progress)
        shown = answer["blocks"][0]["text"]["text"]
        assert shown.startswith(progress[0].removesuffix(" …")[:40])  # the final answer opens with that evidence
    assert "02:00 UTC" in bot.final_answer("C1", second)["blocks"][0]["text"]["text"]


def test_a_refused_stream_falls_back_to_updates_for_good(make_bot: MakeBot) -> None:
    bot = make_bot()
    bot.fake.fail_next("chat.startStream", "not_allowed")
    first = bot.ask("How do I deploy the billing service?")
    second = bot.ask("When do database backups run?")

    assert len(bot.fake.calls_to("chat.startStream")) == 1, "the refusal is remembered"
    for ts in (first, second):
        assert "[1]" in bot.final_answer("C1", ts)["blocks"][0]["text"]["text"]


def test_follow_up_in_thread_without_mention_uses_the_thread_history(bot: SlackHarness) -> None:
    root = bot.ask("How do I deploy the billing service?")
    bot.ask("and which role does that need?", thread_ts=root, as_mention=False)

    assert len(bot.generator.calls) == 2
    roles_and_text = [(m["role"], m["content"]) for m in bot.generator.calls[1]]
    assert ("user", "How do I deploy the billing service?") in roles_and_text
    assert any(role == "assistant" and "make deploy" in text for role, text in roles_and_text)
    assert roles_and_text[-1][1].endswith("Question: and which role does that need?")
    assert len(bot.fake.bot_replies("C1", root)) == 2


def test_reply_in_a_thread_the_bot_is_not_in_is_ignored(bot: SlackHarness) -> None:
    root = bot.fake.add_message("C1", "lunch?")["ts"]
    bot.ask("how do I deploy?", thread_ts=root, as_mention=False)
    assert not bot.generator.calls and not bot.fake.calls_to("chat.postMessage")


def test_direct_message_is_answered_in_its_thread(bot: SlackHarness) -> None:
    ts = bot.ask("When do database backups run?", channel="D1", as_mention=False)
    start = bot.fake.one_call("chat.startStream").body
    assert start["channel"] == "D1" and start["thread_ts"] == ts
    assert bot.final_answer("D1", ts)


def test_app_mention_and_message_event_for_one_message_get_one_answer(bot: SlackHarness) -> None:
    posted = bot.fake.add_message("C1", f"<@{BOT_USER_ID}> How do I deploy the billing service?")
    first = bot.dispatch(bot.requests.event(mention("C1", posted["ts"], "How do I deploy the billing service?")))
    second = bot.dispatch(bot.requests.event(message("C1", posted["ts"], posted["text"])))
    bot.settle()
    assert first.status == second.status == 200
    assert len(bot.generator.calls) == 1
    assert len(bot.fake.bot_replies("C1", posted["ts"])) == 1


def test_retried_event_is_acked_and_answered_once(bot: SlackHarness) -> None:
    posted = bot.fake.add_message("C1", "<@UBOT> When do database backups run?")
    event = mention("C1", posted["ts"], "When do database backups run?")
    first = bot.dispatch(bot.requests.event(event, event_id="EvRETRY1"))
    retry = bot.dispatch(bot.requests.event(event, event_id="EvRETRY1", retry_num=1))
    bot.settle()
    assert first.status == retry.status == 200
    assert len(bot.generator.calls) == 1
    assert len(bot.fake.calls_to("chat.startStream")) == 1


def test_failure_while_answering_posts_an_apology_and_logs_it(make_bot: MakeBot,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    bot = make_bot(generator=ScriptedGenerator(fail_with=RuntimeError("CUDA fell over")))
    with caplog.at_level(logging.ERROR, logger="bot.slack.answer_flow"):
        ts = bot.ask("How do I deploy the billing service?")
    [reply] = bot.fake.bot_replies("C1", ts)
    assert reply["text"] == APOLOGY and "CUDA" not in str(reply)
    assert any(record.exc_info for record in caplog.records), "the trace goes to the log"


def test_a_full_work_pool_says_try_again_shortly(make_bot: MakeBot) -> None:
    bot = make_bot(work=BackgroundWork(max_workers=1, max_queued=0))
    ts = bot.ask_while_full("How do I deploy the billing service?")
    [reply] = bot.fake.bot_replies("C1", ts)  # the queue place shown at once was withdrawn
    assert reply["text"] == BUSY and not bot.generator.calls


class _CountingGenerator(ScriptedGenerator):
    """Notes how many questions were still waiting for their evidence when each summary began."""

    def __init__(self, first_in_line: EvidenceFirst) -> None:
        super().__init__()
        self.first_in_line = first_in_line
        self.waiting_at_start: list[int] = []

    def stream(self, messages, **kwargs):  # type: ignore[no-untyped-def, override]
        self.waiting_at_start.append(self.first_in_line.waiting)
        return super().stream(messages, **kwargs)


def test_a_mention_counts_as_waiting_for_its_evidence_until_it_is_shown(make_bot: MakeBot, sessions,
                                                                        embedder) -> None:
    first_in_line = EvidenceFirst(max_pause_s=5.0)
    generator = _CountingGenerator(first_in_line)
    answerer = Answerer(sessions=sessions, embedder=embedder, generator=generator,
                        config=AnsweringConfig(timeout_s=30.0))
    waiting_while_prepared: list[int] = []
    prepare = answerer.prepare

    def counting_prepare(*args, **kwargs):  # type: ignore[no-untyped-def]
        waiting_while_prepared.append(first_in_line.waiting)
        return prepare(*args, **kwargs)

    answerer.prepare = counting_prepare  # type: ignore[method-assign]
    bot = make_bot(generator=generator, answerer=answerer, evidence_first=first_in_line)
    ts = bot.ask("How do I deploy the billing service?")
    assert "make deploy" in bot.final_answer("C1", ts)["blocks"][0]["text"]["text"]
    assert waiting_while_prepared == [1]  # counted while its evidence was prepared
    assert generator.waiting_at_start == [0]  # given back before its own summary began: the model never waits on it
    assert first_in_line.waiting == 0
    busy = make_bot(work=BackgroundWork(max_workers=1, max_queued=0), evidence_first=first_in_line)
    busy.ask_while_full("How do I deploy the billing service?")
    assert first_in_line.waiting == 0  # a question turned away busy gives its place back too


def test_a_busy_model_keeps_the_evidence_already_shown_and_says_why_there_is_no_summary(make_bot: MakeBot) -> None:
    """Found under a 50-question burst: the summary's GeneratorBusy replaced the quoted evidence with "busy"."""
    bot = make_bot(generator=ScriptedGenerator(fail_with=GeneratorBusy("all slots taken")))
    ts = bot.ask("How do I deploy the billing service?")
    [reply] = bot.fake.bot_replies("C1", ts)
    answer = bot.final_answer("C1", ts)
    assert answer["ts"] == reply["ts"] and "make deploy" in answer["blocks"][0]["text"]["text"]
    assert SUMMARY_BUSY_NOTE in str(answer["blocks"]) and BUSY not in str(answer)
    [row] = bot.rows(Answer)
    assert not row.abstained and row.summary_text == "" and "make deploy" in row.published_text
    assert row.prompt, "the prompt is recorded: a vote on this answer still trains"


def test_a_model_failing_after_the_evidence_leaves_the_evidence_as_the_answer(make_bot: MakeBot) -> None:
    bot = make_bot(generator=ScriptedGenerator(fail_with=GeneratorError("The model could not be loaded.")))
    ts = bot.ask("How do I deploy the billing service?")
    [reply] = bot.fake.bot_replies("C1", ts)
    answer = bot.final_answer("C1", ts)
    assert "make deploy" in answer["blocks"][0]["text"]["text"] and SUMMARY_FAILED_NOTE in str(answer["blocks"])
    assert "could not be loaded" not in str(answer) and answer["ts"] == reply["ts"]


def test_empty_mention_is_told_what_to_do_without_generating(bot: SlackHarness) -> None:
    ts = bot.ask("   ")
    [reply] = bot.fake.bot_replies("C1", ts)
    assert "Ask me a question" in reply["text"] and not bot.generator.calls


def test_rate_limited_update_is_retried_after_retry_after(make_bot: MakeBot) -> None:
    bot = make_bot(streaming=StreamOptions(mode="update", interval_s=5.0))  # only the final edit
    bot.fake.fail_next("chat.update", status=429, retry_after=1)
    ts = bot.ask("How do I deploy the billing service?")

    # The first edit shows the quoted evidence at once; it is the one rate limited and retried.
    limited, retried, final = bot.fake.calls_to("chat.update")
    assert limited.status == 429 and retried.status == 200 and final.status == 200
    assert retried.t - limited.t >= 1.0, "waited for Retry-After"
    assert "make deploy" in bot.final_answer("C1", ts)["blocks"][0]["text"]["text"]


def test_rejected_native_feedback_buttons_fall_back_to_classic_buttons(make_bot: MakeBot) -> None:
    bot = make_bot(streaming=StreamOptions(mode="update", interval_s=5.0))
    bot.fake.unsupported_elements = {"feedback_buttons"}
    first = bot.ask("How do I deploy the billing service?")
    second = bot.ask("When do database backups run?")
    for ts in (first, second):
        actions = next(b for b in bot.final_answer("C1", ts)["blocks"] if b["type"] == "actions")
        assert [e["action_id"] for e in actions["elements"]] == [ACTION_UP, ACTION_DOWN]
    finals = [call for call in bot.fake.calls_to("chat.update") if call.body.get("blocks")]
    assert [call.reply["ok"] for call in finals] == [False, True, True], "only the first answer needed a second try"
