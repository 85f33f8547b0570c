"""Run `python -m training …` (or another module) in a child process and measure what it cost (orch).

Both training benches need the same figures from a child: its CPU seconds (user + system, what the
run costs whatever else shares the cores), its peak RSS and its wall time, plus the JSON object the
training CLI prints last on stdout (its log lines go to stderr).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildRun:
    """A finished child: exit status, its last printed JSON object (None if none), stderr and figures.

    `peak_rss_mib` is `ru_maxrss` of RUSAGE_CHILDREN: the largest of every child this process has
    waited for, so callers measuring several run the smaller ones first.
    """

    returncode: int
    output: dict[str, Any] | None
    stderr: str
    wall_s: float
    cpu_seconds: float
    peak_rss_mib: int


def last_json_object(output: str) -> dict[str, Any] | None:
    """The (indented) JSON object printed last in `output`; None when there is none."""
    start = output.rfind("\n{")
    start = start + 1 if start >= 0 else (0 if output.startswith("{") else -1)
    return json.loads(output[start:]) if start >= 0 else None  # type: ignore[no-any-return]


def run_training_cli(arguments: Sequence[str], environment: Mapping[str, str]) -> ChildRun:
    """`python -m training <arguments>` with `environment`, waited for and measured."""
    return run_module_child("training", arguments, environment)


def run_module_child(module: str, arguments: Sequence[str], environment: Mapping[str, str]) -> ChildRun:
    """`python -m <module> <arguments>` with `environment`, waited for and measured."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    child = subprocess.run([sys.executable, "-m", module, *arguments], env=dict(environment),
                           capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ChildRun(returncode=child.returncode, output=last_json_object(child.stdout), stderr=child.stderr,
                    wall_s=wall, cpu_seconds=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
                    peak_rss_mib=round(after.ru_maxrss / 1024))
