"""unsigned-varint (multiformats) and uvarint length-prefixed framing: the pure-Python twin.

Twin of ``_native/varint.pxi``. Minimal encoding and the 9-byte maximum are enforced.
"""

from __future__ import annotations

from libp2p.errors import (
    FrameTooLargeError,
    LocalProtocolError,
    NonMinimalVarintError,
    OverlongVarintError,
    TruncatedFrameError,
    TruncatedVarintError,
    VarintRangeError,
)

__all__ = [
    "MAX_VARINT_LEN",
    "MAX_VARINT_VALUE",
    "varint_encode",
    "varint_decode",
    "varint_size",
    "FrameReader",
]

MAX_VARINT_LEN = 9
MAX_VARINT_VALUE = (1 << 63) - 1

_ONE_BYTE = tuple(bytes((i,)) for i in range(128))
# Compacting the frame buffer only once the consumed prefix is this large keeps it amortised O(1).
_COMPACT_AT = 1 << 16


def varint_encode(value: int) -> bytes:
    """Encode ``value`` (0 ≤ value < 2**63) as a minimal unsigned varint."""
    if 0 <= value < 0x80:
        return _ONE_BYTE[value]
    if value < 0 or value > MAX_VARINT_VALUE:
        raise VarintRangeError(f"varint value out of range: {value}")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def varint_size(value: int) -> int:
    """Number of bytes ``varint_encode(value)`` produces."""
    if value < 0 or value > MAX_VARINT_VALUE:
        raise VarintRangeError(f"varint value out of range: {value}")
    return max(1, (value.bit_length() + 6) // 7)


def varint_decode(buf: bytes | bytearray | memoryview, offset: int = 0) -> tuple[int, int]:
    """Decode one varint from ``buf`` at ``offset``; return ``(value, offset_after)``."""
    n = len(buf)
    if offset < 0:
        raise LocalProtocolError(f"negative offset {offset}")
    if offset >= n:
        raise TruncatedVarintError("no bytes left for a varint")
    b = buf[offset]
    if b < 0x80:
        return b, offset + 1
    value = b & 0x7F
    shift = 7
    i = offset + 1
    while True:
        if i - offset >= MAX_VARINT_LEN:
            raise OverlongVarintError("varint longer than 9 bytes")
        if i >= n:
            raise TruncatedVarintError("input ends inside a varint")
        b = buf[i]
        i += 1
        if b < 0x80:
            if b == 0:
                raise NonMinimalVarintError("varint is not minimally encoded")
            return value | (b << shift), i
        value |= (b & 0x7F) << shift
        shift += 7


class FrameReader:
    """Incremental reader of uvarint length-prefixed frames.

    ``feed()`` bytes as they arrive; ``next_frame()`` returns one complete frame or ``None``.
    A length prefix above ``max_frame_size`` raises ``FrameTooLargeError`` as soon as the
    prefix is complete, so no more than one frame (plus the fed-but-unparsed input) is buffered.
    """

    __slots__ = ("_buf", "_pos", "_max")

    def __init__(self, max_frame_size: int) -> None:
        if max_frame_size < 0 or max_frame_size > MAX_VARINT_VALUE:
            raise VarintRangeError(f"max_frame_size out of range: {max_frame_size}")
        self._buf = bytearray()
        self._pos = 0
        self._max = max_frame_size

    @property
    def max_frame_size(self) -> int:
        return self._max

    @property
    def buffered(self) -> int:
        """Bytes fed but not yet returned as frames."""
        return len(self._buf) - self._pos

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if self._pos >= _COMPACT_AT:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def next_frame(self) -> bytes | None:
        buf = self._buf
        pos = self._pos
        n = len(buf)
        if pos >= n:
            return None
        try:
            length, start = varint_decode(buf, pos)
        except TruncatedVarintError:
            return None
        if length > self._max:
            raise FrameTooLargeError(f"frame of {length} bytes exceeds the {self._max}-byte limit")
        end = start + length
        if end > n:
            return None
        frame = bytes(buf[start:end])
        if end == n:
            buf.clear()
            self._pos = 0
        else:
            self._pos = end
        return frame

    def frames(self) -> list[bytes]:
        """Every complete frame buffered now."""
        out: list[bytes] = []
        while True:
            frame = self.next_frame()
            if frame is None:
                return out
            out.append(frame)

    def drain(self) -> bytes:
        """Take the buffered bytes that are not a complete frame (for a protocol switch)."""
        rest = bytes(self._buf[self._pos :])
        self._buf.clear()
        self._pos = 0
        return rest

    def close(self) -> None:
        """Declare end of input: a partial frame left behind is an error."""
        n = len(self._buf) - self._pos
        if n == 0:
            return
        try:
            varint_decode(self._buf, self._pos)
        except TruncatedVarintError:
            raise TruncatedVarintError("input ended inside a length prefix") from None
        raise TruncatedFrameError(f"input ended inside a frame ({n} bytes buffered)")
