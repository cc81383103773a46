# yamux frame codec: twin of libp2p/_pure/yamux.py.
#
# Header: version u8 | type u8 | flags u16 | stream_id u32 | length u32, big-endian.

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.long cimport PyLong_CheckExact
from libc.stdint cimport uint16_t, uint32_t
from operator import index as _yx_index

from libp2p.muxer.yamux.errors import (
    InvalidFrameTypeError,
    InvalidVersionError,
    TruncatedHeaderError,
    YamuxFrameTooLargeError,
    YamuxValueError,
)

cdef enum:
    _YX_HEADER_SIZE = 12
    _YX_MAX_TYPE = 3

# Compact the buffer only once the consumed prefix is this large: amortised O(1) per byte.
cdef Py_ssize_t _YX_COMPACT_AT = 1 << 16


cdef inline uint32_t _yx_u32(const uint8_t* p) noexcept nogil:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | <uint32_t>p[3]


cdef inline void _yx_put_u32(uint8_t* p, uint32_t v) noexcept nogil:
    p[0] = <uint8_t>(v >> 24)
    p[1] = <uint8_t>(v >> 16)
    p[2] = <uint8_t>(v >> 8)
    p[3] = <uint8_t>v


cdef inline bint _yx_in_range(object value, object limit):
    # Through __index__, as struct.pack does, so floats, None and huge ints fail alike.
    try:
        value = _yx_index(value)
    except TypeError:
        return False
    return 0 <= value <= limit


def yamux_pack_header(type, flags, stream_id, length):
    """The 12-byte header (version 0). Fields out of their u8/u16/u32 ranges raise ``YamuxValueError``."""
    cdef uint8_t out[12]
    cdef unsigned long long t, f, s, n
    # Fast path: plain ints convert in C; a negative or huge one raises OverflowError.
    if not (
        PyLong_CheckExact(type) and PyLong_CheckExact(flags)
        and PyLong_CheckExact(stream_id) and PyLong_CheckExact(length)
    ) and not (
        _yx_in_range(type, 0xFF)
        and _yx_in_range(flags, 0xFFFF)
        and _yx_in_range(stream_id, 0xFFFFFFFF)
        and _yx_in_range(length, 0xFFFFFFFF)
    ):
        _yx_pack_error(type, flags, stream_id, length)
    try:
        t = _yx_index(type) if not PyLong_CheckExact(type) else type
        f = _yx_index(flags) if not PyLong_CheckExact(flags) else flags
        s = _yx_index(stream_id) if not PyLong_CheckExact(stream_id) else stream_id
        n = _yx_index(length) if not PyLong_CheckExact(length) else length
    except OverflowError:
        _yx_pack_error(type, flags, stream_id, length)
    if t > 0xFF or f > 0xFFFF or s > 0xFFFFFFFF or n > 0xFFFFFFFF:
        _yx_pack_error(type, flags, stream_id, length)
    out[0] = 0
    out[1] = <uint8_t>t
    out[2] = <uint8_t>(f >> 8)
    out[3] = <uint8_t>f
    _yx_put_u32(out + 4, <uint32_t>s)
    _yx_put_u32(out + 8, <uint32_t>n)
    return PyBytes_FromStringAndSize(<char*>out, 12)


cdef int _yx_pack_error(type, flags, stream_id, length) except -1:
    raise YamuxValueError(
        f"yamux header field out of range: type={type!r} flags={flags!r} "
        f"stream_id={stream_id!r} length={length!r}"
    )


def yamux_unpack_header(buf, Py_ssize_t offset=0):
    """``(version, type, flags, stream_id, length)`` of the header at ``offset``; nothing is validated."""
    cdef Py_buffer view
    cdef const uint8_t* p
    if offset < 0:
        raise LocalProtocolError(f"negative offset {offset}")
    PyObject_GetBuffer(buf, &view, PyBUF_SIMPLE)
    try:
        if view.len - offset < _YX_HEADER_SIZE:
            raise TruncatedHeaderError("fewer than 12 bytes for a yamux header")
        p = <const uint8_t*>view.buf + offset
        return (p[0], p[1], (<uint16_t>p[2] << 8) | p[3], _yx_u32(p + 4), _yx_u32(p + 8))
    finally:
        PyBuffer_Release(&view)


