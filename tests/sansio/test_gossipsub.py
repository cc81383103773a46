"""The gossipsub/floodsub router core pumped in memory: delivery, mesh maintenance, fanout,
GRAFT/PRUNE with backoff and PX, IHAVE/IWANT with promises, IDONTWANT, direct peers, scoring."""

from __future__ import annotations

import random

import pytest

from libp2p._accel import FrameReader, varint_encode
from libp2p.identity.keys import KeyType, generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.identity.peer_record import PeerRecord
from libp2p.multiaddr import Multiaddr
from libp2p.pb import pubsub_pb2
from libp2p.protocols.pubsub.config import (
    GossipSubConfig,
    PeerScoreParams,
    SignaturePolicy,
    TopicScoreParams,
    ValidationResult,
)
from libp2p.protocols.pubsub.core import PubsubRouter
from libp2p.protocols.pubsub.events import ConnectRequested, Grafted, MessageReceived, PeerJoinedTopic
from libp2p.protocols.pubsub.wire import (
    FLOODSUB_PROTOCOL_ID,
    MESHSUB_V10,
    MESHSUB_V11,
    MESHSUB_V12,
    MESHSUB_V13,
    decode_rpc,
    default_message_id,
    sign_message,
    verify_message_signature,
)

from tests.sansio.pubsub_net import SimNetwork, SimNode

T = "topic"


def _decode_out(data: bytes) -> list[pubsub_pb2.RPC]:
    reader = FrameReader(1 << 22)
    reader.feed(data)
    return [decode_rpc(f) for f in reader.frames()]


def _sent_to(router: PubsubRouter, peer: PeerId) -> list[pubsub_pb2.RPC]:
    out: list[pubsub_pb2.RPC] = []
    for dst, data in router.data_to_send():
        if dst == peer:
            out.extend(_decode_out(data))
    return out


def _all_sent(router: PubsubRouter) -> dict[PeerId, list[pubsub_pb2.RPC]]:
    return {dst: _decode_out(data) for dst, data in router.data_to_send()}


class Fake:
    """A hand-driven remote peer speaking to one router."""

    def __init__(self, router: PubsubRouter, protocol: str = MESHSUB_V12, *, outbound: bool = False) -> None:
        self.key = generate_key_pair()
        self.peer_id = PeerId.from_public_key(self.key.public_key)
        self.router = router
        self.seqno = 0
        router.add_peer(self.peer_id, protocol, outbound=outbound)

    def send(self, rpc: pubsub_pb2.RPC, now: float = 0.0) -> None:
        self.router.receive_rpc(self.peer_id, rpc.SerializeToString(), now)

    def subscribe(self, topic: str = T, now: float = 0.0) -> None:
        self.send(pubsub_pb2.RPC(subscriptions=[pubsub_pb2.RPC.SubOpts(subscribe=True, topicid=topic.encode())]), now)

    def message(self, data: bytes, topic: str = T) -> pubsub_pb2.Message:
        self.seqno += 1
        msg = pubsub_pb2.Message(data=data, topic=topic.encode(), seqno=self.seqno.to_bytes(8, "big"))
        setattr(msg, "from", self.peer_id.to_bytes())
        sign_message(self.key, msg)
        return msg

    def publish(self, msg: pubsub_pb2.Message, now: float = 0.0) -> None:
        self.send(pubsub_pb2.RPC(publish=[msg]), now)

    def control(self, now: float = 0.0, **kwargs: object) -> None:
        self.send(pubsub_pb2.RPC(control=pubsub_pb2.ControlMessage(**kwargs)), now)  # type: ignore[arg-type]


def _router(**config: object) -> PubsubRouter:
    key = generate_key_pair()
    cfg = GossipSubConfig(**config)  # type: ignore[arg-type]
    return PubsubRouter(PeerId.from_public_key(key.public_key), key=key, config=cfg, rng=random.Random(7))


def _events(router: PubsubRouter) -> list[object]:
    out = []
    while (e := router.next_event()) is not None:
        out.append(e)
    return out


# --- delivery over a network of routers -----------------------------------------------------------


