"""An in-memory peerstore with go-libp2p's address TTLs."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from libp2p.errors import InvalidArgumentError, MissingPeerIdError
from libp2p.identity.keys import PublicKey
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr

__all__ = [
    "ADDRESS_TTL",
    "TEMP_ADDR_TTL",
    "RECENTLY_CONNECTED_ADDR_TTL",
    "CONNECTED_ADDR_TTL",
    "PERMANENT_ADDR_TTL",
    "PeerInfo",
    "Peerstore",
]

# go-libp2p core/peerstore TTLs, in seconds.
TEMP_ADDR_TTL = 120.0
ADDRESS_TTL = 3600.0
RECENTLY_CONNECTED_ADDR_TTL = 15 * 60.0
CONNECTED_ADDR_TTL = float("inf")
PERMANENT_ADDR_TTL = float("inf")

# Bounds, so a chatty or hostile peer cannot grow our memory without limit.
MAX_ADDRS_PER_PEER = 64
MAX_PROTOCOLS_PER_PEER = 256


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """A peer and the addresses to reach it (``/p2p/...`` stripped)."""

    peer_id: PeerId
    addrs: tuple[Multiaddr, ...] = ()

    @classmethod
    def from_multiaddr(cls, addr: Multiaddr | str) -> PeerInfo:
        """A ``PeerInfo`` from ``/…/p2p/<id>`` (``MissingPeerIdError`` without ``/p2p``)."""
        ma = addr if isinstance(addr, Multiaddr) else Multiaddr(addr)
        pid = ma.peer_id
        if pid is None:
            raise MissingPeerIdError(f"{ma} does not end in /p2p/<peer id>: the peer ID is what the secure channel verifies")
        transport = ma.decapsulate_code("p2p")
        return cls(pid, (transport,) if bytes(transport) else ())


_NO_PROTOCOLS: frozenset[str] = frozenset()


@dataclass(slots=True)
class _PeerData:
    addrs: dict[Multiaddr, tuple[float, float]] = field(default_factory=dict)  # address -> (expiry, ttl)
    public_key: PublicKey | None = None
    # shared and empty until identify says something: an empty set costs 216 bytes, and a DHT
    # node knows the addresses of thousands of peers it never spoke to
    protocols: frozenset[str] | set[str] = _NO_PROTOCOLS
    agent_version: str | None = None
    protocol_version: str | None = None
    record_seq: int = -1
    signed_record: bytes | None = None
    metadata: dict[str, object] | None = None


class Peerstore:
    """Per-peer knowledge. Expired addresses are dropped when read."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._peers: dict[PeerId, _PeerData] = {}
        self._clock = clock
        # Before the earliest expiry, prune() need only look at peers added or stripped of
        # addresses since it last ran, not at all of them (a DHT server knows thousands).
        self._earliest_expiry = math.inf
        self._unchecked: set[PeerId] = set()

    def _data(self, peer_id: PeerId) -> _PeerData:
        data = self._peers.get(peer_id)
        if data is None:
            data = self._peers[peer_id] = _PeerData()
            self._unchecked.add(peer_id)
        return data

    def peers(self) -> list[PeerId]:
        """Every peer we know anything about."""
        return list(self._peers)

    # --- addresses ----------------------------------------------------------------------------

    def add_addrs(self, peer_id: PeerId, addrs: Iterable[Multiaddr], ttl: float = ADDRESS_TTL) -> None:
        """Add addresses, extending (never shortening) the expiry of ones already known."""
        data = self._data(peer_id)
        expiry = self._clock() + ttl
        for addr in addrs:
            if addr.peer_id is not None:
                addr = addr.decapsulate_code("p2p")
            if not bytes(addr):
                continue
            old = data.addrs.get(addr)
            if old is None and len(data.addrs) >= MAX_ADDRS_PER_PEER:
                continue
            if old is None or old[0] < expiry:
                data.addrs[addr] = (expiry, ttl)
                self._earliest_expiry = min(self._earliest_expiry, expiry)
        if data.addrs:
            self._unchecked.discard(peer_id)  # nothing to prune before an address expires

    def set_addrs(self, peer_id: PeerId, addrs: Iterable[Multiaddr], ttl: float) -> None:
        """Set the expiry of these addresses to exactly ``ttl`` from now (``ttl`` ≤ 0 removes them)."""
        data = self._data(peer_id)
        now = self._clock()
        for addr in addrs:
            if ttl <= 0:
                data.addrs.pop(addr, None)
                self._unchecked.add(peer_id)
            elif addr in data.addrs or len(data.addrs) < MAX_ADDRS_PER_PEER:
                data.addrs[addr] = (now + ttl, ttl)
                self._earliest_expiry = min(self._earliest_expiry, now + ttl)

    def update_addrs(self, peer_id: PeerId, old_ttl: float, new_ttl: float) -> None:
        """Give every address whose TTL was ``old_ttl`` the TTL ``new_ttl`` (go's UpdateAddrs)."""
        data = self._peers.get(peer_id)
        if data is None or not data.addrs:  # (a peer that only dialed us: no address to age)
            return
        now = self._clock()
        for addr, (_, ttl) in list(data.addrs.items()):
            if ttl == old_ttl:
                data.addrs[addr] = (now + new_ttl, new_ttl)
                self._earliest_expiry = min(self._earliest_expiry, now + new_ttl)

    def addrs(self, peer_id: PeerId) -> list[Multiaddr]:
        """The peer's addresses that have not expired."""
        data = self._peers.get(peer_id)
        if data is None:
            return []
        now = self._clock()
        expired = [a for a, (exp, _) in data.addrs.items() if exp <= now]
        for addr in expired:
            del data.addrs[addr]
        return list(data.addrs)

    def clear_addrs(self, peer_id: PeerId) -> None:
        """Forget every address of the peer."""
        data = self._peers.get(peer_id)
        if data is not None:
            data.addrs.clear()
            self._unchecked.add(peer_id)

    def peer_info(self, peer_id: PeerId) -> PeerInfo:
        """The peer and its current addresses."""
        return PeerInfo(peer_id, tuple(self.addrs(peer_id)))

    # --- keys, protocols, agent ------------------------------------------------------------------

    def add_public_key(self, peer_id: PeerId, key: PublicKey) -> None:
        """Record the peer's public key (``InvalidArgumentError`` if it is not the peer's)."""
        # Once per connection: the ID derived from this very key (the handshake's) needs no check
        # call, and a known peer no _data call.
        if key is not peer_id._key and not peer_id.matches_public_key(key):
            raise InvalidArgumentError(f"public key does not match {peer_id}")
        data = self._peers.get(peer_id)
        if data is None:
            data = self._data(peer_id)
        data.public_key = key

    def public_key(self, peer_id: PeerId) -> PublicKey | None:
        """The peer's public key, if known."""
        data = self._peers.get(peer_id)
        if data is not None and data.public_key is not None:
            return data.public_key
        return peer_id.public_key

    def set_protocols(self, peer_id: PeerId, protocols: Iterable[str]) -> None:
        """Replace the protocols the peer is known to support."""
        self._data(peer_id).protocols = set(list(protocols)[:MAX_PROTOCOLS_PER_PEER])

    def add_protocols(self, peer_id: PeerId, protocols: Iterable[str]) -> None:
        """Add to the protocols the peer is known to support."""
        data = self._data(peer_id)
        known = set(data.protocols)
        for p in protocols:
            if len(known) >= MAX_PROTOCOLS_PER_PEER:
                break
            known.add(p)
        data.protocols = known

    def remove_protocols(self, peer_id: PeerId, protocols: Iterable[str]) -> None:
        """Remove protocols the peer no longer supports."""
        data = self._data(peer_id)
        data.protocols = data.protocols.difference(protocols)

    def protocols(self, peer_id: PeerId) -> set[str]:
        """The protocols the peer is known to support (from identify)."""
        data = self._peers.get(peer_id)
        return set(data.protocols) if data is not None else set()

    def supports(self, peer_id: PeerId, protocols: Iterable[str]) -> list[str]:
        """Those of ``protocols`` the peer is known to support, in the given order."""
        known = self.protocols(peer_id)
        return [p for p in protocols if p in known]

    def set_agent(self, peer_id: PeerId, agent_version: str | None, protocol_version: str | None = None) -> None:
        """Record the peer's agent and protocol versions (from identify)."""
        data = self._data(peer_id)
        data.agent_version = agent_version
        if protocol_version is not None:
            data.protocol_version = protocol_version

    def agent_version(self, peer_id: PeerId) -> str | None:
        """The peer's agent version (``go-libp2p/…``, ``aiolibp2p/…``), if known."""
        data = self._peers.get(peer_id)
        return data.agent_version if data is not None else None

    def protocol_version(self, peer_id: PeerId) -> str | None:
        """The peer's protocol version, if known."""
        data = self._peers.get(peer_id)
        return data.protocol_version if data is not None else None

    # --- signed peer records -----------------------------------------------------------------------

    def consume_peer_record(self, peer_id: PeerId, seq: int, envelope: bytes, addrs: Iterable[Multiaddr], ttl: float) -> bool:
        """Store a verified record's addresses if its sequence number is newer; return whether it was."""
        data = self._data(peer_id)
        if seq <= data.record_seq:
            return False
        data.record_seq = seq
        data.signed_record = envelope
        # Certified addresses replace what we had heard before.
        data.addrs.clear()
        self.add_addrs(peer_id, addrs, ttl)
        return True

    def signed_peer_record(self, peer_id: PeerId) -> bytes | None:
        """The peer's latest signed peer record (envelope bytes), if any."""
        data = self._peers.get(peer_id)
        return data.signed_record if data is not None else None

    # --- misc -----------------------------------------------------------------------------------------

    def put(self, peer_id: PeerId, key: str, value: object) -> None:
        """Store application metadata about the peer under ``key``."""
        data = self._data(peer_id)
        if data.metadata is None:
            data.metadata = {}
        data.metadata[key] = value

    def get(self, peer_id: PeerId, key: str) -> object | None:
        """Application metadata stored under ``key``, or None."""
        data = self._peers.get(peer_id)
        return data.metadata.get(key) if data is not None and data.metadata is not None else None

    def remove_peer(self, peer_id: PeerId) -> None:
        """Drop everything known about ``peer_id``, addresses included."""
        self._peers.pop(peer_id, None)

    def forget(self, peer_id: PeerId) -> None:
        """Drop a departed peer's key, protocols, agent and metadata (go's ``RemovePeer``); its
        addresses and signed record stay until their TTLs run out."""
        data = self._peers.get(peer_id)
        if data is None:
            return
        data.public_key = None
        data.protocols = _NO_PROTOCOLS
        data.agent_version = data.protocol_version = None
        data.metadata = None
        if not data.addrs:
            del self._peers[peer_id]

    def prune(self) -> int:
        """Drop expired addresses, and peers with nothing left; returns how many peers went."""
        now = self._clock()
        full = now >= self._earliest_expiry
        earliest = math.inf
        empty = []
        candidates = self._peers.items() if full else [
            (p, d) for p in self._unchecked if (d := self._peers.get(p)) is not None]
        self._unchecked = set()
        for peer_id, data in candidates:
            if full:
                expired = [a for a, (exp, _) in data.addrs.items() if exp <= now]
                for addr in expired:
                    del data.addrs[addr]
                for exp, _ in data.addrs.values():
                    earliest = min(earliest, exp)
            if not data.addrs:
                data.signed_record = None  # a record is about addresses; none are left
                if data.public_key is None and not data.protocols and data.agent_version is None \
                        and not data.metadata:
                    empty.append(peer_id)
        for peer_id in empty:
            del self._peers[peer_id]
        if full:
            self._earliest_expiry = earliest
        return len(empty)
