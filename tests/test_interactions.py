"""Answers, votes (last write wins, history kept), references and exactly-once claims on the real DB."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from store.interactions import UnknownAnswer, answer_by_message, attach_message, current_vote, vote_totals
from store.schema import Answer, Vote, VoteEvent
from store.slack_events import claim_event, finish_event
from store.types import Passage
from tests.answers import keep_reference, store_answer, vote, withdraw
from tests.runs import queue_run


def _answer(sessions) -> int:
    passage = Passage(chunk_id=7, document_id=3, title="Guide", uri="file:///g.md", heading="Setup", text="t",
                      score=0.81234567, scope="workspace")
    return store_answer(sessions, question="q?", prompt="<prompt>", completion="a [1]", passages=[passage],
                        abstained=False, adapter_id=None, adapter_name="base", latency_ms=12.5, channel="C1",
                        thread_ts="1.0", asker="U1")


def test_answer_row_keeps_exact_prompt_and_passages(sessions) -> None:
    answer_id = _answer(sessions)
    with sessions.begin() as session:
        attach_message(session, answer_id, channel="C1", message_ts="2.0")
    with sessions() as session:
        row = session.get(Answer, answer_id)
        assert row.prompt == "<prompt>" and row.retrieved_chunk_ids == [7]
        assert row.passages[0] == {"n": 1, "chunk_id": 7, "document_id": 3, "score": 0.812346, "title": "Guide",
                                   "uri": "file:///g.md", "heading": "Setup", "scope": "workspace"}
        assert answer_by_message(session, channel="C1", message_ts="2.0").id == answer_id
        assert answer_by_message(session, channel="C1", message_ts="9.9") is None


def test_vote_change_is_last_write_wins_and_history_is_kept(sessions) -> None:
    answer_id = _answer(sessions)
    vote(sessions, answer_id=answer_id, user_id="U2", value=1, source="button")
    vote(sessions, answer_id=answer_id, user_id="U2", value=-1, source="reaction", reason="incorrect")
    vote(sessions, answer_id=answer_id, user_id="U3", value=1, source="button")
    with sessions() as session:
        assert current_vote(session, answer_id=answer_id, user_id="U2") == -1
        assert vote_totals(session) == {"up": 1, "down": 1}
        assert session.scalar(select(Vote.reason).where(Vote.user_id == "U2")) == "incorrect"
        history = session.scalars(select(VoteEvent.value).where(VoteEvent.user_id == "U2").order_by(VoteEvent.id))
        assert list(history) == [1, -1]


def test_reason_survives_a_repeated_click_and_clears_on_thumbs_up(sessions) -> None:
    answer_id = _answer(sessions)
    vote(sessions, answer_id=answer_id, user_id="U2", value=-1, source="button", reason="other",
         reason_text="outdated")
    vote(sessions, answer_id=answer_id, user_id="U2", value=-1, source="reaction")
    with sessions() as session:
        assert session.scalar(select(Vote.reason_text)) == "outdated"
    vote(sessions, answer_id=answer_id, user_id="U2", value=1, source="button")
    with sessions() as session:
        assert session.scalar(select(Vote.reason)) is None


def test_withdraw_only_removes_matching_vote(sessions) -> None:
    answer_id = _answer(sessions)
    vote(sessions, answer_id=answer_id, user_id="U2", value=-1, source="reaction")
    assert withdraw(sessions, answer_id=answer_id, user_id="U2", value=1, source="reaction") is False
    assert withdraw(sessions, answer_id=answer_id, user_id="U2", value=-1, source="reaction") is True
    with sessions() as session:
        assert current_vote(session, answer_id=answer_id, user_id="U2") is None
        assert list(session.scalars(select(VoteEvent.value).order_by(VoteEvent.id))) == [-1, 0]


def test_votes_and_references_on_missing_answers_are_refused(sessions) -> None:
    with pytest.raises(UnknownAnswer):
        vote(sessions, answer_id=999, user_id="U", value=1, source="button")
    with pytest.raises(UnknownAnswer):
        keep_reference(sessions, answer_id=999, author="U", text="fix")
    with pytest.raises(ValueError, match="-1 or 1"):
        vote(sessions, answer_id=_answer(sessions), user_id="U", value=2, source="button")


def _claim(sessions, key: str, **options) -> bool:
    """Claim `key` committed, as the dedupe middleware does before the event is handled."""
    with sessions() as session, session.begin():
        return claim_event(session, key, **options)


def test_event_claim_is_exclusive_across_threads(sessions) -> None:
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        wins.append(_claim(sessions, "Ev123"))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wins.count(True) == 1
    with sessions() as session, session.begin():
        finish_event(session, "Ev123")
    assert _claim(sessions, "Ev123", stale_after_s=0) is False  # done claims are never taken over
    assert _claim(sessions, "EvA") and _claim(sessions, "EvB")
    with sessions() as session, session.begin():
        finish_event(session, "EvA", "EvB")  # one statement for both keys of a question
        finish_event(session)  # none: nothing to do
    assert _claim(sessions, "EvA", stale_after_s=0) is False and _claim(sessions, "EvB", stale_after_s=0) is False


def test_stale_claim_is_taken_over(sessions) -> None:
    assert _claim(sessions, "Ev9")
    assert _claim(sessions, "Ev9", stale_after_s=600) is False
    assert _claim(sessions, "Ev9", stale_after_s=0) is True


def test_concurrent_retrain_requests_share_one_run(sessions) -> None:
    results: list[tuple[int, bool]] = []
    barrier = threading.Barrier(6)

    def trigger() -> None:
        barrier.wait()
        run, created = queue_run(sessions, trigger="admin", requested_by="UADMIN", notify_channel="C1")
        results.append((run.id, created))

    threads = [threading.Thread(target=trigger) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({run_id for run_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1


def test_held_reactions_replay_in_order_and_stale_ones_are_purged(sessions) -> None:
    """store.pending_reactions: what a reaction on a not-yet-recorded answer leaves, and what happens to it."""
    from store.pending_reactions import hold_reaction, lock_message, purge_reactions, replay_reactions
    from store.schema import PendingReaction, Vote

    answer_id = store_answer(sessions, question="q", prompt="p", completion="c", passages=[], abstained=False,
                             adapter_id=None, adapter_name="base", latency_ms=1.0)
    with sessions() as session, session.begin():
        lock_message(session, channel="C1", message_ts="1.2")
        for user, value, added in (("U1", 1, True), ("U1", 1, False), ("U1", -1, True), ("U2", 1, True)):
            hold_reaction(session, channel="C1", message_ts="1.2", user_id=user, value=value, added=added)
        hold_reaction(session, channel="C1", message_ts="9.9", user_id="U3", value=1, added=True)  # a notice
        with pytest.raises(ValueError, match="-1 or 1"):
            hold_reaction(session, channel="C1", message_ts="1.2", user_id="U1", value=0, added=True)
    with sessions() as session, session.begin():
        lock_message(session, channel="C1", message_ts="1.2")
        replayed = replay_reactions(session, answer_id=answer_id, channel="C1", message_ts="1.2")
    assert [(r.user_id, r.value, r.added) for r in replayed] == [("U1", 1, True), ("U1", 1, False),
                                                                  ("U1", -1, True), ("U2", 1, True)]
    with sessions() as session:
        assert sorted((v.user_id, v.value) for v in session.scalars(select(Vote))) == [("U1", -1), ("U2", 1)]
    with sessions() as session, session.begin():
        assert purge_reactions(session, older_than_s=3600) == 0, "a fresh one stays"
    with sessions() as session, session.begin():
        assert purge_reactions(session, older_than_s=0) == 1
    with sessions() as session:
        assert session.scalars(select(PendingReaction)).first() is None


def test_held_reactions_replay_in_the_order_slack_says_they_happened(sessions) -> None:
    """Handlers run on a thread pool: a 👍 removed a moment after it was added can be held first. The
    replay follows the events' `event_ts`, so the withdrawn vote stays withdrawn; a reaction held without
    one (before revision 0025) replays after the timed ones."""
    from store.pending_reactions import hold_reaction, lock_message, replay_reactions
    from store.schema import Vote

    answer_id = store_answer(sessions, question="q", prompt="p", completion="c", passages=[], abstained=False,
                             adapter_id=None, adapter_name="base", latency_ms=1.0)
    with sessions() as session, session.begin():
        lock_message(session, channel="C1", message_ts="3.4")
        for user, value, added, event_ts in (("UFLIP", 1, False, "1700000000.000200"),
                                             ("UFLIP", 1, True, "1700000000.000100"),
                                             ("ULATE", -1, False, None),
                                             ("ULATE", -1, True, "1700000000.000300")):
            hold_reaction(session, channel="C1", message_ts="3.4", user_id=user, value=value, added=added,
                          event_ts=event_ts)
    with sessions() as session, session.begin():
        lock_message(session, channel="C1", message_ts="3.4")
        replayed = replay_reactions(session, answer_id=answer_id, channel="C1", message_ts="3.4")
    assert [(r.user_id, r.added) for r in replayed] == [("UFLIP", True), ("UFLIP", False), ("ULATE", True),
                                                        ("ULATE", False)]
    with sessions() as session:
        assert session.scalars(select(Vote)).first() is None, "both votes were taken back"
