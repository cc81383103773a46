"""Our GossipSub and FloodSub in one pubsub network with go-libp2p-pubsub, rust-libp2p gossipsub,
js-libp2p gossipsub and py-libp2p pubsub, on loopback.

* Twelve gossipsub nodes, four of ours and two each of go, rust, js and py-libp2p, on one topic,
  connected as a ring with chords (every edge joins two different implementations; nobody is
  connected to everybody), so messages are forwarded across implementations before they arrive.
  Every node publishes (two rounds); every node receives every other node's message exactly once,
  with the author fields and the message id the policy defines (from + seqno under StrictSign,
  sha256(data) under StrictNoSign, the same function in every implementation), under both policies.
* Floodsub: go – ours – js in a chain. Our node reaches both, and relays between them.

The foreign side is the peer programs' pubsub role (``interop/README.md``, "pubsub"),
``tests/interop/pubsub_mesh.py`` drives both sides. Skipped while ``libp2p.protocols.pubsub`` is not
importable, and when a toolchain is missing (failed under ``CI=true``). Every process is stopped by
its own handle; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from libp2p.host.host import Host
from libp2p.node import new_host
from tests.interop.pubsub_mesh import (
    TOPIC,
    MeshNode,
    Received,
    check_deliveries,
    check_peer_lines,
    check_paths,
    connect_edges,
    gather_rounds,
    is_connected,
    require_programs,
    ring_with_chords,
    start_programs,
    wait_for_mesh,
)

try:
    from libp2p.protocols.pubsub import (
        FloodSub,
        GossipSub,
        GossipSubConfig,
        PubsubMessage,
        SignaturePolicy,
        Subscription,
    )
except ImportError as exc:  # a tree without our pubsub
    pytest.skip(f"libp2p.protocols.pubsub is not importable ({exc}); the mixed pubsub mesh needs it",
                allow_module_level=True)

FOREIGN = ["go", "rust", "js", "py-libp2p"]
#: the ring, in order: every neighbour pair is two implementations
RING = ["ours", "go", "rust", "ours", "js", "py-libp2p", "ours", "go", "rust", "ours", "js", "py-libp2p"]
CHORDS = [(0, 5), (3, 8), (6, 11), (1, 10)]
TEST_TIMEOUT = 55.0


@pytest.fixture(scope="module")
def programs() -> None:
    require_programs(FOREIGN)


class OurNode:
    """One of our hosts running our GossipSub or FloodSub, subscribed to :data:`TOPIC`."""

    def __init__(self, name: str, host: Host, ps: GossipSub | FloodSub, flood: bool) -> None:
        self.name = name
        self.host = host
        self.ps = ps
        self.flood = flood
        self._received: list[Received] = []

    @property
    def peer_id(self) -> str:
        return str(self.host.peer_id)

    @property
    def address(self) -> str:
        return str(self.host.full_addrs()[0])

    async def connect(self, addr: str) -> None:
        await self.host.connect(addr)

    async def publish(self, topic: str, data: bytes) -> None:
        await self.ps.publish(topic, data)

    def received(self, topic: str) -> list[Received]:
        return [r for r in self._received if r.topic == topic]

    async def peers(self, topic: str) -> tuple[set[str], set[str]]:
        subscribers = {str(p) for p in self.ps.topic_peers(topic)}
        # floodsub has no mesh: every subscriber gets every message (the programs report it so too)
        mesh = subscribers if self.flood else {str(p) for p in self.ps.mesh_peers(topic)}
        return mesh, subscribers

    def diagnostics(self) -> str:
        return f"--- {self.name} (ours): mesh {self.ps.mesh_peers(TOPIC)}, peers {self.ps.topic_peers(TOPIC)}"

    async def read(self, sub: Subscription) -> None:
        msg: PubsubMessage
        async for msg in sub:
            if str(msg.received_from) == self.peer_id:
                continue  # our own publication; the programs do not report theirs either
            self._received.append(Received(
                msg.topic, msg.data, None if msg.from_peer is None else str(msg.from_peer),
                None if msg.seqno is None else msg.seqno.hex(), msg.message_id.hex(), str(msg.received_from)))


def content_id(msg: Any) -> bytes:  # a pubsub_pb2.Message
    return hashlib.sha256(msg.data).digest()


@contextlib.asynccontextmanager
async def our_nodes(names: Sequence[str], router: str, sign: str) -> AsyncIterator[list[OurNode]]:
    policy = SignaturePolicy.STRICT_SIGN if sign == "strict" else SignaturePolicy.STRICT_NO_SIGN
    async with contextlib.AsyncExitStack() as stack:
        nodes = []
        for i, name in enumerate(names):
            # StrictNoSign: every other node sets the agreed content id explicitly, the rest rely on
            # our default for the policy (the same function; the ids every node reports are checked)
            config = GossipSubConfig(message_id_fn=content_id if sign == "none" and i % 2 else None)
            ps = (GossipSub if router == "gossipsub" else FloodSub)(config, signature_policy=policy)
            host = await stack.enter_async_context(
                new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"], services=[ps]))
            sub = await stack.enter_async_context(ps.subscribe(TOPIC))
            node = OurNode(name, host, ps, router == "floodsub")
            reader = asyncio.ensure_future(node.read(sub))
            stack.callback(reader.cancel)
            nodes.append(node)
        yield nodes


@pytest.mark.parametrize("sign", ["strict", "none"])
async def test_twelve_node_mixed_gossipsub_mesh_delivers_every_message_exactly_once(programs: None,
                                                                                    sign: str) -> None:
    edges = ring_with_chords(len(RING), CHORDS)
    assert all(RING[a] != RING[b] for a, b in edges)
    assert all(is_connected(len(RING), edges, without=i) for i in range(len(RING)))
    foreign_specs = [(f"{kind}-{i}", kind) for i, kind in enumerate(RING) if kind != "ours"]
    ours_names = [f"ours-{i}" for i, kind in enumerate(RING) if kind == "ours"]
    with start_programs(foreign_specs, "gossipsub", sign) as foreign:
        async with our_nodes(ours_names, "gossipsub", sign) as ours, asyncio.timeout(TEST_TIMEOUT):
            everyone: list[MeshNode] = [*foreign, *ours]
            by_name = {n.name: n for n in everyone}
            nodes = [by_name[f"{kind}-{i}" if kind != "ours" else f"ours-{i}"] for i, kind in enumerate(RING)]
            await connect_edges(nodes, edges)
            await wait_for_mesh(nodes, edges)
            await check_peer_lines(nodes, edges)
            rounds = await gather_rounds(nodes, sign)
            check_deliveries(nodes, rounds, sign)
            check_paths(nodes, edges, rounds)


async def test_ours_reaches_go_and_js_over_floodsub(programs: None) -> None:
    with start_programs([("go", "go"), ("js", "js")], "floodsub", "strict") as (go, js):
        async with our_nodes(["ours"], "floodsub", "strict") as (ours,), asyncio.timeout(TEST_TIMEOUT):
            nodes: list[MeshNode] = [go, ours, js]
            edges = [(1, 0), (2, 1)]  # we dial go; js dials us: go and js meet only through us
            await connect_edges(nodes, edges)
            await wait_for_mesh(nodes, edges)
            rounds = await gather_rounds(nodes, "strict")
            check_deliveries(nodes, rounds, "strict")
            check_paths(nodes, edges, rounds)
            # what go and js got from each other came through us
            for a, b in ((go, js), (js, go)):
                got = [r for r in a.received(TOPIC) if r.from_peer == b.peer_id]
                assert got and all(r.received_from in (None, ours.peer_id) for r in got)
