"""WebSocket transport: ``/ip4|ip6|dns*/<host>/tcp/<port>/ws`` and, over TLS, ``/wss``,
``/tls/ws`` and ``/tls/sni/<name>/ws``.

A WebSocket connection (RFC 6455) is one more raw byte pipe for the upgrader: libp2p bytes go in
binary messages whose boundaries mean nothing (libp2p/specs ``websockets/README.md``), and the
security protocol and muxer run on top exactly as over TCP, TLS or not.

The framing is websockets' sans-IO ``ClientProtocol``/``ServerProtocol``, driven by a plain
``asyncio.Protocol`` on the socket (``_WsWire``) that feeds the ``RawConnection`` the upgrader
reads, through a small ``asyncio.Transport`` (``_WsPipe``) that turns its writes into binary
frames: no task per connection or per message. Chosen by ``benchmarks/ws_library_choice.py``
(RESULTS.md, "WebSocket library"): aiohttp moved bulk data faster in isolation, websockets'
sans-IO core set up connections faster and gives the frame-level control used here.

What a peer cannot do: send a text frame (the connection is closed with 1003), a message over
``max_message_size`` (refused from its header with 1009, before its payload is read), or hold a
connection without finishing the HTTP upgrade (aborted after ``handshake_timeout``; at most
``max_pending_handshakes`` are kept per listener, the oldest dropped first).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from libp2p.errors import LocalProtocolError
from libp2p.multiaddr import (
    P_DNS,
    P_DNS4,
    P_DNS6,
    P_IP4,
    P_IP6,
    P_P2P,
    P_SNI,
    P_TCP,
    P_TLS,
    P_WS,
    P_WSS,
    Multiaddr,
)
from libp2p.transport.connection import RawConnection
from libp2p.transport.tcp import DialError

if TYPE_CHECKING:
    from websockets.client import ClientProtocol
    from websockets.exceptions import InvalidHandshake
    from websockets.frames import CloseCode, Frame, Opcode
    from websockets.http11 import Request, Response
    from websockets.protocol import State
    from websockets.server import ServerProtocol
    from websockets.uri import WebSocketURI

    from libp2p.identity.peer_id import PeerId

__all__ = [
    "WebsocketConfig",
    "WebsocketTransport",
    "WebsocketListener",
    "WsEndpoint",
    "ws_endpoint",
    "HandshakeError",
    "preload_library",
]

log = logging.getLogger("libp2p.transport.websocket")

ConnectionHandler = Callable[[RawConnection], None]

# A write larger than this goes out as several frames: a peer's message limit is never the issue.
_MAX_FRAME_OUT = 256 * 1024
# After our close frame, how long the peer has to close the TCP connection before we do.
_CLOSE_GRACE = 2.0


def _load_websockets() -> None:
    """Bind the websockets names this module uses, on the first dial or listen: the library takes
    tens of ms to import, which a host that never touches /ws (the CLI's ping) should not pay."""
    if "ServerProtocol" in globals():
        return
    from websockets.client import ClientProtocol
    from websockets.exceptions import InvalidHandshake
    from websockets.frames import CloseCode, Frame, Opcode
    from websockets.http11 import Request, Response
    from websockets.protocol import State
    from websockets.server import ServerProtocol
    from websockets.uri import WebSocketURI

    globals().update(
        ClientProtocol=ClientProtocol, InvalidHandshake=InvalidHandshake, CloseCode=CloseCode, Frame=Frame,
        Opcode=Opcode, Request=Request, Response=Response, State=State, ServerProtocol=ServerProtocol,
        WebSocketURI=WebSocketURI,
    )


def preload_library() -> None:
    """Import the websockets library now rather than on the first dial or listen (~30 ms): for a
    program that knows it will use /ws and times its first connection, as the CLI's perf client."""
    _load_websockets()


class HandshakeError(DialError):
    """The WebSocket upgrade failed or did not finish in time."""


@dataclass(frozen=True, slots=True)
class WebsocketConfig:
    #: TCP connect (and TLS handshake) time allowed to a dial
    connect_timeout: float = 5.0
    #: from accept/connect to the end of the HTTP upgrade (go-libp2p's transport accept timeout)
    handshake_timeout: float = 15.0
    #: the largest message accepted; more is refused from the frame header (close 1009)
    max_message_size: int = 4 << 20
    #: WebSocket upgrades in progress per listener; beyond it the oldest is dropped
    max_pending_handshakes: int = 256
    backlog: int = 1024
    #: PEM certificate chain and key for listening on ``/wss`` or ``/tls/ws``
    tls_cert: str | None = None
    tls_key: str | None = None
    #: context for dialing ``/wss``; None verifies the server against the system's CAs
    tls_client_context: ssl.SSLContext | None = None


class WsEndpoint(NamedTuple):
    host: str
    port: int
    family: int
    #: TLS (``/wss``, ``/tls/ws``)
    secure: bool
    #: the name for SNI and certificate checks: ``/tls/sni/<name>``, else a DNS host
    server_name: str | None
    #: the multiaddr's tail after ``/tcp/<port>`` (``/ws``, ``/wss``, ``/tls/ws``, ...)
    suffix: str


_HOST_CODES = {P_IP4: socket.AF_INET, P_IP6: socket.AF_INET6, P_DNS: socket.AF_UNSPEC,
               P_DNS4: socket.AF_INET, P_DNS6: socket.AF_INET6}


def ws_endpoint(addr: Multiaddr) -> WsEndpoint | None:
    """The endpoint of a WebSocket multiaddr (an optional ``/p2p/<id>`` tail allowed), else None."""
    parts = addr.components()
    if parts and parts[-1].protocol.code == P_P2P:
        parts = parts[:-1]
    if len(parts) < 3 or parts[0].protocol.code not in _HOST_CODES or parts[1].protocol.code != P_TCP:
        return None
    host, port = parts[0].value, parts[1].value
    assert host is not None and port is not None
    family = _HOST_CODES[parts[0].protocol.code]
    dns_name = host if parts[0].protocol.code in (P_DNS, P_DNS4, P_DNS6) else None
    codes = [p.protocol.code for p in parts[2:]]
    if codes == [P_WS]:
        secure, sni = False, None
    elif codes in ([P_WSS], [P_TLS, P_WS]):
        secure, sni = True, dns_name
    elif codes == [P_TLS, P_SNI, P_WS]:
        secure, sni = True, parts[3].value
    else:
        return None
    suffix = "".join(f"/{p.protocol.name}" + (f"/{p.value}" if p.value is not None else "") for p in parts[2:])
    return WsEndpoint(host, int(port), family, secure, sni, suffix)


def _tcp_multiaddr(sockaddr: tuple[object, ...], suffix: str) -> Multiaddr:
    host, port = str(sockaddr[0]), int(str(sockaddr[1]))
    proto = "ip6" if ":" in host else "ip4"
    return Multiaddr(f"/{proto}/{host}/tcp/{port}{suffix}")


class _WsWire(asyncio.Protocol):
    """The protocol on the TCP (or TLS) socket: runs the WebSocket core, feeds a RawConnection."""

    def __init__(
        self,
        ws: ClientProtocol | ServerProtocol,
        *,
        suffix: str,
        handshake_timeout: float,
        on_open: Callable[[_WsWire], None] | None = None,
        on_done: Callable[[_WsWire], None] | None = None,
    ) -> None:
        self.ws = ws
        self.suffix = suffix
        self.transport: asyncio.Transport | None = None
        self.raw: RawConnection | None = None
        self.opened: asyncio.Future[RawConnection] = asyncio.get_running_loop().create_future()
        self.failure: str | None = None
        self._handshake_timeout = handshake_timeout
        self._timer: asyncio.TimerHandle | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._on_open = on_open
        self._on_done = on_done
        self._lost = False
        self.accepted_at = asyncio.get_running_loop().time()

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._handshake_timeout, self._handshake_expired)
        if isinstance(self.ws, ClientProtocol):
            self.ws.send_request(self.ws.connect())
            self._flush()

    def data_received(self, data: bytes) -> None:
        ws = self.ws
        ws.receive_data(data)
        for event in ws.events_received():
            if isinstance(event, Frame):
                opcode = event.opcode
                if opcode is Opcode.BINARY or opcode is Opcode.CONT:
                    if self.raw is not None and event.data:
                        self.raw.feed(memoryview(event.data))
                elif opcode is Opcode.TEXT:
                    self._fail(CloseCode.UNSUPPORTED_DATA, "text frames are not allowed")
                    break
                elif opcode is Opcode.CLOSE and self.raw is not None:
                    self.raw.eof_received()
            elif isinstance(event, Request):
                self._accept(event)
            elif isinstance(event, Response):
                self._handshake_done(event)
        if ws.parser_exc is not None and self.failure is None:
            self.failure = f"{type(ws.parser_exc).__name__}: {ws.parser_exc}"
            log.warning("websocket peer %s broke the protocol: %s", self.remote_addr, self.failure)
        if ws.handshake_exc is not None and not self.opened.done():
            self._not_opened(f"upgrade failed: {ws.handshake_exc}")
        self._flush()

    def eof_received(self) -> bool | None:
        self.ws.receive_eof()
        self._flush()
        return None  # close our side too: a WebSocket has no half-close

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        for timer in (self._timer, self._close_timer):
            if timer is not None:
                timer.cancel()
        if not self.opened.done():
            self._not_opened(self.failure or f"connection lost during the upgrade: {exc}")
        if self.raw is not None:
            self.raw.connection_lost(exc)
        if self._on_done is not None:
            self._on_done(self)

    def pause_writing(self) -> None:
        if self.raw is not None:
            self.raw.pause_writing()

    def resume_writing(self) -> None:
        if self.raw is not None:
            self.raw.resume_writing()

    # --- the upgrade ----------------------------------------------------------------------------

    def _accept(self, request: Request) -> None:
        assert isinstance(self.ws, ServerProtocol)
        response = self.ws.accept(request)
        self.ws.send_response(response)
        if response.status_code == 101:
            self._opened()
        else:
            self._not_opened(f"refused upgrade ({response.status_code}): {self.ws.handshake_exc}")

    def _handshake_done(self, response: Response) -> None:
        if response._exception is not None:  # set by the client core when the response is bad
            self._not_opened(f"upgrade refused: {response._exception}")
        elif self.ws.state is State.OPEN:
            self._opened()

    def _opened(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        assert self.transport is not None
        raw = RawConnection(is_initiator=isinstance(self.ws, ClientProtocol))
        raw.local_addr = _tcp_multiaddr(self.transport.get_extra_info("sockname"), self.suffix)
        raw.remote_addr = _tcp_multiaddr(self.transport.get_extra_info("peername"), self.suffix)
        raw.connection_made(_WsPipe(self))
        self.raw = raw
        self.opened.set_result(raw)
        if self._on_open is not None:
            self._on_open(self)

    def _not_opened(self, reason: str) -> None:
        self.failure = reason
        if not self.opened.done():
            self.opened.set_exception(HandshakeError(reason))
            self.opened.exception()  # retrieved: a listener's failed upgrades have no awaiter
        self._flush()  # the HTTP error response, if any, goes out first
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _handshake_expired(self) -> None:
        self._timer = None
        if not self.opened.done():
            log.debug("websocket upgrade from %s timed out", self.remote_addr)
            self._not_opened(f"upgrade not finished within {self._handshake_timeout} s")
            self.abort()

    # --- sending --------------------------------------------------------------------------------

    def _fail(self, code: int, reason: str) -> None:
        self.failure = reason
        log.warning("closing websocket connection from %s: %s", self.remote_addr, reason)
        self.ws.fail(code, reason)

    def _flush(self) -> None:
        transport = self.transport
        if transport is None:
            return
        for chunk in self.ws.data_to_send():
            if not chunk:  # the core's end of stream: the TCP connection ends
                transport.close()
                return
            if not transport.is_closing():
                transport.write(chunk)
        if self.ws.close_expected() and self._close_timer is None and not self._lost:
            self._close_timer = asyncio.get_running_loop().call_later(_CLOSE_GRACE, self.abort)

    def send(self, data: bytes | bytearray | memoryview) -> None:
        ws = self.ws
        if ws.state is not State.OPEN:
            return
        view = memoryview(data)
        while len(view) > _MAX_FRAME_OUT:
            ws.send_binary(view[:_MAX_FRAME_OUT])
            view = view[_MAX_FRAME_OUT:]
        ws.send_binary(view)
        self._flush()

    def close(self) -> None:
        if self.ws.state is State.OPEN:
            self.ws.send_close(CloseCode.NORMAL_CLOSURE)
            self._flush()
        elif self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    @property
    def remote_addr(self) -> str:
        if self.transport is None:
            return "?"
        return str(self.transport.get_extra_info("peername"))


class _WsPipe(asyncio.Transport):
    """What the RawConnection writes to: each write becomes binary frames."""

    def __init__(self, wire: _WsWire) -> None:
        super().__init__()
        self._wire = wire
        assert wire.transport is not None
        self._tcp = wire.transport

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if data:
            self._wire.send(data)

    def writelines(self, list_of_data: Any) -> None:
        buffers = list(list_of_data)
        if buffers:
            # One message for the batch: frames cost a header and a mask each.
            self._wire.send(buffers[0] if len(buffers) == 1 else b"".join(buffers))

    def can_write_eof(self) -> bool:
        return False  # a close frame ends both directions

    def write_eof(self) -> None:
        raise NotImplementedError

    def is_closing(self) -> bool:
        return self._tcp.is_closing() or self._wire.ws.state is not State.OPEN

    def close(self) -> None:
        self._wire.close()

    def abort(self) -> None:
        self._wire.abort()

    def pause_reading(self) -> None:
        self._tcp.pause_reading()

    def resume_reading(self) -> None:
        self._tcp.resume_reading()

    def is_reading(self) -> bool:
        return self._tcp.is_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._tcp.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self._tcp.get_write_buffer_size()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._tcp.get_extra_info(name, default)


def _tune(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # As TCP: backpressure reaches the muxer instead of RAM.
    transport.set_write_buffer_limits(high=1 << 20, low=1 << 18)  # type: ignore[attr-defined]


class WebsocketListener:
    def __init__(self, server: asyncio.base_events.Server, addrs: list[Multiaddr], pending: dict[_WsWire, None]) -> None:
        self._server = server
        self._pending = pending
        self.addrs = addrs

    @property
    def pending_handshakes(self) -> int:
        return len(self._pending)

    async def close(self) -> None:
        for wire in list(self._pending):
            wire.abort()
        self._server.close()
        await self._server.wait_closed()


class WebsocketTransport:
    """Dials and listens on WebSocket multiaddrs (``/ws``, and ``/wss`` with TLS)."""

    upgraded = False  # raw pipes, for the upgrader

    def __init__(self, config: WebsocketConfig | None = None) -> None:
        self.config = config or WebsocketConfig()
        self._server_context: ssl.SSLContext | None = None

    def can_dial(self, addr: Multiaddr) -> bool:
        return ws_endpoint(addr) is not None

    def can_listen(self, addr: Multiaddr) -> bool:
        endpoint = ws_endpoint(addr)
        # An IP address to bind, and for TLS a certificate to serve.
        return (
            endpoint is not None
            and addr.peer_id is None
            and addr.components()[0].protocol.code in (P_IP4, P_IP6)
            and (not endpoint.secure or self.config.tls_cert is not None)
        )

    def _client_context(self) -> ssl.SSLContext:
        if self.config.tls_client_context is not None:
            return self.config.tls_client_context
        return ssl.create_default_context()

    def _listen_context(self) -> ssl.SSLContext:
        if self._server_context is None:
            if self.config.tls_cert is None:
                raise LocalProtocolError("listening on /wss needs a certificate (WebsocketConfig.tls_cert/tls_key)")
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(self.config.tls_cert, self.config.tls_key)
            self._server_context = ctx
        return self._server_context

    async def dial(self, addr: Multiaddr, timeout: float | None = None, *, peer_id: PeerId | None = None) -> RawConnection:
        endpoint = ws_endpoint(addr)
        if endpoint is None:
            raise LocalProtocolError(f"not a WebSocket address: {addr}")
        _load_websockets()
        config = self.config
        host_header = endpoint.server_name or endpoint.host
        uri = WebSocketURI(endpoint.secure, host_header, endpoint.port, "/", "")  # GET / as go and js
        wire = _WsWire(
            ClientProtocol(uri, max_size=config.max_message_size),
            suffix=endpoint.suffix,
            handshake_timeout=config.handshake_timeout,
        )
        loop = asyncio.get_running_loop()
        tls: dict[str, Any] = {}
        if endpoint.secure:
            tls = {"ssl": self._client_context(), "server_hostname": endpoint.server_name or endpoint.host,
                   "ssl_handshake_timeout": config.connect_timeout}
        try:
            async with asyncio.timeout(timeout if timeout is not None else config.connect_timeout + config.handshake_timeout):
                transport, _ = await loop.create_connection(
                    lambda: wire, endpoint.host, endpoint.port, family=endpoint.family, **tls
                )
                _tune(transport)
                return await asyncio.shield(wire.opened)
        except TimeoutError:
            wire.abort()
            raise DialError(f"dial to {addr} timed out") from None
        except (OSError, ssl.SSLError) as exc:
            wire.abort()
            raise DialError(f"dial to {addr} failed: {exc.strerror or exc}") from exc
        except (InvalidHandshake, HandshakeError) as exc:
            wire.abort()
            raise HandshakeError(f"dial to {addr}: {exc}") from exc
        except BaseException:
            wire.abort()
            raise

    async def listen(self, addr: Multiaddr, handler: ConnectionHandler) -> WebsocketListener:
        endpoint = ws_endpoint(addr)
        if endpoint is None or not self.can_listen(addr):
            raise LocalProtocolError(f"cannot listen on {addr}")
        _load_websockets()
        config = self.config
        loop = asyncio.get_running_loop()
        pending: dict[_WsWire, None] = {}  # insertion order: oldest first

        def opened(wire: _WsWire) -> None:
            pending.pop(wire, None)
            assert wire.raw is not None
            handler(wire.raw)

        def done(wire: _WsWire) -> None:
            pending.pop(wire, None)

        def factory() -> _WsWire:
            wire = _WsWire(
                ServerProtocol(max_size=config.max_message_size),
                suffix=endpoint.suffix,
                handshake_timeout=config.handshake_timeout,
                on_open=opened,
                on_done=done,
            )
            original = wire.connection_made

            def made(transport: asyncio.BaseTransport) -> None:
                # Counted from here (after TLS, if any): a failed TLS handshake never gets here.
                if len(pending) >= config.max_pending_handshakes:
                    oldest = next(iter(pending))
                    log.debug("dropping the oldest websocket upgrade (%s) for a newcomer", oldest.remote_addr)
                    pending.pop(oldest)
                    oldest.abort()
                pending[wire] = None
                _tune(transport)
                original(transport)

            wire.connection_made = made  # type: ignore[method-assign]
            return wire

        tls: dict[str, Any] = {}
        if endpoint.secure:
            tls = {"ssl": self._listen_context(), "ssl_handshake_timeout": config.handshake_timeout}
        server = await loop.create_server(
            factory, endpoint.host, endpoint.port, family=endpoint.family, backlog=config.backlog,
            reuse_address=True, **tls,
        )
        addrs = [_tcp_multiaddr(s.getsockname(), endpoint.suffix) for s in server.sockets]
        return WebsocketListener(server, addrs, pending)
