"""yamux frame codec: the pure-Python twin of ``_native/yamux.pxi``.

Header: ``version u8 | type u8 | flags u16 | stream_id u32 | length u32``, big-endian.
``YamuxFrameDecoder`` is incremental and bounded like ``FrameReader``: a Data frame longer
than ``max_payload`` raises before its payload is buffered, a bad version or type raises
as soon as the header is complete, and a truncated frame just waits for more input.
"""

from __future__ import annotations

import struct
from collections.abc import Sized
from operator import index
from typing import Any

from libp2p.errors import LocalProtocolError
from libp2p.muxer.yamux.errors import (
    InvalidFrameTypeError,
    InvalidVersionError,
    TruncatedHeaderError,
    YamuxFrameTooLargeError,
    YamuxValueError,
)

__all__ = ["YamuxFrameDecoder", "yamux_pack_header", "yamux_unpack_header"]

_HEADER = struct.Struct(">BBHII")
_PACK = _HEADER.pack
_UNPACK_FROM = _HEADER.unpack_from
_HEADER_SIZE = 12
_MAX_TYPE = 3
_MAX_U32 = 0xFFFFFFFF
# Compact the buffer only once the consumed prefix is this large: amortised O(1) per byte.
_COMPACT_AT = 1 << 16

Frame = tuple[int, int, int, int, "bytes | None"]


def yamux_pack_header(type: int, flags: int, stream_id: int, length: int) -> bytes:
    """The 12-byte header (version 0). Fields out of their u8/u16/u32 ranges raise ``YamuxValueError``."""
    try:
        return _PACK(0, type, flags, stream_id, length)
    except struct.error:
        raise YamuxValueError(
            f"yamux header field out of range: type={type!r} flags={flags!r} "
            f"stream_id={stream_id!r} length={length!r}"
        ) from None


def yamux_unpack_header(
    buf: bytes | bytearray | memoryview, offset: int = 0
) -> tuple[int, int, int, int, int]:
    """``(version, type, flags, stream_id, length)`` of the header at ``offset``; nothing is validated."""
    if offset < 0:
        raise LocalProtocolError(f"negative offset {offset}")
    if len(buf) - offset < _HEADER_SIZE:
        raise TruncatedHeaderError("fewer than 12 bytes for a yamux header")
    return _UNPACK_FROM(buf, offset)


