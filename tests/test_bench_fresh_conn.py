"""Smoke run of benchmarks/suites/fresh_conn.py (issue #16, item 6): new-process perf-contract clients
of ours and go, interleaved; every run succeeds and the table has its rows. Numbers are not checked."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.interop.go_peer import require_go_peer

# the suites pin each endpoint's twin (compare.bs._py_env): the LIBP2P_NO_EXTENSIONS pass would repeat them
pytestmark = pytest.mark.twin_pinned

REPO = Path(__file__).resolve().parents[1]
COMPARE = REPO / "benchmarks" / "compare.py"
NUMBER = re.compile(r"^\d+(\.\d+)?$")


def test_fresh_conn_suite() -> None:
    require_go_peer()  # the suite runs go beside ours (skips here without go; fails under CI=true)
    proc = subprocess.run([sys.executable, str(COMPARE), "--suite", "fresh_conn", "--smoke", "--no-write"],
                          capture_output=True, text=True, timeout=600, cwd=REPO, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = {}
    for line in proc.stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] in ("ours-cython", "go"):
            rows[cells[0]] = cells[1:]
    assert set(rows) == {"ours-cython", "go"}, proc.stdout
    for name, cells in rows.items():
        assert NUMBER.match(cells[0]) and NUMBER.match(cells[3]), (name, cells)  # median ms, process CPU ms
    assert rows["ours-cython"][4].endswith("×")
