"""Options of the QUIC v1 transport, with go-libp2p's defaults."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["QuicConfig"]


@dataclass(frozen=True, slots=True)
class QuicConfig:
    """QUIC options.

    ``handshake_timeout``: seconds for a dial's handshake (go-libp2p: HandshakeIdleTimeout 5 s
    plus slack for a loaded machine).
    ``idle_timeout``: a connection silent this long is closed (go-libp2p: MaxIdleTimeout 30 s).
    ``keep_alive``: a PING goes out after this much silence, so an open connection never idles
    out (go-libp2p: KeepAlivePeriod 15 s); None sends none.
    ``max_stream_buffer``: unread bytes one stream may hold before it is reset (aioquic grows
    receive windows as data arrives, not as it is read; go-libp2p's stream window is 10 MiB).
    ``write_high_water``: unacknowledged bytes a stream may queue before ``write`` waits.
    ``max_pending_handshakes``: inbound handshakes in progress per socket; beyond it the oldest
    is dropped for the newcomer.
    """

    handshake_timeout: float = 10.0
    idle_timeout: float = 30.0
    keep_alive: float | None = 15.0
    max_stream_buffer: int = 10 * 1024 * 1024
    write_high_water: int = 1024 * 1024
    max_pending_handshakes: int = 64

    def __post_init__(self) -> None:
        if not self.handshake_timeout > 0 or not self.idle_timeout > 0:
            raise ValueError("handshake_timeout and idle_timeout must be positive")
        if self.keep_alive is not None and not 0 < self.keep_alive < self.idle_timeout:
            raise ValueError("keep_alive must be positive and below idle_timeout")
        if self.max_stream_buffer < 65536 or self.write_high_water < 65536:
            raise ValueError("max_stream_buffer and write_high_water must be at least 64 KiB")
        if self.max_pending_handshakes < 1:
            raise ValueError("max_pending_handshakes must be at least 1")
