# mplex frame codec: twin of libp2p/_pure/mplex.py.
# Uses _parse_varint/_varint_error (_common.pxi) and _encode_into (varint.pxi).

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.number cimport PyNumber_Index

# The errors module imports nothing of this package, so importing it while libp2p._accel loads is safe.
from libp2p.muxer.mplex.errors import MplexArgumentError, MplexFrameTooLargeError, MplexInvalidFlagError

MPLEX_MAX_STREAM_ID = (1 << 60) - 1

cdef uint64_t _MPLEX_MAX_STREAM_ID_C = (<uint64_t>1 << 60) - 1
cdef enum:
    _MPLEX_INVALID_FLAG = 7
    _MPLEX_DEFAULT_MAX_MESSAGE = 1 << 20
cdef Py_ssize_t _MPLEX_COMPACT_AT = 1 << 16


cdef inline Py_ssize_t _mplex_header_into(uint64_t sid, uint64_t flag, uint64_t length, uint8_t* out) noexcept nogil:
    cdef Py_ssize_t n = _encode_into((sid << 3) | flag, out)
    return n + _encode_into(length, out + n)


cdef inline int _mplex_check(object stream_id, object flag, object length) except -1:
    # Same comparisons, in the same order, as the pure twin, so both raise the same type.
    if not 0 <= stream_id <= MPLEX_MAX_STREAM_ID:
        raise MplexArgumentError(f"mplex stream id out of range: {stream_id}")
    if not 0 <= flag < _MPLEX_INVALID_FLAG:
        raise MplexArgumentError(f"mplex flag out of range: {flag}")
    if not 0 <= length <= MAX_VARINT_VALUE:
        raise MplexArgumentError(f"mplex payload length out of range: {length}")
    # Cython would truncate a float to a C integer; the pure twin raises TypeError on it.
    PyNumber_Index(stream_id)
    PyNumber_Index(flag)
    PyNumber_Index(length)
    return 0


def mplex_pack_header(stream_id, flag, length):
    """The header of a frame whose payload is ``length`` bytes (send the payload after it)."""
    cdef uint8_t out[20]
    cdef Py_ssize_t n
    _mplex_check(stream_id, flag, length)
    n = _mplex_header_into(stream_id, flag, length, out)
    return PyBytes_FromStringAndSize(<char*>out, n)


def mplex_pack_frame(stream_id, flag, data):
    """One whole frame: header and a copy of ``data``."""
    cdef Py_buffer view
    cdef uint8_t hdr[20]
    cdef Py_ssize_t n
    cdef bytes out
    cdef char* p
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        _mplex_check(stream_id, flag, view.len)
        n = _mplex_header_into(stream_id, flag, <uint64_t>view.len, hdr)
        out = PyBytes_FromStringAndSize(NULL, n + view.len)
        p = PyBytes_AS_STRING(out)
        memcpy(p, hdr, n)
        memcpy(p + n, view.buf, view.len)
    finally:
        PyBuffer_Release(&view)
    return out


cdef class MplexFrameDecoder:
    """Incremental mplex frame decoder.

    ``feed()`` bytes as they arrive; ``next_frame()`` returns ``(stream_id, flag, payload)`` or
    ``None`` when more input is needed. A length above ``max_message`` raises
    ``MplexFrameTooLargeError`` as soon as the length varint is complete, before any of the payload
    is waited for; flag 7 raises ``MplexInvalidFlagError`` as soon as the header is complete.
    """

    cdef bytearray _buf
    cdef Py_ssize_t _pos
    cdef uint64_t _max

    def __init__(self, max_message=_MPLEX_DEFAULT_MAX_MESSAGE):
        max_message = PyNumber_Index(max_message)
        if not 0 <= max_message <= MAX_VARINT_VALUE:
            raise MplexArgumentError(f"max_message out of range: {max_message}")
        self._buf = bytearray()
        self._pos = 0
        self._max = max_message

    @property
    def max_message(self):
        return self._max

    @property
    def buffered(self):
        """Bytes fed but not yet returned in frames."""
        return PyByteArray_GET_SIZE(self._buf) - self._pos

    def feed(self, data):
        if self._pos >= _MPLEX_COMPACT_AT:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    cdef object _next(self):
        cdef Py_ssize_t n = PyByteArray_GET_SIZE(self._buf)
        cdef const uint8_t* p = <const uint8_t*>PyByteArray_AS_STRING(self._buf)
        cdef uint64_t header, length
        cdef Py_ssize_t used, i, start, end
        cdef VarintStatus status
        cdef bytes payload
        if self._pos >= n:
            return None
        status = _parse_varint(p + self._pos, n - self._pos, &header, &used)
        if status == VARINT_TRUNCATED:
            return None
        if status != VARINT_OK:
            raise _varint_error(status)
        if (header & 7) == _MPLEX_INVALID_FLAG:
            raise MplexInvalidFlagError(f"mplex frame with undefined flag 7 (stream {header >> 3})")
        i = self._pos + used
        status = _parse_varint(p + i, n - i, &length, &used)
        if status == VARINT_TRUNCATED:
            return None
        if status != VARINT_OK:
            raise _varint_error(status)
        if length > self._max:
            raise MplexFrameTooLargeError(f"mplex frame of {length} bytes exceeds the {self._max}-byte limit")
        start = i + used
        if <uint64_t>(n - start) < length:
            return None
        end = start + <Py_ssize_t>length
        payload = PyBytes_FromStringAndSize(<const char*>(p + start), end - start)
        if end == n:
            del self._buf[:]
            self._pos = 0
        else:
            self._pos = end
        return (header >> 3, <int>(header & 7), payload)

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

    def close(self):
        """Declare end of input: a partial frame left behind is an error."""
        cdef Py_ssize_t n = PyByteArray_GET_SIZE(self._buf) - self._pos
        cdef const uint8_t* p
        cdef uint64_t value
        cdef Py_ssize_t used
        cdef VarintStatus status
        if n == 0:
            return
        p = <const uint8_t*>PyByteArray_AS_STRING(self._buf) + self._pos
        status = _parse_varint(p, n, &value, &used)
        if status == VARINT_OK:
            status = _parse_varint(p + used, n - used, &value, &used)
        if status == VARINT_TRUNCATED:
            raise TruncatedVarintError("input ended inside an mplex frame header")
        if status != VARINT_OK:
            raise _varint_error(status)
        raise TruncatedFrameError(f"input ended inside an mplex frame ({n} bytes buffered)")