@pytest.mark.parametrize("policy", [SignaturePolicy.STRICT_SIGN, SignaturePolicy.STRICT_NO_SIGN])
def test_sparse_network_delivers_every_message_exactly_once(policy: SignaturePolicy) -> None:
    net = SimNetwork(seed=3)
    nodes = [net.add(policy=policy) for _ in range(40)]
    net.ring_with_chords(nodes, 4)
    for n in nodes:
        n.router.subscribe(T, net.now)
    net.run(3)
    for i, n in enumerate(nodes):
        n.router.publish(T, b"msg %d" % i, net.now)
    net.pump()
    net.run(2)
    for n in nodes:
        assert sorted(m.data for m in n.received) == sorted(b"msg %d" % i for i in range(40))
        assert len({m.message_id for m in n.received}) == 40


def test_mesh_degree_is_kept_between_d_lo_and_d_hi() -> None:
    net = SimNetwork(seed=5)
    nodes = [net.add() for _ in range(25)]
    for i, a in enumerate(nodes):
        for b in nodes[i + 1 :]:
            net.connect(a, b)
    for n in nodes:
        n.router.subscribe(T, net.now)
    net.run(5)
    cfg = GossipSubConfig()
    for n in nodes:
        assert cfg.d_lo <= len(n.router.mesh_peers(T)) <= cfg.d_hi
    # meshes are symmetric once the GRAFTs and PRUNEs settle
    for n in nodes:
        for p in n.router.mesh_peers(T):
            assert n.peer_id in net.nodes[p].router.mesh_peers(T)


def test_outbound_quota_keeps_d_out_outbound_peers_when_pruning() -> None:
    router = _router(d=6, d_lo=5, d_hi=8, d_out=2, d_score=0, score_params=None)
    router.subscribe(T, 0.0)
    inbound = [Fake(router) for _ in range(12)]
    outbound = [Fake(router, outbound=True) for _ in range(2)]
    for f in inbound + outbound:
        f.subscribe()
    for f in inbound + outbound:
        f.control(graft=[pubsub_pb2.ControlGraft(topicID=T.encode())])
    router.heartbeat(1.0)
    mesh = set(router.mesh_peers(T))
    assert len(mesh) == 6
    assert {f.peer_id for f in outbound} <= mesh


def test_gossip_ihave_iwant_reaches_a_peer_outside_the_mesh() -> None:
    cfg = GossipSubConfig(d=1, d_lo=1, d_hi=1, d_out=0, d_score=0, d_lazy=1, flood_publish=False)
    net = SimNetwork(seed=11)
    a, b, c = net.add(config=cfg), net.add(config=cfg), net.add(config=cfg)
    net.connect(a, b)
    net.connect(a, c)
    for n in (a, b, c):
        n.router.subscribe(T, net.now)
    net.run(3)
    (in_mesh,) = a.router.mesh_peers(T)
    outside = c if in_mesh == b.peer_id else b
    assert a.router.publish(T, b"gossiped", net.now) == 1
    net.pump()
    assert not outside.received
    net.run(1.2)  # a heartbeat: IHAVE to the non-mesh peer, which asks with IWANT
    assert [m.data for m in outside.received] == [b"gossiped"]
    assert a.router.stats["iwant_served"] == 1
    assert outside.router.stats["iwant_sent"] == 1


def test_iwant_promise_broken_penalises_the_advertiser() -> None:
    router = _router()
    router.subscribe(T, 0.0)
    liar = Fake(router)
    liar.subscribe()
    liar.control(ihave=[pubsub_pb2.ControlIHave(topicID=T.encode(), messageIDs=[b"\xff\x00never"])])
    rpcs = _sent_to(router, liar.peer_id)
    assert any(b"\xff\x00never" in i.messageIDs for r in rpcs for i in r.control.iwant)
    assert router.promise_count == 1
    router.heartbeat(5.0)  # past iwant_followup_time (3 s)
    assert router.stats["broken_promises"] == 1
    assert router.peer_score(liar.peer_id, 5.0) < 0


