"""libp2p/test-plans gossipsub-interop scenarios on loopback: ours-only, go-only and 50/50
compositions side by side (reliability, latency from publish p50/p99, duplicates per delivery,
and the harness' own spread and duplicates-per-node figures).

    .venv/bin/python benchmarks/compare.py --suite gossipsub_interop [--nodes 24] [--setup 30]
        [--scenario subnet-blob-msg --scenario simple-fanout] [--repeat 2]

The nodes are real processes (``interop/gossipsub_interop``: our node, go-libp2p-pubsub v0.19.0
through ``peer gossipsub-interop``), driven by ``interop.gossipsub_interop.runner``. Writes
``benchmarks/results/gossipsub_interop-<UTC>.json`` (summaries only, no logs).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import compare

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from interop.gossipsub_interop.runner import build_go_peer, format_table, run_composition  # noqa: E402
from interop.gossipsub_interop.scenarios import SCENARIOS, scenario  # noqa: E402


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="compare.py --suite gossipsub_interop", description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    ap.add_argument("--nodes", type=int, default=24)
    ap.add_argument("--composition", action="append", help="ours | go | ours,go (default: all three)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per composition (seeds 1..N)")
    ap.add_argument("--connections", type=int, default=20)
    ap.add_argument("--setup", type=int, default=20, help="s before the first publish (harness: 120)")
    ap.add_argument("--startup", type=float, default=30.0, help="s for the processes to start before the script")
    ap.add_argument("--interval", type=int, default=1, help="s between publishes (harness: 12)")
    ap.add_argument("--messages", type=int, default=16)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = ap.parse_args(argv)
    scenarios = args.scenario or ["subnet-blob-msg", "simple-fanout"]
    compositions = [c.split(",") for c in (args.composition or ["ours", "go", "ours,go"])]
    go_peer = build_go_peer()
    from libp2p._accel import IMPLEMENTATION

    out: dict[str, Any] = {
        "suite": "gossipsub_interop", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": compare.machine(), "versions": {**compare.ours_versions(), "ours_build": IMPLEMENTATION,
                                                   "go-libp2p-pubsub": "v0.19.0", "go-libp2p": "v0.52.0"},
        "options": vars(args) | {"out": None}, "load_before": _load(), "runs": [],
    }
    tables = []
    with tempfile.TemporaryDirectory(prefix="gossipsub-interop-") as tmp:
        for name in scenarios:
            for seed in range(1, args.repeat + 1):
                params = scenario(name, args.nodes, seed=seed, connections=args.connections, setup_s=args.setup,
                                  interval_s=args.interval, num_messages=args.messages)
                results = []
                for comp in compositions:
                    label = "+".join(comp)
                    compare.progress(f"{name} seed {seed}: {args.nodes} nodes, {label}")
                    load = _load()
                    result = run_composition(params, comp, args.nodes, Path(tmp) / f"{name}-{seed}-{label}",
                                             seed=seed, go_peer=go_peer, startup=args.startup)
                    results.append(result)
                    out["runs"].append({"scenario": name, "seed": seed, "load_before": load, "load_after": _load(),
                                        **result.as_dict()})
                tables.append(f"{name}, seed {seed}, {args.nodes} nodes\n\n{format_table(results)}")
    out["load_after"] = _load()
    text = "\n\n".join(tables)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"gossipsub_interop-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"\nwrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    return 0 if all(run["error"] is None for run in out["runs"]) else 1
