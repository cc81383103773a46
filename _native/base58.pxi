# base58btc: twin of libp2p/_pure/base58.py. Limb arithmetic instead of big integers.

from cpython.unicode cimport PyUnicode_Check
from libc.stdint cimport uint32_t

from libp2p.errors import MultibaseError

cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object s)
    const char* PyUnicode_AsUTF8AndSize(object s, Py_ssize_t* size) except NULL
    object PyUnicode_FromStringAndSize(const char* s, Py_ssize_t size)

cdef const char* _B58_ALPHABET = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
# 58**5 fits a uint32 limb; encoding works in base 58**5, decoding in base 2**32.
cdef uint64_t _B58_POW5 = 656356768
cdef signed char _B58_INDEX[256]


cdef void _b58_init_index() noexcept:
    cdef int i
    for i in range(256):
        _B58_INDEX[i] = -1
    for i in range(58):
        _B58_INDEX[<unsigned char>_B58_ALPHABET[i]] = i


_b58_init_index()


def base58btc_encode(data):
    cdef Py_buffer view
    cdef const uint8_t* p
    cdef Py_ssize_t n, zeros, i, j, nlimbs, used, ndigits, k, start
    cdef uint32_t* limbs = NULL
    cdef char* out = NULL
    cdef uint64_t carry
    cdef uint32_t limb
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        p = <const uint8_t*>view.buf
        n = view.len
        zeros = 0
        while zeros < n and p[zeros] == 0:
            zeros += 1
        # log(256)/log(58**5) ~ 0.273 limbs per byte
        nlimbs = (n - zeros) * 28 // 100 + 2
        limbs = <uint32_t*>malloc(nlimbs * sizeof(uint32_t))
        out = <char*>malloc(zeros + nlimbs * 5 + 1)
        if limbs == NULL or out == NULL:
            raise MemoryError()
        used = 0
        for i in range(zeros, n):
            carry = p[i]
            for j in range(used):
                carry += (<uint64_t>limbs[j]) << 8
                limbs[j] = <uint32_t>(carry % _B58_POW5)
                carry //= _B58_POW5
            while carry:
                limbs[used] = <uint32_t>(carry % _B58_POW5)
                carry //= _B58_POW5
                used += 1
        # Digits, most significant first, then strip the leading zero digits of the top limb.
        ndigits = used * 5
        k = zeros + ndigits
        for j in range(used):
            limb = limbs[j]
            for i in range(5):
                k -= 1
                out[k] = _B58_ALPHABET[limb % 58]
                limb //= 58
        start = zeros
        while start < zeros + ndigits and out[start] == b'1':
            start += 1
        for i in range(zeros):
            out[start - zeros + i] = b'1'
        return PyUnicode_FromStringAndSize(out + start - zeros, zeros + ndigits - start + zeros)
    finally:
        free(limbs)
        free(out)
        PyBuffer_Release(&view)


def base58btc_decode(text):
    cdef Py_ssize_t n, zeros, i, j, nlimbs, used, nbytes, k
    cdef const char* s
    cdef uint32_t* limbs = NULL
    cdef uint8_t* out = NULL
    cdef uint64_t carry
    cdef int d
    cdef bint started = False
    cdef uint8_t bv
    if not PyUnicode_Check(text):
        raise ArgumentTypeError("base58btc_decode takes a str")
    if not PyUnicode_IS_ASCII(text):
        raise MultibaseError("invalid base58btc character")
    s = PyUnicode_AsUTF8AndSize(text, &n)
    zeros = 0
    while zeros < n and s[zeros] == b'1':
        zeros += 1
    # log(58)/log(2**32) ~ 0.183 limbs per character
    nlimbs = (n - zeros) * 19 // 100 + 2
    limbs = <uint32_t*>malloc(nlimbs * sizeof(uint32_t))
    out = <uint8_t*>malloc(zeros + nlimbs * 4 + 1)
    try:
        if limbs == NULL or out == NULL:
            raise MemoryError()
        used = 0
        for i in range(zeros, n):
            d = _B58_INDEX[<unsigned char>s[i]]
            if d < 0:
                raise MultibaseError("invalid base58btc character")
            carry = <uint64_t>d
            for j in range(used):
                carry += <uint64_t>limbs[j] * 58
                limbs[j] = <uint32_t>carry
                carry >>= 32
            if carry:
                limbs[used] = <uint32_t>carry
                used += 1
        # Big-endian bytes of the limbs, without leading zero bytes, after `zeros` zero bytes.
        for i in range(zeros):
            out[i] = 0
        k = zeros
        for j in range(used - 1, -1, -1):
            for i in range(3, -1, -1):
                bv = (limbs[j] >> (8 * i)) & 0xFF
                if bv or started:
                    out[k] = bv
                    k += 1
                    started = True
        return PyBytes_FromStringAndSize(<const char*>out, k)
    finally:
        free(limbs)
        free(out)
