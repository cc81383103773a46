"""The real-host GossipSub simulation spread over several processes (``pubsub_sim.py --shards K``).

One process on a shared machine runs ~1000 hosts' Noise, yamux and routers on one event loop and
falls seconds behind under attack. Here node ``i`` lives in worker ``i % K``; links inside a
worker use the in-memory transport, links between workers loopback TCP (every host listens on
both). The coordinator (``run_sharded``) derives the same plan as every worker from the seed
(keys, attackers, links), and drives the phases through JSON lines on the workers' stdin/stdout:
dial, subscribe, warm up, publish one message at a time from a random honest node (the next once
every honest node has it, or after ``--per-message-timeout``), then collect the deliveries.
Latency is wall clock (one machine, one clock) from publish to each first delivery.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

TOPIC = "sim"


def plan(args: argparse.Namespace) -> dict[str, Any]:
    """What every process derives alike from ``--seed``: seeds of the keys, attackers, links."""
    rng = random.Random(args.seed)
    n = args.nodes
    n_hostile = int(round(args.hostile * n))
    seeds = [rng.randbytes(32) for _ in range(n)]
    ids = list(range(n))
    rng.shuffle(ids)
    behaviours = ["drop", "invalid", "ihave"] if args.attack == "mixed" else [args.attack]
    hostile = {ids[k]: behaviours[k % len(behaviours)] for k in range(n_hostile)}  # spread over the indices
    links: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    for i in range(n):
        for _ in range(args.degree // 2):
            j = rng.randrange(n)
            if j != i and (i, j) not in seen and (j, i) not in seen:
                seen.add((i, j))
                links.append((i, j))
    return {"seeds": seeds, "hostile": hostile, "links": links, "rng": rng}


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def worker(args: argparse.Namespace) -> None:
    from libp2p.errors import Libp2pError
    from libp2p.host.host import Host
    from libp2p.identity.keys import Ed25519PrivateKey
    from libp2p.identity.peer_id import PeerId
    from libp2p.multiaddr import Multiaddr
    from libp2p.peerstore import PeerInfo
    from libp2p.protocols.pubsub import GossipSub, GossipSubConfig
    from libp2p.protocols.pubsub.core import PubsubRouter
    from libp2p.transport.memory import MemoryNetwork, MemoryTransport
    from libp2p.transport.tcp import TcpTransport

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import pubsub_sim

    shard, shards = args.worker, args.shards
    p = plan(args)
    config = pubsub_sim._score_config(5.0, args.warmup + 10.0)
    rng = random.Random(args.seed * 1000 + shard)
    HostileRouter = pubsub_sim._hostile_router_class(rng)

    class HostileGossipSub(GossipSub):
        def __init__(self, behaviour: str, cfg: GossipSubConfig) -> None:
            super().__init__(cfg)
            self.behaviour = behaviour

        def _new_router(self, host: Host) -> PubsubRouter:
            router: PubsubRouter = HostileRouter(host.peer_id, config=self.config, key=host.key,
                                                 now=self._now(), rng=random.Random(rng.random()))
            router.behaviour = self.behaviour  # type: ignore[attr-defined]
            return router

    n = args.nodes
    mine = [i for i in range(n) if i % shards == shard]
    hostile: dict[int, str] = {int(k): v for k, v in p["hostile"].items()}
    net = MemoryNetwork()
    hosts: dict[int, Host] = {}
    services: dict[int, GossipSub] = {}
    for i in mine:
        key = Ed25519PrivateKey.from_seed(p["seeds"][i])
        ps = HostileGossipSub(hostile[i], config) if i in hostile else GossipSub(config)
        host = Host(key, listen_addrs=["/memory/0", "/ip4/127.0.0.1/tcp/0"],
                    transports=[MemoryTransport(net), TcpTransport()], services=[ps])
        await host.start()
        hosts[i], services[i] = host, ps
    honest = [i for i in mine if i not in hostile]
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def request() -> dict[str, Any]:
        line = await reader.readline()
        if not line:
            raise SystemExit(0)
        out: dict[str, Any] = json.loads(line)
        return out

    _emit({"addrs": {i: [str(h.peer_id), [str(a) for a in h.addrs]] for i, h in hosts.items()}})
    table = (await request())["table"]
    index = {PeerId.from_string(v[0]): int(k) for k, v in table.items()}
    first: dict[int, dict[bytes, tuple[str, float]]] = {i: {} for i in honest}
    subs: dict[int, Any] = {}
    consumers: list[asyncio.Task[None]] = []

    async def consume(i: int) -> None:
        async for msg in subs[i]:
            if msg.message_id not in first[i]:
                first[i][msg.message_id] = (str(msg.received_from), time.time())

    sem = asyncio.Semaphore(args.dial_concurrency)

    async def dial(i: int, j: int) -> bool:
        peer_id, addrs = table[str(j)]
        same = j % shards == shard
        chosen = tuple(Multiaddr(a) for a in addrs if (a.startswith("/memory/") if same else "/tcp/" in a))
        async with sem:
            for _ in range(5):  # a loaded machine times some handshakes out: retry those
                try:
                    await hosts[i].connect(PeerInfo(PeerId.from_string(peer_id), chosen))
                    return True
                except Libp2pError:
                    await asyncio.sleep(0.5)
        return False

    while True:
        req = await request()
        cmd = req["cmd"]
        if cmd == "dial":
            results = await asyncio.gather(*(dial(i, j) for i, j in p["links"] if i % shards == shard))
            _emit({"failed": results.count(False)})
        elif cmd == "subscribe":
            for i in mine:
                subs[i] = services[i].subscribe(TOPIC)
            consumers = [asyncio.create_task(consume(i)) for i in honest]
            _emit({"ok": True})
        elif cmd == "mesh":
            slots = [pp for i in honest for pp in services[i].mesh_peers(TOPIC)]
            _emit({"ready": sum(len(services[i].mesh_peers(TOPIC)) >= config.d_lo for i in honest),
                   "slots": len(slots), "hostile_slots": sum(index.get(pp, -1) in hostile for pp in slots),
                   "mesh_sizes": [len(services[i].mesh_peers(TOPIC)) for i in honest],
                   "connections": sum(len(h.connections()) for h in hosts.values())})
        elif cmd == "reset":
            for ps in services.values():
                for counter in ("duplicates", "bytes_sent", "delivered"):
                    ps.router.stats[counter] = 0
            _emit({"cpu": time.process_time()})
        elif cmd == "publish":
            i = req["node"]
            router = services[i].router
            msg, message = router.build_message(TOPIC, random.Random(req["seed"]).randbytes(args.size))
            t = time.time()
            router.publish_message(msg, message, services[i]._now())
            services[i]._flush()
            _emit({"id": message.message_id.hex(), "t": t})
        elif cmd == "count":
            mid = bytes.fromhex(req["id"])
            _emit({"count": sum(mid in first[i] for i in honest)})
        elif cmd == "final":
            _emit({
                "first": [[i, mid.hex(), frm, t] for i in honest for mid, (frm, t) in first[i].items()],
                "dups": sum(services[i].router.stats["duplicates"] for i in honest),
                "bytes": [services[i].router.stats["bytes_sent"] for i in honest],
                "connections": sum(len(h.connections()) for h in hosts.values()),
                "cpu": time.process_time(),
            })
        elif cmd == "quit":
            break
    for task in consumers:
        task.cancel()
    for h in hosts.values():
        await h.close()


class _Worker:
    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def send(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def recv(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker exited ({self.proc.wait(timeout=30)})")
        out: dict[str, Any] = json.loads(line)
        return out

    def quit(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send({"cmd": "quit"})
            except OSError:
                pass

    def stop(self, timeout: float) -> None:
        self.quit()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # closing ~170 hosts on a starved process may take long; nothing is left to measure
            self.proc.wait(timeout=30)


def _progress(text: str) -> None:
    print(f"[pubsub_sim --shards] {text}", file=sys.stderr, flush=True)


def _ask(workers: list[_Worker], obj: dict[str, Any]) -> list[dict[str, Any]]:
    for w in workers:
        w.send(obj)
    return [w.recv() for w in workers]


def run_sharded(args: argparse.Namespace, passthrough: list[str]) -> dict[str, Any]:
    from libp2p.protocols.pubsub import GossipSubConfig

    d_lo = GossipSubConfig().d_lo
    p = plan(args)
    rng: random.Random = p["rng"]
    n = args.nodes
    hostile = set(p["hostile"])
    honest = [i for i in range(n) if i not in hostile]
    t0 = time.perf_counter()
    workers = [_Worker([sys.executable, str(Path(__file__).resolve().parent / "pubsub_sim.py"), *passthrough,
                        "--worker", str(s)]) for s in range(args.shards)]
    try:
        table: dict[str, Any] = {}
        for w in workers:
            table.update(w.recv()["addrs"])
        for w in workers:
            w.send({"table": table})
        _progress(f"{len(table)} hosts up after {time.perf_counter() - t0:.0f} s; dialing")
        failed = sum(r["failed"] for r in _ask(workers, {"cmd": "dial"}))
        _progress(f"dialed after {time.perf_counter() - t0:.0f} s ({failed} failed); warming up")
        _ask(workers, {"cmd": "subscribe"})
        setup = time.perf_counter() - t0
        w0 = time.monotonic()
        views: list[dict[str, Any]] = []
        while time.monotonic() - w0 < args.warmup:
            views = _ask(workers, {"cmd": "mesh"})
            if time.monotonic() - w0 >= args.min_warmup and sum(v["ready"] for v in views) >= 0.9 * len(honest):
                break
            time.sleep(0.5)
        warmup = time.monotonic() - w0
        views = _ask(workers, {"cmd": "mesh"})
        share_after_warmup = sum(v["hostile_slots"] for v in views) / max(1, sum(v["slots"] for v in views))
        connections_after_warmup = sum(v["connections"] for v in views) // 2
        _progress(f"warm-up done after {warmup:.0f} s; {connections_after_warmup} connections")
        mesh_sizes = [m for v in views for m in v["mesh_sizes"]]
        cpu0 = sum(r["cpu"] for r in _ask(workers, {"cmd": "reset"}))
        wall0 = time.perf_counter()
        published: dict[str, tuple[float, int]] = {}
        for _ in range(args.messages):
            k = rng.choice(honest)
            w = workers[k % args.shards]
            w.send({"cmd": "publish", "node": k, "seed": rng.randrange(1 << 30)})
            r = w.recv()
            published[r["id"]] = (r["t"], k)
            _progress(f"message {len(published)}/{args.messages} published")
            deadline = time.monotonic() + args.per_message_timeout
            while time.monotonic() < deadline:
                time.sleep(0.2)
                if sum(x["count"] for x in _ask(workers, {"cmd": "count", "id": r["id"]})) >= len(honest):
                    break
            time.sleep(args.interval)
        deadline = time.monotonic() + args.drain
        while time.monotonic() < deadline:
            got = sum(x["count"] for mid in published for x in _ask(workers, {"cmd": "count", "id": mid}))
            if got >= len(honest) * len(published):
                break
            time.sleep(0.5)
        wall = time.perf_counter() - wall0
        finals = _ask(workers, {"cmd": "final"})
        views = _ask(workers, {"cmd": "mesh"})
    finally:
        for w in workers:
            w.quit()
        for w in workers:
            w.stop(20.0)
    first: dict[int, dict[str, tuple[str, float]]] = {i: {} for i in honest}
    for f in finals:
        for i, mid, frm, t in f["first"]:
            first[i][mid] = (frm, t)
    index = {v[0]: int(k) for k, v in table.items()}
    latencies: list[float] = []
    hops: list[int] = []
    for mid, (t_pub, origin) in published.items():
        for i in honest:
            if i == origin or mid not in first[i]:
                continue
            latencies.append(first[i][mid][1] - t_pub)
            count, cur = 0, i
            while cur != origin and count < n:
                prev = first.get(cur, {}).get(mid)
                if prev is None:
                    break
                cur = index[prev[0]]
                count += 1
            if cur == origin:
                hops.append(count)
    received = {i: sum(mid in first[i] for mid in published) for i in honest}
    delivered = sum(received.values())
    expected = len(honest) * args.messages
    own = len(published)
    return {
        "nodes": n, "hostile": len(hostile), "shards": args.shards, "connections": sum(f["connections"] for f in finals) // 2,
        "failed_dials": failed, "connections_after_warmup": connections_after_warmup, "attack": args.attack,
        "messages": args.messages, "size": args.size,
        "delivery_ratio": delivered / expected,
        "min_node_ratio": min(received.values()) / args.messages,
        "hops_median": statistics.median(hops) if hops else None,
        "hops_p99": _pct([float(h) for h in hops], 0.99), "hops_max": max(hops) if hops else None,
        "latency_ms_p50": 1000 * _pct(latencies, 0.5), "latency_ms_p90": 1000 * _pct(latencies, 0.9),
        "latency_ms_p99": 1000 * _pct(latencies, 0.99), "latency_ms_max": 1000 * max(latencies, default=0.0),
        "duplicates_per_delivery": sum(f["dups"] for f in finals) / max(1, delivered - own),
        "rpc_kib_sent_per_node": statistics.fmean(b for f in finals for b in f["bytes"]) / 1024,
        "mesh_size_median": statistics.median(mesh_sizes) if mesh_sizes else None,
        "hostile_mesh_share_after_warmup": share_after_warmup,
        "hostile_mesh_share_at_end": sum(v["hostile_slots"] for v in views) / max(1, sum(v["slots"] for v in views)),
        "setup_s": setup, "warmup_s": warmup, "publish_wall_s": wall,
        "cpu_s": sum(f["cpu"] for f in finals) - cpu0,
    }


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * (len(values) - 1) + 0.5))]


def worker_main(args: argparse.Namespace) -> int:
    profile = os.environ.get("PUBSUB_SIM_PROFILE")
    if not profile:
        asyncio.run(worker(args))
        return 0
    import cProfile

    with cProfile.Profile(time.process_time) as prof:  # CPU time: the machine is shared
        asyncio.run(worker(args))
    prof.dump_stats(f"{profile}-{args.worker}.prof")
    return 0
