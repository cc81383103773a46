"""The sans-IO mDNS discovery core (libp2p/specs ``discovery/mdns.md``): datagrams and time in,
datagrams to send and ``PeerDiscovered`` events out.

* It asks ``_p2p._udp.local PTR`` when started and every ``query_interval`` seconds after.
* It answers every query for that name (or ANY), including its own (a peer MUST answer its own
  query), and queries for its own peer name's TXT record: a PTR answer to
  ``<peer-name>._p2p._udp.local`` plus the TXT record ``dnsaddr=<addr>/p2p/<id>`` strings, one per
  address (a string over 255 bytes is skipped).
* The response also carries, as go-libp2p's responder (zeroconf) does, an SRV record for the peer
  name (target ``<peer-name label>.local``) and A/AAAA records of that host for the IP addresses we
  announce: not in the spec, but go-libp2p's browser reports a service instance only when it has
  an address record, so without them go-libp2p never finds us.
* From a response it takes the PTR answers for the service, then the TXT records of those names (in
  any section), keeps the strings that start with ``dnsaddr=`` and parse as a multiaddr ending in
  ``/p2p/<id>``, drops its own peer ID, and reports each other peer once per response.

The peer name is random lowercase alphanumeric, 32 to 63 characters, never the peer ID.
Malformed or oversized datagrams are dropped and counted (``dropped``); they never raise.
"""

from __future__ import annotations

import ipaddress
import secrets
import string
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from libp2p.discovery.mdns.events import PeerDiscovered
from libp2p.discovery.mdns.wire import (
    TYPE_A,
    TYPE_AAAA,
    TYPE_ANY,
    TYPE_PTR,
    TYPE_SRV,
    TYPE_TXT,
    Message,
    Question,
    Record,
    decode_message,
    encode_message,
    encode_srv,
)
from libp2p.errors import DecodeError, Libp2pError
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import P_IP4, P_IP6, P_TCP, Multiaddr

__all__ = ["MdnsConfig", "MdnsCore", "SERVICE_NAME", "random_peer_name"]

SERVICE_NAME = "_p2p._udp.local"
_DNSADDR = b"dnsaddr="
# Addresses taken from one peer's TXT records.
_MAX_ADDRS_PER_PEER = 32


@dataclass(frozen=True, slots=True)
class MdnsConfig:
    #: seconds between queries (the first goes out on start)
    query_interval: float = 10.0
    #: TTL of our records, seconds (rust-libp2p: 6 minutes)
    ttl: int = 360
    service_name: str = SERVICE_NAME


def random_peer_name(length: int = 32) -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


