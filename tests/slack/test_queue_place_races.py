"""A queue-place edit racing with the question's start never overwrites the answer (real WebClient, fake Slack).

Found by CI under a 200-question burst: a worker that had taken its snapshot of the waiting line was
still editing a placeholder ("yours is next") when another worker started that question and wrote
its answer there; the late edit landed last and the thread showed the queue text instead of the answer.
"""

from __future__ import annotations

import threading
from typing import Any

from slack_sdk import WebClient

from bot.slack.queue_status import AnswerQueue, move_up, show_queued
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack


class _HeldEdits(WebClient):
    """A real client whose `chat_update` waits for `release` once it has been entered (`entered` is set)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entered = threading.Event()
        self.release = threading.Event()

    def chat_update(self, **kwargs: Any) -> Any:
        self.entered.set()
        assert self.release.wait(10), "the test never released the edit"
        return super().chat_update(**kwargs)


def _queued(fake: FakeSlack, client: WebClient, queue: AnswerQueue, count: int) -> list[str]:
    """`count` questions in C1, each waiting with its placeholder shown; their ts in order."""
    asked = []
    for _ in range(count):
        ts = str(fake.add_message("C1", "<@UBOT> when do backups run?")["ts"])
        show_queued(client, queue, ts, channel="C1", thread_ts=ts, ahead=queue.join(ts))
        asked.append(ts)
    return asked


def test_the_start_waits_for_an_edit_in_flight_and_no_edit_lands_after_it(fake_slack: FakeSlack) -> None:
    queue = AnswerQueue(workers=1)
    client = WebClient(token=BOT_TOKEN, base_url=fake_slack.api_url)
    held = _HeldEdits(token=BOT_TOKEN, base_url=fake_slack.api_url)
    asked_a, asked_b = _queued(fake_slack, client, queue, 2)

    _, waiting = queue.leave(asked_a)  # A starts: B must move up
    assert waiting == [asked_b]
    editor = threading.Thread(target=move_up, args=(held, queue, waiting))
    editor.start()
    assert held.entered.wait(10)

    started: list[Any] = []
    starter = threading.Thread(target=lambda: started.append(queue.leave(asked_b)))
    starter.start()
    starter.join(0.3)
    assert starter.is_alive(), "B's start waits while its placeholder is being edited"
    held.release.set()
    editor.join(10)
    starter.join(10)
    placeholder, _ = started[0]
    assert placeholder is not None and placeholder.channel == "C1"

    client.chat_update(channel="C1", ts=placeholder.ts, text="Backups run nightly at 02:00 UTC [1].")
    move_up(client, queue, [asked_b])  # a stale snapshot taken before B started
    replies = fake_slack.bot_replies("C1", asked_b)
    assert len(replies) == 1 and replies[0]["text"] == "Backups run nightly at 02:00 UTC [1]."
    assert "yours is next" in fake_slack.calls_to("chat.update")[0].body["text"], "the held edit did land, first"
    assert len(fake_slack.calls_to("chat.update")) == 2, "the stale snapshot edited nothing"


def test_the_place_is_read_when_the_edit_is_made_so_it_only_moves_up(fake_slack: FakeSlack) -> None:
    queue = AnswerQueue(workers=1)
    client = WebClient(token=BOT_TOKEN, base_url=fake_slack.api_url)
    first, second, _ = _queued(fake_slack, client, queue, 3)
    _, first_snapshot = queue.leave(first)
    _, second_snapshot = queue.leave(second)
    move_up(client, queue, second_snapshot)
    move_up(client, queue, first_snapshot)  # late: its snapshot still counted the second question ahead
    edits = [c.body["text"] for c in fake_slack.calls_to("chat.update")]
    assert edits == [queue.describe(0), queue.describe(0)], "the late edit shows the place now, not one behind"


def test_queue_place_edits_draw_on_the_shared_budget_and_stop_when_it_is_spent(fake_slack: FakeSlack) -> None:
    """Each start moves every waiting question up: a burst asks for edits by the square of its size, so
    they take tokens from the replies' skippable-edit budget, and none is sent once it is empty."""
    from bot.slack.pacing import RateBudget

    queue = AnswerQueue(workers=1)
    client = WebClient(token=BOT_TOKEN, base_url=fake_slack.api_url)
    asked = _queued(fake_slack, client, queue, 5)
    budget = RateBudget(per_minute=0.001, capacity=2)  # two tokens, no refill within the test
    _, waiting = queue.leave(asked[0])
    assert waiting == asked[1:]

    move_up(client, queue, waiting, budget)
    edited = [call.body["ts"] for call in fake_slack.calls_to("chat.update")]
    assert len(edited) == 2 and not budget.try_take()  # the two tokens, then nothing
    move_up(client, queue, waiting, budget)
    assert len(fake_slack.calls_to("chat.update")) == 2
    move_up(client, queue, waiting)  # no budget: every waiting placeholder is edited (the old behaviour)
    assert len(fake_slack.calls_to("chat.update")) == 2 + 4
