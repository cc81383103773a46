"""TCP transport: ``/ip4|ip6/<addr>/tcp/<port>`` over asyncio, with TCP_NODELAY."""

from __future__ import annotations

import asyncio
import errno
import functools
import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from libp2p.errors import Libp2pError, LocalProtocolError
from libp2p.multiaddr import P_IP4, P_IP6, P_TCP, Multiaddr
from libp2p.transport.connection import RawConnection, _direct_socket, _receive_buffer

if TYPE_CHECKING:
    from libp2p.identity.peer_id import PeerId

__all__ = ["TcpTransport", "TcpListener", "TcpConfig", "DialError", "tcp_endpoint"]

ConnectionHandler = Callable[[RawConnection], None]


class DialError(Libp2pError, ConnectionError):
    """A dial failed: refused, unreachable, or timed out.

    ``reason`` is the cause without the address (the swarm lists it under each address it tried).
    """

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class TcpConfig:
    connect_timeout: float = 5.0
    backlog: int = 1024
    # Kernel socket buffers; None leaves the OS default (auto-tuned on Linux).
    send_buffer: int | None = None
    recv_buffer: int | None = None
    # Listen with SO_REUSEPORT and dial from the listen port (go's reuseport transport): a NAT
    # then maps our outbound connections to the port we listen on, which peers observe and
    # hole punching (DCUtR's TCP simultaneous open) dials. Falls back to an ephemeral port.
    reuse_port: bool = False


def tcp_endpoint(addr: Multiaddr) -> tuple[str, int, int] | None:
    """``(host, port, family)`` when ``addr`` starts with ip4|ip6 then tcp, else None."""
    parts = addr.components()
    if len(parts) < 2 or parts[1].protocol.code != P_TCP:
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


def _sockaddr_to_multiaddr(sockaddr: tuple[object, ...]) -> Multiaddr:
    host = sockaddr[0]
    port = sockaddr[1]
    if type(host) is not str or type(port) is not int:  # never from a socket of ours; to be safe
        host, port = str(host), int(str(port))
    entry = _ip_prefixes.get(host)
    if entry is None:
        if "%" in host:  # a scoped IPv6 address: the text form, as always
            return Multiaddr(f"/ip6/{host}/tcp/{port}")
        entry = _ip_prefix(host)
    # Built from its binary form (a text parse costs ~4x more), with the component spans known
    # (an /ip4|ip6/tcp address has fixed ones): the address part is remembered per host (a remote
    # peer's port differs per connection, so whole addresses would not repeat).
    return _make_multiaddr(entry[0] + port.to_bytes(2, "big"), entry[1])


# "/ip4/<a>/tcp/" or "/ip6/<a>/tcp/" in binary, and the spans of the whole address, by host text;
# bounded (cleared when full).
_ip_prefixes: dict[str, tuple[bytes, tuple[int, ...]]] = {}
_MAX_IP_PREFIXES = 1024
_make_multiaddr = Multiaddr._make
_IP4_TCP_SPANS = (P_IP4, 1, 5, P_TCP, 6, 8)
_IP6_TCP_SPANS = (P_IP6, 1, 17, P_TCP, 18, 20)


def _ip_prefix(host: str) -> tuple[bytes, tuple[int, ...]]:
    if ":" in host:
        entry = (b"\x29" + socket.inet_pton(socket.AF_INET6, host) + b"\x06", _IP6_TCP_SPANS)
    else:
        entry = (b"\x04" + socket.inet_aton(host) + b"\x06", _IP4_TCP_SPANS)
    if len(_ip_prefixes) >= _MAX_IP_PREFIXES:
        _ip_prefixes.clear()
    _ip_prefixes[host] = entry
    return entry


def _tune(sock: socket.socket | None, config: TcpConfig) -> None:
    # TCP_NODELAY is not set here: asyncio's and uvloop's TCP transports set it on every socket.
    if sock is None:
        return
    if config.send_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, config.send_buffer)
    if config.recv_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, config.recv_buffer)


def _fill_addrs(conn: RawConnection, config: TcpConfig, local: Multiaddr | None = None) -> None:
    """``local``: the listener's own address when it is a specific one (what getsockname would say)."""
    transport = conn.transport
    assert transport is not None
    if config.send_buffer or config.recv_buffer:
        _tune(transport.get_extra_info("socket"), config)
    conn.local_addr = local if local is not None else _sockaddr_to_multiaddr(transport.get_extra_info("sockname"))
    conn.remote_addr = _sockaddr_to_multiaddr(transport.get_extra_info("peername"))
    # Keep asyncio's write buffer moderate: backpressure reaches the muxer instead of RAM.
    transport.set_write_buffer_limits(high=1 << 20, low=1 << 18)


class _TcpConnection(RawConnection):
    """A connection over the loop's TCP transport (asyncio's or uvloop's)."""

    _closes_at_once_when_drained = True


class _AcceptedTcpConnection(_TcpConnection):
    """A connection a TCP listener accepted; ``listen`` makes a subclass per listener that sets
    these three."""

    _config: TcpConfig
    _local: Multiaddr | None  # the listener's own address when it is a specific one
    _handler: ConnectionHandler

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # as RawConnection's (not an isinstance check: uvloop's transports are no asyncio.Transport)
        self.transport = transport  # type: ignore[assignment]
        self._sock = _direct_socket(transport)
        # ``_fill_addrs``, inline: once per accepted connection
        config = self._config
        if config.send_buffer or config.recv_buffer:
            _tune(transport.get_extra_info("socket"), config)
        local = self._local
        self.local_addr = local if local is not None else _sockaddr_to_multiaddr(transport.get_extra_info("sockname"))
        self.remote_addr = _sockaddr_to_multiaddr(transport.get_extra_info("peername"))
        transport.set_write_buffer_limits(high=1 << 20, low=1 << 18)  # type: ignore[attr-defined]
        self._handler(self)


