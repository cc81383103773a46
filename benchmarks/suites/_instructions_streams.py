#!/usr/bin/env python3
"""Instructions per stream open + 1 B echo + close (issue #16 item 5), counted by valgrind.

    _instructions_streams.py [--repo PATH] [--python EXE] [--counts 200,1200] [--workers W]

Runs ``benchmarks/suites/_profile_streams.py --no-profile`` of ``--repo`` (default: this
checkout; give another checkout and its interpreter for an A/B) under ``valgrind --tool=cachegrind
--cache-sim=no`` for two stream counts and prints the difference of the instruction counts divided
by the difference of the counts: what one more stream costs both sides, start-up and warm-up
excluded. Unlike a rate or a CPU time this does not move with the machine's load (other agents
share it), so it decides small changes; it counts instructions, not cycles (cache misses, the
kernel's socket work and the two processes' parallelism of a real run are not in it).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def instructions(python: str, script: Path, count: int, workers: int) -> int:
    run = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         python, str(script), "--no-profile", "--count", str(count), "--workers", str(workers)],
        capture_output=True, text=True, timeout=1800, check=True,
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", run.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output: {run.stderr[-300:]}")
    return int(found.group(1).replace(",", ""))


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", type=Path, default=REPO, help="checkout whose libp2p is measured")
    ap.add_argument("--python", default=sys.executable, help="its interpreter (with its Cython build)")
    ap.add_argument("--counts", default="200,1200", help="the two stream counts")
    ap.add_argument("--workers", type=int, default=1, help="streams at a time")
    cfg = ap.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed", file=sys.stderr)
        return 2
    low, high = (int(x) for x in cfg.counts.split(","))
    script = cfg.repo / "benchmarks" / "suites" / "_profile_streams.py"
    a = instructions(cfg.python, script, low, cfg.workers)
    b = instructions(cfg.python, script, high, cfg.workers)
    print(f"{(b - a) / (high - low):,.0f} instructions per stream (open + 1 B echo + close, both sides, "
          f"{cfg.workers} at a time; {cfg.repo})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
