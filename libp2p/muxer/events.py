"""Events a muxer session core emits. Shared by yamux and mplex so one asyncio adapter drives both."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "MuxerEvent",
    "StreamOpened",
    "DataReceived",
    "StreamEnded",
    "StreamReset",
    "SendWindowUpdated",
    "PingAcknowledged",
    "SessionClosed",
]


@dataclass(frozen=True, slots=True)
class MuxerEvent:
    """Base of every muxer event."""


@dataclass(frozen=True, slots=True)
class StreamOpened(MuxerEvent):
    """The remote opened a stream (inbound). The core already accepted it (or queued the ACK)."""

    stream_id: int


@dataclass(frozen=True, slots=True)
class DataReceived(MuxerEvent):
    """Payload bytes for a stream. The application reports consumption with ``acknowledge_received``."""

    stream_id: int
    data: bytes


@dataclass(frozen=True, slots=True)
class StreamEnded(MuxerEvent):
    """The remote half-closed the stream (FIN / Close): no more data will arrive on it."""

    stream_id: int


@dataclass(frozen=True, slots=True)
class StreamReset(MuxerEvent):
    """The stream was reset, by the remote (``remote=True``) or by the core itself after a violation."""

    stream_id: int
    remote: bool = True


@dataclass(frozen=True, slots=True)
class SendWindowUpdated(MuxerEvent):
    """More send capacity is available on a stream (a yamux window update)."""

    stream_id: int
    window: int


@dataclass(frozen=True, slots=True)
class PingAcknowledged(MuxerEvent):
    """A session-level ping we sent was answered."""

    opaque: int


@dataclass(frozen=True, slots=True)
class SessionClosed(MuxerEvent):
    """The session ended: GoAway received or sent, a protocol violation, or close().

    ``error_code`` is the wire code (yamux: 0 normal, 1 protocol error, 2 internal error);
    ``remote`` says who ended it; ``reason`` is for logs.
    """

    error_code: int
    remote: bool
    reason: str = ""
