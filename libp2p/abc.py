"""The interfaces between layers, as ``typing.Protocol``s.

Transports are of two kinds, as rust-libp2p's ``Transport`` outputs make them alike:
- a ``Transport`` gives a ``RawConnection`` (``libp2p.transport.connection``: TCP, memory, later
  WebSocket, and relayed connections over another connection's stream), which the upgrader
  secures (a ``SecurityOption`` making a ``SecureSession``) and multiplexes (a ``MuxerOption``
  making a ``MuxerSession`` core driven by ``libp2p.muxer.connection.MuxedConnection``);
- an ``UpgradedTransport`` gives a ``Connection`` that is already secured and multiplexed
  (QUIC, WebTransport, WebRTC).
From there the host sees one ``Connection`` type, whose streams are ``Stream``s.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from libp2p.identity.keys import PrivateKey, PublicKey
    from libp2p.negotiate.core import MultistreamDialer
    from libp2p.resources import ConnectionScope, StreamScope
    from libp2p.identity.peer_id import PeerId
    from libp2p.multiaddr import Multiaddr
    from libp2p.muxer.events import MuxerEvent
    from libp2p.transport.connection import RawConnection

__all__ = [
    "Transport",
    "UpgradedTransport",
    "Listener",
    "SecureSession",
    "SecurityOption",
    "MuxerSession",
    "MuxerOption",
    "Connection",
    "Stream",
    "StreamHandler",
]


class Listener(Protocol):
    addrs: list[Multiaddr]

    async def close(self) -> None: ...


class Transport(Protocol):
    """Dials and listens for raw byte pipes that the upgrader then secures and multiplexes."""

    #: False: what ``dial`` returns still needs the upgrader
    upgraded: bool

    def can_dial(self, addr: Multiaddr) -> bool: ...

    def can_listen(self, addr: Multiaddr) -> bool: ...

    # ``peer_id``: whom the dial is for (a relayed dial needs it; TCP ignores it).
    async def dial(self, addr: Multiaddr, timeout: float | None = None, *, peer_id: PeerId | None = None) -> RawConnection: ...

    async def listen(self, addr: Multiaddr, handler: Callable[[RawConnection], None]) -> Listener: ...


class UpgradedTransport(Protocol):
    """Dials and listens for connections that arrive secured and multiplexed (QUIC, WebTransport).

    The host calls ``bind(key)`` once, before listening or dialing, with its identity key; a
    dial authenticates the remote and checks it is ``peer_id`` when one is given."""

    #: True: what ``dial`` returns is a ``Connection`` (not started yet)
    upgraded: bool

    def bind(self, identity_key: PrivateKey) -> None: ...

    def can_dial(self, addr: Multiaddr) -> bool: ...

    def can_listen(self, addr: Multiaddr) -> bool: ...

    async def dial(self, addr: Multiaddr, peer_id: PeerId | None, timeout: float | None = None) -> Connection: ...

    async def listen(self, addr: Multiaddr, handler: Callable[[Connection], None]) -> Listener: ...


class SecureSession(Protocol):
    """A finished security handshake: who the remote is, and the two directions' ciphers."""

    remote_peer_id: PeerId
    remote_public_key: PublicKey
    # Muxer agreed inside the handshake (Noise/TLS early negotiation), or None.
    early_muxer: str | None

    def encrypt(self, data: bytes | bytearray | memoryview) -> bytes: ...

    def decrypt(self, data: bytes | bytearray | memoryview) -> list[bytes]: ...

    # Plaintext that arrived with the handshake's last message.
    @property
    def pending_plaintext(self) -> list[bytes]: ...


class SecurityOption(Protocol):
    """A security protocol and its configuration, as the upgrader takes it (``Noise(config)``)."""

    protocol_id: str

    async def secure(
        self,
        raw: RawConnection,
        identity_key: PrivateKey,
        *,
        remote_peer_id: PeerId | None,
        muxers: Sequence[str],
        timeout: float | None,
        negotiation: MultistreamDialer | None = None,
    ) -> SecureSession: ...
    # ``timeout=None``: the caller bounds the whole handshake with its own deadline (the upgrader
    # does, once for the upgrade), so the option needs no timer of its own unless configured.


