"""Relayed vs hole-punched RTT in the network-namespace NAT testbed (tests/netns/testbed.py) with the
links delayed as libp2p/test-plans' hole-punch harness sets them (100 ms of round trip per router, 25 ms
on the relay's egress: 250 ms relayed, 200 ms direct at the least). Per run, a fresh testbed: our relay
(``libp2p serve --relay-service``), peer A behind NAT A reserving on it with hole punching on, then from
behind NAT B ``libp2p ping`` over A's ``/p2p-circuit`` address (the relayed RTT; that CLI does not
hole-punch) and the hole-punch dialer of tests/netns (DCUtR, then ping over the direct connection: the
contract's ``rtt_to_holepunched_peer_millis``, and the time from relayed to direct connection).
Then, per ``--contract`` configuration (relay-listener-dialer of ours, go, rust), the same ``--runs``
through test-plans' hole-punch contract (tests/netns/test_holepunch_interop.py): the dialer's direct RTT
and its time from relayed to direct connection.

    .venv/bin/python benchmarks/compare.py --suite netns_rtt [--runs 5] [--pings 5] [--contract ours-ours-rust,...]

Needs root, ip, nft and /dev/net/tun (the testbed's own check). Writes
``benchmarks/results/netns_rtt-<UTC>.json`` (or ``--out DIR``) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import compare  # noqa: E402  (compare.py --suite puts benchmarks/ on sys.path)
from tests.netns import testbed  # noqa: E402

START_TIMEOUT = 60.0
DIAL_TIMEOUT = 120.0


def one_run(workdir: Path, pings: int) -> dict[str, Any]:
    with testbed.Testbed(workdir) as bed:
        relay = bed.spawn("relay", ["serve", "--listen", f"/ip4/{testbed.RELAY_IP}/tcp/4001", "--relay-service"])
        relay_addr = next(a for a in relay.json_line(START_TIMEOUT)["multiaddrs"] if testbed.RELAY_IP in a)
        a = bed.spawn("peer-a", ["serve", "--listen", f"/ip4/{testbed.PEER_A_IP}/tcp/4001", "--relay", relay_addr,
                                 "--hole-punch"])
        (relayed,) = a.json_line(START_TIMEOUT)["relayed_addrs"]
        ping = bed.run("peer-b", ["ping", "--json", "-c", str(pings), "-i", "0", relayed], timeout=DIAL_TIMEOUT)
        if ping.returncode != 0:
            raise RuntimeError(f"relayed ping failed: {ping.stderr[-600:]}")
        relayed_rtts = json.loads(ping.stdout)["rtt_ms"]
        b = bed.spawn("peer-b", [f"/ip4/{testbed.PEER_B_IP}/tcp/4001", relay_addr, relayed],
                      name="hole-punch", module="tests.netns.holepunch_peer")
        punched = b.json_line(DIAL_TIMEOUT)
        return {"relayed_rtt_ms": relayed_rtts, "direct_rtt_ms": punched["rtt_to_holepunched_peer_millis"],
                "relayed_to_direct_ms": punched["relayed_to_direct_millis"], "direct_addr": punched["direct_addr"],
                "least_relayed_rtt_ms": bed.relayed_rtt_ms, "least_direct_rtt_ms": bed.direct_rtt_ms}


def one_contract_run(workdir: Path, config: str) -> dict[str, Any]:
    from tests.netns.test_holepunch_interop import PROGRAMS, hole_punch

    relay, listener, dialer = config.split("-")
    for impl in {relay, listener, dialer}:
        PROGRAMS[impl]()  # build (or fail) before the namespaces exist
    with testbed.Testbed(workdir) as bed:
        result = hole_punch(bed, relay, listener, dialer)
    return {"direct_rtt_ms": result["rtt_to_holepunched_peer_millis"],
            "relayed_to_direct_ms": result.get("relayed_to_direct_millis"), "direct_addr": result.get("direct_addr")}


def _med(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def markdown(result: dict[str, Any]) -> str:
    runs = result["runs"]
    if not runs:
        return "\n".join(["| contract: relay / listener / dialer | runs ok | direct RTT median (ms) | "
                          "relayed → direct median (ms) | min–max (ms) |", "|---|---:|---:|---:|---:|",
                          *(_contract_row(key, c) for key, c in result["contract"].items())])
    relayed = [min(r["relayed_rtt_ms"]) for r in runs]
    direct = [r["direct_rtt_ms"] for r in runs]
    ups = [r["relayed_to_direct_ms"] for r in runs]
    least = runs[0] if runs else {"least_relayed_rtt_ms": None, "least_direct_rtt_ms": None}
    return "\n".join([
        f"runs ok: {len(runs)}/{len(runs) + len(result['errors'])}", "",
        "| path | RTT median (ms) | min–max (ms) | set by the link delays (ms) |", "|---|---:|---:|---:|",
        f"| relayed (B → relay → A), min of {result['settings']['pings']} pings per run | {_med(relayed)} | "
        + (f"{min(relayed):.1f}–{max(relayed):.1f}" if relayed else "") + f" | {least['least_relayed_rtt_ms']} |",
        "| hole-punched (B → A direct), `rtt_to_holepunched_peer_millis` | "
        f"{_med(direct)} | " + (f"{min(direct):.1f}–{max(direct):.1f}" if direct else "")
        + f" | {least['least_direct_rtt_ms']} |",
        "", f"relayed → direct connection (DCUtR) median: {_med(ups)} ms", "",
        "| contract: relay / listener / dialer | runs ok | direct RTT median (ms) | relayed → direct median (ms) | "
        "min–max (ms) |", "|---|---:|---:|---:|---:|",
        *(_contract_row(key, c) for key, c in result["contract"].items()),
    ])


def _contract_row(key: str, c: dict[str, Any]) -> str:
    rtts = [r["direct_rtt_ms"] for r in c["runs"]]
    ups = [r["relayed_to_direct_ms"] for r in c["runs"] if r["relayed_to_direct_ms"] is not None]
    span = f"{min(ups):.0f}–{max(ups):.0f}" if ups else ""
    return f"| {key.replace('-', ' / ')} | {len(rtts)}/{len(rtts) + len(c['errors'])} | {_med(rtts)} | {_med(ups)} | {span} |"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="compare.py --suite netns_rtt", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh testbeds (default 5)")
    parser.add_argument("--pings", type=int, default=5, help="relayed pings per run (default 5)")
    parser.add_argument("--contract", default="ours-ours-ours,ours-ours-rust,ours-ours-go",
                        help="relay-listener-dialer configurations through the hole-punch contract ('' for none)")
    parser.add_argument("--no-cli", action="store_true", help="skip the relayed-vs-direct CLI runs")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results", help="where the JSON goes")
    args = parser.parse_args(argv)
    reason = testbed.unavailable()
    if reason is not None:
        print(f"netns testbed unavailable: {reason}", file=sys.stderr)
        return 2
    started = datetime.now(UTC)
    load_before = list(os.getloadavg())
    runs: list[dict[str, Any]] = []
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="netns-rtt-") as tmp:
        for i in range(0 if args.no_cli else args.runs):
            print(f"[netns_rtt] run {i + 1}/{args.runs}", file=sys.stderr, flush=True)
            try:
                runs.append(one_run(Path(tmp), args.pings))
            except (AssertionError, RuntimeError, OSError, json.JSONDecodeError, StopIteration) as exc:
                errors.append(compare.portable(str(exc))[-600:])
        contract: dict[str, dict[str, Any]] = {}
        for config in [c for c in args.contract.split(",") if c]:
            entry: dict[str, Any] = contract.setdefault(config, {"runs": [], "errors": []})
            for i in range(args.runs):
                print(f"[netns_rtt] contract {config} run {i + 1}/{args.runs}", file=sys.stderr, flush=True)
                try:
                    entry["runs"].append(one_contract_run(Path(tmp), config))
                except BaseException as exc:  # noqa: BLE001 - a failed run, or a missing toolchain (pytest's skip)
                    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                        raise
                    entry["errors"].append(compare.portable(f"{type(exc).__name__}: {exc}")[-600:])
    result = {
        "suite": "netns_rtt", "started_utc": started.strftime("%Y-%m-%d %H:%M:%SZ"),
        "machine": {"cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
        "load_before": load_before, "load_after": list(os.getloadavg()),
        "settings": {"runs": args.runs, "pings": args.pings, "router_delay_ms": testbed.ROUTER_DELAY_MS,
                     "relay_delay_ms": testbed.RELAY_DELAY_MS},
        "runs": runs, "errors": errors, "contract": contract,
    }
    print(markdown(result))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"netns_rtt-{started.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"[netns_rtt] wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path.name}", file=sys.stderr)
    return 1 if errors or any(c["errors"] for c in contract.values()) else 0
