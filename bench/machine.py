"""The machine a benchmark ran on, for its result file: cores, Python, load average at the start and the end.

Latency figures mean little without the load they were measured under (the project's 2 cores are
often shared with another benchmark), so a bench records the 1-minute load average when it starts
and when it ends; bench/readme_tables.py prints both beside the figures.
"""

from __future__ import annotations

import os
import platform
from typing import Any


def _load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def machine_at_start() -> dict[str, Any]:
    """Cores, Python version and the 1/5/15-minute load averages now (call it before measuring)."""
    return {"cores": os.cpu_count(), "python": platform.python_version(), "load_average_at_start": _load_average()}


def machine_at_end(machine: dict[str, Any]) -> dict[str, Any]:
    """`machine` (from machine_at_start) with the load averages now added (call it after measuring)."""
    return {**machine, "load_average_at_end": _load_average()}
