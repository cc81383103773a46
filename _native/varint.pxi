# unsigned-varint and uvarint length-prefixed framing: twin of libp2p/_pure/varint.py.

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE

MAX_VARINT_LEN = 9
MAX_VARINT_VALUE = 0x7FFFFFFFFFFFFFFF

cdef tuple _ONE_BYTE = tuple(bytes((i,)) for i in range(128))
# Compacting the frame buffer only once the consumed prefix is this large keeps it amortised O(1).
cdef Py_ssize_t _COMPACT_AT = 1 << 16


cdef inline Py_ssize_t _encode_into(uint64_t v, uint8_t* out) noexcept nogil:
    cdef Py_ssize_t i = 0
    while v >= 0x80:
        out[i] = <uint8_t>((v & 0x7F) | 0x80)
        v >>= 7
        i += 1
    out[i] = <uint8_t>v
    return i + 1


def varint_encode(value):
    """Encode ``value`` (0 ≤ value < 2**63) as a minimal unsigned varint."""
    cdef uint8_t out[10]
    cdef uint64_t v
    cdef Py_ssize_t n
    if 0 <= value < 0x80:
        return _ONE_BYTE[value]
    if value < 0 or value > MAX_VARINT_VALUE:
        raise VarintRangeError(f"varint value out of range: {value}")
    v = value
    n = _encode_into(v, out)
    return PyBytes_FromStringAndSize(<char*>out, n)


def varint_size(value):
    """Number of bytes ``varint_encode(value)`` produces."""
    cdef uint64_t v
    cdef int n = 1
    if value < 0 or value > MAX_VARINT_VALUE:
        raise VarintRangeError(f"varint value out of range: {value}")
    v = value
    while v >= 0x80:
        v >>= 7
        n += 1
    return n


def varint_decode(buf, Py_ssize_t offset=0):
    """Decode one varint from ``buf`` at ``offset``; return ``(value, offset_after)``."""
    cdef Py_buffer view
    cdef const uint8_t* p
    cdef Py_ssize_t n
    cdef uint64_t value
    cdef Py_ssize_t used
    cdef VarintStatus status
    if offset < 0:
        raise LocalProtocolError(f"negative offset {offset}")
    if PyBytes_CheckExact(buf):
        p = <const uint8_t*>PyBytes_AS_STRING(buf)
        n = PyBytes_GET_SIZE(buf)
        if offset >= n:
            raise TruncatedVarintError("no bytes left for a varint")
        status = _parse_varint(p + offset, n - offset, &value, &used)
    else:
        PyObject_GetBuffer(buf, &view, PyBUF_SIMPLE)
        try:
            p = <const uint8_t*>view.buf
            n = view.len
            if offset >= n:
                raise TruncatedVarintError("no bytes left for a varint")
            status = _parse_varint(p + offset, n - offset, &value, &used)
        finally:
            PyBuffer_Release(&view)
    if status != VARINT_OK:
        raise _varint_error(status)
    return value, offset + used


cdef class FrameReader:
    """Incremental reader of uvarint length-prefixed frames.

    ``feed()`` bytes as they arrive; ``next_frame()`` returns one complete frame or ``None``.
    A length prefix above ``max_frame_size`` raises ``FrameTooLargeError`` as soon as the
    prefix is complete, so no more than one frame (plus the fed-but-unparsed input) is buffered.
    """

    cdef bytearray _buf
    cdef Py_ssize_t _pos
    cdef uint64_t _max

    def __init__(self, max_frame_size):
        if max_frame_size < 0 or max_frame_size > MAX_VARINT_VALUE:
            raise VarintRangeError(f"max_frame_size out of range: {max_frame_size}")
        self._buf = bytearray()
        self._pos = 0
        self._max = max_frame_size

    @property
    def max_frame_size(self):
        return self._max

    @property
    def buffered(self):
        """Bytes fed but not yet returned as frames."""
        return PyByteArray_GET_SIZE(self._buf) - self._pos

    def feed(self, data):
        if self._pos >= _COMPACT_AT:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    cdef object _next(self):
        cdef Py_ssize_t n = PyByteArray_GET_SIZE(self._buf)
        cdef const uint8_t* p = <const uint8_t*>PyByteArray_AS_STRING(self._buf)
        cdef uint64_t length
        cdef Py_ssize_t used, start, end
        cdef VarintStatus status
        cdef bytes frame
        if self._pos >= n:
            return None
        status = _parse_varint(p + self._pos, n - self._pos, &length, &used)
        if status == VARINT_TRUNCATED:
            return None
        if status != VARINT_OK:
            raise _varint_error(status)
        if length > self._max:
            raise FrameTooLargeError(f"frame of {length} bytes exceeds the {self._max}-byte limit")
        start = self._pos + used
        if <uint64_t>(n - start) < length:
            return None
        end = start + <Py_ssize_t>length
        frame = PyBytes_FromStringAndSize(<const char*>(p + start), end - start)
        if end == n:
            del self._buf[:]
            self._pos = 0
        else:
            self._pos = end
        return frame

    def next_frame(self):
        return self._next()

    def frames(self):
        """Every complete frame buffered now."""
        cdef list out = []
        while True:
            frame = self._next()
            if frame is None:
                return out
            out.append(frame)

    def drain(self):
        """Take the buffered bytes that are not a complete frame (for a protocol switch)."""
        rest = bytes(self._buf[self._pos:])
        del self._buf[:]
        self._pos = 0
        return rest

    def close(self):
        """Declare end of input: a partial frame left behind is an error."""
        cdef Py_ssize_t n = PyByteArray_GET_SIZE(self._buf) - self._pos
        cdef uint64_t length
        cdef Py_ssize_t used
        if n == 0:
            return
        status = _parse_varint(<const uint8_t*>PyByteArray_AS_STRING(self._buf) + self._pos, n, &length, &used)
        if status == VARINT_TRUNCATED:
            raise TruncatedVarintError("input ended inside a length prefix")
        if status != VARINT_OK:
            raise _varint_error(status)
        raise TruncatedFrameError(f"input ended inside a frame ({n} bytes buffered)")
