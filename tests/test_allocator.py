"""glibc allocator tuning (libp2p.allocator). Each case runs in a fresh interpreter: the tuning is
process-wide, and glibc's own thresholds move with a process's history.

The frames that made receiving slow are 64 KiB, but whether their churn shrinks the heap depends on
its layout at that moment (see the module's docstring and benchmarks/RESULTS.md). So this checks the
mechanism deterministically instead: blocks of 40 MiB, above anything glibc's own adjustment reaches
(32 MiB), are mapped and unmapped on every cycle (a page fault per page) unless the tuning is in
effect, with a threshold above them, and keeps them in the heap.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="the tuning is for glibc only"
)

BLOCK = 40 << 20
PAGES = BLOCK // 4096
CYCLES = 10

CHURN = f"""
import resource, sys
tuned = None
if sys.argv[1] == "tune":
    from libp2p.allocator import tune_allocator
    tuned = tune_allocator(mmap_threshold=64 << 20)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range({CYCLES}):
    block = b"x" * {BLOCK}  # written: every page is touched
    del block
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(tuned, faults)
"""


def _churn(mode: str, env: dict[str, str] | None = None) -> tuple[str, int]:
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    run_env.update(env or {})
    out = subprocess.run([sys.executable, "-c", CHURN, mode], capture_output=True, text=True, timeout=60,
                         env=run_env, check=True).stdout.split()
    return out[0], int(out[1])


def test_tuning_keeps_freed_blocks_in_the_heap() -> None:
    result, untuned = _churn("plain")
    assert result == "None"
    assert untuned >= CYCLES * PAGES // 2, "without tuning every cycle maps fresh pages"
    result, tuned = _churn("tune")
    assert result == "True"
    assert tuned <= 2 * PAGES, "tuned: only the first cycle grows the heap"


def test_environment_tuning_wins() -> None:
    result, faults = _churn("tune", {"MALLOC_TRIM_THRESHOLD_": "131072"})
    assert result == "False"
    assert faults >= CYCLES * PAGES // 2
