"""yamux (``/yamux/1.0.0``): wire constants, typed errors and the sans-IO session core.

The frame codec twins (``yamux_pack_header``, ``yamux_unpack_header``,
``YamuxFrameDecoder``) are imported from ``libp2p._accel``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from libp2p.muxer.yamux.core import YamuxConfig, YamuxSession

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

# The core loads on first use: the frame-codec twins import ``errors`` from this package while
# ``libp2p._accel`` is still loading, and ``core`` needs ``libp2p._accel``.
_LAZY = {"YamuxConfig": "libp2p.muxer.yamux.core", "YamuxSession": "libp2p.muxer.yamux.core"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
