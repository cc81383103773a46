"""Smoke test of benchmarks/suites/relay.py (``compare.py --suite relay``): a tiny run with our relay
only (loopback, one DCUtR run of ours), checking that it measures through the relay and directly,
times relayed → direct, prints the table and writes its JSON. The numbers themselves are not judged."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_relay_suite_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (the suite runs the hole-punch contract with redis)")
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import compare

        code = compare.run_suite("relay", ["--relays", "ours", "--mib", "1", "--repeats", "1", "--pings", "3",
                                           "--runs", "1", "--where", "loopback", "--out", str(tmp_path)])
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    assert code == 0
    table = capsys.readouterr().out
    assert "| through ours's relay |" in table and "| direct (no relay) |" in table
    (written,) = tmp_path.glob("relay-*.json")
    result = json.loads(written.read_text())
    through = result["through"]["ours"]
    assert "/p2p-circuit" in through["path"]
    assert len(through["ping_ms"]) == 3 and through["throughput_MBps"][0] > 0
    assert "/p2p-circuit" not in result["through"]["direct"]["path"]
    dcutr = result["dcutr"]
    assert dcutr["where"] == "loopback"
    (run,) = dcutr["configs"]["ours-ours-ours"]["runs"]
    assert run["relayed_to_direct_millis"] > 0 and "/p2p-circuit" not in run["direct_addr"]
    assert result["load_before"] and result["load_after"]
