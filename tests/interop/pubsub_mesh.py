"""A sparse pubsub mesh of peer programs (go, rust, js, py-libp2p) and, optionally, our own nodes.

The peer programs' pubsub role (``listen --pubsub gossipsub|floodsub [--pubsub-sign strict|none]
[--subscribe TOPIC]...``, the ``connect`` / ``pubsub-*`` stdin commands and the ``pubsub-message`` /
``pubsub-peers`` lines) is documented in ``interop/README.md``. Every node here is a :class:`MeshNode`:
connect, publish, what it received, its mesh and topic peers. :func:`run_round` has every node
publish one message and waits (bounded) until every node received every other node's message.

Message ids are the same function in every program and ours: StrictSign from + seqno (the author's
peer id bytes, then the 8-byte seqno), StrictNoSign sha256(data); :func:`expected_message_id`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from libp2p.identity.peer_id import PeerId
from tests.interop.go_peer import GoPeer, require_go_peer
from tests.interop.js_peer import JsPeer, require_js_peer
from tests.interop.pylibp2p_peer import PyLibp2pPeer, require_pylibp2p_peer
from tests.interop.rust_peer import RustPeer, require_rust_peer

TOPIC = "aiolibp2p-interop"
#: the programs' flag values for our policies
SIGN_FLAGS = {"strict": "strict", "none": "none"}
#: a protocol every program's router of that kind serves
ROUTER_PROTOCOL = {"gossipsub": "/meshsub/1.1.0", "floodsub": "/floodsub/1.0.0"}
COMMAND_TIMEOUT = 35.0
MESH_TIMEOUT = 45.0
DELIVERY_TIMEOUT = 30.0
POLL = 0.05


@dataclass(frozen=True)
class Received:
    """One delivered message, as the receiving node reported it."""

    topic: str
    data: bytes
    from_peer: str | None
    seqno: str | None  # hex of the seqno bytes
    message_id: str | None  # hex
    received_from: str | None


class MeshNode(Protocol):
    name: str

    @property
    def peer_id(self) -> str: ...

    @property
    def address(self) -> str: ...

    async def connect(self, addr: str) -> None: ...

    async def publish(self, topic: str, data: bytes) -> None: ...

    def received(self, topic: str) -> list[Received]: ...

    async def peers(self, topic: str) -> tuple[set[str], set[str]]:
        """(mesh peers, topic subscribers) now."""
        ...

    def diagnostics(self) -> str: ...


# --- the foreign programs ------------------------------------------------------------------------

#: kind -> (fixture-style require function, helper class)
PROGRAMS: dict[str, tuple[Callable[[], Path], type[JsPeer]]] = {
    "go": (require_go_peer, GoPeer),
    "rust": (require_rust_peer, RustPeer),
    "js": (require_js_peer, JsPeer),
    "py-libp2p": (require_pylibp2p_peer, PyLibp2pPeer),
}


def require_programs(kinds: Sequence[str]) -> None:
    """Build/install each program (cached): skip the test when one is unavailable, fail under CI."""
    for kind in dict.fromkeys(kinds):
        PROGRAMS[kind][0]()


def pubsub_args(router: str, sign: str, topics: Sequence[str] = (TOPIC,)) -> list[str]:
    args = ["--pubsub", router, "--pubsub-sign", SIGN_FLAGS[sign]]
    for t in topics:
        args += ["--subscribe", t]
    return args


class ForeignNode:
    """A running peer program with the pubsub role."""

    def __init__(self, name: str, kind: str, peer: JsPeer) -> None:
        self.name = name
        self.kind = kind
        self.peer = peer

    @property
    def peer_id(self) -> str:
        return self.peer.peer_id

    @property
    def address(self) -> str:
        return self.peer.multiaddr

    async def _command(self, line: str) -> dict[str, Any]:
        reply = await self.peer.command_async(line, timeout=COMMAND_TIMEOUT)
        if reply.get("ok") is not True:
            raise AssertionError(f"{self.name}: {line!r} failed: {reply}\n{self.diagnostics()}")
        return reply

    async def connect(self, addr: str) -> None:
        await self._command(f"connect {addr}")

    async def publish(self, topic: str, data: bytes) -> None:
        await self._command(f"pubsub-publish {topic} {base64.b64encode(data).decode()}")

    def received(self, topic: str) -> list[Received]:
        return [Received(e["topic"], base64.b64decode(e["data_base64"]), e.get("from"), e.get("seqno"),
                         e.get("message_id"), e.get("received_from"))
                for e in self.peer.find_events("pubsub-message", topic=topic)]

    async def peers(self, topic: str) -> tuple[set[str], set[str]]:
        reply = await self._command(f"pubsub-peers {topic}")
        return set(reply["mesh"]), set(reply["subscribers"])

    def diagnostics(self) -> str:
        return f"--- {self.name} ({self.kind}) stderr tail ---\n{self.peer.stderr_text()[-2500:]}"


@contextlib.contextmanager
def start_programs(specs: Sequence[tuple[str, str]], router: str, sign: str) -> Iterator[list[ForeignNode]]:
    """Start ``(name, kind)`` programs with the pubsub role, subscribed to :data:`TOPIC`; each is
    stopped by its own handle when the block ends. Started one after the other (each start is
    bounded by the helper's start-up timeout)."""
    with contextlib.ExitStack() as stack:
        nodes = []
        for name, kind in specs:
            cls = PROGRAMS[kind][1]
            peer = stack.enter_context(cls.listen(extra_args=pubsub_args(router, sign), startup_timeout=60.0))
            assert peer.ready.get("pubsub") == router, peer.ready
            assert ROUTER_PROTOCOL[router] in peer.protocols, peer.ready
            nodes.append(ForeignNode(name, kind, peer))
        yield nodes


# --- topology, mesh, rounds ----------------------------------------------------------------------


def ring_with_chords(n: int, chords: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Edges (dialer, listener) of a ring over ``n`` nodes plus ``chords``."""
    edges = [(i, (i + 1) % n) for i in range(n)] + list(chords)
    assert len({frozenset(e) for e in edges}) == len(edges), "duplicate edge"
    return edges


def is_connected(n: int, edges: Sequence[tuple[int, int]], without: int | None = None) -> bool:
    seen = {0 if without != 0 else 1}
    frontier = list(seen)
    while frontier:
        a = frontier.pop()
        for x, y in edges:
            for u, v in ((x, y), (y, x)):
                if u == a and v != without and v not in seen:
                    seen.add(v)
                    frontier.append(v)
    return len(seen) == n - (0 if without is None else 1)


async def connect_edges(nodes: Sequence[MeshNode], edges: Sequence[tuple[int, int]]) -> None:
    await asyncio.gather(*(nodes[a].connect(nodes[b].address) for a, b in edges))


async def wait_for_mesh(nodes: Sequence[MeshNode], edges: Sequence[tuple[int, int]], topic: str = TOPIC, *,
                        timeout: float = MESH_TIMEOUT) -> None:
    """Until, for every edge, each end has the other as a topic peer and in its mesh (for floodsub the
    programs report the subscribers as the mesh)."""
    missing: list[str] = []
    try:
        async with asyncio.timeout(timeout):
            while True:
                views = await asyncio.gather(*(n.peers(topic) for n in nodes))
                missing = []
                for a, b in edges:
                    for u, v in ((a, b), (b, a)):
                        mesh, subs = views[u]
                        if nodes[v].peer_id not in subs:
                            missing.append(f"{nodes[u].name} does not see {nodes[v].name} subscribed")
                        elif nodes[v].peer_id not in mesh:
                            missing.append(f"{nodes[u].name} has no {nodes[v].name} in its mesh")
                if not missing:
                    return
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"the mesh did not form within {timeout} s: {missing}\n"
                             + "\n".join(n.diagnostics() for n in nodes)) from None


def expected_message_id(sign: str, from_peer: str | None, seqno_hex: str | None, data: bytes) -> str:
    if sign == "strict":
        assert from_peer is not None and seqno_hex is not None
        return (PeerId.from_string(from_peer).to_bytes() + bytes.fromhex(seqno_hex)).hex()
    return hashlib.sha256(data).hexdigest()


def round_payloads(nodes: Sequence[MeshNode], label: str) -> dict[bytes, MeshNode]:
    nonce = os.urandom(4).hex()
    return {f"{label} {nonce} from {n.name}".encode(): n for n in nodes}


async def run_round(nodes: Sequence[MeshNode], sign: str, label: str, topic: str = TOPIC, *,
                    timeout: float = DELIVERY_TIMEOUT) -> dict[bytes, MeshNode]:
    """Every node publishes one message (all at once); wait until every node received all the
    others'. Returns payload -> publisher."""
    payloads = round_payloads(nodes, label)
    await asyncio.gather(*(n.publish(topic, data) for data, n in payloads.items()))

    def missing() -> list[str]:
        out = []
        for n in nodes:
            got = {r.data for r in n.received(topic)}
            lost = [p.name for d, p in payloads.items() if p is not n and d not in got]
            if lost:
                out.append(f"{n.name} lacks {lost}")
        return out

    try:
        async with asyncio.timeout(timeout):
            while missing():
                await asyncio.sleep(POLL)
    except TimeoutError:
        raise AssertionError(f"round {label!r} not delivered within {timeout} s: {missing()}\n"
                             + "\n".join(n.diagnostics() for n in nodes)) from None
    return payloads


def check_deliveries(nodes: Sequence[MeshNode], rounds: Sequence[dict[bytes, MeshNode]], sign: str,
                     topic: str = TOPIC) -> None:
    """Every node got every other node's message of every round exactly once, never its own, with
    the author fields the policy asks for and the agreed message id."""
    expected: dict[bytes, MeshNode] = {}
    for payloads in rounds:
        expected.update(payloads)
    for n in nodes:
        got = [r for r in n.received(topic) if r.data in expected]
        counts: dict[bytes, int] = {}
        for r in got:
            counts[r.data] = counts.get(r.data, 0) + 1
        dupes = {d.decode(): c for d, c in counts.items() if c != 1}
        assert not dupes, f"{n.name} received duplicates: {dupes}"
        own = [d.decode() for d, p in expected.items() if p is n and d in counts]
        assert not own, f"{n.name} reported its own messages: {own}"
        assert len(counts) == len(expected) - sum(1 for p in expected.values() if p is n)
        for r in got:
            author = expected[r.data]
            if sign == "strict":
                assert r.from_peer == author.peer_id, (n.name, r)
                assert r.seqno is not None and len(r.seqno) == 16, (n.name, r)
            else:
                assert r.from_peer is None and r.seqno is None, (n.name, r)
            if r.message_id is not None:
                assert r.message_id == expected_message_id(sign, r.from_peer, r.seqno, r.data), (n.name, r)
            if r.received_from is not None:
                assert r.received_from != n.peer_id


def check_ready_protocols(nodes: Sequence[MeshNode]) -> None:
    """What each program's ready line says it serves is what the others learned by identify."""
    programs = {n.peer_id: n for n in nodes if isinstance(n, ForeignNode)}
    checked = 0
    for n in programs.values():
        for e in n.peer.find_events("identify"):
            other = programs.get(str(e.get("peer")))
            if other is not None:
                assert set(e["protocols"]) == set(other.peer.protocols), (n.name, other.name, e["protocols"])
                checked += 1
    assert checked or len(programs) < 2


async def check_peer_lines(nodes: Sequence[MeshNode], edges: Sequence[tuple[int, int]], topic: str = TOPIC,
                           timeout: float = 10.0) -> None:
    """Each program printed a ``pubsub-peers`` line whose mesh and subscribers hold all its neighbours
    (the lines follow every change, so one must show the formed mesh)."""
    for i, n in enumerate(nodes):
        if not isinstance(n, ForeignNode):
            continue
        want = {nodes[b if a == i else a].peer_id for a, b in edges if i in (a, b)}
        await n.peer.await_event("pubsub-peers", topic=topic, timeout=timeout,
                                 predicate=lambda e: want <= set(e["mesh"]) and want <= set(e["subscribers"]))


def check_paths(nodes: Sequence[MeshNode], edges: Sequence[tuple[int, int]],
                rounds: Sequence[dict[bytes, MeshNode]], topic: str = TOPIC) -> None:
    """Every forwarder a node reports is one of its neighbours in ``edges``: the messages of
    non-neighbours (all delivered, see :func:`check_deliveries`) were relayed by other nodes."""
    neighbours = {i: {nodes[b if a == i else a].peer_id for a, b in edges if i in (a, b)}
                  for i in range(len(nodes))}
    expected = {data for payloads in rounds for data in payloads}
    for i, n in enumerate(nodes):
        for r in n.received(topic):
            if r.data in expected and r.received_from is not None:
                assert r.received_from in neighbours[i], \
                    f"{n.name} got {r.data!r} from non-neighbour {r.received_from}"


async def gather_rounds(nodes: Sequence[MeshNode], sign: str, rounds: int = 2) -> list[dict[bytes, MeshNode]]:
    """``rounds`` publication rounds; each round also fences the previous one's late duplicates."""
    out = []
    for i in range(rounds):
        out.append(await run_round(nodes, sign, f"round {i}"))
    return out


def by_kind(nodes: Sequence[ForeignNode]) -> dict[str, list[ForeignNode]]:
    out: dict[str, list[ForeignNode]] = {}
    for n in nodes:
        out.setdefault(n.kind, []).append(n)
    return out

