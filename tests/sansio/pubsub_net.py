"""A network of sans-IO pubsub routers pumped in memory, for the gossipsub core tests."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from libp2p._accel import FrameReader
from libp2p.identity.keys import generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.protocols.pubsub.config import GossipSubConfig, SignaturePolicy, ValidationResult
from libp2p.protocols.pubsub.core import PubsubRouter, RouterKind
from libp2p.protocols.pubsub.events import MessageReceived, PubsubEvent, ValidationRequested
from libp2p.protocols.pubsub.wire import MESHSUB_V12, PubsubMessage


@dataclass
class SimNode:
    router: PubsubRouter
    key: object
    received: list[PubsubMessage] = field(default_factory=list)
    events: list[PubsubEvent] = field(default_factory=list)
    validator: Callable[[PubsubMessage], ValidationResult] | None = None

    @property
    def peer_id(self) -> PeerId:
        return self.router.local_peer


class SimNetwork:
    """Routers linked by ``connect``; ``pump`` moves every queued RPC (bounded rounds) and
    ``run(seconds)`` advances the clock by heartbeats, pumping in between."""

    def __init__(self, seed: int = 1) -> None:
        self.now = 0.0
        self.rng = random.Random(seed)
        self.nodes: dict[PeerId, SimNode] = {}
        self.links: set[tuple[PeerId, PeerId]] = set()
        # a hook to drop or rewrite what a node sends: (src, dst, frame) -> frame or None
        self.intercept: Callable[[PeerId, PeerId, bytes], bytes | None] | None = None

    def add(
        self, *, kind: RouterKind = "gossipsub", config: GossipSubConfig | None = None,
        policy: SignaturePolicy = SignaturePolicy.STRICT_SIGN, direct: Iterable[PeerId] = (),
    ) -> SimNode:
        key = generate_key_pair()
        pid = PeerId.from_public_key(key.public_key)
        router = PubsubRouter(
            pid, kind=kind, config=config, signature_policy=policy, key=key, direct_peers=direct,
            rng=random.Random(self.rng.random()), seqno_start=1000, now=self.now,
        )
        node = SimNode(router, key)
        self.nodes[pid] = node
        return node

    def connect(self, a: SimNode, b: SimNode) -> None:
        """``a`` dialed ``b``; each negotiates the best protocol both routers speak."""
        def best(x: SimNode, y: SimNode) -> str:
            return next(p for p in x.router.protocols if p in y.router.protocols)
        a.router.add_peer(b.peer_id, best(a, b), outbound=True)
        b.router.add_peer(a.peer_id, best(b, a), outbound=False)
        self.links.add((a.peer_id, b.peer_id))
        self.links.add((b.peer_id, a.peer_id))

    def disconnect(self, a: SimNode, b: SimNode) -> None:
        self.links.discard((a.peer_id, b.peer_id))
        self.links.discard((b.peer_id, a.peer_id))
        a.router.remove_peer(b.peer_id, self.now)
        b.router.remove_peer(a.peer_id, self.now)

    def pump(self, max_rounds: int = 200) -> int:
        moved = 0
        for _ in range(max_rounds):
            self._drain_events()
            batch: list[tuple[PeerId, PeerId, bytes]] = []
            for pid, node in self.nodes.items():
                for dst, data in node.router.data_to_send():
                    batch.append((pid, dst, data))
            if not batch:
                return moved
            for src, dst, data in batch:
                if (src, dst) not in self.links:
                    continue
                if self.intercept is not None:
                    data2 = self.intercept(src, dst, data)
                    if data2 is None:
                        continue
                    data = data2
                reader = FrameReader(1 << 22)
                reader.feed(data)
                for frame in reader.frames():
                    self.nodes[dst].router.receive_rpc(src, frame, self.now)
                    moved += 1
        raise AssertionError("the network did not go quiet")

    def _drain_events(self) -> None:
        for node in self.nodes.values():
            while (event := node.router.next_event()) is not None:
                node.events.append(event)
                if isinstance(event, MessageReceived):
                    node.received.append(event.message)
                elif isinstance(event, ValidationRequested):
                    verdict = node.validator(event.message) if node.validator else ValidationResult.ACCEPT
                    node.router.report_validation(event.message.message_id, verdict, self.now)

    def run(self, seconds: float, step: float = 0.1) -> None:
        end = self.now + seconds
        while self.now < end:
            self.now = round(self.now + step, 6)
            for node in self.nodes.values():
                node.router.handle_timer(self.now)
            self.pump()

    def ring_with_chords(self, nodes: list[SimNode], degree: int) -> None:
        """A connected sparse topology: a ring plus random chords up to ``degree`` per node."""
        n = len(nodes)
        for i in range(n):
            self.connect(nodes[i], nodes[(i + 1) % n])
        for node in nodes:
            for _ in range(degree - 2):
                other = self.rng.choice(nodes)
                if other is not node and (node.peer_id, other.peer_id) not in self.links:
                    self.connect(node, other)


__all__ = ["MESHSUB_V12", "SimNetwork", "SimNode"]
