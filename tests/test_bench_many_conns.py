"""The many-connections suite (benchmarks/suites/many_conns.py) end to end at a tiny size: 50
connections from two client processes to `libp2p serve` (and to go's peer when it is built), held
idle and then with 10 % of them echoing 1 KiB a second, measured by a probe client."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.interop.go_peer import require_go_peer

# the suites pin each endpoint's twin (compare.bs._py_env): the LIBP2P_NO_EXTENSIONS pass would repeat them
pytestmark = pytest.mark.twin_pinned

REPO = Path(__file__).resolve().parent.parent
CONNS = 50


def _run_suite(listener: str, out_dir: Path, *extra: str) -> dict[str, object]:
    argv = [sys.executable, str(REPO / "benchmarks" / "compare.py"), "--suite", "many_conns",
            "--conns", str(CONNS), "--workers", "2", "--settle", "1.5", "--hold", "0.5", "--pings", "5",
            "--ping-interval", "0.01", "--timeout", "60", "--only", listener, "--out-dir", str(out_dir), *extra]
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    [result] = out_dir.glob("many_conns-*.json")
    assert result.with_suffix(".png").exists() or "matplotlib" not in sys.modules
    assert f"| {listener} | {CONNS} |" in proc.stdout  # the markdown table's row
    data = json.loads(result.read_text())
    [run] = data["runs"]
    assert isinstance(run, dict)
    return run


def _check(run: dict[str, object]) -> None:
    est = run["establish"]
    assert isinstance(est, dict)
    assert est["ok"] == CONNS and est["failed"] == 0
    assert run["active_streams"] == CONNS // 10
    for phase in ("idle", "active"):
        held = run[phase]
        assert isinstance(held, dict)
        assert held["open"] == CONNS, held  # nothing dropped while held
        assert held["probe"]["pings"] == 5 and held["probe"]["p50_ms"] > 0
        assert held["rss_kib"] > 0
    active = run["active"]
    assert isinstance(active, dict)
    assert active["echoes"] > 0 and active["echo_errors"] == 0
    assert 0 < active["echo_ms_p50"] <= active["echo_ms_p99"] <= active["echo_ms_p999"] <= active["echo_ms_max"]
    assert run["server_alive"] is True


def test_many_conns_suite_ours(tmp_path: Path) -> None:
    _check(_run_suite("ours", tmp_path))


def test_many_conns_suite_go(tmp_path: Path) -> None:
    require_go_peer()
    _check(_run_suite("go", tmp_path))


def test_many_conns_suite_base_listener_runs_another_checkouts_serve(tmp_path: Path) -> None:
    # this checkout as its own "base": the A/B path (--base-repo main) runs its venv's serve there
    if not (REPO / ".venv" / "bin" / "python").exists():
        pytest.skip("no .venv in this checkout")
    run = _run_suite("base", tmp_path, "--base-repo", str(REPO))
    _check(run)
    argv = run["argv"]
    assert isinstance(argv, list) and argv[0] == "python"
