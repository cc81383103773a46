# The received noise-libp2p handshake payload in one call: twin of libp2p/_pure/noise_payload.py
# (read its docstring for the decoding rules; both twins follow them to the byte).
#
# The NoiseHandshakePayload protobuf is walked in C over the caller's buffer, and an Ed25519
# identity signature is checked by libsodium's crypto_sign_open (what PyNaCl's VerifyKey.verify
# calls, so the same signatures pass) through PyNaCl's cffi function pointer, with the signed
# message assembled on the stack: no protobuf object, key object or Python frame per handshake.

from cpython.unicode cimport PyUnicode_DecodeUTF8

from libp2p.security.noise.errors import (
    InvalidHandshakePayloadError as _NPPayloadError,
    InvalidHandshakeSignatureError as _NPSignatureError,
)

ED25519_PUBLIC_KEY_PREFIX = b"\x08\x01\x12\x20"

ctypedef int (*_np_sign_open_fn)(
    unsigned char* m, unsigned long long* mlen_p, const unsigned char* sm, unsigned long long smlen,
    const unsigned char* pk) noexcept nogil

cdef _np_sign_open_fn _np_sign_open = NULL

cdef enum:
    _NP_SIG = 64
    _NP_ED25519_PB = 36
    _NP_MAX_GROUP_DEPTH = 32
    # signed messages up to this size are assembled on the stack
    _NP_STACK_SIGNED = 512

# "noise-libp2p-static-key:" (24 bytes), then the 32-byte static key
cdef bytes _NP_DOMAIN = b"noise-libp2p-static-key:"


cdef int _np_load_sodium() except -1:
    """PyNaCl's crypto_sign_open (PyNaCl is a dependency); looked up at the first verification."""
    global _np_sign_open
    import nacl.bindings  # runs sodium_init()
    from nacl._sodium import ffi, lib

    if lib.crypto_sign_bytes() != _NP_SIG or lib.crypto_sign_publickeybytes() != 32:
        raise ImportError("PyNaCl's libsodium has unexpected Ed25519 sizes")
    _np_sign_open = <_np_sign_open_fn><size_t>int(ffi.cast("uintptr_t", ffi.addressof(lib, "crypto_sign_open")))
    return 0


cdef bint _np_verify(const unsigned char* pk, const unsigned char* msg, Py_ssize_t mlen,
                     const unsigned char* sig) except -1:
    """libsodium's Ed25519 check of a 64-byte signature over msg[0:mlen]."""
    cdef unsigned char small[_NP_SIG + _NP_STACK_SIGNED]
    cdef unsigned char* signed_msg = small
    cdef int rc
    if _np_sign_open == NULL:
        _np_load_sodium()
    if mlen > _NP_STACK_SIGNED:
        signed_msg = <unsigned char*>malloc(_NP_SIG + mlen)
        if signed_msg == NULL:
            raise MemoryError()
    memcpy(signed_msg, sig, _NP_SIG)
    if mlen:
        memcpy(signed_msg + _NP_SIG, msg, mlen)
    # m = NULL: libsodium checks without copying the message out
    rc = _np_sign_open(NULL, NULL, signed_msg, _NP_SIG + mlen, pk)
    if signed_msg != small:
        free(signed_msg)
    return rc == 0


def ed25519_verify(public_key, message, signature):
    """True iff ``signature`` is ``public_key``'s Ed25519 signature of ``message``; never raises
    for bad input (a key that is not 32 bytes or a signature that is not 64 verify nothing)."""
    cdef Py_buffer pk, msg, sig
    cdef bint ok = False
    PyObject_GetBuffer(public_key, &pk, PyBUF_SIMPLE)
    try:
        PyObject_GetBuffer(signature, &sig, PyBUF_SIMPLE)
        try:
            PyObject_GetBuffer(message, &msg, PyBUF_SIMPLE)
            try:
                if pk.len == 32 and sig.len == _NP_SIG:
                    ok = _np_verify(<const unsigned char*>pk.buf, <const unsigned char*>msg.buf, msg.len,
                                    <const unsigned char*>sig.buf)
            finally:
                PyBuffer_Release(&msg)
        finally:
            PyBuffer_Release(&sig)
    finally:
        PyBuffer_Release(&pk)
    return ok


cdef inline object _np_malformed(str what):
    return _NPPayloadError(f"malformed NoiseHandshakePayload: {what}")


cdef Py_ssize_t _np_varint(const unsigned char* p, Py_ssize_t pos, Py_ssize_t end, uint64_t* out) except -1:
    """Decode a varint of at most 10 bytes at p[pos]; the position after it."""
    cdef uint64_t value = 0
    cdef int shift = 0
    cdef unsigned char byte
    while True:
        if pos >= end:
            raise _np_malformed("truncated varint")
        if shift >= 70:
            raise _np_malformed("varint longer than 10 bytes")
        byte = p[pos]
        pos += 1
        if shift == 63 and byte > 1:
            raise _np_malformed("varint overflows 64 bits")
        value |= (<uint64_t>(byte & 0x7F)) << shift
        if byte < 0x80:
            out[0] = value
            return pos
        shift += 7


cdef Py_ssize_t _np_tag(const unsigned char* p, Py_ssize_t pos, Py_ssize_t end, uint64_t* field,
                        int* wire_type) except -1:
    cdef uint64_t tag
    pos = _np_varint(p, pos, end, &tag)
    if tag > 0xFFFFFFFF or (tag >> 3) == 0:
        raise _np_malformed(f"invalid tag {tag}")
    field[0] = tag >> 3
    wire_type[0] = <int>(tag & 7)
    return pos


