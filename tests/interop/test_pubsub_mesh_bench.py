"""Smoke test of the side-by-side pubsub benchmark (``benchmarks/suites/pubsub_mesh.py``): tiny meshes
(4 nodes, a short ladder) of ours and of the go program, through ``compare.py --suite`` as a user runs
it. It checks the suite's plumbing (the bench commands, the counting, the JSON), not any speed."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.interop.go_peer import require_go_peer

REPO = Path(__file__).resolve().parents[2]
OURS = "ours-pure" if os.environ.get("LIBP2P_NO_EXTENSIONS") else "ours-cython"


def _run_suite(only: str, out_dir: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "compare.py"), "--suite", "pubsub_mesh", "--smoke",
         "--only", only, "--out-dir", str(out_dir)],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (path,) = out_dir.glob("pubsub_mesh-*-smoke.json")
    if importlib.util.find_spec("matplotlib") is not None:  # the [bench] extra draws the chart
        assert (out_dir / path.with_suffix(".png").name).exists()
    return json.loads(path.read_text())


def _check(result: dict) -> None:
    assert len(result["setup"]["mesh_sizes"]) == 4
    for size in ("1KiB", "64KiB"):
        latency = result["sizes"][size]["latency"]
        assert latency["delivery"] == 1.0  # every node got every message of the low-rate run
        assert latency["latency_samples"] == latency["count"] * 3
        assert 0 < latency["latency_ms_p50"] <= latency["latency_ms_p99"]
        ladder = result["sizes"][size]["ladder"]
        assert ladder["steps"] and all(s["count"] >= 10 for s in ladder["steps"])


def test_pubsub_mesh_suite_ours(tmp_path: Path) -> None:
    out = _run_suite(OURS, tmp_path)
    assert out["errors"] == {}
    _check(out["results"][OURS])
    assert "| " + OURS + " | 1KiB |" in out["markdown"]


def test_pubsub_mesh_suite_go(tmp_path: Path) -> None:
    require_go_peer()
    out = _run_suite("go", tmp_path)
    assert out["errors"] == {} and out["skipped"] == {}
    _check(out["results"]["go"])
    assert "go-libp2p-pubsub" in out["versions"]["go"]
