"""The admission gate's running/waiting gauges and busy counter, as /metrics would read them."""

from __future__ import annotations

import threading

import pytest
from prometheus_client import REGISTRY

from bot.admission import AdmissionGate
from bot.generator_protocol import GeneratorBusy


def _metric(name: str) -> float:
    value = REGISTRY.get_sample_value(name)
    assert value is not None, f"{name} is not registered"
    return value


def test_gauges_follow_the_gate_and_a_full_line_counts_as_busy() -> None:
    gate = AdmissionGate(max_concurrent=1, max_waiting=1)
    busy_before = _metric("kb_admission_busy_total")
    holding, waiting_started, release = threading.Event(), threading.Event(), threading.Event()

    def hold() -> None:
        with gate.admit():
            holding.set()
            release.wait(10)

    def wait_in_line() -> None:
        waiting_started.set()
        with gate.admit():
            pass

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    waiter = threading.Thread(target=wait_in_line)
    waiter.start()
    assert waiting_started.wait(10)
    for _ in range(200):
        if gate.waiting == 1:
            break
        threading.Event().wait(0.01)
    assert (_metric("kb_admission_running"), _metric("kb_admission_waiting")) == (1, 1)
    with pytest.raises(GeneratorBusy), gate.admit():
        pass
    assert _metric("kb_admission_busy_total") == busy_before + 1
    release.set()
    holder.join(10)
    waiter.join(10)
    assert (_metric("kb_admission_running"), _metric("kb_admission_waiting")) == (0, 0)