def test_floodsub_router_forwards_to_every_topic_peer() -> None:
    net = SimNetwork(seed=2)
    nodes = [net.add(kind="floodsub") for _ in range(6)]
    for i in range(5):
        net.connect(nodes[i], nodes[i + 1])
    for n in nodes:
        n.router.subscribe(T, net.now)
    net.pump()
    nodes[0].router.publish(T, b"flood", net.now)
    net.pump()
    assert all([m.data for m in n.received] == [b"flood"] for n in nodes)
    assert nodes[0].router.protocols == (FLOODSUB_PROTOCOL_ID,)


def test_gossipsub_forwards_to_floodsub_peers_and_sends_them_no_control() -> None:
    router = _router()
    router.subscribe(T, 0.0)
    flood = Fake(router, FLOODSUB_PROTOCOL_ID)
    flood.subscribe()
    router.heartbeat(1.0)
    assert flood.peer_id not in router.mesh_peers(T)
    other = Fake(router)
    other.subscribe()
    other.publish(other.message(b"x"))
    rpcs = _sent_to(router, flood.peer_id)
    assert [m.data for r in rpcs for m in r.publish] == [b"x"]
    assert not any(r.HasField("control") for r in rpcs)


def test_fanout_when_publishing_without_subscription_expires_after_ttl() -> None:
    router = _router(flood_publish=False, fanout_ttl=60.0)
    fakes = [Fake(router) for _ in range(10)]
    for f in fakes:
        f.subscribe()
    assert router.publish(T, b"out", 0.0) == 6
    assert len(router.fanout_peers(T)) == 6
    router.heartbeat(30.0)
    assert len(router.fanout_peers(T)) == 6
    router.heartbeat(61.0)
    assert router.fanout_peers(T) == []


def test_flood_publish_sends_own_messages_to_every_topic_peer() -> None:
    router = _router()
    router.subscribe(T, 0.0)
    fakes = [Fake(router) for _ in range(15)]
    for f in fakes:
        f.subscribe()
    router.heartbeat(1.0)
    assert router.publish(T, b"all", 1.0) == 15


# --- GRAFT / PRUNE ----------------------------------------------------------------------------


def test_prune_sets_backoff_and_graft_during_backoff_is_refused_and_penalised() -> None:
    router = _router()
    router.subscribe(T, 0.0)
    peer = Fake(router)
    peer.subscribe()
    router.heartbeat(1.0)
    assert peer.peer_id in router.mesh_peers(T)
    peer.control(1.5, prune=[pubsub_pb2.ControlPrune(topicID=T.encode(), backoff=60)])
    assert peer.peer_id not in router.mesh_peers(T)
    assert router.in_backoff(T, peer.peer_id, 60.0) and not router.in_backoff(T, peer.peer_id, 62.0)
    router.data_to_send()
    # we do not graft it back during the backoff
    router.heartbeat(2.0)
    assert peer.peer_id not in router.mesh_peers(T)
    # its GRAFT during our backoff is answered with PRUNE and counted twice (a flood: < 10 s)
    peer.control(3.0, graft=[pubsub_pb2.ControlGraft(topicID=T.encode())])
    rpcs = _sent_to(router, peer.peer_id)
    assert [p.topicID for r in rpcs for p in r.control.prune] == [T.encode()]
    assert peer.peer_id not in router.mesh_peers(T)
    assert router.peer_score(peer.peer_id, 3.0) == pytest.approx(-10.0 * 4)  # penalty 2, squared, weight -10


def test_graft_for_unknown_topic_is_ignored_and_direct_peer_graft_refused() -> None:
    key = generate_key_pair()
    direct_key = generate_key_pair()
    direct_id = PeerId.from_public_key(direct_key.public_key)
    router = PubsubRouter(PeerId.from_public_key(key.public_key), key=key, direct_peers=[direct_id])
    router.subscribe(T, 0.0)
    stranger = Fake(router)
    stranger.control(graft=[pubsub_pb2.ControlGraft(topicID=b"not-ours")])
    assert not any(r.control.prune for r in _sent_to(router, stranger.peer_id))
    router.add_peer(direct_id, MESHSUB_V12)
    router.receive_rpc(direct_id, pubsub_pb2.RPC(
        subscriptions=[pubsub_pb2.RPC.SubOpts(subscribe=True, topicid=T.encode())],
        control=pubsub_pb2.ControlMessage(graft=[pubsub_pb2.ControlGraft(topicID=T.encode())]),
    ).SerializeToString(), 0.0)
    assert direct_id not in router.mesh_peers(T)
    assert any(r.control.prune for r in _sent_to(router, direct_id))


