"""``GossipSubConfig.received_message_tracer``: every message of every RPC received, duplicates
and invalid ones included, is reported once per copy with its sender (go's RawTracer RecvRPC)."""

from __future__ import annotations

from collections import Counter

from libp2p.identity.peer_id import PeerId
from libp2p.pb import pubsub_pb2
from libp2p.protocols.pubsub.config import GossipSubConfig, SignaturePolicy, ValidationResult
from tests.sansio.pubsub_net import SimNetwork

T = "tracer-topic"


def test_tracer_sees_every_copy_while_the_application_sees_each_message_once() -> None:
    copies: dict[int, list[tuple[PeerId, bytes]]] = {}

    def tracer_for(index: int) -> GossipSubConfig:
        seen = copies.setdefault(index, [])

        def trace(sender: PeerId, msg: pubsub_pb2.Message) -> None:
            seen.append((sender, bytes(msg.data)))

        return GossipSubConfig(received_message_tracer=trace)

    net = SimNetwork(seed=11)
    nodes = [net.add(config=tracer_for(i), policy=SignaturePolicy.STRICT_NO_SIGN) for i in range(8)]
    for i, node in enumerate(nodes):  # a complete graph: flood publishing gives duplicates for sure
        for other in nodes[i + 1:]:
            net.connect(node, other)
    nodes[-1].validator = lambda m: ValidationResult.REJECT  # invalid to this node: still traced
    nodes[-1].router.validated_topics.add(T)
    for node in nodes:
        node.router.subscribe(T, net.now)
    net.run(2)
    nodes[0].router.publish(T, b"one message", net.now)
    net.pump()
    net.run(1)
    for i, node in enumerate(nodes[1:], 1):
        traced = copies[i]
        assert traced and all(data == b"one message" for _, data in traced)
        assert node.router.stats["messages_received"] == len(traced)
        senders = Counter(sender for sender, _ in traced)
        assert all(count == 1 for count in senders.values())  # each neighbour's copy once
        assert nodes[0].peer_id in senders
        if i < len(nodes) - 1:
            assert [m.data for m in node.received] == [b"one message"]
    assert sum(len(c) for c in copies.values()) > len(nodes) - 1  # duplicates were traced too
    assert nodes[-1].received == []
