"""Kademlia simulation: N of our DHT nodes in one process, lookups measured.

    python benchmarks/kad_sim.py [--nodes 1000] [--lookups 200] [--mode hosts|cores|both] [--twins]

``hosts``: N real hosts (Noise + yamux over the in-memory transport, identify and ping off, a
16 KiB receive buffer per connection instead of 256 KiB so thousands of connections fit in
memory), each running ``KadDHT`` in server mode. ``cores``: N sans-IO ``KadCore`` nodes answering
each other directly (no streams, no crypto): the cost of the lookup engine alone.

Routing tables start converged: each node offers every other node to its table (which keeps
the first k per bucket) and knows the addresses of its table's members. ``cores-joined`` builds
the tables instead by letting nodes join one at a time through a random earlier node (a
self-lookup and one lookup per bucket, as ``KadDHT.bootstrap``; servers learn requesters). Each lookup is a full
FIND_NODE for a random key from a random node. Recorded per lookup: hops (depth at which the
closest result was found; a seed is hop 1), messages (requests sent), whether the k results are
the true k closest, wall time and process CPU time (the whole network runs in this process, so
CPU per lookup includes the servers' work and, for hosts, connection setup). ``--twins`` runs the
script again with ``LIBP2P_NO_EXTENSIONS=1`` and reports both builds. JSON goes to
``benchmarks/results/kad-sim-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import heapq
import itertools
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _summary(rows: list[dict[str, float]], wall: float, cpu: float) -> dict[str, Any]:
    hops = [r["hops"] for r in rows]
    msgs = [r["messages"] for r in rows]
    return {
        "lookups": len(rows),
        "median_hops": statistics.median(hops),
        "mean_hops": statistics.fmean(hops),
        "max_hops": max(r["max_hops"] for r in rows),
        "median_messages": statistics.median(msgs),
        "p90_messages": sorted(msgs)[int(0.9 * (len(msgs) - 1))],
        "exact_k_closest": sum(r["exact"] for r in rows) / len(rows),
        "mean_overlap": statistics.fmean(r["overlap"] for r in rows),
        "lookups_per_s": len(rows) / wall,
        "cpu_ms_per_lookup": 1000 * cpu / len(rows),
        "median_wall_ms": 1000 * statistics.median(r["wall"] for r in rows),
    }


def _rss_bytes() -> int:
    """This process's resident set size now (Linux), 0 where /proc is missing."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def _profiled(profile: bool) -> Any:
    """A cProfile.Profile when asked (the lookups phase), else a do-nothing context."""
    import contextlib

    if not profile:
        return contextlib.nullcontext()
    import cProfile

    return cProfile.Profile()


def _top_costs(prof: Any, count: int = 12) -> list[dict[str, Any]]:
    import pstats

    stats = pstats.Stats(prof)
    total = sum(v[2] for v in stats.stats.values()) or 1.0  # type: ignore[attr-defined]
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:count]  # type: ignore[attr-defined]
    return [{"function": f"{Path(fn).name}:{line}({name})", "tottime_share": tt / total, "calls": nc}
            for (fn, line, name), (_cc, nc, tt, _ct, _callers) in rows]


def _true_closest(ids: list[Any], keys: dict[Any, bytes], target: bytes, k: int, exclude: Any) -> list[Any]:
    from libp2p._accel import sort_by_distance

    cand = [p for p in ids if p != exclude]
    order = sort_by_distance(target, [keys[p] for p in cand], k)
    return [cand[i] for i in order]


def _seed_tables(ids: list[Any], keys: dict[Any, bytes], tables: list[Any], rng: random.Random) -> None:
    """Converged tables: every bucket of every table holds k peers of its range (or all it has).

    The peers whose key shares exactly ``cpl`` leading bits with ours form one contiguous run of
    the sorted keys, so each bucket is found with two bisections and filled with a random k of
    its run: O(N * 256 * log N) instead of offering every node to every table (O(N^2), which
    took longer than the lookups at 10 000 nodes).
    """
    by_key = sorted((int.from_bytes(keys[p], "big"), i) for i, p in enumerate(ids))
    sorted_keys = [key for key, _ in by_key]
    for p, table in zip(ids, tables):
        own = int.from_bytes(keys[p], "big")
        for cpl in range(256):
            shift = 255 - cpl
            lo = ((own >> shift) ^ 1) << shift  # our first cpl bits, then the other value of bit cpl
            start = bisect.bisect_left(sorted_keys, lo)
            end = bisect.bisect_left(sorted_keys, lo + (1 << shift), start)
            if start == end:
                continue
            run = range(start, end)
            chosen = run if len(run) <= table.k else rng.sample(run, table.k)
            for j in chosen:
                table.try_insert(ids[by_key[j][1]], 0.0)


# --- sans-IO cores ----------------------------------------------------------------------------------


