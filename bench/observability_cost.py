"""What the operability layer costs per answer: a log line as JSON or text, the metrics an answer updates,
and one /metrics exposition, each against its same-run baseline.

* log lines (µs per record, written to an in-memory stream): the former `basicConfig` text format
  (baseline), the text format with the bound ids appended, and the JSON line (python-json-logger),
  both with an event and an answer id bound;
* metrics (µs per answer): counting the outcome and observing the two latency histograms, against an
  empty function call (baseline);
* exposition (ms per scrape): `generate_latest` of the process's registry, the part of `/metrics` that
  does not touch the database.

An answer logs a handful of lines and takes seconds (README, "Answer latency"), so these figures say
whether the layer is noise. Run from the repository root: `python -m bench.observability_cost
[--records 20000] [--out PATH]`. Writes bench/results/observability_cost.json and its table, rendered by
bench/readme_tables.py (the README block's renderer), to observability_cost.md.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import REGISTRY, generate_latest

from bench.readme_tables import write_result
from bot.metrics import AnswerTimer, count_outcome
from store.log_context import bound_ids
from store.log_format import TEXT_FORMAT, configure_logging

RESULTS = Path("bench/results/observability_cost.json")


def _per_call_us(fn: Callable[[], object], calls: int, repeats: int = 5) -> float:
    """Median over `repeats` of the mean µs per call of `fn`."""
    means = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        means.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(means)


def _log_cost(kind: str, records: int) -> float:
    stream = io.StringIO()
    root = logging.getLogger()
    if kind == "basicConfig text (baseline)":
        for handler in list(root.handlers):
            root.removeHandler(handler)
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    else:
        configure_logging("json" if kind.startswith("JSON") else "text", "INFO", stream=stream)
    log = logging.getLogger("bench.observability")
    with bound_ids(event_id="Ev0123456789", answer_id=4242):
        cost = _per_call_us(lambda: log.info("answered %s/%s: %s in %.1f s with %s", "C0123", "1700000000.000100",
                                             "answered", 2.345, "kb-v4", extra={"outcome": "answered"}), records)
    stream.truncate(0)
    return cost


def _answer_metrics() -> None:
    timer = AnswerTimer()
    timer.showing(lambda _delta: None)("evidence")
    count_outcome("answered")
    timer.finished()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20000, help="log records (and metric updates) per repeat")
    parser.add_argument("--out", type=Path, default=RESULTS, help="result file [default: %(default)s]")
    args = parser.parse_args(argv)
    logs = {kind: _log_cost(kind, args.records)
            for kind in ("basicConfig text (baseline)", "text with ids", "JSON with ids")}
    metrics = {"empty call (baseline)": _per_call_us(lambda: None, args.records),
               "outcome + two histograms": _per_call_us(_answer_metrics, args.records)}
    exposition_ms = _per_call_us(lambda: generate_latest(REGISTRY), 200) / 1000
    result = {"records": args.records, "python": platform.python_version(), "machine": platform.machine(),
              "cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2),
              "log_us_per_record": {k: round(v, 2) for k, v in logs.items()},
              "metrics_us_per_answer": {k: round(v, 2) for k, v in metrics.items()},
              "exposition_ms_per_scrape": round(exposition_ms, 3)}
    path = write_result("observability_cost", result, args.out)
    print(path.with_suffix(".md").read_text(), end="")


if __name__ == "__main__":
    main()
