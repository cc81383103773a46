"""mDNS discovery as a host service: the sans-IO ``MdnsCore`` on a UDP socket joined to
224.0.0.251:5353.

Discovered peers go into the peerstore (their addresses for the records' TTL), out on
``host.events`` as ``PeerDiscovered``, and are dialled while the host has fewer connected peers
than its connection manager's low watermark (a host that wants peers), unless ``dial=False``.

Why our own responder rather than zeroconf: libp2p's records are one PTR answer plus a TXT record
holding several ``dnsaddr=`` strings, which zeroconf's service model (one key=value map per
service, SRV/A records first) does not express without going around it; the responder here is a
small bounded decoder and a few rules, runs on the host's event loop with no thread, and
zeroconf would add a large dependency for it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from libp2p.discovery.mdns.core import MdnsConfig, MdnsCore
from libp2p.discovery.mdns.events import PeerDiscovered
from libp2p.discovery.mdns.wire import MDNS_ADDR4, MDNS_PORT
from libp2p.host.service import Service
from libp2p.multiaddr import P_IP4, P_IP6, Multiaddr
from libp2p.peerstore import PeerInfo

if TYPE_CHECKING:
    from libp2p.host.host import Host
    from libp2p.identity.peer_id import PeerId

__all__ = ["MdnsService", "MdnsServiceConfig"]

# peers remembered as reported by mDNS (one LAN rarely has more)
_MAX_SEEN_PEERS = 1024

log = logging.getLogger("libp2p.discovery.mdns")


@dataclass(frozen=True, slots=True)
class MdnsServiceConfig:
    core: MdnsConfig = MdnsConfig()
    #: dial discovered peers while the host has fewer than its connection manager's low watermark
    dial: bool = True
    #: the IPv4 address of the interface to use; None: the one the routing table picks
    interface: str | None = None
    port: int = MDNS_PORT


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, service: MdnsService) -> None:
        self._service = service

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self._service._received(data)

    def error_received(self, exc: Exception) -> None:
        log.debug("mDNS socket error: %s", exc)


def _multicast_socket(interface: str | None, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # share 5353 with other responders
        sock.bind(("", port))
        local = socket.inet_aton(interface or "0.0.0.0")
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(MDNS_ADDR4) + local)
        if interface is not None:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, local)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, struct.pack("B", 255))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def _outgoing_ipv4(interface: str | None, port: int) -> str | None:
    """The address our multicast leaves from (what a 0.0.0.0 listener is reached on here)."""
    if interface is not None:
        return interface
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((MDNS_ADDR4, port))
            return str(probe.getsockname()[0])
        except OSError:
            return None


class MdnsService(Service):
    """mDNS discovery on the local network: answers queries with our addresses, queries every
    ``query_interval``, records what it finds in the peerstore, emits ``PeerDiscovered`` and
    dials while the host is below its connection manager's low watermark (``dial``)."""

    name = "mdns"

    def __init__(self, config: MdnsServiceConfig | None = None) -> None:
        super().__init__()
        self.config = config or MdnsServiceConfig()
        self.core: MdnsCore | None = None
        self._seen: dict[PeerId, frozenset[Multiaddr]] = {}  # what mDNS last reported, per peer
        self._transport: asyncio.DatagramTransport | None = None
        self._wake = asyncio.Event()
        self._local_ip: str | None = None

    async def start(self, host: Host) -> None:
        await super().start(host)
        self.core = MdnsCore(host.peer_id, self._announced_addrs, self.config.core)
        sock = _multicast_socket(self.config.interface, self.config.port)
        self._local_ip = _outgoing_ipv4(self.config.interface, self.config.port)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self), sock=sock)
        self._transport = transport
        self.core.start(loop.time())
        self._flush()
        host.spawn(self._timer_loop(), "mdns timer")
        log.info("mDNS discovery as %s on %s", self.core.peer_name, self._local_ip or "the default interface")

    async def stop(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        await super().stop()

    def _announced_addrs(self) -> list[Multiaddr]:
        """Our listen addresses as others on the network reach them: no loopback; a wildcard
        bind as the address our multicast leaves from."""
        out: list[Multiaddr] = []
        for addr in self.host.addrs:
            parts = addr.components()
            if not parts or parts[0].protocol.code not in (P_IP4, P_IP6) or parts[0].value is None:
                continue
            ip = ipaddress.ip_address(parts[0].value)
            if ip.is_loopback:
                continue
            if ip.is_unspecified:
                if ip.version != 4 or self._local_ip is None:
                    continue
                addr = Multiaddr(str(addr).replace("/ip4/0.0.0.0/", f"/ip4/{self._local_ip}/", 1))
            out.append(addr)
        return out

    async def _timer_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while self._transport is not None and self.core is not None:
            deadline = self.core.get_timer()
            delay = 60.0 if deadline is None else max(0.0, deadline - loop.time())
            await asyncio.sleep(delay)
            self.core.handle_timer(loop.time())
            self._flush()

    def _received(self, data: bytes) -> None:
        if self.core is None:
            return
        self.core.receive_datagram(data)
        self._flush()
        while (event := self.core.next_event()) is not None:
            self._discovered(event)

    def _flush(self) -> None:
        if self.core is None or self._transport is None:
            return
        for datagram in self.core.datagrams_to_send():
            self._transport.sendto(datagram, (MDNS_ADDR4, self.config.port))

    def _discovered(self, event: PeerDiscovered) -> None:
        host = self.host
        addrs = tuple(a.decapsulate_code("p2p") for a in event.addrs)
        dialable = tuple(a for a in addrs if host.can_dial(a))
        host.peerstore.add_addrs(event.peer_id, addrs, float(self.config.core.ttl))
        # Announced once per peer and address set that mDNS reports, whatever else the host
        # knows: a peer that connected to us first (identify gave us its addresses) was still
        # found on the link. Bounded: the oldest entries go first.
        seen = frozenset(addrs)
        if self._seen.get(event.peer_id) != seen:
            self._seen.pop(event.peer_id, None)
            self._seen[event.peer_id] = seen
            while len(self._seen) > _MAX_SEEN_PEERS:
                del self._seen[next(iter(self._seen))]
            log.info("mDNS: discovered %s at %s", event.peer_id, ", ".join(map(str, addrs)))
            host.events.emit(event)
        if (
            self.config.dial
            and dialable
            and not host.connections(event.peer_id)
            and len(host.connected_peers()) < host.connmgr.config.low_water
        ):
            host.spawn(self._dial(PeerInfo(event.peer_id, dialable)), f"mdns dial {event.peer_id}")

    async def _dial(self, info: PeerInfo) -> None:
        try:
            await self.host.connect(info)
            log.info("mDNS: connected to %s", info.peer_id)
        except Exception as exc:  # noqa: BLE001 - a peer we could not reach is only logged
            log.debug("mDNS: could not dial %s: %s", info.peer_id, exc)
