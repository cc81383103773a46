"""The connection manager: keep the number of connections between watermarks, as go-libp2p's
``BasicConnMgr`` does, and bound inbound connections per IP address and subnet.

Above ``high_water`` connections it closes connections down to ``low_water``: the least useful
first (peers with the lowest sum of tag values, newest connections first among equals), never
a protected peer's, and never a connection younger than ``grace_period``. Services tag the
peers they value (the DHT its routing table, later the pubsub mesh) and protect the ones they
must keep.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from libp2p.errors import InvalidArgumentError
from libp2p.resources import ip_of

if TYPE_CHECKING:
    from libp2p.abc import Connection
    from libp2p.identity.peer_id import PeerId
    from libp2p.multiaddr import Multiaddr

__all__ = ["ConnManagerConfig", "ConnectionManager"]

log = logging.getLogger("libp2p.host.connmgr")

_IP = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class ConnManagerConfig:
    """Defaults from go-libp2p (``connmgr.NewConnManager(160, 192)``, a minute's grace, and its
    resource manager's per-address limits: 8 inbound connections per IPv4 address or IPv6 /56,
    64 per IPv6 /48)."""

    low_water: int = 160
    high_water: int = 192
    grace_period: float = 60.0
    silence_period: float = 10.0  # at most one trim per this many seconds, unless forced
    max_inbound_per_ip4: int = 8
    max_inbound_per_ip6_56: int = 8
    max_inbound_per_ip6_48: int = 64
    max_inbound_per_ip4_24: int = 64
    # Loopback peers are this machine's own processes (tests, local tools): not limited per address
    # unless asked.
    limit_loopback: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.low_water <= self.high_water:
            raise InvalidArgumentError("need 0 <= low_water <= high_water")


_MAX_REMEMBERED_SUBNETS = 4096

# When connections opened, for the grace period: the clock of asyncio's loops (uvloop's too, at
# millisecond resolution), read without asyncio.get_running_loop() (CPython 3.11 calls getpid()
# in it), once per connection.
_now = time.monotonic


def _subnets(ip: _IP, config: ConnManagerConfig) -> list[tuple[str, int]]:
    """The (subnet, limit) pairs an inbound connection from ``ip`` counts against."""
    if isinstance(ip, ipaddress.IPv4Address):
        return [
            (f"{ip}/32", config.max_inbound_per_ip4),
            (str(ipaddress.ip_network(f"{ip}/24", strict=False)), config.max_inbound_per_ip4_24),
        ]
    return [
        (str(ipaddress.ip_network(f"{ip}/56", strict=False)), config.max_inbound_per_ip6_56),
        (str(ipaddress.ip_network(f"{ip}/48", strict=False)), config.max_inbound_per_ip6_48),
    ]


class ConnectionManager:
    """Watermarks, tags and protections, and per-address inbound limits for one host."""

    def __init__(self, config: ConnManagerConfig | None = None) -> None:
        self.config = config or ConnManagerConfig()
        self._tags: dict[PeerId, dict[str, int]] = {}
        self._protected: dict[PeerId, set[str]] = {}
        self._inbound_by_subnet: Counter[str] = Counter()
        self._subnets_of: dict[bytes, list[tuple[str, int]]] = {}  # see _counted_subnets
        self._subnets_config: ConnManagerConfig | None = None
        self._conns: dict[Connection, float] = {}  # connection -> when it opened (time.monotonic)
        self._last_trim = float("-inf")
        self._trim_handle: asyncio.TimerHandle | None = None
        self._close: Callable[[Connection], Awaitable[None]] | None = None
        self._spawn: Callable[[Awaitable[Any], str], object] | None = None
        #: connections closed by trimming, and inbound connections refused per address
        self.trimmed = 0
        self.refused_per_address = 0

    def bind(self, close: Callable[[Connection], Awaitable[None]], spawn: Callable[[Awaitable[Any], str], object]) -> None:
        """The host's way to close a connection and to run a task (called once by the host)."""
        self._close = close
        self._spawn = spawn

    # --- tags and protections -----------------------------------------------------------------

    def tag_peer(self, peer: PeerId, tag: str, value: int) -> None:
        """Say how much ``peer`` is worth to ``tag`` (a service's name); higher is kept longer."""
        self._tags.setdefault(peer, {})[tag] = value

    def untag_peer(self, peer: PeerId, tag: str) -> None:
        """Remove the peer's tag ``tag``."""
        tags = self._tags.get(peer)
        if tags is not None:
            tags.pop(tag, None)
            if not tags:
                del self._tags[peer]

    def tag_value(self, peer: PeerId) -> int:
        """The sum of the peer's tag values (higher is kept longer when trimming)."""
        return sum(self._tags.get(peer, {}).values())

    def protect(self, peer: PeerId, tag: str) -> None:
        """Never trim ``peer``'s connections while any tag protects it."""
        self._protected.setdefault(peer, set()).add(tag)

    def unprotect(self, peer: PeerId, tag: str) -> bool:
        """Drop one protection; True if the peer is still protected by another tag."""
        tags = self._protected.get(peer)
        if tags is None:
            return False
        tags.discard(tag)
        if not tags:
            del self._protected[peer]
            return False
        return True

    def is_protected(self, peer: PeerId, tag: str | None = None) -> bool:
        """Whether the peer is protected from trimming (under ``tag``, or any tag)."""
        tags = self._protected.get(peer)
        return bool(tags) and (tag is None or tag in tags)  # type: ignore[operator]

    # --- per-address inbound limits -------------------------------------------------------------

    def _counted_subnets(self, addr: Multiaddr | None) -> list[tuple[str, int]]:
        # Asked twice per inbound connection (admitted, released), mostly for the same few
        # addresses: remembered by the address's binary /ip4 or /ip6 part (bounded), per config.
        key = None
        if addr is not None:
            raw = addr._b  # (bytes(addr) without the call: this runs twice per inbound connection)
            if raw[:1] == b"\x04" and len(raw) >= 5:
                key = raw[:5]
            elif raw[:1] == b"\x29" and len(raw) >= 17:
                key = raw[:17]
        if key is not None:
            if self._subnets_config is not self.config:
                self._subnets_of.clear()
                self._subnets_config = self.config
            known = self._subnets_of.get(key)
            if known is not None:
                return known
        ip = ip_of(addr)
        subnets = [] if ip is None or (ip.is_loopback and not self.config.limit_loopback) else _subnets(ip, self.config)
        if key is not None:
            if len(self._subnets_of) >= _MAX_REMEMBERED_SUBNETS:
                self._subnets_of.clear()
            self._subnets_of[key] = subnets
        return subnets

    def admit_inbound(self, addr: Multiaddr | None) -> bool:
        """Count a new inbound connection (from its arrival) against its address's limits; False
        when one is full (the caller closes it). ``release_inbound`` gives the slot back."""
        subnets = self._counted_subnets(addr)
        if not subnets:  # loopback, or no IP address
            return True
        counts = self._inbound_by_subnet
        for subnet, limit in subnets:
            if counts.get(subnet, 0) >= limit:
                self.refused_per_address += 1
                log.debug("refusing an inbound connection from %s: %d already from %s", addr, limit, subnet)
                return False
        for subnet, _ in subnets:
            counts[subnet] += 1
        return True

    def release_inbound(self, addr: Multiaddr | None) -> None:
        """An inbound connection from ``addr`` ended: free its per-address slot."""
        subnets = self._counted_subnets(addr)
        if not subnets:
            return
        counts = self._inbound_by_subnet
        for subnet, _ in subnets:
            counts[subnet] -= 1
            if counts[subnet] <= 0:
                del counts[subnet]

    # --- watermarks ---------------------------------------------------------------------------------

    def connection_opened(self, conn: Connection) -> None:
        """Count a new connection (called by the swarm)."""
        conns = self._conns
        conns[conn] = _now()
        if len(conns) > self.config.high_water:
            self._schedule_trim()

    def connection_closed(self, conn: Connection) -> None:
        """Forget a closed connection (called by the swarm)."""
        self._conns.pop(conn, None)

    @property
    def connection_count(self) -> int:
        """The connections counted now."""
        return len(self._conns)

    def _schedule_trim(self) -> None:
        if self._trim_handle is not None:
            return
        wait = max(0.0, self._last_trim + self.config.silence_period - _now())
        self._trim_handle = asyncio.get_running_loop().call_later(wait, self._trim_soon)

    def _recheck_later(self) -> None:
        if self._trim_handle is not None:
            return
        now = _now()
        youngest = max(self._conns.values(), default=now)
        wait = max(self.config.silence_period, youngest + self.config.grace_period - now, 0.05)
        self._trim_handle = asyncio.get_running_loop().call_later(wait, self._trim_soon)

    def _trim_soon(self) -> None:
        self._trim_handle = None
        if self._spawn is not None:
            self._spawn(self.trim(), "connmgr trim")

    def candidates(self) -> list[Connection]:
        """The connections a trim would close now, in order (excess over ``low_water`` only)."""
        excess = len(self._conns) - self.config.low_water
        if excess <= 0:
            return []
        now = _now()
        grace = self.config.grace_period
        eligible = [
            c for c, opened in self._conns.items()
            if now - opened >= grace and not self.is_protected(c.remote_peer_id) and not c.is_closed
        ]
        # Least valuable peer first; among equals the newest connection goes first (go's order).
        eligible.sort(key=lambda c: (self.tag_value(c.remote_peer_id), -self._conns[c]))
        return eligible[:excess]

    async def trim(self) -> int:
        """Close connections down to ``low_water`` now; returns how many were closed."""
        self._last_trim = _now()
        victims = self.candidates()
        if len(self._conns) - len(victims) > self.config.high_water:
            self._recheck_later()  # some are still in their grace period
        if not victims or self._close is None:
            return 0
        log.info("trimming %d connections (%d open, low water %d)", len(victims), len(self._conns), self.config.low_water)
        await asyncio.gather(*(self._close(c) for c in victims), return_exceptions=True)
        self.trimmed += len(victims)
        return len(victims)

    def close(self) -> None:
        """Stop trimming (the host is closing)."""
        if self._trim_handle is not None:
            self._trim_handle.cancel()
            self._trim_handle = None
