"""Hostile input to the pubsub router: each case is refused, counted against the sender, never
forwarded, and leaves the router's memory bounded and its other peers served."""

from __future__ import annotations

import pytest

from libp2p._accel import FrameReader, varint_encode
from libp2p.errors import FrameTooLargeError, LocalProtocolError
from libp2p.identity.keys import generate_key_pair
from libp2p.pb import pubsub_pb2
from libp2p.protocols.pubsub.config import GossipSubConfig, SignaturePolicy
from libp2p.protocols.pubsub.core import PubsubRouter
from libp2p.protocols.pubsub.events import MessageReceived
from libp2p.protocols.pubsub.wire import (
    DEFAULT_MAX_RPC_SIZE,
    MAX_CONTROL_IDS,
    PubsubDecodeError,
    decode_rpc,
    sign_message,
)
from libp2p.identity.peer_id import PeerId

from tests.sansio.test_gossipsub import T, Fake, _all_sent, _events, _router


def _mesh_with_witness() -> tuple[PubsubRouter, Fake, Fake]:
    """A router subscribed to T with a hostile peer and an honest witness, both in its mesh."""
    router = _router()
    router.subscribe(T, 0.0)
    bad, good = Fake(router), Fake(router)
    bad.subscribe()
    good.subscribe()
    router.heartbeat(1.0)
    router.data_to_send()
    _events(router)
    return router, bad, good


def _forwarded(router: PubsubRouter) -> list[bytes]:
    return [m.data for rpcs in _all_sent(router).values() for r in rpcs for m in r.publish]


def _delivered(router: PubsubRouter) -> list[bytes]:
    return [e.message.data for e in _events(router) if isinstance(e, MessageReceived)]


def test_oversized_rpc_is_refused_from_its_length_prefix() -> None:
    reader = FrameReader(DEFAULT_MAX_RPC_SIZE)
    reader.feed(varint_encode(DEFAULT_MAX_RPC_SIZE + 1))  # no payload needed to refuse it
    with pytest.raises(FrameTooLargeError):
        reader.next_frame()
    router, bad, _ = _mesh_with_witness()
    with pytest.raises(PubsubDecodeError):
        router.receive_rpc(bad.peer_id, b"\x00" * (DEFAULT_MAX_RPC_SIZE + 1), 1.0)
    assert router.peer_score(bad.peer_id, 1.0) < 0


def test_malformed_rpc_raises_a_typed_error_and_penalises() -> None:
    router, bad, _ = _mesh_with_witness()
    for junk in (b"\xff\xff\xff", b"\x0a\x05ab", b"\x12\xff\xff\xff\xff\x0f"):
        with pytest.raises(PubsubDecodeError):
            router.receive_rpc(bad.peer_id, junk, 1.0)
    assert router.peer_score(bad.peer_id, 1.0) < 0


def test_oversized_message_cannot_be_published() -> None:
    router = _router(max_rpc_size=4096)
    with pytest.raises(LocalProtocolError):
        router.publish(T, b"x" * 4096, 0.0)


@pytest.mark.parametrize("tamper", ["data", "signature", "wrong_key", "no_signature", "short_seqno"])
def test_bad_signatures_are_rejected_scored_and_not_forwarded(tamper: str) -> None:
    router, bad, _ = _mesh_with_witness()
    msg = bad.message(b"payload")
    if tamper == "data":
        msg.data = b"tampered"
    elif tamper == "signature":
        msg.signature = bytes(64)
    elif tamper == "wrong_key":
        msg.key = generate_key_pair().public_key.marshal()
    elif tamper == "no_signature":
        msg.ClearField("signature")
    elif tamper == "short_seqno":
        msg.seqno = b"\x01"
        sign_message(bad.key, msg)
    bad.publish(msg, 1.0)
    assert _forwarded(router) == [] and _delivered(router) == []
    assert router.stats["invalid"] == 1
    assert router.peer_score(bad.peer_id, 1.0) <= -100.0


def test_strict_no_sign_rejects_author_fields() -> None:
    key = generate_key_pair()
    router = PubsubRouter(PeerId.from_public_key(key.public_key), signature_policy=SignaturePolicy.STRICT_NO_SIGN)
    router.subscribe(T, 0.0)
    bad = Fake(router)
    bad.subscribe()
    bad.publish(bad.message(b"signed"), 1.0)
    assert _delivered(router) == [] and router.stats["invalid"] == 1


def test_unknown_huge_and_non_utf8_topics() -> None:
    router, bad, _ = _mesh_with_witness()
    bad.publish(bad.message(b"elsewhere", topic="not-subscribed"), 1.0)
    assert _forwarded(router) == [] and _delivered(router) == []
    assert router.peer_score(bad.peer_id, 1.0) >= 0  # not subscribed is not the sender's fault
    huge = "t" * 5000
    bad.subscribe(huge)
    bad.send(pubsub_pb2.RPC(subscriptions=[pubsub_pb2.RPC.SubOpts(subscribe=True, topicid=b"\xff\xfe")]))
    assert router.topic_peers(huge) == []
    assert all(len(t.encode(errors="replace")) <= 1024 for t in router._topic_peers)
    assert router.peer_score(bad.peer_id, 1.0) < 0


