"""QUIC v1 transport (``/ip4|ip6/<addr>/udp/<port>/quic-v1``) on aioquic's sans-IO core.

One UDP socket per listen address (``QuicEndpoint``) serves inbound connections and the dials
made from it, routing datagrams to connections by destination connection ID, so a dial leaves
from the port we listen on (what hole punching needs). A dial without a listening socket of its
address family gets its own socket, closed with its connection.

Each side presents a fresh libp2p certificate (``libp2p.security.tls.certificate``); ALPN is
``libp2p``; the server requires and verifies the client's certificate (``_aioquic_hooks``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import logging
import socket
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aioquic.buffer import Buffer  # type: ignore[attr-defined]  # re-exported from aioquic._buffer
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.packet import QuicPacketType, QuicProtocolVersion, pull_quic_header

from libp2p.errors import LocalProtocolError
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import P_IP4, P_IP6, P_P2P, P_QUIC_V1, P_UDP, Multiaddr
from libp2p.security.tls.certificate import HostCertificate
from libp2p.security.tls.config import ALPN_LIBP2P
from libp2p.transport.quic._aioquic_hooks import new_quic_connection
from libp2p.transport.quic.config import QuicConfig
from libp2p.transport.quic.connection import QuicConn, QuicHandshakeError
from libp2p.transport.tcp import DialError

if TYPE_CHECKING:
    from libp2p.abc import Connection
    from libp2p.identity.keys import PrivateKey

__all__ = ["QuicTransport", "QuicListener", "QuicEndpoint", "quic_endpoint"]

log = logging.getLogger("libp2p.transport.quic")

_MIN_INITIAL = 1200  # RFC 9000: a client's Initial datagram is at least this long
# asyncio reads one datagram per readiness event; we read up to this many more while the socket
# has them, then let each connection answer once (one ACK for the batch, not one per datagram)
_RECV_BATCH = 64
_CID_LENGTH = 8  # aioquic's connection IDs (QuicConfiguration.connection_id_length)
_MAX_DATAGRAM = 65535


def quic_endpoint(addr: Multiaddr) -> tuple[str, int, int] | None:
    """``(host, port, family)`` for ``/ip4|ip6/H/udp/P/quic-v1`` (optionally ``/p2p/..``), else None."""
    parts = addr.components()
    if len(parts) > 3 and parts[3].protocol.code == P_P2P:
        parts = parts[:3]
    if len(parts) != 3 or parts[1].protocol.code != P_UDP or parts[2].protocol.code != P_QUIC_V1:
        return None
    first = parts[0].protocol.code
    if first == P_IP4:
        family = socket.AF_INET
    elif first == P_IP6:
        family = socket.AF_INET6
    else:
        return None
    assert parts[0].value is not None and parts[1].value is not None
    return parts[0].value, int(parts[1].value), family


def _multiaddr(host: str, port: int) -> Multiaddr:
    proto = "ip6" if ":" in host else "ip4"
    return Multiaddr(f"/{proto}/{host}/udp/{port}/quic-v1")


class QuicEndpoint(asyncio.DatagramProtocol):
    """One UDP socket: the connections it carries, routed by connection ID."""

    def __init__(self, owner: QuicTransport, accept: Callable[[QuicConn], None] | None) -> None:
        self._owner = owner
        self._accept = accept
        self._routes: dict[bytes, QuicConn] = {}
        self._conns: set[QuicConn] = set()
        self._handshaking: set[QuicConn] = set()
        self._transport: asyncio.DatagramTransport | None = None
        self._sock: socket.socket | None = None  # the raw socket, to read the rest of a batch
        self.local_multiaddr: Multiaddr | None = None
        self.family = socket.AF_INET
        self.closed = asyncio.get_running_loop().create_future()
        #: pending inbound handshakes dropped to make room for newer ones
        self.evicted_handshakes = 0

    # --- asyncio ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        sockname = transport.get_extra_info("sockname")
        self.family = socket.AF_INET6 if ":" in str(sockname[0]) else socket.AF_INET
        self.local_multiaddr = _multiaddr(str(sockname[0]), int(sockname[1]))

    def connection_lost(self, exc: Exception | None) -> None:
        for conn in list(self._conns):
            conn._shutdown(exc or ConnectionError("UDP socket closed"))
        if not self.closed.done():
            self.closed.set_result(None)

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error on %s: %s", self.local_multiaddr, exc)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        touched: dict[QuicConn, None] = {}
        self._dispatch(data, addr, touched)
        sock = self._sock
        if sock is not None:
            for _ in range(_RECV_BATCH):
                try:
                    data, addr = sock.recvfrom(_MAX_DATAGRAM)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:  # e.g. ICMP port unreachable surfacing as ECONNREFUSED
                    self.error_received(exc)
                    break
                self._dispatch(data, addr, touched)
        for conn in touched:
            conn.transmit()

    def _dispatch(self, data: bytes, addr: tuple[Any, ...], touched: dict[QuicConn, None]) -> None:
        if data and not data[0] & 0x80:
            # A short header (nearly every packet once connected): the destination connection ID
            # is the _CID_LENGTH bytes after the first, no need to parse the header to route it.
            conn = self._routes.get(data[1:1 + _CID_LENGTH])
            if conn is not None:
                conn.receive(data, addr)
                touched[conn] = None
            return  # a short header cannot start a connection
        try:
            header = pull_quic_header(Buffer(data=data), host_cid_length=_CID_LENGTH)
        except ValueError:
            return
        conn = self._routes.get(header.destination_cid)
        if conn is None:
            if (
                self._accept is None
                or header.packet_type != QuicPacketType.INITIAL
                or header.version != QuicProtocolVersion.VERSION_1
                or len(data) < _MIN_INITIAL
            ):
                return  # not for a connection we know, and not a new QUIC v1 connection
            if len(self._handshaking) >= self._owner.config.max_pending_handshakes:
                # As the swarm does for TCP: the newcomer gets in, the oldest pending one goes,
                # so a flood of Initials that never finish cannot lock out a real client.
                oldest = min(self._handshaking, key=lambda c: c.opened_at)
                self._handshaking.discard(oldest)
                self.evicted_handshakes += 1
                oldest.failure = QuicHandshakeError("dropped for a newer handshake (too many pending)")
                oldest.abort()
            conn = self._owner._new_conn(self, addr, is_client=False, original_dcid=header.destination_cid)
            self._handshaking.add(conn)
            self.route(header.destination_cid, conn)
            self.route(conn._quic.host_cid, conn)
            conn.handshake_done.add_done_callback(self._settled_callback(conn))
            asyncio.get_running_loop().call_later(self._owner.config.handshake_timeout, self._handshake_timeout, conn)
        conn.receive(data, addr)
        touched[conn] = None

    # --- routing ---------------------------------------------------------------------------------

    def route(self, cid: bytes, conn: QuicConn) -> None:
        self._routes[cid] = conn
        self._conns.add(conn)

    def unroute(self, cid: bytes) -> None:
        self._routes.pop(cid, None)

    def forget(self, conn: QuicConn) -> None:
        if conn not in self._conns:
            return
        for cid in [c for c, owner in self._routes.items() if owner is conn]:
            del self._routes[cid]
        self._conns.discard(conn)
        self._handshaking.discard(conn)
        self._owner._endpoint_idle(self)

    def sendto(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(data, addr)

    def multiaddr_of(self, addr: tuple[Any, ...]) -> Multiaddr:
        return _multiaddr(str(addr[0]), int(addr[1]))

    @property
    def accepting(self) -> bool:
        """A listening socket (else one opened for dials only)."""
        return self._accept is not None

    @property
    def connections(self) -> int:
        return len(self._conns)

    def close(self) -> None:
        for conn in list(self._conns):
            conn.abort()
        if self._transport is not None:
            self._transport.close()

    # --- inbound handshakes ------------------------------------------------------------------------

    def _settled_callback(self, conn: QuicConn) -> Callable[[asyncio.Future[None]], None]:
        return lambda done: self._handshake_settled(conn, done)

    def _handshake_settled(self, conn: QuicConn, done: asyncio.Future[None]) -> None:
        self._handshaking.discard(conn)
        if done.cancelled():
            return
        exc = done.exception()
        if exc is not None:
            log.warning("inbound QUIC handshake from %s failed: %s: %s", conn.remote_addr, type(exc).__name__, exc)
            return
        assert self._accept is not None
        self._accept(conn)

    def _handshake_timeout(self, conn: QuicConn) -> None:
        if not conn.handshake_done.done():
            conn.failure = QuicHandshakeError(
                f"QUIC handshake did not complete within {self._owner.config.handshake_timeout} s"
            )
            conn.abort()


class QuicListener:
    def __init__(self, transport: QuicTransport, endpoint: QuicEndpoint) -> None:
        self._transport = transport
        self.endpoint = endpoint
        assert endpoint.local_multiaddr is not None
        self.addrs = [endpoint.local_multiaddr]

    async def close(self) -> None:
        self._transport._listeners.discard(self.endpoint)
        self.endpoint.close()
        try:
            async with asyncio.timeout(5):
                await asyncio.shield(self.endpoint.closed)
        except TimeoutError:
            pass


class QuicTransport:
    """Dials and listens on ``/quic-v1`` addresses; what it yields is secured and multiplexed."""

    upgraded = True

    def __init__(self, config: QuicConfig | None = None) -> None:
        self.config = config or QuicConfig()
        self._key: PrivateKey | None = None
        # one certificate per host identity, as go-libp2p
        self._certificate: HostCertificate | None = None
        self._peer_id: PeerId | None = None
        self._listeners: set[QuicEndpoint] = set()
        self._dial_endpoints: set[QuicEndpoint] = set()

    def bind(self, identity_key: PrivateKey) -> None:
        self._key = identity_key
        self._certificate = HostCertificate(identity_key)
        self._certificate.current(dt.datetime.now(dt.timezone.utc))  # made with the host, not in its first dial
        self._peer_id = PeerId.from_public_key(identity_key.public_key)

    def can_dial(self, addr: Multiaddr) -> bool:
        return quic_endpoint(addr) is not None

    def can_listen(self, addr: Multiaddr) -> bool:
        return quic_endpoint(addr) is not None and addr.peer_id is None

    # --- connections ---------------------------------------------------------------------------

    def _configuration(self, is_client: bool) -> QuicConfiguration:
        if self._key is None or self._certificate is None:
            raise LocalProtocolError("QuicTransport.bind(key) was not called (the host does it)")
        certificate, key = self._certificate.current(dt.datetime.now(dt.timezone.utc))
        return QuicConfiguration(
            is_client=is_client,
            alpn_protocols=[ALPN_LIBP2P],
            certificate=certificate,
            private_key=key,
            # The libp2p checks replace CA verification (see _aioquic_hooks); clients send no SNI.
            verify_mode=ssl.CERT_NONE,
            server_name=None,
            idle_timeout=self.config.idle_timeout,
            supported_versions=[QuicProtocolVersion.VERSION_1],
            connection_id_length=_CID_LENGTH,
            max_stream_data=1024 * 1024,
            max_data=4 * 1024 * 1024,
        )

    def _new_conn(
        self,
        endpoint: QuicEndpoint,
        addr: tuple[Any, ...],
        *,
        is_client: bool,
        expected: PeerId | None = None,
        original_dcid: bytes | None = None,
    ) -> QuicConn:
        assert self._peer_id is not None
        holder: list[QuicConn] = []
        quic = new_quic_connection(
            verify=lambda chain: holder[0].verify_chain(chain),
            configuration=self._configuration(is_client),
            original_destination_connection_id=original_dcid,
        )
        conn = QuicConn(
            endpoint, quic, addr, local_peer_id=self._peer_id, expected_peer=expected, is_initiator=is_client,
            config=self.config,
        )
        holder.append(conn)
        return conn

    async def _open_endpoint(
        self, host: str, port: int, family: int, accept: Callable[[QuicConn], None] | None
    ) -> QuicEndpoint:
        loop = asyncio.get_running_loop()
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind((host, port))
            _, endpoint = await loop.create_datagram_endpoint(lambda: QuicEndpoint(self, accept), sock=sock)
        except BaseException:
            sock.close()
            raise
        endpoint._sock = sock
        return endpoint

    def _endpoint_idle(self, endpoint: QuicEndpoint) -> None:
        if endpoint in self._dial_endpoints and endpoint.connections == 0:
            self._dial_endpoints.discard(endpoint)
            endpoint.close()

    async def listen(self, addr: Multiaddr, handler: Callable[[Connection], None]) -> QuicListener:
        target = quic_endpoint(addr)
        if target is None or addr.peer_id is not None:
            raise LocalProtocolError(f"cannot listen on {addr}")
        host, port, family = target
        endpoint = await self._open_endpoint(host, port, family, handler)
        self._listeners.add(endpoint)
        return QuicListener(self, endpoint)

    def _dial_socket_for(self, family: int, host: str) -> QuicEndpoint | None:
        """A listening socket of ``family`` that can reach ``host`` (loopback only from loopback)."""
        remote_loopback = ipaddress.ip_address(host).is_loopback
        for endpoint in self._listeners:
            if endpoint.family != family or endpoint.local_multiaddr is None:
                continue
            local = endpoint.local_multiaddr.components()[0].value
            assert local is not None
            local_ip = ipaddress.ip_address(local)
            if local_ip.is_unspecified or local_ip.is_loopback == remote_loopback:
                return endpoint
        return None

    async def dial(self, addr: Multiaddr, peer_id: PeerId | None, timeout: float | None = None) -> QuicConn:
        target = quic_endpoint(addr)
        if target is None:
            raise LocalProtocolError(f"not a QUIC v1 address: {addr}")
        host, port, family = target
        endpoint = self._dial_socket_for(family, host)
        if endpoint is None:
            endpoint = await self._open_endpoint("::" if family == socket.AF_INET6 else "0.0.0.0", 0, family, None)
            self._dial_endpoints.add(endpoint)
        remote = (host, port) if family == socket.AF_INET else (host, port, 0, 0)
        conn = self._new_conn(endpoint, remote, is_client=True, expected=peer_id)
        endpoint.route(conn._quic.host_cid, conn)
        loop = asyncio.get_running_loop()
        conn._quic.connect(remote, now=loop.time())
        conn.transmit()
        limit = min(timeout, self.config.handshake_timeout) if timeout is not None else self.config.handshake_timeout
        try:
            async with asyncio.timeout(limit):
                await asyncio.shield(conn.handshake_done)
        except TimeoutError:
            conn.abort()
            raise DialError(f"QUIC dial to {addr} timed out after {limit} s") from None
        except BaseException:
            conn.abort()
            raise
        return conn

    @property
    def listen_endpoints(self) -> list[QuicEndpoint]:
        return list(self._listeners)

