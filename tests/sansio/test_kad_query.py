"""The Kademlia core pumped in memory: a simulated network of ``KadCore`` nodes, virtual time."""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable

import pytest

from libp2p._accel import xor_distance
from libp2p.identity.keys import generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.protocols.kad.core import ClosestPeersLookup, KadConfig, KadCore, KadRequestRejected
from libp2p.protocols.kad.events import (
    LookupFinished,
    LookupKind,
    LookupResult,
    PeerCheckRequested,
    RequestIssued,
)
from libp2p.protocols.kad.records import default_validator
from libp2p.protocols.kad.routing import kad_key
from libp2p.protocols.kad.wire import (
    KadMessage,
    KadPeer,
    KadRecord,
    MessageType,
    decode_message,
    encode_message,
)

ADDR = (Multiaddr("/memory/1"),)
LATENCY = 0.01


def rand_peer(rng: random.Random) -> PeerId:
    return PeerId(bytes.fromhex("002408011220") + rng.randbytes(32))


class SimNet:
    """Cores that answer each other through ``handle_request``; some may be dead or hostile."""

    def __init__(self, n: int, seed: int = 1, config: KadConfig | None = None) -> None:
        self.rng = random.Random(seed)
        self.config = config or KadConfig(request_timeout=1.0)
        self.ids = [rand_peer(self.rng) for _ in range(n)]
        self.cores = {
            pid: KadCore(pid, config=self.config, validator=default_validator(lambda: 1e9),
                         addr_book=lambda p: ADDR, randbytes=self.rng.randbytes)
            for pid in self.ids
        }
        self.dead: set[PeerId] = set()
        self.garbage: set[PeerId] = set()
        self.wrong_type: set[PeerId] = set()
        self.flooders: dict[PeerId, list[KadPeer]] = {}
        self.now = 0.0
        self.max_in_flight = 0
        self.checks: list[PeerId] = []

    def fill_tables(self, per_node: int | None = None) -> None:
        for pid, core in self.cores.items():
            others = [p for p in self.ids if p != pid]
            if per_node is not None:
                others = self.rng.sample(others, per_node)
            for p in others:
                core.routing.add(p, 0.0)

    def live_closest(self, key: bytes, k: int = 20, exclude: PeerId | None = None) -> list[PeerId]:
        target = kad_key(key)
        live = [p for p in self.ids if p not in self.dead and p not in self.garbage and p not in self.wrong_type
                and p not in self.flooders and p != exclude]
        return sorted(live, key=lambda p: xor_distance(target, kad_key(p.to_bytes())))[:k]

    def _answer(self, src: PeerId, event: RequestIssued) -> KadMessage | None | str:
        peer = event.peer
        if peer in self.dead or peer not in self.cores:
            return None
        if peer in self.garbage:
            return "garbage"
        if peer in self.wrong_type:
            return KadMessage(MessageType.PING)
        if peer in self.flooders:
            return KadMessage(event.message.type, event.message.key, closer_peers=tuple(self.flooders[peer]))
        # Through the codec, as the service would.
        request = decode_message(encode_message(event.message))
        response = self.cores[peer].handle_request(src, request, self.now)
        assert response is not None
        return decode_message(encode_message(response))

    def run(self, src: PeerId, start: Callable[[KadCore, float], int]) -> LookupResult:
        core = self.cores[src]
        qid = start(core, self.now)
        heap: list[tuple[float, int, RequestIssued]] = []
        seq = itertools.count()
        in_flight: set[PeerId] = set()
        while True:
            while (event := core.next_event()) is not None:
                if isinstance(event, RequestIssued):
                    assert event.query_id == qid
                    in_flight.add(event.peer)
                    heapq.heappush(heap, (self.now + LATENCY, next(seq), event))
                elif isinstance(event, LookupFinished) and event.query_id == qid:
                    return event.result
                elif isinstance(event, PeerCheckRequested):
                    self.checks.append(event.peer)
            waiting = sum(1 for p in in_flight if core._queries[qid].lookup.state(p) is not None
                          and core._queries[qid].lookup.state(p).name == "WAITING") if qid in core._queries else 0
            self.max_in_flight = max(self.max_in_flight, waiting)
            timer = core.get_timer()
            if heap and (timer is None or heap[0][0] <= timer):
                self.now, _, event = heapq.heappop(heap)
                answer = self._answer(src, event)
                if answer is None:
                    continue  # silence: the core's timer will fail it
                in_flight.discard(event.peer)
                if answer == "garbage":
                    core.on_failure(qid, event.peer, self.now)
                else:
                    assert isinstance(answer, KadMessage)
                    core.on_response(qid, event.peer, answer, self.now)
            elif timer is not None:
                self.now = max(self.now, timer)
                core.handle_timer(self.now)
            else:
                raise AssertionError("lookup stalled: nothing in flight and no timer")


