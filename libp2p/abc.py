"""The interfaces between layers, as ``typing.Protocol``s.

A transport gives a ``RawConnection`` (``libp2p.transport.connection``); the upgrader secures
it (``SecureSession``) and multiplexes it with a ``MuxerSession`` core driven by
``libp2p.muxer.connection.MuxedConnection``, whose streams are ``MuxedStream``s.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from libp2p.identity.keys import PublicKey
    from libp2p.identity.peer_id import PeerId
    from libp2p.multiaddr import Multiaddr
    from libp2p.muxer.events import MuxerEvent
    from libp2p.transport.connection import RawConnection

__all__ = ["Transport", "Listener", "SecureSession", "MuxerSession", "StreamHandler"]


class Listener(Protocol):
    addrs: list[Multiaddr]

    async def close(self) -> None: ...


class Transport(Protocol):
    def can_dial(self, addr: Multiaddr) -> bool: ...

    def can_listen(self, addr: Multiaddr) -> bool: ...

    async def dial(self, addr: Multiaddr, timeout: float | None = None) -> RawConnection: ...

    async def listen(self, addr: Multiaddr, handler: Callable[[RawConnection], None]) -> Listener: ...


class SecureSession(Protocol):
    """A finished security handshake: who the remote is, and the two directions' ciphers."""

    remote_peer_id: PeerId
    remote_public_key: PublicKey
    # Muxer agreed inside the handshake (Noise/TLS early negotiation), or None.
    early_muxer: str | None

    def encrypt(self, data: bytes | bytearray | memoryview) -> bytes: ...

    def decrypt(self, data: bytes | bytearray | memoryview) -> list[bytes]: ...


class MuxerSession(Protocol):
    """The sans-IO face shared by the yamux and mplex session cores."""

    # ``now`` (the event loop's clock) drives RTT measurement and window tuning (yamux).
    def receive_data(self, data: bytes | bytearray | memoryview, now: float | None = None) -> None: ...

    def open_stream(self) -> int: ...

    def send_data(self, stream_id: int, data: bytes | bytearray | memoryview) -> int: ...

    def send_window(self, stream_id: int) -> int: ...

    def close_stream(self, stream_id: int) -> None: ...

    def reset_stream(self, stream_id: int) -> None: ...

    def acknowledge_received(self, stream_id: int, n: int, now: float | None = None) -> None: ...

    def go_away(self, code: int = 0) -> None: ...

    def close(self) -> None: ...

    def next_event(self) -> MuxerEvent | None: ...

    def data_to_send(self) -> bytes | list[bytes]: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...


StreamHandler = Callable[["object"], Awaitable[None]]
