"""The Kademlia routing table: 256 k-buckets indexed by the common prefix length with our key.

Keys are sha256 of the peer ID bytes. Within a bucket peers are kept least-recently-seen first.
A full bucket takes a newcomer only after its least-recently-seen peer failed a liveness check
(the Kademlia paper's rule, as rust-libp2p applies it): ``add`` returns the peer to check, the
caller checks it and reports with ``check_result``. Time is passed in; nothing here does I/O.
"""

from __future__ import annotations

import enum
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from libp2p._accel import common_prefix_length, sort_by_distance
from libp2p.identity.peer_id import PeerId

__all__ = ["K_VALUE", "MAX_REFRESH_CPL", "NUM_BUCKETS", "AddOutcome", "RoutingEntry", "RoutingTable", "kad_key"]

K_VALUE = 20
NUM_BUCKETS = 256
# go refreshes buckets up to this common prefix length (generating a random key for a deeper
# bucket takes 2^cpl hashes, and deeper buckets are nearly always fed by the self-lookup).
MAX_REFRESH_CPL = 15
# A liveness check that has not answered in this long counts as failed.
CHECK_TIMEOUT = 20.0
# A FIND_NODE key shaped like an Ed25519 peer ID (identity multihash of a PublicKey protobuf).
_ED25519_PEER_PREFIX = bytes.fromhex("002408011220")


def kad_key(data: bytes | bytearray | memoryview) -> bytes:
    """The 256-bit Kademlia key of a peer ID or record key: sha256 of its bytes."""
    return hashlib.sha256(data).digest()


class AddOutcome(enum.Enum):
    ADDED = "added"
    UPDATED = "updated"  # already present: marked as seen now
    PENDING = "pending"  # bucket full: waits on a liveness check of the least-recently-seen peer
    REJECTED = "rejected"  # ourselves, or a full bucket already waiting on a check


@dataclass(slots=True)
class RoutingEntry:
    peer_id: PeerId
    key: bytes
    added_at: float
    last_seen: float


@dataclass(slots=True)
class _Bucket:
    entries: dict[PeerId, RoutingEntry] = field(default_factory=dict)  # least recently seen first
    pending: RoutingEntry | None = None
    checking: PeerId | None = None
    check_started: float = 0.0
    last_refreshed: float = float("-inf")


