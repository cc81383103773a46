# Binary multiaddr scanner and validator: twin of libp2p/_pure/multiaddr.py.

from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from cpython.long cimport PyLong_FromSsize_t
from cpython.ref cimport Py_INCREF
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.string cimport memchr

from libp2p.errors import MultiaddrError

MAX_MULTIADDR_LEN = 1024

cdef enum:
    _MA_MAX_LEN = 1024
    # Value kinds (see the pure twin); non-negative kinds are fixed sizes in bytes.
    _K_UNKNOWN = -100
    _K_ONION = -1
    _K_ONION3 = -2
    _K_NAME = -3
    _K_MHASH = -4
    _K_TEXT = -5
    _K_GARLIC64 = -6
    _K_GARLIC32 = -7


cdef inline int _ma_kind(uint64_t code) noexcept nogil:
    if code == 4:
        return 4
    if code == 6 or code == 273 or code == 33 or code == 132:
        return 2
    if code == 421 or code == 466:
        return _K_MHASH
    if code == 41:
        return 16
    if code == 43:
        return 1
    if code == 42 or code == 53 or code == 54 or code == 55 or code == 56 or code == 449 or code == 777:
        return _K_NAME
    if code == 400 or code == 481:
        return _K_TEXT
    if (code == 448 or code == 454 or code == 460 or code == 461 or code == 465 or code == 480
            or code == 443 or code == 477 or code == 478 or code == 479 or code == 277 or code == 275
            or code == 276 or code == 280 or code == 281 or code == 290 or code == 301 or code == 302):
        return 0
    if code == 444:
        return _K_ONION
    if code == 445:
        return _K_ONION3
    if code == 446:
        return _K_GARLIC64
    if code == 447:
        return _K_GARLIC32
    return _K_UNKNOWN


cdef object _ma_varint_error(VarintStatus status):
    if status == VARINT_TRUNCATED:
        return MultiaddrError("multiaddr ends inside a varint")
    if status == VARINT_OVERLONG:
        return MultiaddrError("varint longer than 9 bytes in multiaddr")
    return MultiaddrError("non-minimal varint in multiaddr")


cdef int _ma_check_multihash(const uint8_t* p, Py_ssize_t n) except -1:
    cdef uint64_t code, length
    cdef Py_ssize_t used
    cdef VarintStatus status
    if n == 0:
        raise MultiaddrError("empty multihash in multiaddr")
    status = _parse_varint(p, n, &code, &used)
    if status != VARINT_OK:
        raise _ma_varint_error(status)
    p += used
    n -= used
    status = _parse_varint(p, n, &length, &used)
    if status != VARINT_OK:
        raise _ma_varint_error(status)
    if length != <uint64_t>(n - used):
        raise MultiaddrError("multihash length does not match its value in multiaddr")
    return 0


cdef int _ma_check_text(const uint8_t* p, Py_ssize_t n, bint slash_ok) except -1:
    if n == 0:
        raise MultiaddrError("empty value in multiaddr")
    try:
        PyUnicode_DecodeUTF8(<const char*>p, n, NULL)
    except UnicodeDecodeError:
        raise MultiaddrError("multiaddr value is not valid UTF-8") from None
    if not slash_ok and memchr(p, 0x2F, n) != NULL:
        raise MultiaddrError("multiaddr value contains '/'")
    return 0


cdef tuple _ma_scan(const uint8_t* p, Py_ssize_t n):
    # Each component takes at least one byte, so n components at most: 3 slots each.
    cdef Py_ssize_t spans[3 * _MA_MAX_LEN]
    cdef Py_ssize_t count = 0
    cdef Py_ssize_t i = 0
    cdef Py_ssize_t end, used, k
    cdef uint64_t code, length
    cdef VarintStatus status
    cdef int kind
    cdef tuple out
    cdef object item
    if n > _MA_MAX_LEN:
        raise MultiaddrError(f"multiaddr of {n} bytes exceeds the {_MA_MAX_LEN}-byte limit")
    while i < n:
        if p[i] < 0x80:
            code = p[i]
            i += 1
        else:
            status = _parse_varint(p + i, n - i, &code, &used)
            if status != VARINT_OK:
                raise _ma_varint_error(status)
            i += used
        kind = _ma_kind(code)
        if kind == _K_UNKNOWN:
            raise MultiaddrError(f"unknown multiaddr protocol code {code}")
        if kind >= 0:
            if kind > n - i:
                raise MultiaddrError("multiaddr ends inside a fixed-size value")
            end = i + kind
        elif kind == _K_ONION or kind == _K_ONION3:
            end = 12 if kind == _K_ONION else 37
            if end > n - i:
                raise MultiaddrError("multiaddr ends inside an onion address")
            end += i
            if p[end - 2] == 0 and p[end - 1] == 0:
                raise MultiaddrError("onion port must not be 0")
        else:
            if i < n and p[i] < 0x80:
                length = p[i]
                i += 1
            else:
                status = _parse_varint(p + i, n - i, &length, &used)
                if status != VARINT_OK:
                    raise _ma_varint_error(status)
                i += used
            if length > <uint64_t>(n - i):
                raise MultiaddrError("multiaddr value length exceeds the remaining bytes")
            end = i + <Py_ssize_t>length
            if kind == _K_MHASH:
                _ma_check_multihash(p + i, end - i)
            elif kind == _K_NAME:
                _ma_check_text(p + i, end - i, False)
            elif kind == _K_TEXT:
                _ma_check_text(p + i, end - i, True)
            elif kind == _K_GARLIC64:
                if length < 386:
                    raise MultiaddrError("garlic64 value shorter than 386 bytes")
            elif length != 32 and length < 35:
                raise MultiaddrError("garlic32 value must be 32 or at least 35 bytes")
        spans[count] = <Py_ssize_t>code
        spans[count + 1] = i
        spans[count + 2] = end
        count += 3
        i = end
    out = PyTuple_New(count)
    for k in range(count):
        item = PyLong_FromSsize_t(spans[k])
        Py_INCREF(item)
        PyTuple_SET_ITEM(out, k, item)
    return out


def multiaddr_scan(data):
    """Validate a binary multiaddr; return ``(code, value_start, value_end)`` per component, flat.

    Component ``k`` occupies ``data[prev_end:value_end]`` where ``prev_end`` is the previous
    component's value end (0 for the first). Raises ``MultiaddrError`` on any malformed input.
    """
    cdef Py_buffer view
    if PyBytes_CheckExact(data):
        return _ma_scan(<const uint8_t*>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        return _ma_scan(<const uint8_t*>view.buf, view.len)
    finally:
        PyBuffer_Release(&view)
