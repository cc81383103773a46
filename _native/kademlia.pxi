# Kademlia key-space arithmetic: twin of libp2p/_pure/kademlia.py.


cdef extern from *:
    int __builtin_clz(unsigned int x) nogil


cdef struct _DistEntry:
    uint64_t head  # the distance's first 8 bytes as a big-endian integer: decides almost every comparison
    Py_ssize_t index
    const uint8_t* dist


# qsort's comparator: distances are big-endian, so (head, then memcmp of the rest) orders them;
# ties keep input order.
cdef Py_ssize_t _sort_key_len = 0

cdef int _cmp_entries(const void* a, const void* b) noexcept nogil:
    cdef const _DistEntry* x = <const _DistEntry*>a
    cdef const _DistEntry* y = <const _DistEntry*>b
    cdef int c
    if x.head != y.head:
        return 1 if x.head > y.head else -1
    if _sort_key_len > 8:
        c = memcmp(x.dist + 8, y.dist + 8, _sort_key_len - 8)
        if c != 0:
            return c
    return (x.index > y.index) - (x.index < y.index)


cdef inline uint64_t _head(const uint8_t* d, Py_ssize_t n) noexcept nogil:
    cdef uint64_t h = 0
    cdef Py_ssize_t i
    for i in range(8):
        h = (h << 8) | (d[i] if i < n else 0)
    return h


def xor_distance(a, b):
    """The XOR of two equal-length keys, as bytes of the same length."""
    cdef Py_buffer va, vb
    cdef Py_ssize_t i, n
    cdef bytes out
    cdef uint8_t* o
    cdef const uint8_t* pa
    cdef const uint8_t* pb
    PyObject_GetBuffer(a, &va, PyBUF_SIMPLE)
    try:
        PyObject_GetBuffer(b, &vb, PyBUF_SIMPLE)
        try:
            n = va.len
            if vb.len != n:
                raise KeyLengthError(f"keys differ in length: {n} and {vb.len}")
            out = PyBytes_FromStringAndSize(NULL, n)
            o = <uint8_t*>PyBytes_AS_STRING(out)
            pa = <const uint8_t*>va.buf
            pb = <const uint8_t*>vb.buf
            for i in range(n):
                o[i] = pa[i] ^ pb[i]
            return out
        finally:
            PyBuffer_Release(&vb)
    finally:
        PyBuffer_Release(&va)


def common_prefix_length(a, b):
    """Number of leading bits the two keys share (the k-bucket index from the far end)."""
    cdef Py_buffer va, vb
    cdef Py_ssize_t i, n
    cdef uint8_t x
    cdef const uint8_t* pa
    cdef const uint8_t* pb
    PyObject_GetBuffer(a, &va, PyBUF_SIMPLE)
    try:
        PyObject_GetBuffer(b, &vb, PyBUF_SIMPLE)
        try:
            n = va.len
            if vb.len != n:
                raise KeyLengthError(f"keys differ in length: {n} and {vb.len}")
            pa = <const uint8_t*>va.buf
            pb = <const uint8_t*>vb.buf
            for i in range(n):
                x = pa[i] ^ pb[i]
                if x:
                    return i * 8 + __builtin_clz(x) - 24
            return n * 8
        finally:
            PyBuffer_Release(&vb)
    finally:
        PyBuffer_Release(&va)


def sort_by_distance(target, keys, limit=None):
    """Indices of ``keys`` ordered by XOR distance to ``target``, closest first (stable).

    With ``limit``, only the first ``limit`` indices are returned.
    """
    global _sort_key_len
    cdef Py_buffer vt, vk
    cdef Py_ssize_t n, count, i, j, lim
    cdef uint8_t* dists = NULL
    cdef _DistEntry* entries = NULL
    cdef const uint8_t* pt
    cdef const uint8_t* pk
    cdef uint8_t* d
    cdef list out
    if limit is not None and limit < 0:
        raise LocalProtocolError(f"negative limit {limit}")
    keys = keys if isinstance(keys, (list, tuple)) else list(keys)
    count = len(keys)
    PyObject_GetBuffer(target, &vt, PyBUF_SIMPLE)
    try:
        n = vt.len
        pt = <const uint8_t*>vt.buf
        dists = <uint8_t*>malloc(count * n + 1)
        entries = <_DistEntry*>malloc(count * sizeof(_DistEntry) + 1)
        if dists == NULL or entries == NULL:
            raise MemoryError()
        for i in range(count):
            PyObject_GetBuffer(keys[i], &vk, PyBUF_SIMPLE)
            try:
                if vk.len != n:
                    raise KeyLengthError(f"key of {vk.len} bytes compared with a {n}-byte target")
                pk = <const uint8_t*>vk.buf
                d = dists + i * n
                for j in range(n):
                    d[j] = pk[j] ^ pt[j]
            finally:
                PyBuffer_Release(&vk)
            entries[i].index = i
            entries[i].dist = d
            entries[i].head = _head(d, n)
        # The comparator reads the key length from a module global: safe, since the GIL is held.
        _sort_key_len = n
        qsort(entries, count, sizeof(_DistEntry), _cmp_entries)
        lim = count if limit is None else min(<Py_ssize_t>limit, count)
        out = [entries[i].index for i in range(lim)]
        return out
    finally:
        free(dists)
        free(entries)
        PyBuffer_Release(&vt)
