"""Typed yamux errors. ``code`` is the GoAway code the error maps to (h2-style class attribute).

Plain Python, shared by both frame-codec twins and the session core.
"""

from __future__ import annotations

from libp2p.errors import (
    DecodeError,
    FrameTooLargeError,
    Libp2pError,
    LocalProtocolError,
    RemoteProtocolError,
)

__all__ = [
    "DataAfterFinError",
    "DuplicateStreamError",
    "GoAwayInEffectError",
    "GoAwayReceivedError",
    "InvalidFrameTypeError",
    "InvalidStreamIdError",
    "InvalidVersionError",
    "KeepAliveTimeoutError",
    "OutboundBacklogFullError",
    "PingBacklogFullError",
    "ReceiveWindowExceededError",
    "SendWindowOverflowError",
    "SessionClosedError",
    "StreamClosedError",
    "StreamsExhaustedError",
    "TruncatedHeaderError",
    "UnknownStreamError",
    "YamuxDecodeError",
    "YamuxError",
    "YamuxFrameTooLargeError",
    "YamuxLocalError",
    "YamuxProtocolError",
    "YamuxValueError",
]


class YamuxError(Libp2pError):
    """Root of every yamux error."""


# --- the peer broke the protocol: we answer with GoAway(1) ----------------------------------


class YamuxProtocolError(YamuxError, RemoteProtocolError):
    """The peer broke the yamux protocol."""

    code: int | None = 1


class YamuxDecodeError(YamuxProtocolError, DecodeError):
    """Malformed yamux framing (raised by the frame codec twins)."""


class InvalidVersionError(YamuxDecodeError):
    """A frame header carries a version other than 0."""


class InvalidFrameTypeError(YamuxDecodeError):
    """A frame header carries a type other than Data, WindowUpdate, Ping or GoAway."""


class YamuxFrameTooLargeError(YamuxDecodeError, FrameTooLargeError):
    """A Data frame declares more payload than the decoder's bound (no window is that large)."""


class TruncatedHeaderError(YamuxDecodeError):
    """Fewer than 12 bytes where a complete header was required."""


class ReceiveWindowExceededError(YamuxProtocolError):
    """The peer sent more Data than the receive window it was granted."""


class SendWindowOverflowError(YamuxProtocolError):
    """Window updates pushed a send window past 2**32 - 1."""


class DataAfterFinError(YamuxProtocolError):
    """Data arrived on a stream the peer had already half-closed."""


class InvalidStreamIdError(YamuxProtocolError):
    """Stream id 0 on a stream frame, or a SYN with our parity (both sides think they dialed)."""


class UnknownStreamError(YamuxProtocolError):
    """A frame without SYN for a stream id that was never opened."""


class DuplicateStreamError(YamuxProtocolError):
    """A SYN for a stream id that is open or was used before."""


class GoAwayReceivedError(YamuxError):
    """The peer ended the session with a non-zero GoAway code (stored in ``code``)."""

    code: int | None = None

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message or f"remote sent GoAway with code {code}")
        self.code = code


class KeepAliveTimeoutError(YamuxError, TimeoutError):
    """A keep-alive ping was not answered in time: the connection is presumed dead."""

    code: int | None = None


# --- our caller misused the API --------------------------------------------------------------


class YamuxLocalError(YamuxError, LocalProtocolError):
    """A YamuxSession or codec call that is not allowed now."""


class YamuxValueError(YamuxLocalError, ValueError):
    """An argument is out of range (header field, window size, byte count)."""


class StreamClosedError(YamuxLocalError):
    """The stream is unknown, reset, or already closed for writing."""


class SessionClosedError(YamuxLocalError):
    """The session is closed."""


class GoAwayInEffectError(YamuxLocalError):
    """A GoAway was sent or received: no new streams."""


class StreamsExhaustedError(YamuxLocalError):
    """No stream ids are left on this session."""


class OutboundBacklogFullError(YamuxLocalError):
    """Too many outbound streams await the peer's ACK (``YamuxConfig.accept_backlog``)."""


class PingBacklogFullError(YamuxLocalError):
    """Too many of our pings are unanswered (``YamuxConfig.ping_backlog``)."""
