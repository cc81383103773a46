"""AutoNAT v2 as sans-IO pieces: the server's choice of address, its dial-data (amplification)
check, and the client's verdict, which needs the server's dial-back with our nonce.

The server dials the first address of the request it can and may dial (IP and TCP, public unless
allowed); when that address's IP is not the one the request came from, dialing it would let the
requester aim our dial at someone else, so first it asks for ``num_bytes`` (30–100 kB) of dial
data, in chunks of at most 4096 bytes, which costs the requester more than our dial costs us.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from dataclasses import dataclass

from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import P_IP4, P_IP6, P_TCP, Multiaddr
from libp2p.protocols.autonatv2.wire import (
    MAX_DATA_CHUNK,
    AutonatV2DecodeError,
    DialResponse,
    DialStatus,
    ResponseStatus,
)

__all__ = ["AutonatV2Config", "choose_addr", "needs_dial_data", "DialDataReceiver", "Throttle", "verdict"]

_PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
                                                 "fc00::/7")]


@dataclass(frozen=True, slots=True)
class AutonatV2Config:
    """go-libp2p's autonatv2 defaults where it has one."""

    serve: bool = True
    allow_private: bool = False  # RFC 1918 / ULA / CGNAT addresses (test networks)
    allow_loopback: bool = False  # loopback (tests on one machine only)
    data_min: int = 30_000
    data_max: int = 100_000
    stream_timeout: float = 15.0
    dial_back_timeout: float = 10.0
    throttle_peer: int = 12
    throttle_global: int = 60
    throttle_period: float = 60.0


def _ip(addr: Multiaddr) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    comps = addr.components()
    if not comps or comps[0].protocol.code not in (P_IP4, P_IP6) or comps[0].value is None:
        return None
    return ipaddress.ip_address(comps[0].value)


def _dialable(addr: Multiaddr, config: AutonatV2Config) -> bool:
    comps = addr.components()
    if len(comps) < 2 or comps[1].protocol.code != P_TCP or addr.has_protocol("p2p-circuit"):
        return False
    ip = _ip(addr)
    if ip is None or ip.is_unspecified or ip.is_multicast or ip.is_link_local:
        return False
    if ip.is_loopback:
        return config.allow_loopback
    return config.allow_private or not any(ip in net for net in _PRIVATE)


def choose_addr(addrs: tuple[Multiaddr, ...], config: AutonatV2Config) -> tuple[int, Multiaddr] | None:
    """The first address we will dial (its index in the request), or None."""
    for idx, addr in enumerate(addrs):
        if _dialable(addr, config):
            comps = addr.split()
            return idx, Multiaddr.from_bytes(bytes(comps[0]) + bytes(comps[1]))
    return None


def needs_dial_data(addr: Multiaddr, observed: Multiaddr | None) -> bool:
    """Whether dialing ``addr`` needs dial data first: its IP is not the requester's."""
    return observed is None or _ip(addr) != _ip(observed)


class DialDataReceiver:
    """Counts the dial data a requester sends until ``num_bytes`` arrived."""

    def __init__(self, num_bytes: int) -> None:
        self.remaining = num_bytes

    def receive(self, chunk: bytes) -> bool:
        """One DialDataResponse's data; True when enough has arrived."""
        if len(chunk) > MAX_DATA_CHUNK:
            raise AutonatV2DecodeError(f"dial data chunk of {len(chunk)} bytes")
        if not chunk:
            raise AutonatV2DecodeError("empty dial data chunk")
        self.remaining -= len(chunk)
        return self.remaining <= 0


class Throttle:
    """At most ``per_peer`` requests from one peer and ``total`` in all per ``period`` seconds."""

    def __init__(self, per_peer: int, total: int, period: float) -> None:
        self.per_peer, self.total, self.period = per_peer, total, period
        self._recent: deque[tuple[float, PeerId]] = deque()

    def admit(self, peer: PeerId, now: float) -> bool:
        while self._recent and self._recent[0][0] <= now - self.period:
            self._recent.popleft()
        if len(self._recent) >= self.total or sum(1 for _, p in self._recent if p == peer) >= self.per_peer:
            return False
        self._recent.append((now, peer))
        return True


def verdict(response: DialResponse, requested: int, dialed_back: bool) -> bool | None:
    """What the client learns about the address at ``response.addr_idx``: True reachable, False
    not, None nothing (refused, unknown codes, or an index we did not send). The server's OK
    counts only when its dial-back carried our nonce (``dialed_back``)."""
    if response.status != ResponseStatus.OK or not 0 <= response.addr_idx < requested:
        return None
    if response.dial_status == DialStatus.OK:
        return True if dialed_back else None
    if response.dial_status == DialStatus.E_DIAL_ERROR:
        return False
    return None  # E_DIAL_BACK_ERROR (reached, but the dial-back stream failed) or unknown
