"""Smoke test of ``benchmarks/compare.py --suite ws``: ours over /ws and over TCP in one run, tiny sizes.

Only ours (no foreign toolchain needed); the suite's real run adds go and js the same way."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.twin_pinned  # ours-cython drops LIBP2P_NO_EXTENSIONS: the pure pass would repeat it
def test_ws_suite_smoke_measures_ours_over_ws_and_tcp(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "compare.py"), "--suite", "ws", "--smoke", "--only", "ours-cython",
         "--pings", "3", "--dials", "2", "--fresh", "2", "--out-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL, check=False, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    [result] = tmp_path.glob("ws-*-smoke.json")
    assert (tmp_path / result.name.replace(".json", ".png")).read_bytes().startswith(b"\x89PNG")
    out = json.loads(result.read_text())
    assert [(p["client"], p["server"], p["transport"]) for p in out["pairs"]] == [
        ("ours-cython", "ours-cython", "tcp"), ("ours-cython", "ours-cython", "ws")]
    for pair in out["pairs"]:
        assert pair["errors"] == []
        s = pair["summary"]
        for key in ("upload_mb_s", "download_mb_s", "fresh_conn_rtt_ms", "warm_conn_rtt_ms", "ping_ms"):
            assert s[key]["median"] > 0, (pair["transport"], key)
        assert len(pair["raw"]["fresh_seconds"]) == 2 and len(pair["raw"]["ping_rtts"]) == 3
    assert len(out["load_before"]) == 3 and len(out["load_after"]) == 3
    # the table puts the two transports side by side, with the ratio
    assert "| ours-cython |" in proc.stdout and "ws/tcp" in proc.stdout