class TcpListener:
    def __init__(self, server: asyncio.base_events.Server, addrs: list[Multiaddr]) -> None:
        self._server = server
        self.addrs = addrs

    async def close(self) -> None:
        self._server.close()
        await self._server.wait_closed()


class TcpTransport:
    """Dials and listens on TCP multiaddrs."""

    upgraded = False  # raw pipes, for the upgrader

    def __init__(self, config: TcpConfig | None = None) -> None:
        self.config = config or TcpConfig()
        # (host, port) of our listeners by address family, for dials from the listen port
        self._bound: dict[int, list[tuple[str, int]]] = {}
        # The thread's shared receive buffer (256 KiB) is made with the host, not by its first connection.
        _receive_buffer()

    def can_dial(self, addr: Multiaddr) -> bool:
        endpoint = tcp_endpoint(addr)
        return endpoint is not None and len(addr.components()) == 2 or (
            endpoint is not None and len(addr.components()) == 3 and addr.peer_id is not None
        )

    def can_listen(self, addr: Multiaddr) -> bool:
        return tcp_endpoint(addr) is not None and len(addr.components()) == 2

    async def dial(self, addr: Multiaddr, timeout: float | None = None, *, peer_id: PeerId | None = None) -> RawConnection:
        return await self._dial(addr, timeout, reuse=self.config.reuse_port, required=False)

    async def dial_from_ephemeral_port(self, addr: Multiaddr, timeout: float | None = None) -> RawConnection:
        """Dial from a fresh port even with ``reuse_port``: a probe that must not hold the
        listen port's 4-tuple (and its NAT mapping) that a hole punch to ``addr`` needs next."""
        return await self._dial(addr, timeout, reuse=False, required=False)

    async def dial_from_listen_port(self, addr: Multiaddr, timeout: float | None = None) -> RawConnection:
        """Dial from our listen port, or fail (``DialError``): a hole punch from any other port
        would get a NAT mapping that nobody punched. Needs a listener of the same family."""
        return await self._dial(addr, timeout, reuse=True, required=True)

    async def _dial(self, addr: Multiaddr, timeout: float | None, *, reuse: bool, required: bool) -> RawConnection:
        endpoint = tcp_endpoint(addr)
        if endpoint is None:
            raise LocalProtocolError(f"not a TCP address: {addr}")
        host, port, family = endpoint
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout if timeout is not None else self.config.connect_timeout):
                sock = await self._connect_from_listen_port(host, port, family) if reuse else None
                if sock is None and required:
                    raise DialError(f"cannot dial {addr} from a listen port (none, or that connection exists)")
                if sock is not None:
                    _, conn = await loop.create_connection(lambda: _TcpConnection(is_initiator=True), sock=sock)
                else:
                    _, conn = await loop.create_connection(
                        lambda: _TcpConnection(is_initiator=True), host, port, family=family
                    )
        except TimeoutError:
            raise DialError(f"dial to {addr} timed out", reason="timed out") from None
        except OSError as exc:
            reason = str(exc.strerror or exc)
            raise DialError(f"dial to {addr} failed: {reason}", reason=reason) from exc
        _fill_addrs(conn, self.config)
        return conn

    async def _connect_from_listen_port(self, host: str, port: int, family: int) -> socket.socket | None:
        """A socket connected to ``host:port`` from one of our listen ports, or None (none of
        that family, or the 4-tuple is taken: the caller dials from an ephemeral port)."""
        bound = self._bound.get(family)
        if not bound:
            return None
        local_host, local_port = bound[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.setblocking(False)
            sock.bind((local_host, local_port))
            await asyncio.get_running_loop().sock_connect(sock, (host, port))
        except (OSError, AttributeError) as exc:
            sock.close()
            if isinstance(exc, OSError) and exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL):
                raise
            return None
        except BaseException:
            sock.close()
            raise
        return sock

    async def listen(self, addr: Multiaddr, handler: ConnectionHandler) -> TcpListener:
        endpoint = tcp_endpoint(addr)
        if endpoint is None or len(addr.components()) != 2:
            raise LocalProtocolError(f"cannot listen on {addr}")
        host, port, family = endpoint
        loop = asyncio.get_running_loop()
        config = self.config

        # A class per listener carries what its connections share: the loop makes each one with
        # no closure of its own (and no reference cycle through one).
        class Accepted(_AcceptedTcpConnection):
            _config = config
            _local: Multiaddr | None = None
            _handler = staticmethod(handler)
            _listener_view = _receive_buffer()  # this thread's, where the loop makes every connection

        server = await loop.create_server(
            functools.partial(Accepted, is_initiator=False, loop=loop), host, port, family=family, backlog=config.backlog,
            reuse_address=True, reuse_port=config.reuse_port or None,
        )
        addrs = [_sockaddr_to_multiaddr(s.getsockname()) for s in server.sockets]
        if len(addrs) == 1 and not ipaddress.ip_address(host).is_unspecified:
            Accepted._local = addrs[0]  # every connection's local address: no getsockname per connection
        for s in server.sockets:
            name = s.getsockname()
            self._bound.setdefault(s.family, []).append((str(name[0]), int(name[1])))
        return TcpListener(server, addrs)
