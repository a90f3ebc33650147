"""``memory.keep_freed_pages``: after it, the large blocks a training step frees come back to the next
step, so after a few steps the same work faults in no page at all and resident memory stops growing; with
glibc's defaults, blocks past its 32 MB mmap ceiling go back to the OS and every page faults in anew, every
step. Run in fresh processes: the setting is process-wide."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import subprocess
import sys

import pytest

glibc = hasattr(ctypes.CDLL(ctypes.util.find_library("c")), "gnu_get_libc_version")

PROBE = """
import json, resource, sys, torch
from tna_deploy.memory import keep_freed_pages
took = keep_freed_pages() if sys.argv[1] == "keep" else None
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def resident_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 >> 20
rounds = []
for _ in range(24):  # a training step's pattern: the same large activations made and freed each step
    before = faults()
    live = [torch.empty(mb << 20, dtype=torch.uint8).fill_(1) for mb in (40, 48, 64)]
    del live
    rounds.append((faults() - before, resident_mb()))
print(json.dumps([took, rounds]))
"""
PAGES = (40 + 48 + 64) * 256  # 4 kB pages touched in one round


def _run(mode: str) -> tuple:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=120, check=True
    )
    took, rounds = json.loads(out.stdout.strip().splitlines()[-1])
    return took, [f for f, _ in rounds], [r for _, r in rounds]


@pytest.mark.skipif(not glibc, reason="glibc's mallopt only")
def test_freed_memory_is_reused_without_page_faults_once_settled():
    took, faults, _ = _run("default")
    assert took is None and min(faults[1:]) >= 0.95 * PAGES  # every round fresh from mmap
    took, faults, resident = _run("keep")
    assert took is True
    # measured: faults while small allocations split freed blocks, none after round 3-9 of 24
    assert sum(faults[-4:]) < 1000
    assert resident[-1] == resident[-4]  # settled: resident memory no longer grows