class YamuxFrameDecoder:
    """Incremental yamux frame decoder.

    ``feed()`` bytes as they arrive; ``next_frame()`` returns
    ``(type, flags, stream_id, length, payload)`` for one complete frame, or ``None``.
    ``payload`` is the Data frame's bytes (one object, ``len == length``) and ``None`` for the
    other types, whose ``length`` is a value (delta, opaque, code).

    A fed ``bytes`` object is parsed in place (one copy per payload); a frame that straddles
    two feeds, or input given as bytearray/memoryview, goes through an internal bytearray.
    Buffered input always precedes the held ``bytes`` chunk.
    """

    __slots__ = ("_buf", "_ext", "_ext_pos", "_max", "_pos")

    def __init__(self, max_payload: int) -> None:
        max_payload = index(max_payload)
        if not 0 <= max_payload <= _MAX_U32:
            raise YamuxValueError(f"max_payload out of range: {max_payload}")
        self._buf = bytearray()
        self._pos = 0
        self._ext: bytes | None = None
        self._ext_pos = 0
        self._max = max_payload

    @property
    def max_payload(self) -> int:
        return self._max

    @property
    def buffered(self) -> int:
        """Bytes fed but not yet returned in frames."""
        n = len(self._buf) - self._pos
        if self._ext is not None:
            n += len(self._ext) - self._ext_pos
        return n

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        ext = self._ext
        if ext is not None:
            # The held chunk must precede the new input: move its tail into the buffer.
            self._append(memoryview(ext)[self._ext_pos :])
            self._ext = None
        if type(data) is bytes:
            self._ext = data
            self._ext_pos = 0
        else:
            self._append(data)

    def _append(self, data: bytes | bytearray | memoryview) -> None:
        if self._pos >= _COMPACT_AT:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def _pull(self, need: int) -> bool:
        """Move up to ``need`` bytes from the held chunk into the buffer; True if all came."""
        ext = self._ext
        if ext is None:
            return False
        start = self._ext_pos
        avail = len(ext) - start
        if avail <= need:
            self._buf += memoryview(ext)[start:]
            self._ext = None
            return avail == need
        self._buf += memoryview(ext)[start : start + need]
        self._ext_pos = start + need
        return True

    def _check(self, version: int, type_: int, length: int) -> None:
        if version != 0:
            raise InvalidVersionError(f"unsupported yamux version {version}")
        if type_ > _MAX_TYPE:
            raise InvalidFrameTypeError(f"unknown yamux frame type {type_}")
        if type_ == 0 and length > self._max:
            raise YamuxFrameTooLargeError(f"data frame of {length} bytes exceeds the {self._max}-byte limit")

    def take_frame(self, streams: dict[int, Any], events: Sized) -> Frame | None:
        """``next_frame``, but plain Data (no flags) is taken here, frame after frame, when the
        session's bulk path would take it: on a stream in ``streams`` (the session's per-stream
        state) not closed by the peer (``remote_closed``), announced (not ``syn_pending``), within
        ``recv_credit``; then an empty frame is dropped, and a payload goes to the stream's
        ``receiver`` (``recv_credit`` and ``buffered`` accounted) when it has one and ``events``
        (the session's pending events) is empty, so it never overtakes an event. Returns the
        first frame not taken (the session handles it as always), or None."""
        next_frame = self.next_frame
        while True:
            frame = next_frame()
            if frame is None or frame[0] != 0 or frame[1] != 0:
                return frame
            st = streams.get(frame[2])
            if st is None or st.remote_closed or st.syn_pending:
                return frame
            length = frame[3]
            credit = st.recv_credit
            if length > credit:
                return frame
            if length == 0:
                continue
            receiver = st.receiver
            if receiver is None or events:
                return frame
            st.recv_credit = credit - length
            st.buffered += length
            receiver(frame[4])

    def next_frame(self) -> Frame | None:
        buf = self._buf
        pos = self._pos
        n = len(buf) - pos
        if n:
            # A frame begun in the buffer: complete it there, pulling from the held chunk.
            if n < _HEADER_SIZE:
                if not self._pull(_HEADER_SIZE - n):
                    return None
                n = _HEADER_SIZE
            version, type_, flags, stream_id, length = _UNPACK_FROM(buf, pos)
            self._check(version, type_, length)
            if type_ != 0:
                end = pos + _HEADER_SIZE
                payload = None
            else:
                end = pos + _HEADER_SIZE + length
                if n < _HEADER_SIZE + length and not self._pull(_HEADER_SIZE + length - n):
                    return None
                payload = bytes(buf[pos + _HEADER_SIZE : end])
            if end == len(buf):
                buf.clear()
                self._pos = 0
            else:
                self._pos = end
            return (type_, flags, stream_id, length, payload)
        ext = self._ext
        if ext is None:
            return None
        pos = self._ext_pos
        n = len(ext) - pos
        if n < _HEADER_SIZE:
            return None
        version, type_, flags, stream_id, length = _UNPACK_FROM(ext, pos)
        self._check(version, type_, length)
        if type_ != 0:
            end = pos + _HEADER_SIZE
            payload = None
        else:
            end = pos + _HEADER_SIZE + length
            if n < _HEADER_SIZE + length:
                return None
            payload = ext[pos + _HEADER_SIZE : end]
        if end == len(ext):
            self._ext = None
        else:
            self._ext_pos = end
        return (type_, flags, stream_id, length, payload)
