"""What the host announces: its listen addresses (unspecified ones expanded to the interface
addresses) and the external addresses its peers observe, once confirmed.

As go-libp2p's ``ObservedAddrManager``: each connection contributes the address the peer says
it sees us at (identify's ``observedAddr``), and an observed address is confirmed when at least
``activation_threshold`` (go: 4) distinct observers report it on live connections. Observers
are told apart by IP (an IPv6 observer by its /56, as go groups them), so one host opening many
connections counts once. An observation counts only when the connection's local address is one
of our listen addresses (so a NAT's mapping of the listen port is what gets confirmed; outbound
connections from ephemeral ports do not qualify), never over a relayed connection, and never for
a loopback, unspecified or differently-shaped observed address. Observations end with their
connection. No I/O and no clock: the host feeds it.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from libp2p.multiaddr import P_IP4, P_IP6, Multiaddr

__all__ = ["AddrManagerConfig", "AddressManager", "thin_waist", "expand_unspecified"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class AddrManagerConfig:
    #: distinct observers that must report an address before we announce it (go's ActivationThresh)
    activation_threshold: int = 4
    #: confirmed observed addresses kept per listen address, most observed first (go: 3)
    max_observed_per_listen: int = 3


def thin_waist(addr: Multiaddr) -> Multiaddr | None:
    """The ``/ip4|ip6/<ip>/tcp|udp/<port>`` head of ``addr``, or None."""
    comps = addr.components()
    if len(comps) < 2 or comps[0].protocol.code not in (P_IP4, P_IP6) or comps[1].protocol.name not in ("tcp", "udp"):
        return None
    return Multiaddr(f"/{comps[0].protocol.name}/{comps[0].value}/{comps[1].protocol.name}/{comps[1].value}")


def _ip(addr: Multiaddr) -> IPAddress | None:
    comps = addr.components()
    if not comps or comps[0].protocol.code not in (P_IP4, P_IP6) or comps[0].value is None:
        return None
    return ipaddress.ip_address(comps[0].value)


def expand_unspecified(addrs: Sequence[Multiaddr], interfaces: Sequence[IPAddress]) -> list[Multiaddr]:
    """Each ``/ip4/0.0.0.0/…`` (``/ip6/::/…``) address as one address per interface IP of that
    family; other addresses as they are. No duplicates, order kept."""
    out: dict[Multiaddr, None] = {}
    for addr in addrs:
        ip = _ip(addr)
        if ip is None or not ip.is_unspecified:
            out[addr] = None
            continue
        family = addr.components()[0].protocol.name
        rest = b"".join(bytes(c) for c in addr.split()[1:])
        for iface in interfaces:
            if iface.version == ip.version:
                out[Multiaddr.from_bytes(bytes(Multiaddr(f"/{family}/{iface}")) + rest)] = None
    return list(out)


def _observer_group(observer: Multiaddr | None) -> str | None:
    ip = _ip(observer) if observer is not None else None
    if ip is None:
        return None
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/56", strict=False))
    return str(ip)


@dataclass(frozen=True, slots=True)
class _Observation:
    local: Multiaddr  # the listen address (thin waist) the connection arrived on
    observed: Multiaddr  # thin waist of what the peer sees
    group: str


class AddressManager:
    """Announced addresses from listen addresses, interfaces and confirmed observations."""

    def __init__(self, config: AddrManagerConfig | None = None, interfaces: Callable[[], Sequence[IPAddress]] | None = None) -> None:
        self.config = config or AddrManagerConfig()
        self._interfaces_source = interfaces
        self._interfaces: list[IPAddress] | None = None
        self._observations: dict[object, _Observation] = {}
        # (listen address, observed address) -> live observations per observer group, kept as
        # observations come and go: announcing costs O(distinct addresses), not O(connections)
        # (at 10 000 connections a scan of every observation took ~30 ms per identify).
        self._groups: dict[tuple[Multiaddr, Multiaddr], Counter[str]] = {}
        # thin waists of the listen addresses, for the bound addresses and interfaces they came from
        self._listens_key: tuple[tuple[Multiaddr, ...], list[IPAddress] | None] | None = None
        self._listens: set[Multiaddr | None] = set()

    # --- interfaces -------------------------------------------------------------------------------

    def refresh_interfaces(self) -> None:
        """Read the interface addresses again (on the next expansion)."""
        self._interfaces = None

    def _ifaces(self) -> list[IPAddress]:
        if self._interfaces is None:
            if self._interfaces_source is None:
                from libp2p.host.interfaces import interface_ips

                self._interfaces_source = interface_ips
            self._interfaces = list(self._interfaces_source())
        return self._interfaces

    def listen_addrs(self, bound: Sequence[Multiaddr]) -> list[Multiaddr]:
        """Our bound listen addresses with unspecified IPs expanded to the interface addresses."""
        if not any((ip := _ip(a)) is not None and ip.is_unspecified for a in bound):
            return list(bound)
        return expand_unspecified(bound, self._ifaces())

    # --- observations -----------------------------------------------------------------------------

    def record(
        self,
        conn: object,
        *,
        local: Multiaddr | None,
        observer: Multiaddr | None,
        observed: Multiaddr,
        bound: Sequence[Multiaddr],
    ) -> bool:
        """``observer`` (the connection's remote address) says it sees us at ``observed`` on a
        connection whose local address is ``local``. True when the announced set may change."""
        if not bound:
            return False  # no listener (a client): no address of ours that others could dial
        if local is None or observer is None or observed.has_protocol("p2p-circuit") or observer.has_protocol("p2p-circuit"):
            return False
        # The observed address first: on loopback (tests, local tools) nothing else is parsed.
        observed_tw = thin_waist(observed)
        ip = _ip(observed_tw) if observed_tw is not None else None
        if observed_tw is None or ip is None or ip.is_loopback or ip.is_unspecified or ip.is_multicast:
            return False
        local_tw = thin_waist(local)
        group = _observer_group(observer)
        if local_tw is None or group is None:
            return False
        local_comps, observed_comps = local_tw.components(), observed_tw.components()
        if [c.protocol.code for c in local_comps] != [c.protocol.code for c in observed_comps]:
            return False  # an ip4 connection reporting an ip6 address (NAT64), or tcp vs udp
        if local_tw not in self._listen_thin_waists(bound):
            return False  # not on a listen port: a NAT mapping no one can dial back
        observation = _Observation(local_tw, observed_tw, group)
        previous = self._observations.get(conn)
        if previous == observation:
            return False
        if previous is not None:
            self._uncount(previous)
        self._observations[conn] = observation
        self._groups.setdefault((local_tw, observed_tw), Counter())[group] += 1
        return True

    def _listen_thin_waists(self, bound: Sequence[Multiaddr]) -> set[Multiaddr | None]:
        key = (tuple(bound), self._interfaces)
        if self._listens_key != key:
            self._listens = {thin_waist(a) for a in self.listen_addrs(bound)}
            self._listens_key = (tuple(bound), self._interfaces)  # after listen_addrs read them
        return self._listens

    def _uncount(self, obs: _Observation) -> None:
        key = (obs.local, obs.observed)
        groups = self._groups[key]
        groups[obs.group] -= 1
        if groups[obs.group] <= 0:
            del groups[obs.group]
            if not groups:
                del self._groups[key]

    @property
    def observations(self) -> int:
        """Connections whose observation counts now."""
        return len(self._observations)

    def observes(self, conn: object) -> bool:
        """Whether ``conn`` reported an observation that counts (``remove`` would change something)."""
        return conn in self._observations

    def remove(self, conn: object) -> bool:
        """The connection closed: its observation goes. True when the announced set may change."""
        obs = self._observations.pop(conn, None)
        if obs is None:
            return False
        self._uncount(obs)
        return True

    def observed(self) -> list[Multiaddr]:
        """Confirmed observed addresses (thin waist), most observers first."""
        per_local: dict[Multiaddr, list[tuple[int, Multiaddr]]] = {}
        for (local, observed), observers in self._groups.items():
            if len(observers) >= self.config.activation_threshold:
                per_local.setdefault(local, []).append((len(observers), observed))
        out: dict[Multiaddr, None] = {}
        for entries in per_local.values():
            entries.sort(key=lambda e: (-e[0], bytes(e[1])))
            for _, addr in entries[: self.config.max_observed_per_listen]:
                out[addr] = None
        return list(out)

    def announced(self, bound: Sequence[Multiaddr]) -> list[Multiaddr]:
        """What to tell peers: listen addresses (expanded), then confirmed observed ones."""
        listen = self.listen_addrs(bound)
        seen = set(listen)
        return listen + [a for a in self.observed() if a not in seen]