cdef class YamuxFrameDecoder:
    """Incremental yamux frame decoder.

    ``feed()`` bytes as they arrive; ``next_frame()`` returns
    ``(type, flags, stream_id, length, payload)`` for one complete frame, or ``None``.
    ``payload`` is the Data frame's bytes (one object, ``len == length``) and ``None`` for the
    other types, whose ``length`` is a value (delta, opaque, code).

    A fed ``bytes`` object is parsed in place (one copy per payload); a frame that straddles
    two feeds, or input given as bytearray/memoryview, goes through an internal bytearray.
    Buffered input always precedes the held ``bytes`` chunk.
    """

    cdef bytearray _buf
    cdef Py_ssize_t _pos
    cdef bytes _ext
    cdef Py_ssize_t _ext_pos
    cdef uint32_t _max

    def __init__(self, max_payload):
        max_payload = _yx_index(max_payload)
        if not (0 <= max_payload <= 0xFFFFFFFF):
            raise YamuxValueError(f"max_payload out of range: {max_payload}")
        self._buf = bytearray()
        self._pos = 0
        self._ext = None
        self._ext_pos = 0
        self._max = max_payload

    @property
    def max_payload(self):
        return self._max

    @property
    def buffered(self):
        """Bytes fed but not yet returned in frames."""
        cdef Py_ssize_t n = PyByteArray_GET_SIZE(self._buf) - self._pos
        if self._ext is not None:
            n += PyBytes_GET_SIZE(self._ext) - self._ext_pos
        return n

    def feed(self, data):
        if not data:
            return
        if self._ext is not None:
            # The held chunk must precede the new input: move its tail into the buffer.
            self._append(memoryview(self._ext)[self._ext_pos:])
            self._ext = None
        if PyBytes_CheckExact(data):
            self._ext = <bytes>data
            self._ext_pos = 0
        else:
            self._append(data)

    cdef _append(self, data):
        if self._pos >= _YX_COMPACT_AT:
            del self._buf[:self._pos]
            self._pos = 0
        self._buf += data

    cdef bint _pull(self, Py_ssize_t need) except -1:
        """Move up to ``need`` bytes from the held chunk into the buffer; True if all came."""
        cdef Py_ssize_t start, avail
        if self._ext is None:
            return False
        start = self._ext_pos
        avail = PyBytes_GET_SIZE(self._ext) - start
        if avail <= need:
            self._buf += memoryview(self._ext)[start:]
            self._ext = None
            return avail == need
        self._buf += memoryview(self._ext)[start:start + need]
        self._ext_pos = start + need
        return True

    cdef int _check(self, const uint8_t* p, uint32_t length) except -1:
        if p[0] != 0:
            raise InvalidVersionError(f"unsupported yamux version {p[0]}")
        if p[1] > _YX_MAX_TYPE:
            raise InvalidFrameTypeError(f"unknown yamux frame type {p[1]}")
        if p[1] == 0 and length > self._max:
            raise YamuxFrameTooLargeError(f"data frame of {length} bytes exceeds the {self._max}-byte limit")
        return 0

    cdef inline tuple _frame(self, const uint8_t* p, object payload):
        return (p[1], (<uint16_t>p[2] << 8) | p[3], _yx_u32(p + 4), _yx_u32(p + 8), payload)

    cdef object _next(self):
        cdef Py_ssize_t pos = self._pos
        cdef Py_ssize_t n = PyByteArray_GET_SIZE(self._buf) - pos
        cdef Py_ssize_t end, total
        cdef const uint8_t* p
        cdef uint32_t length
        cdef object payload
        cdef tuple frame
        if n:
            # A frame begun in the buffer: complete it there, pulling from the held chunk.
            if n < _YX_HEADER_SIZE:
                if not self._pull(_YX_HEADER_SIZE - n):
                    return None
                n = _YX_HEADER_SIZE
            p = <const uint8_t*>PyByteArray_AS_STRING(self._buf) + pos
            length = _yx_u32(p + 8)
            self._check(p, length)
            if p[1] != 0:
                total = _YX_HEADER_SIZE
                payload = None
            else:
                total = _YX_HEADER_SIZE + <Py_ssize_t>length
                if n < total:
                    if not self._pull(total - n):
                        return None
                    # The bytearray may have moved.
                    p = <const uint8_t*>PyByteArray_AS_STRING(self._buf) + pos
                payload = PyBytes_FromStringAndSize(<const char*>(p + _YX_HEADER_SIZE), length)
            frame = self._frame(p, payload)
            end = pos + total
            if end == PyByteArray_GET_SIZE(self._buf):
                del self._buf[:]
                self._pos = 0
            else:
                self._pos = end
            return frame
        if self._ext is None:
            return None
        pos = self._ext_pos
        n = PyBytes_GET_SIZE(self._ext) - pos
        if n < _YX_HEADER_SIZE:
            return None
        p = <const uint8_t*>PyBytes_AS_STRING(self._ext) + pos
        length = _yx_u32(p + 8)
        self._check(p, length)
        if p[1] != 0:
            total = _YX_HEADER_SIZE
            payload = None
        else:
            total = _YX_HEADER_SIZE + <Py_ssize_t>length
            if n < total:
                return None
            payload = PyBytes_FromStringAndSize(<const char*>(p + _YX_HEADER_SIZE), length)
        frame = self._frame(p, payload)
        end = pos + total
        if end == PyBytes_GET_SIZE(self._ext):
            self._ext = None
        else:
            self._ext_pos = end
        return frame

    def next_frame(self):
        return self._next()

    def take_frame(self, dict streams, events):
        """``next_frame``, but plain Data taken here, frame after frame: see the pure twin."""
        cdef object frame, st, receiver
        cdef tuple f
        cdef long long length, credit
        while True:
            frame = self._next()
            if frame is None:
                return None
            f = <tuple>frame
            if f[0] != 0 or f[1] != 0:
                return frame
            st = streams.get(f[2])
            if st is None or st.remote_closed or st.syn_pending:
                return frame
            length = f[3]
            credit = st.recv_credit
            if length > credit:
                return frame
            if length == 0:
                continue
            receiver = st.receiver
            if receiver is None or events:
                return frame
            st.recv_credit = credit - length
            st.buffered = st.buffered + length
            receiver(f[4])
