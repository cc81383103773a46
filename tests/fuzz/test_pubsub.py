"""Fuzzed RPCs into the pubsub router: any bytes give a typed error or are handled, never a crash,
and whatever the router queues in answer is a well-formed RPC within ``max_rpc_size``."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from libp2p._accel import FrameReader
from libp2p.identity.keys import generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.pb import pubsub_pb2
from libp2p.protocols.pubsub.core import PubsubRouter
from libp2p.protocols.pubsub.wire import MESHSUB_V12, decode_rpc, sign_message
from tests.fuzz._contract import FUZZ, near, outcome

_KEY = generate_key_pair()
_PEER = PeerId.from_public_key(_KEY.public_key)
_OTHER_KEY = generate_key_pair()
_OTHER = PeerId.from_public_key(_OTHER_KEY.public_key)


def _valid_rpc() -> bytes:
    msg = pubsub_pb2.Message(data=b"hello", topic=b"t", seqno=(1).to_bytes(8, "big"))
    setattr(msg, "from", _OTHER.to_bytes())
    sign_message(_OTHER_KEY, msg)
    control = pubsub_pb2.ControlMessage(
        ihave=[pubsub_pb2.ControlIHave(topicID=b"t", messageIDs=[b"\xff\x00id"])],
        iwant=[pubsub_pb2.ControlIWant(messageIDs=[b"x"])],
        graft=[pubsub_pb2.ControlGraft(topicID=b"t")],
        prune=[pubsub_pb2.ControlPrune(topicID=b"t", backoff=5, peers=[pubsub_pb2.PeerInfo(peerID=_PEER.to_bytes())])],
        idontwant=[pubsub_pb2.ControlIDontWant(messageIDs=[b"y"])],
    )
    rpc = pubsub_pb2.RPC(
        subscriptions=[pubsub_pb2.RPC.SubOpts(subscribe=True, topicid=b"t")], publish=[msg], control=control
    )
    return rpc.SerializeToString()


@FUZZ
@given(st.lists(near(st.just(_valid_rpc())), min_size=1, max_size=4))
def test_router_survives_any_rpc(frames: list[bytes]) -> None:
    router = PubsubRouter(_PEER, key=_KEY, rng=random.Random(1))
    router.subscribe("t", 0.0)
    router.add_peer(_OTHER, MESHSUB_V12)
    for i, frame in enumerate(frames):
        outcome(router.receive_rpc, _OTHER, frame, float(i))
        router.heartbeat(float(i) + 0.5)
    while router.next_event() is not None:
        pass
    for _, data in router.data_to_send():
        reader = FrameReader(router.config.max_rpc_size)
        reader.feed(data)
        for out in reader.frames():
            decode_rpc(out)


@FUZZ
@given(near(st.just(_valid_rpc())))
def test_cutting_ihave_before_parsing_matches_parsing_then_clearing(frame: bytes) -> None:
    from libp2p.protocols.pubsub.wire import PubsubDecodeError

    try:
        whole = decode_rpc(frame)
    except PubsubDecodeError:
        whole = None
    try:
        cut = decode_rpc(frame, skip_ihave=True)
    except PubsubDecodeError:
        # only a frame the whole parser refuses too, or one whose IHAVE made it invalid
        assert whole is None
        return
    if whole is not None:
        if whole.HasField("control"):
            del whole.control.ihave[:]
        assert cut == whole