def find_node(key: bytes, **kw: object) -> Callable[[KadCore, float], int]:
    return lambda core, now: core.start_lookup(LookupKind.FIND_NODE, key, now, **kw)  # type: ignore[arg-type]


def test_lookup_finds_the_true_k_closest() -> None:
    net = SimNet(300)
    net.fill_tables()
    for i in range(10):
        key = net.rng.randbytes(32)
        src = net.ids[i]
        result = net.run(src, find_node(key))
        assert list(result.closest) == net.live_closest(key, exclude=src)
        assert result.stats.requests >= 20
        assert 1 <= result.stats.hops <= result.stats.max_hops
    assert net.max_in_flight <= 3


def test_alpha_and_beta_are_configurable() -> None:
    net = SimNet(200, config=KadConfig(alpha=10, beta=3, request_timeout=1.0))
    net.fill_tables()
    key = net.rng.randbytes(32)
    result = net.run(net.ids[0], find_node(key))
    assert net.max_in_flight <= 10
    # β = 3: the 3 closest answered; they are the true 3 closest.
    assert list(result.closest[:3]) == net.live_closest(key, 3, exclude=net.ids[0])


def test_dead_and_hostile_peers_never_stall_a_lookup() -> None:
    net = SimNet(300, seed=5)
    net.fill_tables()
    others = net.ids[10:]
    net.dead = set(net.rng.sample(others, 40))
    net.garbage = set(net.rng.sample([p for p in others if p not in net.dead], 15))
    net.wrong_type = set(net.rng.sample([p for p in others if p not in net.dead | net.garbage], 15))
    for i in range(5):
        key = net.rng.randbytes(32)
        start = net.now
        result = net.run(net.ids[i], find_node(key))
        live = net.live_closest(key, 300, exclude=net.ids[i])
        # Only peers that answered; the closest of them all found. (Answers list the k closest
        # their senders know, dead ones included, so the 20th live peer may stay unseen.)
        assert len(result.closest) == 20 and set(result.closest) <= set(live)
        assert list(result.closest[:10]) == live[:10]
        assert result.stats.failures > 0
        # Bounded: each round waits at most one request timeout.
        assert net.now - start < 40 * net.config.request_timeout
    assert sum(c.counters["bad_responses"] for c in net.cores.values()) > 0


def test_flooded_closer_peers_are_truncated_to_k() -> None:
    net = SimNet(150, seed=9)
    net.fill_tables(per_node=40)
    src = net.ids[0]
    fakes = [KadPeer(rand_peer(net.rng), ADDR) for _ in range(200)]
    # Every peer the source knows floods it with 200 fake (never answering) peers.
    for p in net.cores[src].routing.peers():
        net.flooders[p] = fakes
    key = net.rng.randbytes(32)
    result = net.run(src, find_node(key))
    core = net.cores[src]
    assert core.counters["truncated_peers"] > 0
    assert result.stats.requests < 400  # never more than k new candidates per answer


def test_find_target_peer_stops_early() -> None:
    net = SimNet(300, seed=2)
    net.fill_tables(per_node=30)
    src, target = net.ids[0], net.ids[-1]
    net.cores[src].routing.remove(target)
    result = net.run(src, find_node(target.to_bytes(), target_peer=target))
    assert result.target_found and result.stopped_early