def test_direct_peers_always_get_messages_and_are_reconnected() -> None:
    net = SimNetwork(seed=4)
    a = net.add()
    b = net.add()
    a.router.direct_peers = frozenset({b.peer_id})
    b.router.direct_peers = frozenset({a.peer_id})
    net.connect(a, b)
    for n in (a, b):
        n.router.subscribe(T, net.now)
    net.run(2)
    assert a.router.mesh_peers(T) == []
    a.router.publish(T, b"direct", net.now)
    net.pump()
    assert [m.data for m in b.received] == [b"direct"]
    net.disconnect(a, b)
    _events(a.router)
    for i in range(300):
        a.router.heartbeat(10.0 + i)
    assert ConnectRequested(b.peer_id) in _events(a.router)


def test_prune_px_offers_peers_and_px_is_taken_only_from_well_scored_peers() -> None:
    router = _router(prune_peers=3)
    router.subscribe(T, 0.0)
    fakes = [Fake(router, outbound=True) for _ in range(14)]  # outbound GRAFTs are taken beyond D_hi
    for f in fakes:
        f.subscribe()
    for f in fakes:
        f.control(graft=[pubsub_pb2.ControlGraft(topicID=T.encode())])
    router.data_to_send()
    router.heartbeat(1.0)  # 14 > D_hi: prune to D with PX
    sent = _all_sent(router)
    prunes = [p for f in fakes for r in sent.get(f.peer_id, []) for p in r.control.prune]
    assert prunes and all(p.backoff == 60 and 0 < len(p.peers) <= 3 for p in prunes)
    # a PRUNE carrying PX from a peer below accept_px_threshold (score 0 < 10) is not acted on
    key = generate_key_pair()
    px_id = PeerId.from_public_key(key.public_key)
    record = PeerRecord.new(px_id, [Multiaddr("/ip4/127.0.0.1/tcp/4001")]).seal(key).marshal()
    sender = router.mesh_peers(T)[0]
    prune = pubsub_pb2.ControlPrune(topicID=T.encode(), peers=[pubsub_pb2.PeerInfo(peerID=px_id.to_bytes(), signedPeerRecord=record)])
    _events(router)
    router.receive_rpc(sender, pubsub_pb2.RPC(control=pubsub_pb2.ControlMessage(prune=[prune])).SerializeToString(), 2.0)
    assert not [e for e in _events(router) if isinstance(e, ConnectRequested)]


def test_px_from_a_trusted_peer_requests_connections_with_verified_records() -> None:
    params = PeerScoreParams(app_specific_score=lambda p: 100.0)
    router = _router(score_params=params)
    router.subscribe(T, 0.0)
    good = Fake(router)
    good.subscribe()
    router.heartbeat(1.0)
    key = generate_key_pair()
    px_id = PeerId.from_public_key(key.public_key)
    record = PeerRecord.new(px_id, [Multiaddr("/ip4/127.0.0.1/tcp/4001")]).seal(key).marshal()
    other_key = generate_key_pair()
    other_id = PeerId.from_public_key(other_key.public_key)
    bare_id = PeerId.from_public_key(generate_key_pair().public_key)
    infos = [
        pubsub_pb2.PeerInfo(peerID=px_id.to_bytes(), signedPeerRecord=record),
        pubsub_pb2.PeerInfo(peerID=other_id.to_bytes(), signedPeerRecord=record),  # someone else's record
        pubsub_pb2.PeerInfo(peerID=b"\x00\x01garbage"),  # not a peer id
        pubsub_pb2.PeerInfo(peerID=bare_id.to_bytes(), signedPeerRecord=b"\x0a\x03bad"),  # malformed record
    ]
    _events(router)
    good.control(2.0, prune=[pubsub_pb2.ControlPrune(topicID=T.encode(), peers=infos, backoff=10)])
    connects = [e for e in _events(router) if isinstance(e, ConnectRequested)]
    assert connects == [ConnectRequested(px_id, record)]