class RoutingTable:
    def __init__(self, local: PeerId, *, k: int = K_VALUE, check_timeout: float = CHECK_TIMEOUT) -> None:
        if k < 1:
            raise ValueError("k must be at least 1")
        self.local = local
        self.local_key = kad_key(local.to_bytes())
        self.k = k
        self.check_timeout = check_timeout
        # made on first use: a table of ~10 used buckets need not carry 256 (~40 KiB per node
        # in a 10 000-node simulation)
        self._buckets: defaultdict[int, _Bucket] = defaultdict(_Bucket)
        self._where: dict[PeerId, int] = {}
        self._snapshot: tuple[list[PeerId], list[bytes]] | None = None

    # --- lookups -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, peer: object) -> bool:
        return peer in self._where

    def __iter__(self) -> Iterator[PeerId]:
        return iter(list(self._where))

    def peers(self) -> list[PeerId]:
        return list(self._where)

    def entry(self, peer: PeerId) -> RoutingEntry | None:
        index = self._where.get(peer)
        return None if index is None else self._buckets[index].entries[peer]

    def bucket_index(self, key: bytes) -> int:
        """The bucket of a 256-bit key: its common prefix length with ours (255 at most)."""
        return min(common_prefix_length(self.local_key, key), NUM_BUCKETS - 1)

    def bucket_sizes(self) -> dict[int, int]:
        return {i: len(b.entries) for i, b in sorted(self._buckets.items()) if b.entries}

    def closest(self, target: bytes, count: int | None = None, exclude: PeerId | None = None) -> list[PeerId]:
        """Up to ``count`` (default k) peers closest to the 256-bit ``target``, closest first."""
        if count is None:
            count = self.k
        if self._snapshot is None:
            peers = list(self._where)
            self._snapshot = (peers, [self._buckets[self._where[p]].entries[p].key for p in peers])
        peers, keys = self._snapshot
        limit = count + (1 if exclude is not None and exclude in self._where else 0)
        order = sort_by_distance(target, keys, limit)
        out = [peers[i] for i in order if peers[i] != exclude]
        return out[:count]

    # --- membership ------------------------------------------------------------------------------

    def _insert(self, index: int, entry: RoutingEntry) -> None:
        self._buckets[index].entries[entry.peer_id] = entry
        self._where[entry.peer_id] = index
        self._snapshot = None

    def add(self, peer: PeerId, now: float) -> tuple[AddOutcome, PeerId | None]:
        """Offer a peer that proved to be a DHT server. Returns the outcome and, for ``PENDING``,
        the peer whose liveness the caller must check."""
        if peer == self.local:
            return AddOutcome.REJECTED, None
        index = self._where.get(peer)
        if index is not None:
            self.seen(peer, now)
            return AddOutcome.UPDATED, None
        key = kad_key(peer.to_bytes())
        index = self.bucket_index(key)
        bucket = self._buckets[index]
        if len(bucket.entries) < self.k:
            self._insert(index, RoutingEntry(peer, key, now, now))
            return AddOutcome.ADDED, None
        if bucket.checking is not None:
            if now - bucket.check_started < self.check_timeout:
                if bucket.pending is not None and bucket.pending.peer_id == peer:
                    bucket.pending.last_seen = now
                return AddOutcome.REJECTED, None
            # The check never answered: the peer is gone.
            self.check_result(bucket.checking, False, now)
            return self.add(peer, now)
        lrs = next(iter(bucket.entries))
        bucket.pending = RoutingEntry(peer, key, now, now)
        bucket.checking = lrs
        bucket.check_started = now
        return AddOutcome.PENDING, lrs

    def try_insert(self, peer: PeerId, now: float) -> bool:
        """Add ``peer`` only if its bucket has room (no liveness check): for seeding a table."""
        if peer == self.local or peer in self._where:
            return False
        key = kad_key(peer.to_bytes())
        index = self.bucket_index(key)
        if len(self._buckets[index].entries) >= self.k:
            return False
        self._insert(index, RoutingEntry(peer, key, now, now))
        return True

    def seen(self, peer: PeerId, now: float) -> None:
        """The peer answered us: move it to the most-recently-seen end of its bucket."""
        index = self._where.get(peer)
        if index is None:
            return
        entries = self._buckets[index].entries
        entry = entries.pop(peer)
        entry.last_seen = now
        entries[peer] = entry

    def check_result(self, peer: PeerId, alive: bool, now: float) -> PeerId | None:
        """Report a liveness check. Returns the pending peer that took the place of a dead one."""
        index = self._where.get(peer)
        if index is None:
            return None
        bucket = self._buckets[index]
        if bucket.checking != peer:
            if alive:
                self.seen(peer, now)
            return None
        bucket.checking = None
        pending, bucket.pending = bucket.pending, None
        if alive:
            self.seen(peer, now)
            return None
        self.remove(peer)
        if pending is not None and pending.peer_id not in self._where:
            self._insert(index, pending)
            return pending.peer_id
        return None

    def remove(self, peer: PeerId) -> bool:
        index = self._where.pop(peer, None)
        if index is None:
            return False
        bucket = self._buckets[index]
        del bucket.entries[peer]
        self._snapshot = None
        if bucket.checking == peer:
            bucket.checking = None
            pending, bucket.pending = bucket.pending, None
            if pending is not None:
                self._insert(index, pending)
        return True

    # --- refresh -----------------------------------------------------------------------------------

    def max_cpl(self) -> int:
        return max((i for i, b in self._buckets.items() if b.entries), default=0)

    def stale_buckets(self, now: float, interval: float, max_cpl: int = MAX_REFRESH_CPL) -> list[int]:
        """Buckets (by common prefix length) not looked up within ``interval``, up to the deepest used."""
        top = min(self.max_cpl(), max_cpl)
        return [i for i in range(top + 1) if now - self._buckets[i].last_refreshed >= interval]

    def mark_refreshed(self, key: bytes, now: float) -> None:
        """A lookup for the 256-bit ``key`` finished: its bucket is fresh."""
        self._buckets[self.bucket_index(key)].last_refreshed = now

    def random_key_for_cpl(self, cpl: int, randbytes: Callable[[int], bytes]) -> bytes:
        """A peer-ID-shaped key whose Kademlia key shares exactly ``cpl`` leading bits with ours."""
        if not 0 <= cpl <= 24:
            raise ValueError(f"cannot generate keys for common prefix length {cpl}")
        base = _ED25519_PEER_PREFIX + randbytes(24)
        counter = 0
        while True:
            candidate = base + counter.to_bytes(8, "big")
            if common_prefix_length(kad_key(candidate), self.local_key) == cpl:
                return candidate
            counter += 1