def test_target_hops_counts_the_rounds_of_a_chain() -> None:
    # src knows a, a knows b, b knows c, c knows t: t shows up in the third round of answers.
    net = SimNet(5, seed=4)
    src, a, b, c, t = net.ids
    knows = {src: {a}, a: {b}, b: {c}, c: {t}, t: set()}
    for peer, known in knows.items():
        for other in known:
            net.cores[peer].routing.add(other, 0.0)
        # and no addresses of anyone else, so nobody names t early
        net.cores[peer].addr_book = lambda p, known=known, me=peer: ADDR if p in known or p == me else ()
    result = net.run(src, find_node(t.to_bytes(), target_peer=t))
    assert result.target_found and result.target_hops == 3
    # a, b and c answered, so they are in src's table now: c names t in the first round
    assert {a, b, c} <= set(net.cores[src].routing.peers()) and t not in net.cores[src].routing
    again = net.run(src, find_node(t.to_bytes(), target_peer=t))
    assert again.target_found and again.target_hops == 1


def test_lookup_with_nobody_to_ask_finishes_at_once() -> None:
    net = SimNet(2)
    result = net.run(net.ids[0], find_node(b"x"))
    assert result.closest == () and result.stats.requests == 0


def test_get_value_quorum_selection_and_invalid_records() -> None:
    net = SimNet(200, seed=4)
    net.fill_tables(per_node=40)
    key_pair, other = generate_key_pair(), generate_key_pair()
    pid = PeerId.from_public_key(key_pair.public_key)
    key = b"/pk/" + pid.to_bytes()
    holders = net.live_closest(key, 5)
    for h in holders[:3]:
        net.cores[h].validate_and_store(key, key_pair.public_key.marshal(), 0.0)
    # A hostile holder serves someone else's key: the store refuses it, so plant it directly.
    net.cores[holders[3]].store.put(key, other.public_key.marshal(), 0.0)
    net.cores[holders[3]].validator = type("Lax", (), {"validate": lambda s, k, v: None,
                                                        "select": lambda s, k, v: 0})()
    # The key pair is random, so the holders are too: the asker must not be one of them (it
    # would answer itself, with the lax holder's validator).
    src = next(p for p in reversed(net.ids) if p not in holders)
    result = net.run(src, lambda c, now: c.start_lookup(LookupKind.GET_VALUE, key, now))
    assert result.best is not None and result.best.value == key_pair.public_key.marshal()
    assert net.cores[src].counters["rejected_records"] == 1
    assert holders[3] in result.outdated and holders[0] not in result.outdated
    q = net.run(net.ids[-2], lambda c, now: c.start_lookup(LookupKind.GET_VALUE, key, now, quorum=1))
    assert q.stopped_early and len(q.records) == 1


def test_put_value_rejects_invalid_and_keeps_answering() -> None:
    net = SimNet(30)
    net.fill_tables()
    server = net.cores[net.ids[0]]
    sender = net.ids[1]
    kp, other = generate_key_pair(), generate_key_pair()
    key = b"/pk/" + PeerId.from_public_key(kp.public_key).to_bytes()
    for bad in [
        KadMessage(MessageType.PUT_VALUE, key, KadRecord(key, other.public_key.marshal())),
        KadMessage(MessageType.PUT_VALUE, key, KadRecord(b"/pk/other", kp.public_key.marshal())),
        KadMessage(MessageType.PUT_VALUE, key),
        KadMessage(MessageType.PUT_VALUE, b"/unknown/x", KadRecord(b"/unknown/x", b"v")),
    ]:
        with pytest.raises(KadRequestRejected):
            server.handle_request(sender, bad, 0.0)
    assert server.store.get(key, 0.0) is None
    assert server.store.get(b"/unknown/x", 0.0) is None
    assert server.counters["rejected_records"] == 4
    good = KadMessage(MessageType.PUT_VALUE, key, KadRecord(key, kp.public_key.marshal()))
    assert server.handle_request(sender, good, 0.0) == good
    stored = server.store.get(key, 0.0)
    assert stored is not None and stored.value == kp.public_key.marshal()
    answer = server.handle_request(sender, KadMessage(MessageType.FIND_NODE, b"abc"), 0.0)
    assert answer is not None and len(answer.closer_peers) == 20
    assert all(p.peer_id != sender for p in answer.closer_peers)