class MuxerSession(Protocol):
    """The sans-IO face shared by the yamux and mplex session cores."""

    # ``now`` (the event loop's clock) drives RTT measurement and window tuning (yamux).
    # Returns whether output is queued (yamux); None: not known, ask ``data_to_send`` (mplex).
    def receive_data(self, data: bytes | bytearray | memoryview, now: float | None = None) -> bool | None: ...

    def open_stream(self) -> int: ...

    def send_data(self, stream_id: int, data: bytes | bytearray | memoryview) -> int: ...

    def send_window(self, stream_id: int) -> int: ...

    def close_stream(self, stream_id: int) -> None: ...

    def reset_stream(self, stream_id: int) -> None: ...

    def acknowledge_received(self, stream_id: int, n: int, now: float | None = None) -> bool:
        """The application consumed ``n`` bytes; True when that queued output (a window update)."""
        ...

    def go_away(self, code: int = 0) -> None: ...

    def close(self) -> None: ...

    def next_event(self) -> MuxerEvent | None: ...

    def data_to_send(self) -> bytes | list[bytes]: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...


class MuxerOption(Protocol):
    """A stream muxer and its configuration (``Yamux(config)``): one session core per connection."""

    protocol_id: str

    def new_session(self, is_initiator: bool) -> MuxerSession: ...


class Stream(Protocol):
    """One stream of a ``Connection``, as handlers and services use it."""

    protocol: str | None
    outbound: bool
    scope: StreamScope | None

    @property
    def conn(self) -> Connection: ...

    @property
    def remote_peer_id(self) -> PeerId: ...

    @property
    def is_reset(self) -> bool: ...

    async def read(self, n: int = -1) -> bytes: ...

    async def readexactly(self, n: int) -> bytes: ...

    async def write(self, data: bytes | bytearray | memoryview) -> None: ...

    def write_nowait(self, data: bytes) -> int:
        """``write`` without waiting: how many leading bytes of ``data`` were taken now (the caller
        ``write``s the rest). Raises as ``write`` does on a reset or closed stream."""
        ...

    async def write_soon(self, data: bytes) -> None:
        """``write`` whose bytes may leave with the rest of this loop pass's writes to the connection."""
        ...

    async def close(self) -> None: ...

    async def close_soon(self) -> None:
        """``close`` whose end of stream may leave with the rest of this loop pass's writes."""
        ...

    async def reset(self) -> None: ...

    def unread(self, data: bytes) -> None: ...

    # Optimistic protocol selection: the proposal went out unanswered; the first read takes the
    # answer (go-libp2p's lazy multistream client).
    def expect_negotiation(self, dialer: MultistreamDialer) -> None: ...


StreamCallback = Callable[[Any], None]


class Connection(Protocol):
    """A secured, multiplexed connection to one authenticated peer: what the host holds."""

    remote_peer_id: PeerId
    local_peer_id: PeerId
    is_initiator: bool
    muxer_id: str
    opened_at: float
    scope: ConnectionScope | None

    @property
    def remote_public_key(self) -> PublicKey: ...

    @property
    def local_addr(self) -> Multiaddr | None: ...

    @property
    def remote_addr(self) -> Multiaddr | None: ...

    @property
    def is_closed(self) -> bool: ...

    @property
    def close_reason(self) -> BaseException | None: ...

    @property
    def streams(self) -> Sequence[Any]: ...

    def start(self, on_stream: StreamCallback, on_closed: Callable[[Any], None]) -> None:
        """The host takes the connection over: inbound streams go to ``on_stream``, and
        ``on_closed(conn)`` is called once when it ends."""
        ...

    def open_stream(self) -> Any: ...

    async def close(self) -> None: ...

    async def wait_closed(self) -> None: ...


StreamHandler = Callable[[Any], Awaitable[None]]
