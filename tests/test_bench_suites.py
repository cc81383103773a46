"""Smoke runs of the side-by-side suites benchmarks/suites/latency.py and streams.py (issue #16,
items 3 and 5) at tiny sizes: they run, every measurement succeeds, and the table has its rows.
Numbers are not checked: timing belongs in the benchmarks."""

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


def _suite(*args: str) -> str:
    proc = subprocess.run([sys.executable, str(COMPARE), "--suite", *args, "--smoke", "--no-write"],
                          capture_output=True, text=True, timeout=600, cwd=REPO, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout


def _row(table: str, name: str) -> list[str]:
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == name:
            assert "errors" not in line, line
            return cells[1:]
    raise AssertionError(f"no row {name!r} in:\n{table}")


NUMBER = re.compile(r"^[\d,]+(\.\d+)?")


def test_latency_suite() -> None:
    table = _suite("latency", "--only", "ours-cython/asyncio,ours-pure/asyncio")
    for name in ("ours-cython/asyncio", "ours-pure/asyncio"):
        ping, echo = _row(table, name)[:2]
        assert NUMBER.match(ping) and NUMBER.match(echo)
    for name in ("raw TCP echo/asyncio", "raw TCP echo/uvloop"):
        assert NUMBER.match(_row(table, name)[1])


@pytest.mark.parametrize("endpoint", ["ours-cython/asyncio/unlimited", "ours-pure/uvloop/unlimited"])
def test_streams_suite(endpoint: str) -> None:
    table = _suite("streams", "--only", endpoint)
    cells = _row(table, endpoint)
    assert len(cells) == 6 and all(NUMBER.match(c) for c in cells), cells


def test_suites_with_go() -> None:
    require_go_peer()
    table = _suite("latency", "--only", "go", "--no-floor")
    assert all(NUMBER.match(c) for c in _row(table, "go")[:2])
    table = _suite("streams", "--only", "go")
    assert all(NUMBER.match(c) for c in _row(table, "go"))
