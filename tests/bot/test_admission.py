"""The admission gate alone: FIFO order, bounded line, cancel and deadline, exclusive holders."""

from __future__ import annotations

import threading
import time

import pytest

from bot.admission import AdmissionGate, Cancelled
from bot.generator_protocol import GeneratorBusy


def _wait_until(condition, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_waiters_are_admitted_in_arrival_order() -> None:
    gate = AdmissionGate(max_concurrent=1, max_waiting=5)
    order: list[int] = []

    def call(number: int) -> None:
        with gate.admit():
            order.append(number)

    with gate.admit():
        threads = []
        for number in range(4):
            thread = threading.Thread(target=call, args=(number,))
            thread.start()
            threads.append(thread)
            _wait_until(lambda n=number: gate.waiting == n + 1)
    for thread in threads:
        thread.join(5)

    assert order == [0, 1, 2, 3]


def test_full_line_and_deadline_raise_busy_and_cancel_leaves() -> None:
    gate = AdmissionGate(max_concurrent=1, max_waiting=0)
    with gate.admit(), pytest.raises(GeneratorBusy), gate.admit():
        pass

    gate = AdmissionGate(max_concurrent=1, max_waiting=1)
    with gate.admit():
        with pytest.raises(GeneratorBusy), gate.admit(deadline=time.monotonic() + 0.05):
            pass
        cancel = threading.Event()
        cancel.set()
        with pytest.raises(Cancelled), gate.admit(cancel=cancel):
            pass
        assert gate.waiting == 0
    assert gate.running == 0


def test_exclusive_waits_for_running_calls_and_holds_new_ones() -> None:
    gate = AdmissionGate(max_concurrent=2, max_waiting=2)
    events: list[str] = []
    release = threading.Event()

    def running_call() -> None:
        with gate.admit():
            release.wait(5)
            events.append("call done")

    def switch() -> None:
        with gate.exclusive():
            events.append("switched")

    caller = threading.Thread(target=running_call)
    caller.start()
    _wait_until(lambda: gate.running == 1)
    switcher = threading.Thread(target=switch)
    switcher.start()
    time.sleep(0.1)
    def late_call() -> None:
        with gate.admit():
            events.append("late call")

    latecomer = threading.Thread(target=late_call)
    latecomer.start()
    _wait_until(lambda: gate.waiting == 1)

    release.set()
    for thread in (caller, switcher, latecomer):
        thread.join(5)
    assert events == ["call done", "switched", "late call"]