class MdnsCore:
    def __init__(
        self,
        peer_id: PeerId,
        addrs: Callable[[], Sequence[Multiaddr]],
        config: MdnsConfig | None = None,
        *,
        peer_name: str | None = None,
    ) -> None:
        self.peer_id = peer_id
        self.config = config or MdnsConfig()
        self._addrs = addrs
        self.peer_name = f"{peer_name or random_peer_name()}.{self.config.service_name}"
        self._out: deque[bytes] = deque()
        self._events: deque[PeerDiscovered] = deque()
        self._next_query: float | None = None
        #: datagrams that did not decode, or carried nothing usable
        self.dropped = 0

    # --- the sans-IO face ----------------------------------------------------------------------

    def start(self, now: float) -> None:
        self._query()
        self._next_query = now + self.config.query_interval

    def get_timer(self) -> float | None:
        return self._next_query

    def handle_timer(self, now: float) -> None:
        if self._next_query is not None and now >= self._next_query:
            self._query()
            self._next_query = now + self.config.query_interval

    def receive_datagram(self, data: bytes | bytearray | memoryview) -> None:
        try:
            message = decode_message(data)
        except DecodeError:
            self.dropped += 1
            return
        if message.response:
            self._handle_response(message)
        else:
            self._handle_query(message)

    def datagrams_to_send(self) -> list[bytes]:
        out = list(self._out)
        self._out.clear()
        return out

    def next_event(self) -> PeerDiscovered | None:
        return self._events.popleft() if self._events else None

    # --- queries and answers -------------------------------------------------------------------

    def _query(self) -> None:
        self._out.append(encode_message(Message(questions=(Question(self.config.service_name, TYPE_PTR),))))

    def _handle_query(self, message: Message) -> None:
        service = self.config.service_name
        for q in message.questions:
            name = q.name.lower()
            if (name == service and q.type in (TYPE_PTR, TYPE_ANY)) or (
                name == self.peer_name.lower() and q.type in (TYPE_TXT, TYPE_ANY)
            ):
                response = self._response()
                if response is not None:
                    self._out.append(response)
                return

    def _txt_strings(self) -> tuple[bytes, ...]:
        out: list[bytes] = []
        suffix = f"/p2p/{self.peer_id}"
        for addr in self._addrs():
            text = str(addr)
            if not text.endswith(suffix):
                text += suffix
            entry = _DNSADDR + text.encode()
            if len(entry) <= 255:  # longer ones cannot be one TXT string
                out.append(entry)
        return tuple(out)

    def _host_records(self) -> tuple[Record, ...]:
        """SRV for our peer name and A/AAAA for the IPs we announce (for go-libp2p's browser)."""
        ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
        port = None
        for addr in self._addrs():
            parts = addr.components()
            if not parts or parts[0].protocol.code not in (P_IP4, P_IP6) or parts[0].value is None:
                continue
            ip = ipaddress.ip_address(parts[0].value)
            if ip not in ips:
                ips.append(ip)
            if port is None and len(parts) > 1 and parts[1].protocol.code == P_TCP and parts[1].value:
                port = int(parts[1].value)
        if not ips:
            return ()
        ttl = self.config.ttl
        host = f"{self.peer_name.split('.', 1)[0]}.local"
        records = [Record(self.peer_name, TYPE_SRV, ttl, encode_srv(port or 0, host), cache_flush=True)]
        records += [Record(host, TYPE_A if ip.version == 4 else TYPE_AAAA, ttl, ip.packed, cache_flush=True)
                    for ip in ips]
        return tuple(records)

    def _response(self) -> bytes | None:
        strings = self._txt_strings()
        if not strings:
            return None
        ttl = self.config.ttl
        answer = Record(self.config.service_name, TYPE_PTR, ttl, self.peer_name)
        txt = Record(self.peer_name, TYPE_TXT, ttl, strings, cache_flush=True)
        return encode_message(Message(response=True, answers=(answer,), additionals=(txt, *self._host_records())))

    def _handle_response(self, message: Message) -> None:
        service = self.config.service_name
        records = (*message.answers, *message.authorities, *message.additionals)
        names = {
            r.data.lower() for r in records
            if r.type == TYPE_PTR and r.name.lower() == service and isinstance(r.data, str)
        }
        if not names:
            return
        found: dict[PeerId, list[Multiaddr]] = {}
        for r in records:
            if r.type != TYPE_TXT or r.name.lower() not in names or not isinstance(r.data, tuple):
                continue
            for entry in r.data:
                if not entry.startswith(_DNSADDR):
                    continue
                try:
                    addr = Multiaddr(entry[len(_DNSADDR):].decode())
                except (Libp2pError, ValueError, UnicodeDecodeError):
                    continue
                peer = addr.peer_id
                if peer is None or peer == self.peer_id:
                    continue
                addrs = found.setdefault(peer, [])
                if len(addrs) < _MAX_ADDRS_PER_PEER and addr not in addrs:
                    addrs.append(addr)
        if not found and names != {self.peer_name.lower()}:
            self.dropped += 1
        for peer, addrs in found.items():
            self._events.append(PeerDiscovered(peer, tuple(addrs)))