def run_cores(n: int, lookups: int, seed: int, join: bool = False, profile: bool = False) -> dict[str, Any]:
    from libp2p.identity.peer_id import PeerId
    from libp2p.multiaddr import Multiaddr
    from libp2p.protocols.kad.core import KadConfig, KadCore
    from libp2p.protocols.kad.events import LookupFinished, LookupKind, LookupResult, RequestIssued
    from libp2p.protocols.kad.routing import kad_key

    rng = random.Random(seed)
    rss0 = _rss_bytes()
    addr = (Multiaddr("/memory/1"),)
    ids = [PeerId(bytes.fromhex("002408011220") + rng.randbytes(32)) for _ in range(n)]
    keys = {p: kad_key(p.to_bytes()) for p in ids}
    config = KadConfig()
    known = set(ids)
    cores = {p: KadCore(p, config=config, addr_book=lambda q: addr if q in known else (), randbytes=rng.randbytes)
             for p in ids}
    clock = [0.0]

    def lookup(src: PeerId, key: bytes) -> LookupResult:
        core = cores[src]
        qid = core.start_lookup(LookupKind.FIND_NODE, key, clock[0])
        heap: list[tuple[float, int, RequestIssued]] = []
        seq = itertools.count()
        while True:
            while (ev := core.next_event()) is not None:
                if isinstance(ev, RequestIssued):
                    heapq.heappush(heap, (clock[0] + 0.01, next(seq), ev))
                elif isinstance(ev, LookupFinished) and ev.query_id == qid:
                    return ev.result
            clock[0], _, ev = heapq.heappop(heap)
            server = cores[ev.peer]
            if join:
                # connect + identify: a server learns a requesting server
                server.routing.try_insert(src, clock[0])
            answer = server.handle_request(src, ev.message, clock[0])
            assert answer is not None
            core.on_response(qid, ev.peer, answer, clock[0])

    t0 = time.perf_counter()
    if join:
        # Nodes join one at a time through a random earlier node, as KadDHT.bootstrap does:
        # a lookup of their own ID, then one random key per bucket up to the deepest one.
        for i, p in enumerate(ids[1:], 1):
            core = cores[p]
            core.routing.try_insert(ids[rng.randrange(i)], clock[0])
            lookup(p, p.to_bytes())
            for key in core.refresh_keys(clock[0])[1:]:
                lookup(p, key)
    else:
        _seed_tables(ids, keys, [c.routing for c in cores.values()], rng)
    setup = time.perf_counter() - t0
    rss_per_node = (_rss_bytes() - rss0) / n
    rows: list[dict[str, float]] = []
    prof = _profiled(profile)
    wall0, cpu = time.perf_counter(), 0.0
    for _ in range(lookups):
        src = rng.choice(ids)
        key = rng.randbytes(32)
        w0, c0 = time.perf_counter(), time.process_time()
        with prof:
            result = lookup(src, key)
        cpu += time.process_time() - c0  # the brute-force check below is not the lookup's
        truth = _true_closest(ids, keys, kad_key(key), config.k, src)
        rows.append({
            "hops": result.stats.hops, "max_hops": result.stats.max_hops, "messages": result.stats.requests,
            "exact": float(list(result.closest) == truth), "overlap": len(set(result.closest) & set(truth)) / config.k,
            "wall": time.perf_counter() - w0,
        })
    out = _summary(rows, time.perf_counter() - wall0, cpu)
    out["setup_s"] = setup
    out["mean_table_size"] = statistics.fmean(len(c.routing) for c in cores.values())
    out["rss_kib_per_node"] = rss_per_node / 1024
    if profile:
        out["top_costs"] = _top_costs(prof)
    return out


# --- real hosts over the in-memory transport ------------------------------------------------------------


async def _run_hosts(n: int, lookups: int, seed: int, profile: bool = False) -> dict[str, Any]:
    from libp2p.host.host import Host
    from libp2p.identity.keys import Ed25519PrivateKey
    from libp2p.peerstore import PERMANENT_ADDR_TTL
    from libp2p.protocols.kad import KadConfig, KadDHT, LookupKind
    from libp2p.protocols.kad.routing import kad_key
    from libp2p.transport.memory import MemoryNetwork, MemoryTransport

    rng = random.Random(seed)
    rss0 = _rss_bytes()
    net = MemoryNetwork()
    t0 = time.perf_counter()
    hosts = []
    for _ in range(n):
        key = Ed25519PrivateKey.from_seed(rng.randbytes(32))
        host = Host(key, listen_addrs=["/memory/0"], transports=[MemoryTransport(net)])
        await host.start()
        hosts.append(host)
    config = KadConfig()
    dhts = [KadDHT(config=config, refresh=False) for h in hosts]
    for h, d in zip(hosts, dhts):
        await h.add_service(d)
    ids = [h.peer_id for h in hosts]
    addr_of = {h.peer_id: h.addrs for h in hosts}
    keys = {p: kad_key(p.to_bytes()) for p in ids}
    _seed_tables(ids, keys, [d.core.routing for d in dhts], rng)
    for d in dhts:
        for p in d.core.routing.peers():
            d.host.peerstore.add_addrs(p, addr_of[p], PERMANENT_ADDR_TTL)
    setup = time.perf_counter() - t0
    rss_setup = _rss_bytes()
    rows: list[dict[str, float]] = []
    prof = _profiled(profile)
    wall0, cpu = time.perf_counter(), 0.0
    for _ in range(lookups):
        src = rng.randrange(n)
        key = rng.randbytes(32)
        w0, c0 = time.perf_counter(), time.process_time()
        with prof:
            result = await dhts[src]._lookup(LookupKind.FIND_NODE, key)
        cpu += time.process_time() - c0
        truth = _true_closest(ids, keys, kad_key(key), config.k, ids[src])
        rows.append({
            "hops": result.stats.hops, "max_hops": result.stats.max_hops, "messages": result.stats.requests,
            "exact": float(list(result.closest) == truth), "overlap": len(set(result.closest) & set(truth)) / config.k,
            "wall": time.perf_counter() - w0,
        })
    out = _summary(rows, time.perf_counter() - wall0, cpu)
    out["setup_s"] = setup
    out["mean_table_size"] = statistics.fmean(len(d.core.routing) for d in dhts)
    out["connections"] = sum(len(h.connections()) for h in hosts) // 2
    out["failures"] = sum(d.counters["bad_messages"] for d in dhts)
    out["rss_kib_per_node"] = (rss_setup - rss0) / n / 1024  # idle: host, DHT, table, peerstore
    conns = max(out["connections"], 1)
    out["rss_kib_per_connection"] = (_rss_bytes() - rss_setup) / conns / 1024  # opened by the lookups
    if profile:
        out["top_costs"] = _top_costs(prof)
    t1 = time.perf_counter()
    for h in hosts:  # stops its DHT service too
        await h.close()
    out["teardown_s"] = time.perf_counter() - t1
    return out


