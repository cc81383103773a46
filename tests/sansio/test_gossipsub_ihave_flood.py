"""IHAVE floods: the router reads no more of an IHAVE than it will use, cuts IHAVEs it would
ignore out of the frame before parsing, and asks a peer again only once its last IWANT promise
was kept or broken (issue #12, item 7)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from libp2p.pb import pubsub_pb2
from libp2p.protocols.pubsub.config import GossipSubConfig
from libp2p.protocols.pubsub.core import PubsubRouter
from libp2p.protocols.pubsub.wire import PubsubDecodeError, decode_rpc, default_message_id, without_ihave

from tests.sansio.test_gossipsub import T, Fake, _events, _router, _sent_to


def _subscribed(**config: object) -> tuple[PubsubRouter, Fake]:
    router = _router(**config)
    router.subscribe(T, 0.0)
    peer = Fake(router)
    peer.subscribe()
    router.data_to_send()
    _events(router)
    return router, peer


def _ihave(ids: list[bytes], topic: str = T) -> pubsub_pb2.ControlIHave:
    return pubsub_pb2.ControlIHave(topicID=topic.encode(), messageIDs=ids)


def _asked(router: PubsubRouter, peer: Fake) -> list[bytes]:
    return [i for r in _sent_to(router, peer.peer_id) for w in r.control.iwant for i in w.messageIDs]


def _ids(n: int, tag: bytes = b"") -> list[bytes]:
    return [tag + i.to_bytes(8, "big") for i in range(n)]


# --- cutting IHAVE out of a frame before parsing ------------------------------------------------


def test_without_ihave_keeps_everything_but_the_ihave_entries() -> None:
    msg = pubsub_pb2.Message(data=b"payload", topic=T.encode())
    rpc = pubsub_pb2.RPC(
        subscriptions=[pubsub_pb2.RPC.SubOpts(subscribe=True, topicid=b"a")],
        publish=[msg],
        control=pubsub_pb2.ControlMessage(
            ihave=[_ihave(_ids(3000)), _ihave(_ids(5, b"x"), "other")],
            iwant=[pubsub_pb2.ControlIWant(messageIDs=[b"w1", b"w2"])],
            graft=[pubsub_pb2.ControlGraft(topicID=b"g")],
            prune=[pubsub_pb2.ControlPrune(topicID=b"p", backoff=7)],
            idontwant=[pubsub_pb2.ControlIDontWant(messageIDs=[b"d"])],
        ),
    )
    # a second control field in the same RPC (protobuf merges them): its IHAVE goes too
    frame = rpc.SerializeToString() + pubsub_pb2.RPC(
        control=pubsub_pb2.ControlMessage(ihave=[_ihave([b"late"])], graft=[pubsub_pb2.ControlGraft(topicID=b"g2")])
    ).SerializeToString()
    cut = without_ihave(frame)
    assert cut is not None and len(cut) < len(frame) // 10
    expected = pubsub_pb2.RPC()
    expected.ParseFromString(frame)
    del expected.control.ihave[:]
    assert decode_rpc(cut) == expected
    assert decode_rpc(frame, skip_ihave=True) == expected
    no_control = pubsub_pb2.RPC(publish=[msg]).SerializeToString()
    assert without_ihave(no_control) == no_control


def test_a_cut_ihave_is_never_parsed_and_bad_frames_still_raise() -> None:
    good = pubsub_pb2.ControlMessage(graft=[pubsub_pb2.ControlGraft(topicID=T.encode())]).SerializeToString()
    broken_ihave = b"\x0a\x04\x12\x09ab"  # an IHAVE entry whose id claims 9 bytes but has 2
    frame = b"\x1a" + bytes([len(broken_ihave) + len(good)]) + broken_ihave + good
    with pytest.raises(PubsubDecodeError):
        decode_rpc(frame)
    rpc = decode_rpc(frame, skip_ihave=True)  # the entry's inside was not looked at
    assert [g.topicID for g in rpc.control.graft] == [T.encode()] and not rpc.control.ihave
    for bad in (b"\x1a\x7f\x0a", b"\x1a", b"\x0a\x05ab", b"\xff\xff"):  # cut lengths, cut varints
        assert without_ihave(bad) is None
        with pytest.raises(PubsubDecodeError):
            decode_rpc(bad, skip_ihave=True)


def test_ihave_from_a_peer_below_the_gossip_threshold_is_cut_before_parsing() -> None:
    router, peer = _subscribed()
    assert router.score is not None
    router.score.add_penalty(peer.peer_id, 4)  # P7: -10 * 4**2 = -160, below -100, above graylist
    assert GossipSubConfig().score_thresholds.graylist_threshold < router.peer_score(peer.peer_id, 0.0) < -100
    broken_ihave = b"\x0a\x04\x12\x09ab"
    graft = pubsub_pb2.ControlMessage(graft=[pubsub_pb2.ControlGraft(topicID=T.encode())]).SerializeToString()
    # unparseable IHAVE bytes pass: they are cut, not decoded; the rest of the RPC is handled
    router.receive_rpc(peer.peer_id, b"\x1a" + bytes([6 + len(graft)]) + broken_ihave + graft, 0.5)
    peer.control(0.5, ihave=[_ihave(_ids(5000))])
    assert router.stats["ihave_skipped"] == 2
    assert _asked(router, peer) == []


# --- reading no more ids than will be asked -------------------------------------------------------


class _CountingIds:
    """An IHAVE entry's ids that counts how many were read."""

    def __init__(self, ids: list[bytes]) -> None:
        self.ids = ids
        self.read = 0

    def __iter__(self) -> Iterator[bytes]:
        for i in self.ids:
            self.read += 1
            yield i


