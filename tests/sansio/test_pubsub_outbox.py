"""What the router hands the service per peer: IDONTWANT entries encoded once and merged into the
RPC's one control field, a lone message framed once for every peer, and RPC counts checked."""

from __future__ import annotations

import pytest

from libp2p.pb import pubsub_pb2
from libp2p.protocols.pubsub.core import PubsubRouter
from libp2p.protocols.pubsub.wire import MAX_CONTROL_IDS, PubsubDecodeError, decode_rpc, default_message_id
from tests.sansio.test_gossipsub import T, Fake, _decode_out, _router


def _meshed(router: PubsubRouter, count: int) -> list[Fake]:
    router.subscribe(T, 0.0)
    fakes = [Fake(router) for _ in range(count)]
    for f in fakes:
        f.subscribe()
        f.control(graft=[pubsub_pb2.ControlGraft(topicID=T.encode())])
    router.data_to_send()
    return fakes


def _control_fields(frame: bytes) -> int:
    """How many RPC.control (field 3) fields the raw RPC has."""
    rpc = pubsub_pb2.RPC()
    rpc.ParseFromString(frame)
    # re-encode field by field: count tag 0x1a occurrences at top level
    count, i = 0, 0
    while i < len(frame):
        tag = frame[i]
        i += 1
        length, shift = 0, 0
        while True:
            b = frame[i]
            i += 1
            length |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        if tag == 0x1A:
            count += 1
        i += length
    return count


def test_idontwant_shares_one_control_field_with_other_control_entries() -> None:
    router = _router(d=3, d_lo=2, d_hi=4, d_out=1, d_score=2, idontwant_message_size_threshold=100)
    src, *others = _meshed(router, 3)
    assert set(router.mesh_peers(T)) == {src.peer_id, *(f.peer_id for f in others)}
    # a PRUNE for one mesh peer and a message (over the threshold) in the same flush
    target = others[0]
    target.control(prune=[pubsub_pb2.ControlPrune(topicID=T.encode())])
    target.subscribe("other")
    msg = src.message(b"z" * 500)
    src.publish(msg)
    router.unsubscribe(T, 0.0)  # queues a PRUNE (and an unsubscription) to every mesh peer left
    out = dict(router.data_to_send())
    for peer in (f.peer_id for f in others[1:]):
        data = out[peer]
        rpcs = _decode_out(data)
        assert len(rpcs) == 1
        rpc = rpcs[0]
        assert [list(i.messageIDs) for i in rpc.control.idontwant] == [[default_message_id(msg)]]
        assert [p.topicID for p in rpc.control.prune] == [T.encode()]
        assert [s.topicid for s in rpc.subscriptions] == [T.encode()] and not rpc.subscriptions[0].subscribe
        assert [m.data for m in rpc.publish] == [msg.data]
        # one control field on the wire: decoders that keep only the last one lose nothing
        frame = data[1:] if data[0] < 0x80 else data[2:] if data[1] < 0x80 else data[3:]
        assert _control_fields(frame) == 1


def test_a_lone_message_is_framed_once_for_every_peer() -> None:
    router = _router(d=3, d_lo=2, d_hi=4, d_out=1, d_score=2, idontwant_message_size_threshold=1 << 20)
    src, *others = _meshed(router, 4)
    msg = src.message(b"w" * 300)
    src.publish(msg)
    out = dict(router.data_to_send())
    frames = [out[f.peer_id] for f in others if f.peer_id in out]
    assert len(frames) >= 2
    assert all(f is frames[0] for f in frames)  # the same bytes object, not equal copies
    assert [m.data for m in _decode_out(frames[0])[0].publish] == [msg.data]
    assert src.peer_id not in out  # never back to where it came from


def test_control_counts_are_bounded_before_the_ids_are_walked() -> None:
    many_entries = pubsub_pb2.RPC(control=pubsub_pb2.ControlMessage(
        idontwant=[pubsub_pb2.ControlIDontWant() for _ in range(MAX_CONTROL_IDS + 1)]))
    with pytest.raises(PubsubDecodeError):
        decode_rpc(many_entries.SerializeToString(), 1 << 24)
    many_ids = pubsub_pb2.RPC(control=pubsub_pb2.ControlMessage(
        iwant=[pubsub_pb2.ControlIWant(messageIDs=[b"%d" % i for i in range(MAX_CONTROL_IDS // 2 + 1)])],
        idontwant=[pubsub_pb2.ControlIDontWant(messageIDs=[b"%d" % i for i in range(MAX_CONTROL_IDS // 2)])]))
    with pytest.raises(PubsubDecodeError):
        decode_rpc(many_ids.SerializeToString(), 1 << 24)
    at_limit = pubsub_pb2.RPC(control=pubsub_pb2.ControlMessage(
        idontwant=[pubsub_pb2.ControlIDontWant(messageIDs=[b"%d" % i for i in range(MAX_CONTROL_IDS)])]))
    assert len(decode_rpc(at_limit.SerializeToString(), 1 << 24).control.idontwant[0].messageIDs) == MAX_CONTROL_IDS