cdef Py_ssize_t _np_length(const unsigned char* p, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t* start) except -1:
    """A length-delimited value whose length varint starts at pos: its start, and its end returned."""
    cdef uint64_t length
    pos = _np_varint(p, pos, end, &length)
    if length > <uint64_t>(end - pos):
        raise _np_malformed("field length past the end of the message")
    start[0] = pos
    return pos + <Py_ssize_t>length


cdef Py_ssize_t _np_skip(const unsigned char* p, Py_ssize_t pos, Py_ssize_t end, uint64_t field,
                         int wire_type, int depth) except -1:
    """Skip the value of an unknown field; the position after it."""
    cdef uint64_t ignored, inner
    cdef int inner_type
    cdef Py_ssize_t start
    if wire_type == 0:
        return _np_varint(p, pos, end, &ignored)
    if wire_type == 2:
        return _np_length(p, pos, end, &start)
    if wire_type == 1 or wire_type == 5:
        start = 8 if wire_type == 1 else 4
        if start > end - pos:
            raise _np_malformed("truncated fixed-size field")
        return pos + start
    if wire_type == 3:
        if depth >= _NP_MAX_GROUP_DEPTH:
            raise _np_malformed("groups nested too deep")
        while True:
            pos = _np_tag(p, pos, end, &inner, &inner_type)
            if inner_type == 4:
                if inner != field:
                    raise _np_malformed("end-group tag of another group")
                return pos
            pos = _np_skip(p, pos, end, inner, inner_type, depth + 1)
    raise _np_malformed(f"wire type {wire_type}")  # 4 (an end-group tag outside its group), 6, 7


cdef int _np_muxers_into(list muxers, const unsigned char* p, Py_ssize_t pos, Py_ssize_t end) except -1:
    """The stream_muxers of one NoiseExtensions message in p[pos:end]."""
    cdef uint64_t field
    cdef int wire_type
    cdef Py_ssize_t start
    while pos < end:
        pos = _np_tag(p, pos, end, &field, &wire_type)
        if field == 2 and wire_type == 2:
            pos = _np_length(p, pos, end, &start)
            try:
                muxers.append(PyUnicode_DecodeUTF8(<const char*>(p + start), pos - start, NULL))
            except UnicodeDecodeError:
                raise _NPPayloadError("NoiseHandshakePayload lists a stream muxer id that is not UTF-8") from None
        else:
            pos = _np_skip(p, pos, end, field, wire_type, 0)
    return 0


def noise_verify_payload(payload, remote_static):
    """Decode a received ``NoiseHandshakePayload``; verify its signature when the key is Ed25519.

    Returns ``(identity_key, identity_sig, stream_muxers, verified)``; see the pure twin.
    """
    cdef Py_buffer view, rs
    cdef const unsigned char* p
    cdef Py_ssize_t pos = 0, end, start
    cdef Py_ssize_t key_at = -1, key_len = 0, sig_at = -1, sig_len = 0
    cdef uint64_t field
    cdef int wire_type
    cdef list muxers = []
    cdef bytes key, sig
    cdef unsigned char signed_msg[56]
    PyObject_GetBuffer(remote_static, &rs, PyBUF_SIMPLE)
    try:
        if rs.len != 32:
            raise LocalProtocolError(f"the remote static key must be 32 bytes, not {rs.len}")
        memcpy(signed_msg, PyBytes_AS_STRING(_NP_DOMAIN), 24)
        memcpy(signed_msg + 24, rs.buf, 32)
    finally:
        PyBuffer_Release(&rs)
    PyObject_GetBuffer(payload, &view, PyBUF_SIMPLE)
    try:
        p = <const unsigned char*>view.buf
        end = view.len
        while pos < end:
            pos = _np_tag(p, pos, end, &field, &wire_type)
            if wire_type == 2 and (field == 1 or field == 2 or field == 4):
                pos = _np_length(p, pos, end, &start)
                if field == 1:
                    key_at = start
                    key_len = pos - start
                elif field == 2:
                    sig_at = start
                    sig_len = pos - start
                else:
                    _np_muxers_into(muxers, p, start, pos)
            else:
                pos = _np_skip(p, pos, end, field, wire_type, 0)
        if key_at < 0 or sig_at < 0:
            raise _NPPayloadError("NoiseHandshakePayload lacks identity_key or identity_sig")
        key = PyBytes_FromStringAndSize(<const char*>(p + key_at), key_len)
        sig = PyBytes_FromStringAndSize(<const char*>(p + sig_at), sig_len)
    finally:
        PyBuffer_Release(&view)
    if key_len != _NP_ED25519_PB or memcmp(PyBytes_AS_STRING(key), PyBytes_AS_STRING(ED25519_PUBLIC_KEY_PREFIX), 4) != 0:
        return key, sig, tuple(muxers), False
    # The signature must cover the static key this very handshake delivered.
    if sig_len != _NP_SIG or not _np_verify(<const unsigned char*>PyBytes_AS_STRING(key) + 4, signed_msg, 56,
                                            <const unsigned char*>PyBytes_AS_STRING(sig)):
        raise _NPSignatureError("identity signature does not cover the peer's Noise static key")
    return key, sig, tuple(muxers), True