def run_hosts(n: int, lookups: int, seed: int, profile: bool = False) -> dict[str, Any]:
    return asyncio.run(_run_hosts(n, lookups, seed, profile))


# --- driver ----------------------------------------------------------------------------------------------


def run_one(args: argparse.Namespace) -> dict[str, Any]:
    from libp2p import _accel  # imported by name: `import libp2p` no longer loads it (lazy imports)

    out: dict[str, Any] = {"implementation": _accel.IMPLEMENTATION, "nodes": args.nodes}
    if args.mode in ("cores", "both"):
        out["cores"] = run_cores(args.nodes, args.lookups_cores, args.seed, profile=args.profile)
        if not args.no_join:
            out["cores-joined"] = run_cores(args.nodes, args.lookups_cores, args.seed, join=True)
    if args.mode in ("hosts", "both"):
        out["hosts"] = run_hosts(args.nodes, args.lookups, args.seed, args.profile)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--lookups", type=int, default=200, help="lookups on real hosts")
    parser.add_argument("--lookups-cores", type=int, default=1000, help="lookups on sans-IO cores")
    parser.add_argument("--mode", choices=["hosts", "cores", "both"], default="both")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--twins", action="store_true", help="run both builds (subprocesses)")
    parser.add_argument("--no-join", action="store_true",
                        help="skip cores-joined (nodes joining one by one: O(N) lookups, hours at 10 000 nodes)")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the lookups; the top costs by own time go into the JSON")
    parser.add_argument("--json-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.json_only:
        print(json.dumps(run_one(args)))
        return 0
    started_utc = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    load_before = os.getloadavg()
    runs = []
    envs = [("cython", {}), ("python", {"LIBP2P_NO_EXTENSIONS": "1"})] if args.twins else [("default", {})]
    for _, extra in envs:
        cmd = [sys.executable, __file__, "--json-only", "--nodes", str(args.nodes), "--lookups", str(args.lookups),
               "--lookups-cores", str(args.lookups_cores), "--mode", args.mode, "--seed", str(args.seed)]
        cmd += ["--no-join"] * args.no_join + ["--profile"] * args.profile
        env = dict(os.environ, **extra)
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    report = {
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
                    "load": os.getloadavg()},
        "log2_nodes": math.log2(args.nodes),
        "runs": runs,
        "started_utc": started_utc,
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / f"kad-sim-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"log2({args.nodes}) = {math.log2(args.nodes):.2f}; load {report['machine']['load']}; written {path}")
    print("| build | network | median hops | max hops | median msgs | p90 msgs | exact k-closest | overlap |"
          " lookups/s | CPU ms/lookup | table size | setup s | KiB/node |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for run in runs:
        for label in ("cores", "cores-joined", "hosts"):
            r = run.get(label)
            if r is None:
                continue
            print(f"| {run['implementation']} | {label} | {r['median_hops']} | {r['max_hops']} | {r['median_messages']}"
                  f" | {r['p90_messages']} | {r['exact_k_closest']:.0%} | {r['mean_overlap']:.1%} |"
                  f" {r['lookups_per_s']:.1f} | {r['cpu_ms_per_lookup']:.2f} | {r['mean_table_size']:.0f} | {r['setup_s']:.1f} |"
                  f" {r.get('rss_kib_per_node', 0):.1f} |")
    for run in runs:
        for label in ("cores", "hosts"):
            for row in run.get(label, {}).get("top_costs", []):
                print(f"{run['implementation']} {label}: {row['tottime_share']:6.1%} {row['calls']:>9} {row['function']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
