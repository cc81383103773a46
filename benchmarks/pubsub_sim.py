"""GossipSub simulation: N of our nodes in one process over the in-memory transport.

    python benchmarks/pubsub_sim.py [--nodes 1000] [--messages 200] [--hostile 0.2] [--twins]

Every node is a real host (Noise + yamux over ``MemoryTransport``, GossipSub as its only service)
dialing ``--degree``/2 random others, so each has about ``--degree`` connections; all subscribe to
one topic, the meshes warm up (until 90% of honest nodes have D_lo mesh peers), then ``--messages``
messages are published by random honest nodes, each once the previous one reached every honest node
(or ``--per-message-timeout``). Recorded: delivery ratio (honest receivers × messages),
hops (the path of first deliveries back to the publisher), latency from publish to each first
delivery (loop clock; the whole network shares one loop, so this is mostly queueing in this
process), duplicates per delivered message, and pubsub RPC bytes sent per node (protobuf frames,
without Noise/yamux overhead).

``--hostile F`` makes a fraction F of the nodes attackers, in three equal groups: ``drop`` (in the
mesh, forward nothing, answer no IWANT), ``invalid`` (also flood messages with bad signatures) and
``ihave`` (also advertise 5000 made-up ids to every peer each heartbeat, never delivering them).
Honest delivery is measured as before; the score parameters enable P3 (mesh delivery deficit) so
droppers are pruned from meshes, and the run reports how many mesh slots of honest nodes attackers
held right after warm-up and at the end. ``--twins`` runs both builds (``LIBP2P_NO_EXTENSIONS=1``).
``--mode cores`` runs the same network (attackers included) as sans-IO routers on a simulated clock
(each RPC takes ``--link-delay``, heartbeats every simulated second), for the protocol's own
latency without this process's queueing; there the P3 window is 200 ms.
JSON goes to ``benchmarks/results/pubsub-sim-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
TOPIC = "sim"


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * (len(values) - 1) + 0.5))]


def _score_config(window: float, activation: float) -> Any:
    """Score parameters with P3 on, so a mesh peer that forwards nothing goes negative and is
    pruned. ``window``: how late a duplicate may come and still count as a mesh delivery (go's
    default 10 ms assumes real machines; one loaded process delivers later). ``activation`` must
    outlast the warm-up: with no messages flowing, every mesh peer has a deficit."""
    from libp2p.protocols.pubsub import GossipSubConfig, PeerScoreParams, TopicScoreParams

    topic_params = TopicScoreParams(
        mesh_message_deliveries_weight=-10.0, mesh_message_deliveries_threshold=1.0,
        mesh_message_deliveries_window=window, mesh_message_deliveries_activation=activation,
        mesh_message_deliveries_decay=0.9, mesh_failure_penalty_weight=-10.0,
    )
    return GossipSubConfig(score_params=PeerScoreParams(default_topic_params=topic_params))


_SPAM_MARK = random.Random(0xA77AC).randbytes(8)
# 5000 ``messageIDs`` fields (tag 2, length 20) of ControlIHave, each starting with the mark
_SPAM_TEMPLATE = b"".join(b"\x12\x14" + _SPAM_MARK + random.Random(k).randbytes(12) for k in range(5000))


def _spam_control(ids_fields: bytes) -> bytes:
    """A length-prefixed ControlMessage with one IHAVE on TOPIC carrying ``ids_fields``."""
    from libp2p._accel import varint_encode

    ihave = b"\x0a" + varint_encode(len(TOPIC)) + TOPIC.encode() + ids_fields
    control = b"\x0a" + varint_encode(len(ihave)) + ihave
    return varint_encode(len(control)) + control


def _hostile_router_class(rng: random.Random) -> Any:
    """A router that forwards nothing and answers no IWANT; ``behaviour`` "invalid" also sends every
    topic peer a badly signed message each heartbeat, "ihave" 5000 made-up ids."""
    from libp2p.pb import pubsub_pb2
    from libp2p.protocols.pubsub.core import PubsubRouter
    from libp2p.protocols.pubsub.wire import encode_publish_field, sign_message

    class HostileRouter(PubsubRouter):
        behaviour = "drop"

        def _forward(self, *a: Any, **k: Any) -> int:
            return 0

        def _handle_iwant(self, *a: Any, **k: Any) -> None:
            return None

        def heartbeat(self, now: float) -> None:
            super().heartbeat(now)
            peers = self.topic_peers(TOPIC)
            if self.behaviour == "invalid":
                for peer in peers:
                    msg = pubsub_pb2.Message(data=rng.randbytes(64), topic=TOPIC.encode(), seqno=rng.randbytes(8))
                    setattr(msg, "from", self.local_peer.to_bytes())
                    assert self._key is not None
                    sign_message(self._key, msg)
                    msg.data = b"tampered" + msg.data[8:]
                    self._box(peer).messages.append(encode_publish_field(msg))
            elif self.behaviour == "ihave":
                # New made-up ids every heartbeat, encoded once and sent to every peer as a
                # ready RPC body (the attacker's own cost is not what the run measures): the
                # 20-byte ids are a fresh 8-byte heartbeat prefix and 12 fixed random bytes, the
                # wire bytes made by one replace in a template, not 5000 objects per heartbeat.
                encoded = b"\x1a" + _spam_control(_SPAM_TEMPLATE.replace(_SPAM_MARK, rng.randbytes(8)))
                for peer in peers:
                    self._box(peer).messages.append(encoded)

    return HostileRouter


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    from libp2p.errors import Libp2pError
    from libp2p.host.host import Host
    from libp2p.identity.keys import Ed25519PrivateKey
    from libp2p.identity.peer_id import PeerId
    from libp2p.peerstore import PeerInfo
    from libp2p.protocols.pubsub import GossipSub, GossipSubConfig
    from libp2p.protocols.pubsub.core import PubsubRouter
    from libp2p.transport.memory import MemoryNetwork, MemoryTransport

    rng = random.Random(args.seed)
    config = _score_config(5.0, args.warmup + 10.0)
    HostileRouter = _hostile_router_class(rng)

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
    n_hostile = int(round(args.hostile * n))
    behaviours = ["drop", "invalid", "ihave"]
    net = MemoryNetwork()
    t0 = time.perf_counter()
    hosts: list[Host] = []
    services: list[GossipSub] = []
    hostile: set[PeerId] = set()
    for i in range(n):
        key = Ed25519PrivateKey.from_seed(rng.randbytes(32))
        if i < n_hostile:
            ps: GossipSub = HostileGossipSub(behaviours[i % 3], config)
        else:
            ps = GossipSub(config)
        host = Host(key, listen_addrs=["/memory/0"], transports=[MemoryTransport(net)], services=[ps])
        await host.start()
        hosts.append(host)
        services.append(ps)
        if i < n_hostile:
            hostile.add(host.peer_id)
    order = list(range(n))
    rng.shuffle(order)  # hostile nodes spread over the topology
    links: set[tuple[int, int]] = set()
    for i in range(n):
        for _ in range(args.degree // 2):
            j = rng.randrange(n)
            if j != i and (i, j) not in links and (j, i) not in links:
                links.add((i, j))
    sem = asyncio.Semaphore(args.dial_concurrency)

    async def dial(i: int, j: int) -> None:
        async with sem:
            a, b = hosts[order[i]], hosts[order[j]]
            for attempt in range(3):  # a loaded process times some handshakes out: retry those
                try:
                    await a.connect(PeerInfo(b.peer_id, tuple(b.addrs)))
                    return
                except Libp2pError:
                    if attempt == 2:
                        raise

    await asyncio.gather(*(dial(i, j) for i, j in links))
    subs = [ps.subscribe(TOPIC) for ps in services]
    setup = time.perf_counter() - t0
    honest = [k for k in range(n) if hosts[k].peer_id not in hostile]
    # Warm up until 90% of the honest nodes have a mesh of at least D_lo (at least --min-warmup s,
    # at most --warmup s): one loaded process runs its heartbeats late.
    loop = asyncio.get_running_loop()
    w0 = loop.time()
    while loop.time() - w0 < args.warmup:
        ready = sum(len(services[k].mesh_peers(TOPIC)) >= config.d_lo for k in honest)
        if loop.time() - w0 >= args.min_warmup and ready >= 0.9 * len(honest):
            break
        await asyncio.sleep(0.5)
    warmup = loop.time() - w0

    def hostile_mesh_share() -> float:
        slots = [p for k in honest for p in services[k].mesh_peers(TOPIC)]
        return sum(p in hostile for p in slots) / max(1, len(slots))

    share_after_warmup = hostile_mesh_share()
    mesh_sizes = [len(services[k].mesh_peers(TOPIC)) for k in honest]
    first_from: list[dict[bytes, Any]] = [{} for _ in range(n)]
    latencies: list[float] = []
    published_at: dict[bytes, tuple[float, int]] = {}
    received = [0] * n
    copies: dict[bytes, int] = {}
    all_got: dict[bytes, asyncio.Event] = {}

    async def consume(k: int) -> None:
        async for msg in subs[k]:
            if msg.message_id not in first_from[k]:
                first_from[k][msg.message_id] = msg.received_from
                received[k] += 1
                copies[msg.message_id] = copies.get(msg.message_id, 0) + 1
                if copies[msg.message_id] == len(honest) and msg.message_id in all_got:
                    all_got[msg.message_id].set()
                sent = published_at.get(msg.message_id)
                if sent is not None and msg.received_from != hosts[k].peer_id:
                    latencies.append(loop.time() - sent[0])

    consumers = [asyncio.create_task(consume(k)) for k in honest]
    for ps in services:
        for counter in ("duplicates", "bytes_sent", "delivered"):
            ps.router.stats[counter] = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    # Closed loop: the next message goes out once every honest node has the previous one (or
    # after --per-message-timeout), so a latency is one message crossing an otherwise idle network
    # rather than a queue of messages in this process.
    for _ in range(args.messages):
        k = rng.choice(honest)
        msg, message = services[k].router.build_message(TOPIC, rng.randbytes(args.size))
        done = all_got[message.message_id] = asyncio.Event()
        published_at[message.message_id] = (loop.time(), k)
        services[k].router.publish_message(msg, message, services[k]._now())
        services[k]._flush()
        try:
            await asyncio.wait_for(done.wait(), args.per_message_timeout)
        except TimeoutError:
            pass
        await asyncio.sleep(args.interval)
    expected = len(honest) * args.messages
    deadline = loop.time() + args.drain
    while sum(received[k] for k in honest) < expected and loop.time() < deadline:
        await asyncio.sleep(0.2)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    index = {h.peer_id: k for k, h in enumerate(hosts)}
    hops: list[int] = []
    for msg_id, (_, origin) in published_at.items():
        for k in honest:
            if k == origin or msg_id not in first_from[k]:
                continue
            count, cur = 0, k
            while cur != origin and count < n:
                prev = first_from[cur].get(msg_id)
                if prev is None:
                    break
                cur = index[prev]
                count += 1
            if cur == origin:
                hops.append(count)
    delivered = sum(received[k] for k in honest)
    honest_deliveries = delivered - sum(1 for _, (_, o) in published_at.items())  # own copies
    dups = sum(services[k].router.stats["duplicates"] for k in honest)
    out = {
        "nodes": n, "hostile": n_hostile, "connections": sum(len(h.connections()) for h in hosts) // 2,
        "messages": args.messages, "size": args.size,
        "delivery_ratio": delivered / expected,
        "min_node_ratio": min(received[k] for k in honest) / args.messages,
        "hops_median": statistics.median(hops) if hops else None, "hops_p99": _pct([float(h) for h in hops], 0.99),
        "hops_max": max(hops) if hops else None,
        "latency_ms_p50": 1000 * _pct(latencies, 0.5), "latency_ms_p90": 1000 * _pct(latencies, 0.9),
        "latency_ms_p99": 1000 * _pct(latencies, 0.99), "latency_ms_max": 1000 * max(latencies, default=0.0),
        "duplicates_per_delivery": dups / max(1, honest_deliveries),
        "rpc_kib_sent_per_node": statistics.fmean(services[k].router.stats["bytes_sent"] for k in honest) / 1024,
        "mesh_size_median": statistics.median(mesh_sizes),
        "hostile_mesh_share_after_warmup": share_after_warmup,
        "hostile_mesh_share_at_end": hostile_mesh_share(),
        "setup_s": setup, "warmup_s": warmup, "publish_wall_s": wall, "cpu_s": cpu,
    }
    for task in consumers:
        task.cancel()
    for h in hosts:
        await h.close()
    return out


def _run_cores(args: argparse.Namespace) -> dict[str, Any]:
    """The same network as sans-IO routers on a simulated clock: every RPC takes ``--link-delay``
    seconds, heartbeats run every simulated second, and no time is lost to this process, so the
    latency is the protocol's own (hops × link delay, plus waits for gossip)."""
    import heapq

    from libp2p._accel import FrameReader
    from libp2p.identity.keys import Ed25519PrivateKey
    from libp2p.identity.peer_id import PeerId
    from libp2p.protocols.pubsub import GossipSubConfig, MessageReceived
    from libp2p.protocols.pubsub.core import PubsubRouter
    from libp2p.protocols.pubsub.wire import MESHSUB_V13

    rng = random.Random(args.seed)
    n = args.nodes
    config = _score_config(0.2, args.min_warmup + 2.0)
    HostileRouter = _hostile_router_class(rng)
    n_hostile = int(round(args.hostile * n))
    routers: list[PubsubRouter] = []
    for i in range(n):
        key = Ed25519PrivateKey.from_seed(rng.randbytes(32))
        cls = HostileRouter if i < n_hostile else PubsubRouter
        router = cls(PeerId.from_public_key(key.public_key), key=key, config=config, rng=random.Random(rng.random()))
        if i < n_hostile:
            router.behaviour = ("drop", "invalid", "ihave")[i % 3]  # type: ignore[union-attr]
        routers.append(router)
    rng.shuffle(routers)  # attackers spread over the topology
    hostile = {k for k, r in enumerate(routers) if isinstance(r, HostileRouter)}
    honest = [k for k in range(n) if k not in hostile]
    index = {r.local_peer: k for k, r in enumerate(routers)}
    links: set[tuple[int, int]] = set()
    for i in range(n):
        for _ in range(args.degree // 2):
            j = rng.randrange(n)
            if j != i and (i, j) not in links and (j, i) not in links:
                links.add((i, j))
                routers[i].add_peer(routers[j].local_peer, MESHSUB_V13, outbound=True)
                routers[j].add_peer(routers[i].local_peer, MESHSUB_V13)
    now = 0.0
    queue: list[tuple[float, int, int, int, bytes]] = []
    seq = 0
    first_from: list[dict[bytes, int]] = [{} for _ in range(n)]
    latencies: list[float] = []
    published_at: dict[bytes, tuple[float, int]] = {}
    received = [0] * n

    def drain(k: int) -> None:
        nonlocal seq
        router = routers[k]
        while (event := router.next_event()) is not None:
            if isinstance(event, MessageReceived):
                msg = event.message
                if msg.message_id not in first_from[k]:
                    first_from[k][msg.message_id] = index[msg.received_from]
                    received[k] += 1
                    sent = published_at.get(msg.message_id)
                    if sent is not None and sent[1] != k:
                        latencies.append(now - sent[0])
        for dst, data in router.data_to_send():
            seq += 1
            heapq.heappush(queue, (now + args.link_delay, seq, k, index[dst], data))

    def advance(until: float) -> None:
        nonlocal now
        next_beat = min(r.get_timer() for r in routers)
        while True:
            t_msg = queue[0][0] if queue else float("inf")
            t = min(t_msg, next_beat)
            if t > until:
                now = until
                return
            now = t
            if t_msg <= next_beat:
                _, _, src, dst, data = heapq.heappop(queue)
                reader = FrameReader(config.max_rpc_size)
                reader.feed(data)
                for frame in reader.frames():
                    routers[dst].receive_rpc(routers[src].local_peer, frame, now)
                drain(dst)
            else:
                for k, r in enumerate(routers):
                    r.handle_timer(now)
                    drain(k)
                next_beat = min(r.get_timer() for r in routers)

    t0 = time.perf_counter()
    for k, r in enumerate(routers):
        r.subscribe(TOPIC, now)
        drain(k)
    advance(args.min_warmup)
    hostile_ids = {routers[k].local_peer for k in hostile}

    def hostile_mesh_share() -> float:
        slots = [p for k in honest for p in routers[k].mesh_peers(TOPIC)]
        return sum(p in hostile_ids for p in slots) / max(1, len(slots))

    share_after_warmup = hostile_mesh_share()
    mesh_sizes = [len(routers[k].mesh_peers(TOPIC)) for k in honest]
    for r in routers:
        for counter in ("duplicates", "bytes_sent"):
            r.stats[counter] = 0
    cpu0 = time.process_time()
    for _ in range(args.messages):
        k = rng.choice(honest)
        msg, message = routers[k].build_message(TOPIC, rng.randbytes(args.size))
        published_at[message.message_id] = (now, k)
        routers[k].publish_message(msg, message, now)
        drain(k)
        advance(now + (args.interval or 0.5))
    advance(now + 10.0)
    hops: list[int] = []
    for msg_id, (_, origin) in published_at.items():
        for k in honest:
            if k == origin or msg_id not in first_from[k]:
                continue
            count, cur = 0, k
            while cur != origin and count < n:
                cur = first_from[cur][msg_id]
                count += 1
            hops.append(count)
    delivered = sum(received[k] for k in honest)
    return {
        "nodes": n, "hostile": len(hostile), "connections": len(links), "messages": args.messages,
        "size": args.size, "link_delay_ms": 1000 * args.link_delay,
        "delivery_ratio": delivered / (len(honest) * args.messages),
        "min_node_ratio": min(received[k] for k in honest) / args.messages,
        "hops_median": statistics.median(hops), "hops_p99": _pct([float(h) for h in hops], 0.99),
        "hops_max": max(hops),
        "latency_ms_p50": 1000 * _pct(latencies, 0.5), "latency_ms_p90": 1000 * _pct(latencies, 0.9),
        "latency_ms_p99": 1000 * _pct(latencies, 0.99), "latency_ms_max": 1000 * max(latencies),
        "duplicates_per_delivery": sum(routers[k].stats["duplicates"] for k in honest) / max(1, delivered - args.messages),
        "rpc_kib_sent_per_node": statistics.fmean(routers[k].stats["bytes_sent"] for k in honest) / 1024,
        "mesh_size_median": statistics.median(mesh_sizes),
        "hostile_mesh_share_after_warmup": share_after_warmup, "hostile_mesh_share_at_end": hostile_mesh_share(),
        "setup_s": 0.0, "publish_wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - cpu0,
    }


def run_one(args: argparse.Namespace) -> dict[str, Any]:
    import libp2p._accel

    out: dict[str, Any] = {"implementation": libp2p._accel.IMPLEMENTATION, "mode": args.mode}
    if args.mode == "cores":
        out.update(_run_cores(args))
    elif args.shards > 1:
        import pubsub_sim_shards

        out["mode"] = f"hosts/{args.shards} processes"
        out.update(pubsub_sim_shards.run_sharded(args, [a for a in sys.argv[1:] if a != "--twins"]))
    else:
        out.update(asyncio.run(_run(args)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--degree", type=int, default=10, help="average connections per node")
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--size", type=int, default=256, help="message payload bytes")
    parser.add_argument("--interval", type=float, default=0.0,
                        help="hosts: extra seconds between publishes; cores: seconds between publishes")
    parser.add_argument("--warmup", type=float, default=50.0, help="hosts: at most this many seconds of warm-up")
    parser.add_argument("--min-warmup", type=float, default=8.0, help="hosts: at least this many seconds of warm-up")
    parser.add_argument("--per-message-timeout", type=float, default=30.0,
                        help="hosts: seconds to wait for a message to reach every honest node before the next")
    parser.add_argument("--drain", type=float, default=30.0, help="seconds to wait for the last deliveries")
    parser.add_argument("--hostile", type=float, default=0.0, help="fraction of attacker nodes")
    parser.add_argument("--mode", choices=["hosts", "cores"], default="hosts",
                        help="real hosts over the in-memory transport, or sans-IO routers on a simulated clock")
    parser.add_argument("--link-delay", type=float, default=0.05, help="cores: seconds per RPC on a link")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--attack", choices=["mixed", "drop", "invalid", "ihave"], default="mixed",
                        help="--shards: what the attackers do (mixed: a third each)")
    parser.add_argument("--shards", type=int, default=1,
                        help="hosts: spread the nodes over this many processes (loopback TCP between them)")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dial-concurrency", type=int, default=32, help="hosts: dials in flight during set-up")
    parser.add_argument("--twins", action="store_true", help="run both builds (subprocesses)")
    parser.add_argument("--json-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        sys.path.insert(0, str(HERE))
        import pubsub_sim_shards

        return pubsub_sim_shards.worker_main(args)
    if args.json_only:
        print(json.dumps(run_one(args)))
        return 0
    envs = [("cython", {}), ("python", {"LIBP2P_NO_EXTENSIONS": "1"})] if args.twins else [("default", {})]
    runs = []
    passthrough = [a for a in sys.argv[1:] if a != "--twins"]
    for _, extra in envs:
        load_before = os.getloadavg()
        proc = subprocess.run([sys.executable, __file__, "--json-only", *passthrough],
                              env=dict(os.environ, **extra), capture_output=True, text=True, check=True)
        run = json.loads(proc.stdout.strip().splitlines()[-1])
        run["load_before"] = load_before
        run["load_after"] = os.getloadavg()
        runs.append(run)
    report = {
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "args": vars(args), "runs": runs,
    }
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / f"pubsub-sim-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"written {path}")
    print("| build | mode | nodes | hostile | delivery | worst node | hops p50/p99/max | latency ms p50/p90/p99 |"
          " dups/delivery | RPC KiB/node | hostile mesh share warm-up→end | CPU s | load |")
    print("|---|---|---:|---:|---:|---:|---|---|---:|---:|---|---:|---|")
    for r in runs:
        print(f"| {r['implementation']} | {r.get('mode', 'hosts')} | {r['nodes']} | {r['hostile']} | {r['delivery_ratio']:.2%} |"
              f" {r['min_node_ratio']:.1%} | {r['hops_median']}/{r['hops_p99']:.0f}/{r['hops_max']} |"
              f" {r['latency_ms_p50']:.0f}/{r['latency_ms_p90']:.0f}/{r['latency_ms_p99']:.0f} |"
              f" {r['duplicates_per_delivery']:.2f} | {r['rpc_kib_sent_per_node']:.0f} |"
              f" {r['hostile_mesh_share_after_warmup']:.1%}→{r['hostile_mesh_share_at_end']:.1%} | {r['cpu_s']:.0f} |"
              f" {r['load_before'][0]:.1f}/{r['load_after'][0]:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
