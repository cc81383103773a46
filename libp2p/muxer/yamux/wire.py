"""yamux wire constants (spec: libp2p/specs yamux/README.md, hashicorp/yamux spec.md).

Pure data, shared by both frame-codec twins and the session core.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "FLAG_ACK",
    "FLAG_FIN",
    "FLAG_RST",
    "FLAG_SYN",
    "GO_AWAY_INTERNAL_ERROR",
    "GO_AWAY_NORMAL",
    "GO_AWAY_PROTOCOL_ERROR",
    "HEADER_SIZE",
    "INITIAL_STREAM_WINDOW",
    "MAX_STREAM_ID",
    "MAX_STREAM_WINDOW",
    "MAX_TYPE",
    "MAX_U32",
    "PROTOCOL_ID",
    "TYPE_DATA",
    "TYPE_GO_AWAY",
    "TYPE_PING",
    "TYPE_WINDOW_UPDATE",
    "VERSION",
]

PROTOCOL_ID: Final = "/yamux/1.0.0"

# Header: version u8 | type u8 | flags u16 | stream id u32 | length u32, big-endian.
VERSION: Final = 0
HEADER_SIZE: Final = 12

TYPE_DATA: Final = 0  # length = payload bytes that follow
TYPE_WINDOW_UPDATE: Final = 1  # length = window delta (or the reset code with RST)
TYPE_PING: Final = 2  # length = opaque value, echoed
TYPE_GO_AWAY: Final = 3  # length = error code
MAX_TYPE: Final = TYPE_GO_AWAY

FLAG_SYN: Final = 0x1  # open a stream; on a ping: request
FLAG_ACK: Final = 0x2  # accept a stream; on a ping: response
FLAG_FIN: Final = 0x4  # half-close
FLAG_RST: Final = 0x8  # abort both directions

GO_AWAY_NORMAL: Final = 0
GO_AWAY_PROTOCOL_ERROR: Final = 1
GO_AWAY_INTERNAL_ERROR: Final = 2

# The spec fixes the window every stream starts with; a larger one is granted with the
# first window update. go-libp2p lets a stream's window grow to 16 MiB.
INITIAL_STREAM_WINDOW: Final = 256 * 1024
MAX_STREAM_WINDOW: Final = 16 * 1024 * 1024

MAX_U32: Final = 0xFFFFFFFF
MAX_STREAM_ID: Final = MAX_U32
