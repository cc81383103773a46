#!/usr/bin/env python3
"""Interleaved A/B of the warm-stream ping and 1-byte echo round trips (issue #16, item 3).

    _ab_latency.py --a PYTHON --b PYTHON [--rounds 5] [--count 2000] [--loop uvloop|asyncio]

Each interpreter is a checkout's venv (its ``libp2p`` is the one measured): per round, A then B
(then B then A, alternating), each its own ``libp2p perf --run-server`` and ``_peer.py bench``
client, both sides of a pair on the same build. Prints per round and the medians over rounds:
ping / echo RTT medians, client CPU µs per ping / echo (``process_time`` around the loop) and the
server's CPU µs per round trip (from /proc). CPU per operation moves much less than RTTs with the
machine's load (other processes share the cores), which is why it is the figure to decide by.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PERF_PEER_ID = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def one(python: str, count: int, loop: str) -> dict[str, Any]:
    port = _port()
    server = subprocess.Popen([python, "-m", "libp2p", "perf", "--loop", loop, "--run-server",
                               "--server-address", f"127.0.0.1:{port}"], stdout=subprocess.PIPE,
                              stdin=subprocess.DEVNULL)
    try:
        assert server.stdout is not None
        server.stdout.readline()
        s0 = _cpu(server.pid)
        run = subprocess.run([python, str(HERE / "_peer.py"), "bench", "--loop", loop, "--to",
                              f"/ip4/127.0.0.1/tcp/{port}/p2p/{PERF_PEER_ID}", "--pings", str(count),
                              "--echo-rtts", str(count)], capture_output=True, text=True, timeout=300, check=True)
        s1 = _cpu(server.pid)
    finally:
        server.terminate()
        server.wait(10)
    res = json.loads(run.stdout[run.stdout.rfind('{"implementation"'):])
    n = count + 10
    return {
        "ping_ms": statistics.median(res["ping_rtts"]) * 1e3,
        "echo_ms": statistics.median(res["echo_rtts"]) * 1e3,
        "ping_cpu_us": res["ping_cpu_seconds"] / n * 1e6,
        "echo_cpu_us": res["echo_cpu_seconds"] / n * 1e6,
        # the server's CPU over the whole client run (connection set-up included), per round trip
        "server_cpu_us": (s1 - s0) / (2 * n) * 1e6,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--a", required=True, help="interpreter of checkout A")
    ap.add_argument("--b", required=True, help="interpreter of checkout B")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = ap.parse_args()
    rows: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
    load_before = os.getloadavg()
    for r in range(args.rounds):
        order = [("A", args.a), ("B", args.b)]
        for name, py in order if r % 2 == 0 else order[::-1]:
            res = one(py, args.count, args.loop)
            rows[name].append(res)
            print(f"round {r} {name}: " + " ".join(f"{k}={v:.3f}" for k, v in res.items()), flush=True)
    keys = list(rows["A"][0])
    summary = {name: {k: statistics.median(x[k] for x in rs) for k in keys} for name, rs in rows.items()}
    print(json.dumps({"a": args.a, "b": args.b, "loop": args.loop, "count": args.count, "rounds": args.rounds,
                      "load_before": load_before, "load_after": os.getloadavg(), "median_over_rounds": summary,
                      "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
