"""Training processes hand freed tensor memory back: after transient tensors are freed, RSS falls back.

Each case runs in a fresh interpreter (allocator state is per process): a 16 MiB tensor freed (which
raises glibc's dynamic mmap threshold), then 96 tensors of 8 MiB, all freed but the last one.
"""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import json, sys, torch
from training.heap import return_freed_memory
applied = return_freed_memory() if sys.argv[1] == "fixed" else None
def rss_mib():
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmRSS")).split()[1]) // 1024
del_me = torch.ones(4 * 1024 * 1024); del del_me
before = rss_mib()
blocks = [torch.ones(2 * 1024 * 1024) for _ in range(96)]
last = blocks[-1]
peak = rss_mib()
del blocks
print(json.dumps({"applied": applied, "before": before, "peak": peak, "after": rss_mib()}))
"""


def _run(mode: str) -> dict[str, int]:
    output = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def test_freed_tensors_go_back_to_the_system_with_the_fixed_threshold() -> None:
    default, fixed = _run("default"), _run("fixed")
    assert fixed["applied"] is True
    assert default["peak"] - default["before"] >= 700 and fixed["peak"] - fixed["before"] >= 700  # both allocated
    assert fixed["after"] - fixed["before"] < 100, fixed  # all but the kept 8 MiB went back
    assert default["after"] - default["before"] > 500, default  # glibc's default kept them: the test can fail
