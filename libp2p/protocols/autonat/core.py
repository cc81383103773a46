"""AutoNAT v1 as sans-IO pieces: the server's policy (which addresses it will dial back, and
how often) and the client's reachability tracker. Time comes in as an argument.

Server (go's autonat server defaults): dial back only addresses whose IP is the one the request
came from (so a server cannot be made to dial a third party), never over a relayed connection,
never a loopback/private (RFC 1918, ULA)/link-local/unspecified address unless allowed, at most
``max_addrs`` of them; the peer ID in the request must be the requester's; at most
``throttle_peer`` requests per peer and ``throttle_global`` in all per ``throttle_period``.

Client: the latest answer of each server counts; ``threshold`` OKs make us public, as many
dial errors (with fewer OKs) private; refusals and failures to answer do not count.
"""

from __future__ import annotations

import ipaddress
from collections import Counter, deque
from dataclasses import dataclass

from libp2p.host.events import Reachability
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import P_IP4, P_IP6, Multiaddr
from libp2p.protocols.autonat.wire import DialRequest, ResponseStatus

__all__ = ["AutonatConfig", "ServerPolicy", "ReachabilityTracker", "dialable_ip"]

_PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
                                                 "fc00::/7")]


@dataclass(frozen=True, slots=True)
class AutonatConfig:
    """AutoNAT v1 options. Server (``serve``): dial back at most ``throttle_peer`` requests per
    peer and ``throttle_global`` in all per ``throttle_period`` s, public addresses only unless
    ``allow_private``. Client (``probe``): ask each new AutoNAT peer, again after ``reprobe_after``
    s; reachability changes once ``threshold`` servers agree."""

    # server
    serve: bool = True
    max_addrs: int = 16
    throttle_peer: int = 3
    throttle_global: int = 30
    throttle_period: float = 60.0
    dial_timeout: float = 15.0
    allow_private: bool = False  # for tests on private networks
    # client
    probe: bool = True
    threshold: int = 3
    stream_timeout: float = 60.0
    # one probe per server per this long
    reprobe_after: float = 15 * 60.0


def _ip(addr: Multiaddr) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    comps = addr.components()
    if not comps or comps[0].protocol.code not in (P_IP4, P_IP6) or comps[0].value is None:
        return None
    return ipaddress.ip_address(comps[0].value)


def dialable_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_private: bool) -> bool:
    if ip.is_loopback or ip.is_unspecified or ip.is_link_local or ip.is_multicast:
        return False
    return allow_private or not any(ip in net for net in _PRIVATE)


class ServerPolicy:
    def __init__(self, config: AutonatConfig) -> None:
        self.config = config
        self._recent: deque[tuple[float, PeerId]] = deque()
        #: refusals by reason
        self.refused: Counter[str] = Counter()

    def _expire(self, now: float) -> None:
        while self._recent and self._recent[0][0] <= now - self.config.throttle_period:
            self._recent.popleft()

    def decide(
        self, requester: PeerId, request: DialRequest, observed: Multiaddr | None, relayed: bool, now: float
    ) -> tuple[ResponseStatus, str, list[Multiaddr]]:
        """(status, text, addresses to dial): dial when the status is OK."""
        if request.peer_id != requester:
            self.refused["peer id"] += 1
            return ResponseStatus.E_BAD_REQUEST, "peer id mismatch", []
        if relayed or observed is None:
            self.refused["relayed"] += 1
            return ResponseStatus.E_DIAL_REFUSED, "refusing to dial back over a relayed connection", []
        observed_ip = _ip(observed)
        if observed_ip is None or not dialable_ip(observed_ip, self.config.allow_private):
            self.refused["observed address"] += 1
            return ResponseStatus.E_DIAL_REFUSED, "the observed address is not dialable", []
        self._expire(now)
        if len(self._recent) >= self.config.throttle_global:
            self.refused["throttled"] += 1
            return ResponseStatus.E_DIAL_REFUSED, "too many dial requests", []
        if sum(1 for _, p in self._recent if p == requester) >= self.config.throttle_peer:
            self.refused["throttled peer"] += 1
            return ResponseStatus.E_DIAL_REFUSED, "too many dial requests from this peer", []
        # The requester's IP only (never a third party); the observed address itself first (a NAT
        # mapping the requester may not know), then its own addresses on that IP.
        candidates = [observed] + list(request.addrs)
        addrs: dict[Multiaddr, None] = {}
        for addr in candidates:
            comps = addr.split()
            if len(comps) < 2 or _ip(addr) != observed_ip or addr.has_protocol("p2p-circuit"):
                continue
            addrs[Multiaddr.from_bytes(bytes(comps[0]) + bytes(comps[1]))] = None
        if not addrs:
            self.refused["no address"] += 1
            return ResponseStatus.E_DIAL_REFUSED, "no dialable address", []
        self._recent.append((now, requester))
        return ResponseStatus.OK, "", list(addrs)[: self.config.max_addrs]


class ReachabilityTracker:
    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self._latest: dict[PeerId, bool] = {}
        self.reachability = Reachability.UNKNOWN

    def record(self, server: PeerId, status: int | None) -> Reachability | None:
        """One server's answer; the new reachability when it changed, else None."""
        if status == ResponseStatus.OK:
            self._latest[server] = True
        elif status == ResponseStatus.E_DIAL_ERROR:
            self._latest[server] = False
        else:
            return None  # refused, bad request, internal error, or no answer: no evidence
        ok = sum(self._latest.values())
        failed = len(self._latest) - ok
        if ok >= self.threshold:
            new = Reachability.PUBLIC
        elif failed >= self.threshold:
            new = Reachability.PRIVATE
        else:
            new = self.reachability
        if new == self.reachability:
            return None
        self.reachability = new
        return new

    @property
    def confident(self) -> bool:
        return self.reachability != Reachability.UNKNOWN and len(self._latest) >= self.threshold