def test_providers_only_for_the_sender_and_found_by_lookup() -> None:
    net = SimNet(200, seed=8)
    net.fill_tables(per_node=40)
    content = bytes.fromhex("1220") + net.rng.randbytes(32)
    provider, impostor = net.ids[0], net.ids[1]
    for h in net.live_closest(content):
        core = net.cores[h]
        core.handle_request(provider, KadMessage(MessageType.ADD_PROVIDER, content,
                                                 provider_peers=(KadPeer(provider, ADDR),)), 0.0)
        # Someone announcing a third party is ignored and counted.
        core.handle_request(impostor, KadMessage(MessageType.ADD_PROVIDER, content,
                                                 provider_peers=(KadPeer(net.ids[2], ADDR),)), 0.0)
        assert core.counters["rejected_providers"] == 1
    result = net.run(net.ids[-1], lambda c, now: c.start_lookup(LookupKind.GET_PROVIDERS, content, now, count=1))
    assert [p.peer_id for p in result.providers] == [provider]
    assert result.stopped_early
    with pytest.raises(KadRequestRejected):
        net.cores[net.ids[5]].handle_request(provider, KadMessage(MessageType.GET_PROVIDERS, b"x" * 100), 0.0)


def test_lookup_timeout_and_cancel() -> None:
    net = SimNet(50, config=KadConfig(request_timeout=5.0, lookup_timeout=2.0))
    net.fill_tables()
    net.dead = set(net.ids[1:])
    result = net.run(net.ids[0], find_node(b"k"))
    assert result.error == "lookup timed out" and net.now == pytest.approx(2.0)
    core = net.cores[net.ids[0]]
    qid = core.start_lookup(LookupKind.FIND_NODE, b"k", net.now)
    core.cancel_lookup(qid, net.now)
    events = []
    while (e := core.next_event()) is not None:
        events.append(e)
    assert isinstance(events[-1], LookupFinished) and events[-1].result.error == "cancelled"
    assert core.active_lookups == 0


def test_late_and_unsolicited_responses_are_ignored() -> None:
    rng = random.Random(3)
    target = rng.randbytes(32)
    lookup = ClosestPeersLookup(target, k=2, alpha=1, request_timeout=1.0)
    a, b, c = (rand_peer(rng) for _ in range(3))
    lookup.add_peers([a, b])
    first = lookup.next_requests(0.0)
    assert len(first) == 1
    assert not lookup.on_success(c, [], 0.1)  # never asked
    second = lookup.next_requests(1.5)  # the first timed out
    assert len(second) == 1 and second != first
    assert not lookup.on_success(first[0], [c], 1.6)  # too late
    assert c not in lookup
    assert lookup.stats.timeouts == 1


def test_full_bucket_asks_for_a_liveness_check() -> None:
    net = SimNet(400, seed=11)
    src = net.ids[0]
    core = net.cores[src]
    # Peers proven to be servers are offered; a full bucket asks for a check of its oldest.
    for p in net.ids[1:]:
        core.add_peer(p, 1.0)
    checks = [e.peer for e in iter(core.next_event, None) if isinstance(e, PeerCheckRequested)]
    assert checks and all(p in core.routing for p in checks)
    core.check_result(checks[0], False, 2.0)
    assert checks[0] not in core.routing


def test_refresh_keys_cover_stale_buckets() -> None:
    net = SimNet(100)
    net.fill_tables()
    core = net.cores[net.ids[0]]
    keys = core.refresh_keys(0.0)
    assert keys[0] == net.ids[0].to_bytes() and len(keys) >= 2
    for key in keys:
        net.run(net.ids[0], find_node(key))
    assert core.refresh_keys(net.now) == []
    assert core.refresh_keys(net.now + 601) != []