def test_subscription_flood_is_capped_per_peer_and_per_rpc() -> None:
    router = _router(max_peer_subscriptions=100)
    bad = Fake(router)
    for batch in range(5):
        bad.send(pubsub_pb2.RPC(subscriptions=[
            pubsub_pb2.RPC.SubOpts(subscribe=True, topicid=b"t%d-%d" % (batch, i)) for i in range(1000)
        ]))
    assert len(router._topic_peers) == 100
    with pytest.raises(PubsubDecodeError):
        decode_rpc(pubsub_pb2.RPC(subscriptions=[
            pubsub_pb2.RPC.SubOpts(subscribe=True, topicid=b"x") for _ in range(1001)
        ]).SerializeToString())


def test_ihave_with_100k_ids_is_refused_and_ihave_floods_are_bounded() -> None:
    router, bad, _ = _mesh_with_witness()
    ids = [i.to_bytes(8, "big") for i in range(100_000)]
    with pytest.raises(PubsubDecodeError):
        bad.control(1.0, ihave=[pubsub_pb2.ControlIHave(topicID=T.encode(), messageIDs=ids)])
    assert MAX_CONTROL_IDS < 100_000
    router.data_to_send()
    # many full IHAVEs within one heartbeat: at most max_ihave_length ids asked, max_ihave_messages honoured
    for k in range(30):
        chunk = ids[k * 3000 : (k + 1) * 3000]
        bad.control(1.0, ihave=[pubsub_pb2.ControlIHave(topicID=T.encode(), messageIDs=chunk)])
    asked = [i for r in _all_sent(router).get(bad.peer_id, []) for w in r.control.iwant for i in w.messageIDs]
    assert len(asked) <= GossipSubConfig().max_ihave_length
    assert router.promise_count <= GossipSubConfig().max_ihave_messages
    # every broken promise is penalised at the next heartbeats
    router.heartbeat(10.0)
    assert router.peer_score(bad.peer_id, 10.0) < 0


def test_iwant_repeats_are_served_at_most_gossip_retransmission_times() -> None:
    router, bad, good = _mesh_with_witness()
    msg = good.message(b"wanted")
    good.publish(msg, 1.0)
    router.data_to_send()
    from libp2p.protocols.pubsub.wire import default_message_id

    msg_id = default_message_id(msg)
    for _ in range(10):
        bad.control(1.0, iwant=[pubsub_pb2.ControlIWant(messageIDs=[msg_id] * 5)])
    served = [m for r in _all_sent(router).get(bad.peer_id, []) for m in r.publish]
    assert len(served) == GossipSubConfig().gossip_retransmission


def test_repeated_graft_during_backoff_ends_in_the_graylist() -> None:
    router, bad, good = _mesh_with_witness()
    bad.control(1.0, prune=[pubsub_pb2.ControlPrune(topicID=T.encode())])
    for i in range(10):
        bad.control(1.0 + i * 0.1, graft=[pubsub_pb2.ControlGraft(topicID=T.encode())])
    assert bad.peer_id not in router.mesh_peers(T)
    assert router.peer_score(bad.peer_id, 2.0) < GossipSubConfig().score_thresholds.graylist_threshold
    dropped = router.stats["rpcs_dropped_graylist"]
    bad.publish(bad.message(b"ignored"), 2.0)
    assert router.stats["rpcs_dropped_graylist"] == dropped + 1
    # the honest peer is still served
    good.publish(good.message(b"still works"), 2.0)
    assert _delivered(router) == [b"still works"]


def test_prune_with_huge_backoff_and_bogus_px_is_bounded() -> None:
    router, bad, _ = _mesh_with_witness()
    infos = [pubsub_pb2.PeerInfo(peerID=bytes([i % 256]) * 40, signedPeerRecord=b"\x00" * 100) for i in range(500)]
    bad.control(1.0, prune=[pubsub_pb2.ControlPrune(topicID=T.encode(), peers=infos, backoff=2**63)])
    assert not router.in_backoff(T, bad.peer_id, 1.0 + 24 * 3600 + 1)
    assert not [e for e in _events(router) if type(e).__name__ == "ConnectRequested"]


def test_seen_cache_and_message_cache_stay_bounded() -> None:
    router = _router(max_seen_messages=500, seen_ttl=1000.0)
    router.subscribe(T, 0.0)
    src = Fake(router)
    src.subscribe()
    for i in range(2000):
        src.publish(src.message(b"m%d" % i), 0.0)
    assert router.seen_count == 500
    for i in range(6):
        router.heartbeat(1.0 + i)
    assert router.mcache_size == 0


def test_a_forged_copy_cannot_shadow_the_real_message() -> None:
    router, bad, good = _mesh_with_witness()
    real = good.message(b"real")
    forged = pubsub_pb2.Message()
    forged.CopyFrom(real)
    forged.data = b"forged"  # same from+seqno, so the same id; the signature no longer matches
    bad.publish(forged, 1.0)
    good.publish(real, 1.0)
    assert _delivered(router) == [b"real"]
    assert router.peer_score(bad.peer_id, 1.0) < 0 <= router.peer_score(good.peer_id, 1.0)


def test_prunes_and_grafts_for_foreign_topics_leave_no_state() -> None:
    router, bad, _ = _mesh_with_witness()
    topics = [b"foreign-%d" % i for i in range(2000)]
    bad.control(1.0, prune=[pubsub_pb2.ControlPrune(topicID=t, backoff=3600) for t in topics],
                graft=[pubsub_pb2.ControlGraft(topicID=t) for t in topics])
    assert set(router._backoff) <= {T}
    assert set(router._mesh) == {T}