def test_v10_peers_get_no_backoff_or_px_and_v11_peers_no_idontwant() -> None:
    router = _router(d=2, d_lo=1, d_hi=2, d_out=0, d_score=1)
    router.subscribe(T, 0.0)
    old = [Fake(router, MESHSUB_V10) for _ in range(2)]
    mid = [Fake(router, MESHSUB_V11) for _ in range(2)]
    for f in old + mid:
        f.subscribe()
        f.control(graft=[pubsub_pb2.ControlGraft(topicID=T.encode())])
    router.data_to_send()
    router.heartbeat(1.0)
    sent = _all_sent(router)
    for f in old:
        for r in sent.get(f.peer_id, []):
            for p in r.control.prune:
                assert not p.HasField("backoff") and not p.peers
    # a large message goes on with IDONTWANT only to v1.2 mesh peers
    new = Fake(router, MESHSUB_V12)
    new.subscribe()
    new.control(graft=[pubsub_pb2.ControlGraft(topicID=T.encode())])
    router.data_to_send()
    src = mid[0]
    src.publish(src.message(b"x" * 2000))
    for dst, data in router.data_to_send():
        for r in _decode_out(data):
            if dst == new.peer_id and new.peer_id in router.mesh_peers(T):
                assert r.control.idontwant or r.publish
            if dst in {f.peer_id for f in old + mid}:
                assert not r.control.idontwant


def test_idontwant_suppresses_forwarding_and_is_bounded() -> None:
    router = _router(max_idontwant_messages=5)
    router.subscribe(T, 0.0)
    a, b = Fake(router), Fake(router)
    for f in (a, b):
        f.subscribe()
    router.heartbeat(1.0)
    msg = a.message(b"y" * 10)
    b.control(idontwant=[pubsub_pb2.ControlIDontWant(messageIDs=[default_message_id(msg)])])
    b.control(idontwant=[pubsub_pb2.ControlIDontWant(messageIDs=[b"id%d" % i for i in range(100)])])
    assert router.dont_send_count(b.peer_id) == 5
    router.data_to_send()
    a.publish(msg)
    assert not any(r.publish for r in _sent_to(router, b.peer_id))
    for i in range(4):
        router.heartbeat(2.0 + i)
    assert router.dont_send_count(b.peer_id) == 0


def test_opportunistic_graft_adds_better_peers_when_the_median_is_low() -> None:
    scores: dict[PeerId, float] = {}
    params = PeerScoreParams(app_specific_score=lambda p: scores.get(p, 0.0))
    router = _router(score_params=params, opportunistic_graft_ticks=1, d=3, d_lo=2, d_hi=4, d_out=0, d_score=1)
    router.subscribe(T, 0.0)
    weak = [Fake(router) for _ in range(3)]
    for f in weak:
        f.subscribe()
    router.heartbeat(1.0)
    assert len(router.mesh_peers(T)) == 3
    strong = [Fake(router) for _ in range(3)]
    for f in strong:
        scores[f.peer_id] = 50.0
        f.subscribe()
    router.heartbeat(2.0)
    assert len(set(router.mesh_peers(T)) & {f.peer_id for f in strong}) == 2


# --- score ------------------------------------------------------------------------------------


def test_score_counts_time_in_mesh_first_deliveries_and_decays() -> None:
    router = _router()
    router.subscribe(T, 0.0)
    f = Fake(router)
    f.subscribe()
    router.heartbeat(1.0)
    f.publish(f.message(b"one"), 1.0)
    f.publish(f.message(b"two"), 1.0)
    s = router.peer_score(f.peer_id, 11.0)
    assert s == pytest.approx(2 * 1.0 + 10 * 0.01)
    router.heartbeat(2.0)  # one decay: first deliveries halve
    assert router.peer_score(f.peer_id, 11.0) == pytest.approx(1.0 + 10 * 0.01)


