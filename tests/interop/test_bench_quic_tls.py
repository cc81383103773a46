"""``benchmarks/compare.py --suite quic_tls --smoke``: the QUIC / TCP + TLS side-by-side suite, tiny.

Runs ours (Cython), go, rust and py-libp2p, every X ↔ X pair and ours ↔ go / rust both ways, over
TCP + TLS + yamux and QUIC v1, with 1 MiB transfers, a few pings and one new-process connection, and
checks that every pair measured every metric. No numbers are judged (timing belongs to the
benchmark itself); what the suite lists as not measurable for a peer (its ``GAPS``) must be absent. Skipped when a peer toolchain is missing (failed under ``CI=true``); the suite
stops every process it starts through its own handle.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.interop.go_peer import require_go_peer
from tests.interop.pylibp2p_peer import require_pylibp2p_peer
from tests.interop.rust_peer import require_rust_peer

REPO = Path(__file__).resolve().parents[2]
IMPLS = ["ours-cython", "go", "rust", "py-libp2p"]
METRICS = {"upload_mb_s": "throughput", "download_mb_s": "throughput", "fresh_conn_rtt_ms": "fresh",
           "ping_ms": "latency"}


@pytest.mark.twin_pinned  # ours-cython drops LIBP2P_NO_EXTENSIONS: the pure pass would repeat it
def test_quic_tls_suite_smoke(tmp_path: Path) -> None:
    require_go_peer()
    require_rust_peer()
    require_pylibp2p_peer()
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "compare.py"), "--suite", "quic_tls", "--smoke",
         "--only", ",".join(IMPLS), "--pings", "3", "--out-dir", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=1500, stdin=subprocess.DEVNULL, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    [path] = tmp_path.glob("quic_tls-*-smoke.json")
    out = json.loads(path.read_text())
    assert out["skipped"] == {}
    assert set(out["configs"]) == {"tcp-tls", "quic-v1"}
    for name, part in out["configs"].items():
        pairs = {(p["client"], p["server"]): p for p in part["pairs"]}
        expected = {(x, x) for x in IMPLS} | {(a, b) for x in ("go", "rust")
                                             for a, b in (("ours-cython", x), (x, "ours-cython"))}
        assert set(pairs) == expected, name
        for key, pair in pairs.items():
            assert pair["errors"] == [], (name, key, pair["errors"])
            skipped = set(pair["not_measured"])  # the suite's GAPS: what a peer cannot do
            for metric, step in METRICS.items():
                stats = pair["summary"].get(metric)
                if step in skipped:
                    assert stats is None, (name, key, metric)
                else:
                    assert stats is not None and stats["median"] > 0, (name, key, metric)
    # the markdown names both configurations and the QUIC-over-TLS comparison
    assert "**tcp-tls**" in proc.stdout and "**quic-v1**" in proc.stdout
    assert "| X ↔ X: quic-v1 / tcp-tls |" in proc.stdout