class _Entry:
    def __init__(self, ids: _CountingIds) -> None:
        self.topicID = T.encode()
        self.messageIDs = ids


def test_ids_past_the_peers_budget_are_not_read() -> None:
    router, peer = _subscribed(max_ihave_length=100)
    first, second = _CountingIds(_ids(80, b"a")), _CountingIds(_ids(5000, b"b"))
    router._handle_ihave(router._peers[peer.peer_id], [_Entry(first), _Entry(second)], 0.0)  # type: ignore[list-item]
    asked = _asked(router, peer)
    assert len(asked) == 100 and set(asked) == set(first.ids) | set(second.ids[:20])
    assert second.read == 20  # not 100 (go's per-entry cap), not 5000


def test_one_entry_is_read_up_to_max_ihave_length_ids_as_go() -> None:
    router, peer = _subscribed(max_ihave_length=10)
    seen: list[bytes] = []
    for k in range(10):  # ten ids seen: their messages came first
        msg = peer.message(b"seen %d" % k)
        peer.publish(msg, 0.1)
        seen.append(default_message_id(msg))
    router.data_to_send()
    assert router.stats["delivered"] == 10
    peer.control(0.2, ihave=[_ihave(seen + _ids(20, b"new"))])
    assert _asked(router, peer) == []  # the unseen ids sit past index 10 of the entry


# --- one IWANT in flight per peer -------------------------------------------------------------------


def test_a_peer_is_asked_again_only_once_its_promise_broke() -> None:
    router, liar = _subscribed(broken_promise_backoff_max=0.0)  # go's pacing after a broken promise
    liar.control(1.0, ihave=[_ihave(_ids(5000, b"h1"))])
    assert len(_asked(router, liar)) == 5000
    router.heartbeat(2.0)
    liar.control(2.1, ihave=[_ihave(_ids(5000, b"h2"))])  # promise still open: not asked
    router.heartbeat(3.0)
    liar.control(3.1, ihave=[_ihave(_ids(5000, b"h3"))])
    assert _asked(router, liar) == [] and router.stats["iwant_sent"] == 1
    router.heartbeat(4.5)  # past the 3 s follow-up: broken, penalised, and the peer may be asked again
    assert router.stats["broken_promises"] == 1 and router.peer_score(liar.peer_id, 4.5) < 0
    liar.control(4.6, ihave=[_ihave(_ids(10, b"h4"))])
    assert len(_asked(router, liar)) == 10


def test_broken_promises_back_off_asking_and_a_kept_one_resets_it() -> None:
    router, liar = _subscribed()
    asked_at: list[float] = []
    t = 1.0
    while t < 40.0:
        liar.control(t + 0.1, ihave=[_ihave(_ids(100, b"%d" % int(t)))])
        if _asked(router, liar):
            asked_at.append(t)
        t += 1.0
        router.heartbeat(t)
    # asked; the promise breaks at the first heartbeat past 3 s; then it is paused 1, 2, 4, 8, 16
    # heartbeats from each broken promise (go would ask at every heartbeat from the first break)
    assert asked_at == [1.0, 6.0, 12.0, 20.0, 32.0]
    assert router.stats["broken_promises"] == 5
    # a kept promise (its message arrives, from anyone) ends the backoff
    router.heartbeat(60.0)  # the promise of t=32 broke at 36; the pause (16 s) is over at 52
    msg = liar.message(b"real")
    liar.control(60.1, ihave=[_ihave([default_message_id(msg)])])
    assert _asked(router, liar) == [default_message_id(msg)]
    liar.publish(msg, 60.2)
    router.heartbeat(64.0)
    liar.control(64.1, ihave=[_ihave(_ids(5, b"x"))])
    assert len(_asked(router, liar)) == 5
    router.heartbeat(68.0)  # broken once after the kept one: a pause of one heartbeat, not 32
    liar.control(69.1, ihave=[_ihave(_ids(5, b"y"))])
    assert len(_asked(router, liar)) == 5


def test_a_peer_that_keeps_its_promise_is_asked_again_at_once() -> None:
    router, peer = _subscribed()
    msgs = [peer.message(b"gossip %d" % k) for k in range(3)]
    ids = [default_message_id(m) for m in msgs]
    peer.control(1.0, ihave=[_ihave(ids)])
    assert sorted(_asked(router, peer)) == sorted(ids)
    assert router.promise_count == 1
    peer.send(pubsub_pb2.RPC(publish=msgs), 1.05)  # the answer, within a round trip
    assert router.promise_count == 0
    later = peer.message(b"later")
    peer.control(1.1, ihave=[_ihave([default_message_id(later)])])  # same heartbeat
    assert _asked(router, peer) == [default_message_id(later)]
    assert router.stats["broken_promises"] == 0