def test_mesh_delivery_deficit_p3_and_sticky_p3b() -> None:
    topic = TopicScoreParams(
        mesh_message_deliveries_weight=-1.0, mesh_message_deliveries_threshold=4.0,
        mesh_message_deliveries_activation=2.0, mesh_failure_penalty_weight=-1.0, time_in_mesh_weight=0.0,
        first_message_deliveries_weight=0.0,
    )
    router = _router(score_params=PeerScoreParams(default_topic_params=topic))
    router.subscribe(T, 0.0)
    f = Fake(router)
    f.subscribe()
    router.heartbeat(1.0)  # grafted at 1.0
    assert router.peer_score(f.peer_id, 2.5) == 0.0  # before activation
    assert router.peer_score(f.peer_id, 3.5) == pytest.approx(-16.0)  # deficit 4, squared
    f.control(3.5, prune=[pubsub_pb2.ControlPrune(topicID=T.encode())])
    assert router.peer_score(f.peer_id, 3.6) == pytest.approx(-16.0)  # P3b sticks after the prune


def test_invalid_messages_and_graylisting() -> None:
    router = _router()
    router.subscribe(T, 0.0)
    router.validated_topics.add(T)
    bad = Fake(router)
    bad.subscribe()
    for i in range(3):
        msg = bad.message(b"bad %d" % i)
        bad.publish(msg)
        router.report_validation(default_message_id(msg), ValidationResult.REJECT, 0.0)
    assert router.peer_score(bad.peer_id, 0.0) == pytest.approx(-100.0 * 9)
    # below the graylist threshold every RPC is dropped unread
    before = router.stats["rpcs_dropped_graylist"]
    bad.subscribe("other")
    assert router.stats["rpcs_dropped_graylist"] == before + 1
    assert bad.peer_id not in router.topic_peers("other")


def test_ip_colocation_penalty_spares_loopback() -> None:
    router = _router(score_params=PeerScoreParams(ip_colocation_factor_threshold=2))
    ids = [PeerId.from_public_key(generate_key_pair().public_key) for _ in range(8)]
    for p in ids[:4]:
        router.add_peer(p, MESHSUB_V12, ip="203.0.113.5")
    for p in ids[4:]:
        router.add_peer(p, MESHSUB_V12, ip="127.0.0.1")
    assert router.peer_score(ids[0], 0.0) == pytest.approx(-10.0 * 4)
    assert router.peer_score(ids[5], 0.0) == 0.0


def test_score_is_retained_after_disconnect() -> None:
    router = _router()
    router.subscribe(T, 0.0)
    router.validated_topics.add(T)
    bad = Fake(router)
    bad.subscribe()
    msg = bad.message(b"bad")
    bad.publish(msg)
    router.report_validation(default_message_id(msg), ValidationResult.REJECT, 0.0)
    router.remove_peer(bad.peer_id, 1.0)
    router.add_peer(bad.peer_id, MESHSUB_V12)
    assert router.peer_score(bad.peer_id, 2.0) < 0


# --- messages and signing ------------------------------------------------------------------------


def test_signature_inlines_the_key_only_when_the_peer_id_does_not_carry_it() -> None:
    ed = generate_key_pair()
    msg = pubsub_pb2.Message(data=b"d", topic=b"t", seqno=b"\x00" * 8)
    setattr(msg, "from", PeerId.from_public_key(ed.public_key).to_bytes())
    sign_message(ed, msg)
    assert not msg.HasField("key")
    assert verify_message_signature(msg) == PeerId.from_public_key(ed.public_key)
    ec = generate_key_pair(KeyType.ECDSA)
    msg2 = pubsub_pb2.Message(data=b"d", topic=b"t", seqno=b"\x00" * 8)
    setattr(msg2, "from", PeerId.from_public_key(ec.public_key).to_bytes())
    sign_message(ec, msg2)
    assert msg2.HasField("key")
    assert verify_message_signature(msg2) == PeerId.from_public_key(ec.public_key)


