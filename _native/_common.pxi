# Inline helpers and shared imports for every twin.

from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE, PyBytes_CheckExact
from libc.stdint cimport uint8_t, uint64_t
from libc.stdlib cimport malloc, free, qsort
from libc.string cimport memcpy, memcmp

from libp2p.errors import (
    ArgumentTypeError,
    FrameTooLargeError,
    InvalidArgumentError,
    KeyLengthError,
    LocalProtocolError,
    NonMinimalVarintError,
    OverlongVarintError,
    TruncatedFrameError,
    TruncatedVarintError,
    VarintRangeError,
)

cdef enum:
    _MAX_VARINT_LEN = 9

cdef uint64_t _MAX_VARINT_VALUE_C = 0x7FFFFFFFFFFFFFFF

# Result codes of the inline varint parser (no exceptions on the hot path).
cdef enum VarintStatus:
    VARINT_OK = 0
    VARINT_TRUNCATED = 1
    VARINT_OVERLONG = 2
    VARINT_NONMINIMAL = 3


cdef inline VarintStatus _parse_varint(const uint8_t* p, Py_ssize_t n, uint64_t* value, Py_ssize_t* used) noexcept nogil:
    """Parse a minimal uvarint of at most 9 bytes from p[0:n]."""
    cdef uint64_t v = 0
    cdef uint8_t b
    cdef Py_ssize_t i = 0
    cdef int shift = 0
    while True:
        if i >= _MAX_VARINT_LEN:
            return VARINT_OVERLONG
        if i >= n:
            return VARINT_TRUNCATED
        b = p[i]
        i += 1
        if b < 0x80:
            if b == 0 and i > 1:
                return VARINT_NONMINIMAL
            v |= (<uint64_t>b) << shift
            value[0] = v
            used[0] = i
            return VARINT_OK
        v |= (<uint64_t>(b & 0x7F)) << shift
        shift += 7


cdef inline object _varint_error(VarintStatus status):
    if status == VARINT_TRUNCATED:
        return TruncatedVarintError("input ends inside a varint")
    if status == VARINT_OVERLONG:
        return OverlongVarintError("varint longer than 9 bytes")
    return NonMinimalVarintError("varint is not minimally encoded")
