"""perf's wire format: the client's 8-byte big-endian download size, then raw bytes each way."""

from __future__ import annotations

import struct

__all__ = ["PROTOCOL_ID", "encode_download_size", "decode_download_size", "BLOCK_SIZE"]

PROTOCOL_ID = "/perf/1.0.0"
BLOCK_SIZE = 64 * 1024
_U64 = struct.Struct(">Q")


def encode_download_size(n: int) -> bytes:
    return _U64.pack(n)


def decode_download_size(data: bytes) -> int:
    (n,) = _U64.unpack(data)
    return int(n)