def test_own_message_is_delivered_locally_and_not_forwarded_back() -> None:
    net = SimNetwork()
    a, b = net.add(), net.add()
    net.connect(a, b)
    for n in (a, b):
        n.router.subscribe(T, net.now)
    net.run(1)
    a.router.publish(T, b"mine", net.now)
    net.pump()
    assert [m.data for m in a.received] == [b"mine"] and a.received[0].received_from == a.peer_id
    assert a.router.stats["duplicates"] == 0


def test_validation_ignore_drops_without_penalty_and_throttle_bounds_pending() -> None:
    router = _router(max_pending_validations=3)
    router.subscribe(T, 0.0)
    router.validated_topics.add(T)
    f = Fake(router)
    f.subscribe()
    msgs = [f.message(b"m%d" % i) for i in range(5)]
    for m in msgs:
        f.publish(m)
    assert router.pending_validations == 3
    assert router.stats["ignored"] == 2
    for m in msgs[:3]:
        router.report_validation(default_message_id(m), ValidationResult.IGNORE, 0.0)
    assert router.peer_score(f.peer_id, 0.0) == 0.0
    assert not [e for e in _events(router) if isinstance(e, MessageReceived)]
    # a throttled message was not marked seen: it can still arrive later
    f.publish(msgs[4])
    assert router.pending_validations == 1


def test_events_report_joins_and_grafts() -> None:
    router = _router()
    router.subscribe(T, 0.0)
    f = Fake(router)
    f.subscribe()
    router.heartbeat(1.0)
    events = _events(router)
    assert PeerJoinedTopic(T, f.peer_id) in events and Grafted(T, f.peer_id) in events


def test_sim_nodes_are_typed() -> None:
    net = SimNetwork()
    assert isinstance(net.add(), SimNode)


def test_v13_extensions_only_in_the_first_rpc_of_a_stream() -> None:
    router = _router()
    router.subscribe(T, 0.0)
    peer = Fake(router, MESHSUB_V13)
    # an announcement with an extension we do not know (go's testExtension field) is accepted once
    ext = pubsub_pb2.ControlExtensions()
    ext.ParseFromString(varint_encode(6492434 << 3) + b"\x01")  # testExtension = true
    first = pubsub_pb2.RPC(subscriptions=[pubsub_pb2.RPC.SubOpts(subscribe=True, topicid=T.encode())],
                           control=pubsub_pb2.ControlMessage(extensions=ext))
    peer.send(first)
    assert router.peer_score(peer.peer_id, 0.0) == 0.0
    peer.send(pubsub_pb2.RPC(control=pubsub_pb2.ControlMessage(extensions=ext)))
    assert router.peer_score(peer.peer_id, 0.0) < 0  # a second announcement is misbehaviour
    # a new inbound stream may announce again
    router.inbound_stream_opened(peer.peer_id)
    before = router.peer_score(peer.peer_id, 0.0)
    peer.send(first)
    assert router.peer_score(peer.peer_id, 0.0) == before
    # v1.3 peers get IDONTWANT like v1.2 peers
    fresh = Fake(router, MESHSUB_V13)
    fresh.subscribe()
    router.heartbeat(1.0)
    assert fresh.peer_id in router.mesh_peers(T)
    router.data_to_send()
    other = Fake(router)
    other.subscribe()
    other.publish(other.message(b"z" * 2000), 1.0)
    sent = _all_sent(router)
    assert any(r.control.idontwant for r in sent.get(fresh.peer_id, []))


def test_many_messages_to_one_peer_are_split_into_rpcs_within_max_rpc_size() -> None:
    router = _router(max_rpc_size=4096, flood_publish=True)
    router.subscribe(T, 0.0)
    peer = Fake(router)
    peer.subscribe()
    router.data_to_send()
    for i in range(20):
        router.publish(T, bytes([i]) * 1000, 0.0)
    (data,) = [d for dst, d in router.data_to_send() if dst == peer.peer_id]
    reader = FrameReader(4096)
    reader.feed(data)
    frames = reader.frames()
    assert len(frames) >= 5 and all(len(f) <= 4096 for f in frames)
    got = [m.data for f in frames for m in decode_rpc(f).publish]
    assert got == [bytes([i]) * 1000 for i in range(20)]
