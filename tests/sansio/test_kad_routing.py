"""The routing table: buckets, least-recently-seen eviction with liveness checks, refresh."""

from __future__ import annotations

import os
import random

import pytest

from libp2p._accel import common_prefix_length, xor_distance
from libp2p.identity.peer_id import PeerId
from libp2p.protocols.kad.routing import MAX_REFRESH_CPL, AddOutcome, RoutingTable, kad_key


def rand_peer(rng: random.Random | None = None) -> PeerId:
    tail = rng.randbytes(32) if rng is not None else os.urandom(32)
    return PeerId(bytes.fromhex("002408011220") + tail)


def peer_in_bucket(table: RoutingTable, cpl: int, rng: random.Random) -> PeerId:
    while True:
        p = rand_peer(rng)
        if table.bucket_index(kad_key(p.to_bytes())) == cpl:
            return p


def test_keys_are_sha256_of_peer_id_bytes() -> None:
    import hashlib

    p = rand_peer()
    assert kad_key(p.to_bytes()) == hashlib.sha256(p.to_bytes()).digest()


def test_add_and_closest_match_brute_force() -> None:
    rng = random.Random(1)
    table = RoutingTable(rand_peer(rng), k=20)
    peers = [rand_peer(rng) for _ in range(300)]
    for i, p in enumerate(peers):
        table.add(p, float(i))
    members = table.peers()
    assert 0 < len(members) <= 300
    # No bucket over k; the local peer never enters.
    assert all(n <= 20 for n in table.bucket_sizes().values())
    assert table.add(table.local, 0.0) == (AddOutcome.REJECTED, None)
    for _ in range(20):
        target = os.urandom(32)
        expected = sorted(members, key=lambda p: xor_distance(target, kad_key(p.to_bytes())))[:20]
        assert table.closest(target, 20) == expected
    target = kad_key(members[0].to_bytes())
    assert members[0] not in table.closest(target, 5, exclude=members[0])
    assert len(table.closest(target, 5, exclude=members[0])) == 5


def test_add_again_updates_last_seen() -> None:
    table = RoutingTable(rand_peer())
    p = rand_peer()
    assert table.add(p, 1.0) == (AddOutcome.ADDED, None)
    assert table.add(p, 5.0) == (AddOutcome.UPDATED, None)
    entry = table.entry(p)
    assert entry is not None and entry.last_seen == 5.0 and entry.added_at == 1.0


def _full_bucket(k: int = 4) -> tuple[RoutingTable, list[PeerId], random.Random]:
    rng = random.Random(7)
    table = RoutingTable(rand_peer(rng), k=k)
    members = [peer_in_bucket(table, 0, rng) for _ in range(k)]
    for i, p in enumerate(members):
        assert table.add(p, float(i))[0] is AddOutcome.ADDED
    return table, members, rng


def test_full_bucket_checks_least_recently_seen_and_keeps_it_when_alive() -> None:
    table, members, rng = _full_bucket()
    table.seen(members[0], 10.0)  # members[1] is now the least recently seen
    newcomer = peer_in_bucket(table, 0, rng)
    assert table.add(newcomer, 11.0) == (AddOutcome.PENDING, members[1])
    # While the check runs, more newcomers are turned away.
    assert table.add(peer_in_bucket(table, 0, rng), 11.5)[0] is AddOutcome.REJECTED
    assert table.check_result(members[1], True, 12.0) is None
    assert members[1] in table and newcomer not in table


def test_dead_least_recently_seen_is_replaced() -> None:
    table, members, rng = _full_bucket()
    newcomer = peer_in_bucket(table, 0, rng)
    assert table.add(newcomer, 11.0) == (AddOutcome.PENDING, members[0])
    assert table.check_result(members[0], False, 12.0) == newcomer
    assert members[0] not in table and newcomer in table
    assert len(table) == 4


def test_unanswered_check_counts_as_dead() -> None:
    table, members, rng = _full_bucket()
    first = peer_in_bucket(table, 0, rng)
    assert table.add(first, 0.0)[0] is AddOutcome.PENDING
    later = peer_in_bucket(table, 0, rng)
    outcome, _ = table.add(later, table.check_timeout + 1.0)
    assert first in table and members[0] not in table
    assert outcome is AddOutcome.PENDING  # the bucket is full again: the next LRS is checked


def test_removing_the_checked_peer_promotes_the_candidate() -> None:
    table, members, rng = _full_bucket()
    newcomer = peer_in_bucket(table, 0, rng)
    table.add(newcomer, 1.0)
    assert table.remove(members[0])
    assert newcomer in table


def test_stale_buckets_and_random_keys() -> None:
    rng = random.Random(3)
    table = RoutingTable(rand_peer(rng))
    for _ in range(200):
        table.add(rand_peer(rng), 0.0)
    top = min(table.max_cpl(), MAX_REFRESH_CPL)
    assert table.stale_buckets(0.0, 600.0) == list(range(top + 1))
    for cpl in range(top + 1):
        key = table.random_key_for_cpl(cpl, rng.randbytes)
        PeerId(key)  # peer-ID shaped
        assert common_prefix_length(kad_key(key), table.local_key) == cpl
        table.mark_refreshed(kad_key(key), 100.0)
    assert table.stale_buckets(200.0, 600.0) == []
    assert table.stale_buckets(700.0, 600.0) == list(range(top + 1))
    with pytest.raises(ValueError):
        table.random_key_for_cpl(40, rng.randbytes)
