"""mplex frame codec: the pure-Python twin of ``_native/mplex.pxi``.

A frame is ``uvarint(stream_id << 3 | flag) || uvarint(length) || payload``. The header varint is
at most 9 bytes, so stream ids are below 2**60. Flag 7 is undefined and rejected.
"""

from __future__ import annotations

import operator

from libp2p._pure.varint import MAX_VARINT_VALUE, varint_decode, varint_encode
from libp2p.errors import TruncatedFrameError, TruncatedVarintError
from libp2p.muxer.mplex.errors import MplexArgumentError, MplexFrameTooLargeError, MplexInvalidFlagError

__all__ = [
    "MPLEX_MAX_STREAM_ID",
    "MplexFrameDecoder",
    "mplex_pack_frame",
    "mplex_pack_header",
]

MPLEX_MAX_STREAM_ID = (1 << 60) - 1
_DEFAULT_MAX_MESSAGE = 1 << 20
_INVALID_FLAG = 7
# Compacting the buffer only once the consumed prefix is this large keeps it amortised O(1).
_COMPACT_AT = 1 << 16
# Above this payload size a memoryview slice is cheaper than slicing the bytearray.
_SLICE_VIA_VIEW = 2048


def mplex_pack_header(stream_id: int, flag: int, length: int) -> bytes:
    """The header of a frame whose payload is ``length`` bytes (send the payload after it)."""
    if not 0 <= stream_id <= MPLEX_MAX_STREAM_ID:
        raise MplexArgumentError(f"mplex stream id out of range: {stream_id}")
    if not 0 <= flag < _INVALID_FLAG:
        raise MplexArgumentError(f"mplex flag out of range: {flag}")
    if not 0 <= length <= MAX_VARINT_VALUE:
        raise MplexArgumentError(f"mplex payload length out of range: {length}")
    return varint_encode((stream_id << 3) | flag) + varint_encode(length)


def mplex_pack_frame(stream_id: int, flag: int, data: bytes | bytearray | memoryview) -> bytes:
    """One whole frame: header and a copy of ``data``."""
    return mplex_pack_header(stream_id, flag, len(data)) + data


class MplexFrameDecoder:
    """Incremental mplex frame decoder.

    ``feed()`` bytes as they arrive; ``next_frame()`` returns ``(stream_id, flag, payload)`` or
    ``None`` when more input is needed. A length above ``max_message`` raises
    ``MplexFrameTooLargeError`` as soon as the length varint is complete, before any of the payload
    is waited for; flag 7 raises ``MplexInvalidFlagError`` as soon as the header is complete.
    """

    __slots__ = ("_buf", "_max", "_pos")

    def __init__(self, max_message: int = _DEFAULT_MAX_MESSAGE) -> None:
        max_message = operator.index(max_message)
        if not 0 <= max_message <= MAX_VARINT_VALUE:
            raise MplexArgumentError(f"max_message out of range: {max_message}")
        self._buf = bytearray()
        self._pos = 0
        self._max = max_message

    @property
    def max_message(self) -> int:
        return self._max

    @property
    def buffered(self) -> int:
        """Bytes fed but not yet returned in frames."""
        return len(self._buf) - self._pos

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if self._pos >= _COMPACT_AT:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def next_frame(self) -> tuple[int, int, bytes] | None:
        buf = self._buf
        pos = self._pos
        n = len(buf)
        if pos >= n:
            return None
        try:
            header, i = varint_decode(buf, pos)
        except TruncatedVarintError:
            return None
        flag = header & 7
        if flag == _INVALID_FLAG:
            raise MplexInvalidFlagError(f"mplex frame with undefined flag 7 (stream {header >> 3})")
        try:
            length, start = varint_decode(buf, i)
        except TruncatedVarintError:
            return None
        if length > self._max:
            raise MplexFrameTooLargeError(f"mplex frame of {length} bytes exceeds the {self._max}-byte limit")
        end = start + length
        if end > n:
            return None
        if length > _SLICE_VIA_VIEW:
            # One copy instead of two (bytearray slice, then bytes); the view is released at once
            # so the buffer stays resizable.
            with memoryview(buf) as view:
                payload = view[start:end].tobytes()
        else:
            payload = bytes(buf[start:end])
        if end == n:
            buf.clear()
            self._pos = 0
        else:
            self._pos = end
        return header >> 3, flag, payload

    def frames(self) -> list[tuple[int, int, bytes]]:
        """Every complete frame buffered now."""
        out: list[tuple[int, int, bytes]] = []
        while True:
            frame = self.next_frame()
            if frame is None:
                return out
            out.append(frame)

    def close(self) -> None:
        """Declare end of input: a partial frame left behind is an error."""
        n = len(self._buf) - self._pos
        if n == 0:
            return
        try:
            _, i = varint_decode(self._buf, self._pos)
            varint_decode(self._buf, i)
        except TruncatedVarintError:
            raise TruncatedVarintError("input ended inside an mplex frame header") from None
        raise TruncatedFrameError(f"input ended inside an mplex frame ({n} bytes buffered)")
