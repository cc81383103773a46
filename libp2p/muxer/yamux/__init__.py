"""yamux (``/yamux/1.0.0``): wire constants, typed errors and the sans-IO session core.

The frame codec twins (``yamux_pack_header``, ``yamux_unpack_header``,
``YamuxFrameDecoder``) are imported from ``libp2p._accel``.
"""

from __future__ import annotations

from libp2p.muxer.yamux.core import YamuxConfig, YamuxSession
from libp2p.muxer.yamux.errors import (
    DataAfterFinError,
    DuplicateStreamError,
    GoAwayInEffectError,
    GoAwayReceivedError,
    InvalidFrameTypeError,
    InvalidStreamIdError,
    InvalidVersionError,
    KeepAliveTimeoutError,
    OutboundBacklogFullError,
    PingBacklogFullError,
    ReceiveWindowExceededError,
    SendWindowOverflowError,
    SessionClosedError,
    StreamClosedError,
    StreamsExhaustedError,
    TruncatedHeaderError,
    UnknownStreamError,
    YamuxDecodeError,
    YamuxError,
    YamuxFrameTooLargeError,
    YamuxLocalError,
    YamuxProtocolError,
    YamuxValueError,
)
from libp2p.muxer.yamux.wire import PROTOCOL_ID

__all__ = [
    "PROTOCOL_ID",
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
    "YamuxConfig",
    "YamuxDecodeError",
    "YamuxError",
    "YamuxFrameTooLargeError",
    "YamuxLocalError",
    "YamuxProtocolError",
    "YamuxSession",
    "YamuxValueError",
]
