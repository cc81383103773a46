# Noise_XX_25519_ChaChaPoly_SHA256 handshake state: twin of libp2p/_pure/noise_xx.py.
#
# The handshake's symmetric state (ck, h, key, nonce) lives in C arrays, and every step (MixHash,
# MixKey's HKDF, EncryptAndHash, DecryptAndHash, the three DH and the ephemeral key) is one C
# call into PyNaCl's libsodium, reached through its cffi function pointers as noise.pxi does:
# the listener's XX messages cost no Python frame per Noise step. HMAC-SHA256 is built from
# libsodium's one-shot SHA-256 (PyNaCl exposes no HMAC-SHA256 with arbitrary messages); every
# HMAC key in Noise is a 32-byte chaining key, so the blocks fit on the stack.

from libc.stdlib cimport malloc as _xx_malloc, free as _xx_free

from os import urandom as _xx_urandom

from libp2p.security.noise.errors import (
    HandshakeDecryptError as _XXDecryptError,
    InvalidHandshakeMessageError as _XXInvalidMessage,
    NoiseStateError as _XXStateError,
)

ctypedef int (*_xx_aead_enc_fn)(
    unsigned char* c, unsigned long long* clen_p, const unsigned char* m, unsigned long long mlen,
    const unsigned char* ad, unsigned long long adlen, const unsigned char* nsec,
    const unsigned char* npub, const unsigned char* k) noexcept nogil
ctypedef int (*_xx_aead_dec_fn)(
    unsigned char* m, unsigned long long* mlen_p, unsigned char* nsec, const unsigned char* c,
    unsigned long long clen, const unsigned char* ad, unsigned long long adlen,
    const unsigned char* npub, const unsigned char* k) noexcept nogil
ctypedef int (*_xx_sha256_fn)(unsigned char* out, const unsigned char* m, unsigned long long mlen) noexcept nogil
ctypedef int (*_xx_scalarmult_fn)(unsigned char* q, const unsigned char* n, const unsigned char* p) noexcept nogil
ctypedef int (*_xx_scalarmult_base_fn)(unsigned char* q, const unsigned char* n) noexcept nogil

cdef _xx_aead_enc_fn _xx_aead_enc = NULL
cdef _xx_aead_dec_fn _xx_aead_dec = NULL
cdef _xx_sha256_fn _xx_sha256 = NULL
cdef _xx_scalarmult_fn _xx_dh = NULL
cdef _xx_scalarmult_base_fn _xx_dh_base = NULL

cdef enum:
    _XX_KEY = 32
    _XX_TAG = 16
    _XX_BLOCK = 64
    # mix_hash inputs up to this size are hashed from a stack buffer
    _XX_STACK_HASH = 512

# "Noise_XX_25519_ChaChaPoly_SHA256" is exactly 32 bytes: h and ck start as the name itself.
cdef bytes _XX_PROTOCOL_NAME = b"Noise_XX_25519_ChaChaPoly_SHA256"


cdef int _xx_load_sodium() except -1:
    """PyNaCl's libsodium functions (PyNaCl is a dependency); done at the first handshake."""
    global _xx_aead_enc, _xx_aead_dec, _xx_sha256, _xx_dh, _xx_dh_base
    import nacl.bindings  # runs sodium_init()
    from nacl._sodium import ffi, lib

    if (lib.crypto_aead_chacha20poly1305_ietf_npubbytes() != 12 or lib.crypto_aead_chacha20poly1305_ietf_abytes() != 16
            or lib.crypto_scalarmult_bytes() != 32 or lib.crypto_hash_sha256_bytes() != 32):
        raise ImportError("PyNaCl's libsodium has unexpected Noise primitive sizes")
    _xx_aead_enc = <_xx_aead_enc_fn><size_t>int(ffi.cast("uintptr_t", ffi.addressof(lib, "crypto_aead_chacha20poly1305_ietf_encrypt")))
    _xx_aead_dec = <_xx_aead_dec_fn><size_t>int(ffi.cast("uintptr_t", ffi.addressof(lib, "crypto_aead_chacha20poly1305_ietf_decrypt")))
    if _sha_ni_usable():  # sha256.pxi: the CPU's SHA extensions, same digests
        _xx_sha256 = libp2p_sha256_ni
    else:
        _xx_sha256 = <_xx_sha256_fn><size_t>int(ffi.cast("uintptr_t", ffi.addressof(lib, "crypto_hash_sha256")))
    _xx_dh = <_xx_scalarmult_fn><size_t>int(ffi.cast("uintptr_t", ffi.addressof(lib, "crypto_scalarmult")))
    _xx_dh_base = <_xx_scalarmult_base_fn><size_t>int(ffi.cast("uintptr_t", ffi.addressof(lib, "crypto_scalarmult_base")))
    return 0


cdef void _xx_hmac(const unsigned char* key, const unsigned char* msg, Py_ssize_t mlen,
                   unsigned char* out) noexcept nogil:
    """HMAC-SHA256 with a 32-byte key and a message of at most 64 bytes."""
    cdef unsigned char block[_XX_BLOCK + _XX_BLOCK]
    cdef int i
    for i in range(_XX_BLOCK):
        block[i] = (key[i] if i < _XX_KEY else 0) ^ 0x36
    if mlen:
        memcpy(block + _XX_BLOCK, msg, mlen)
    _xx_sha256(out, block, _XX_BLOCK + mlen)
    memcpy(block + _XX_BLOCK, out, 32)
    for i in range(_XX_BLOCK):
        block[i] = (key[i] if i < _XX_KEY else 0) ^ 0x5c
    _xx_sha256(out, block, _XX_BLOCK + 32)


cdef void _xx_hkdf2(const unsigned char* ck, const unsigned char* ikm, Py_ssize_t ikm_len,
                    unsigned char* out1, unsigned char* out2) noexcept nogil:
    """Noise's HKDF with two outputs (ikm is 0 or 32 bytes)."""
    cdef unsigned char temp[32]
    cdef unsigned char msg[33]
    _xx_hmac(ck, ikm, ikm_len, temp)
    msg[0] = 1
    _xx_hmac(temp, msg, 1, out1)
    memcpy(msg, out1, 32)
    msg[32] = 2
    _xx_hmac(temp, msg, 33, out2)


cdef int _xx_key_into(unsigned char* dst, key, str what) except -1:
    cdef Py_buffer view
    PyObject_GetBuffer(key, &view, PyBUF_SIMPLE)
    try:
        if view.len != 32:
            raise LocalProtocolError(f"the {what} X25519 key must be 32 bytes, not {view.len}")
        memcpy(dst, view.buf, 32)
    finally:
        PyBuffer_Release(&view)
    return 0


cdef inline void _xx_nonce_into(unsigned char* buf, uint64_t n) noexcept nogil:
    # 4 zero bytes, then the counter little-endian
    cdef int i
    buf[0] = 0
    buf[1] = 0
    buf[2] = 0
    buf[3] = 0
    for i in range(8):
        buf[4 + i] = <unsigned char>((n >> (8 * i)) & 0xFF)


cdef class NoiseXX:
    """XX HandshakeState; ``write_message``/``read_message`` take turns.

    ``s``/``s_pub``: our static key pair (32 bytes each); ``e``: our ephemeral private key, or
    None to make a fresh one when message 1 or 2 is written. After the third message ``complete``
    is true and ``split()`` gives the transport keys.
    """

    cdef unsigned char _ck[32]
    cdef unsigned char _h[32]
    cdef unsigned char _k[32]
    cdef unsigned char _s[32]
    cdef unsigned char _s_pub[32]
    cdef unsigned char _e[32]
    cdef unsigned char _re[32]
    cdef unsigned char _rs[32]
    cdef bint _has_k, _has_e, _has_re, _has_rs
    cdef uint64_t _n
    cdef int _index
    cdef readonly bint initiator

    def __init__(self, initiator, s, s_pub, e=None, prologue=b""):
        cdef Py_buffer view
        if _xx_sha256 == NULL:
            _xx_load_sodium()
        self.initiator = bool(initiator)
        _xx_key_into(self._s, s, "static private")
        _xx_key_into(self._s_pub, s_pub, "static public")
        self._has_e = e is not None
        if self._has_e:
            _xx_key_into(self._e, e, "ephemeral private")
        self._has_k = self._has_re = self._has_rs = False
        self._n = 0
        self._index = 0
        memcpy(self._ck, PyBytes_AS_STRING(_XX_PROTOCOL_NAME), 32)
        memcpy(self._h, self._ck, 32)
        PyObject_GetBuffer(prologue, &view, PyBUF_SIMPLE)
        try:
            self._mix_hash(<const unsigned char*>view.buf, view.len)
        finally:
            PyBuffer_Release(&view)

    @property
    def static_public_key(self):
        return PyBytes_FromStringAndSize(<char*>self._s_pub, 32)

    @property
    def handshake_hash(self):
        return PyBytes_FromStringAndSize(<char*>self._h, 32)

    @property
    def complete(self):
        return self._index >= 3

    @property
    def message_index(self):
        """0, 1 or 2: the next message; 3 when complete."""
        return self._index

    @property
    def re(self):
        return PyBytes_FromStringAndSize(<char*>self._re, 32) if self._has_re else None

    @property
    def rs(self):
        return PyBytes_FromStringAndSize(<char*>self._rs, 32) if self._has_rs else None

    def is_my_turn(self):
        return self._my_turn()

    cdef inline bint _my_turn(self) noexcept:
        return self._index < 3 and ((self._index % 2 == 0) == self.initiator)

    # -- SymmetricState ---------------------------------------------------------------------

    cdef int _mix_hash(self, const unsigned char* data, Py_ssize_t size) except -1:
        cdef unsigned char small[32 + _XX_STACK_HASH]
        cdef unsigned char* buf = small
        if size > _XX_STACK_HASH:
            buf = <unsigned char*>_xx_malloc(32 + size)
            if buf == NULL:
                raise MemoryError()
        memcpy(buf, self._h, 32)
        memcpy(buf + 32, data, size)
        _xx_sha256(self._h, buf, 32 + size)
        if buf != small:
            _xx_free(buf)
        return 0

    cdef void _mix_key(self, const unsigned char* ikm) noexcept:
        cdef unsigned char ck[32]
        _xx_hkdf2(self._ck, ikm, 32, ck, self._k)
        memcpy(self._ck, ck, 32)
        self._has_k = True
        self._n = 0

    cdef bytes _encrypt_and_hash(self, const unsigned char* data, Py_ssize_t size):
        cdef bytes out
        cdef unsigned char* out_p
        cdef unsigned char nonce[12]
        cdef unsigned long long written
        if not self._has_k:
            out = PyBytes_FromStringAndSize(<const char*>data, size)
        else:  # n stays below 2 in a handshake: no exhaustion check needed
            out = PyBytes_FromStringAndSize(NULL, size + _XX_TAG)
            out_p = <unsigned char*>PyBytes_AS_STRING(out)
            _xx_nonce_into(nonce, self._n)
            _xx_aead_enc(out_p, &written, data, size, self._h, 32, NULL, nonce, self._k)
            self._n += 1
        self._mix_hash(<const unsigned char*>PyBytes_AS_STRING(out), PyBytes_GET_SIZE(out))
        return out

    cdef bytes _decrypt_and_hash(self, const unsigned char* data, Py_ssize_t size):
        cdef bytes out
        cdef unsigned char nonce[12]
        cdef unsigned long long written
        if not self._has_k:
            out = PyBytes_FromStringAndSize(<const char*>data, size)
        else:  # the caller checked size >= the tag
            out = PyBytes_FromStringAndSize(NULL, size - _XX_TAG)
            _xx_nonce_into(nonce, self._n)
            if _xx_aead_dec(<unsigned char*>PyBytes_AS_STRING(out), &written, NULL, data, size,
                            self._h, 32, nonce, self._k) != 0:
                raise _XXDecryptError("handshake message failed authentication")
            self._n += 1
        self._mix_hash(data, size)
        return out

    cdef int _dh_into(self, const unsigned char* mine, const unsigned char* theirs) except -1:
        cdef unsigned char shared[32]
        if _xx_dh(shared, mine, theirs) != 0:
            # libsodium refuses low-order points (an all-zero shared secret).
            raise _XXInvalidMessage("the peer sent a low-order X25519 public key")
        self._mix_key(shared)
        return 0

    cdef int _token_dh(self, int token) except -1:
        # 1 = ee, 2 = es, 3 = se: the first letter is the initiator's key, the second the responder's.
        if token == 1:
            return self._dh_into(self._e, self._re)
        if (token == 2) == self.initiator:
            return self._dh_into(self._e, self._rs)
        return self._dh_into(self._s, self._re)

    cdef bytes _write_e(self):
        cdef unsigned char pub[32]
        if not self._has_e:
            _xx_key_into(self._e, _xx_urandom(32), "ephemeral private")
            self._has_e = True
        _xx_dh_base(pub, self._e)
        self._mix_hash(pub, 32)
        return PyBytes_FromStringAndSize(<char*>pub, 32)

    # -- messages ---------------------------------------------------------------------------

    def write_message(self, payload):
        cdef Py_buffer view
        PyObject_GetBuffer(payload, &view, PyBUF_SIMPLE)
        try:
            return self._write(<const unsigned char*>view.buf, view.len)
        finally:
            PyBuffer_Release(&view)

    cdef bytes _write(self, const unsigned char* payload, Py_ssize_t payload_len):
        # write_message on a payload in C memory (the inbound core calls it without a Python call)
        cdef list parts
        if not self._my_turn():
            raise _XXStateError("not our turn to write a handshake message")
        if self._index == 0:  # -> e
            parts = [self._write_e()]
        elif self._index == 1:  # <- e, ee, s, es
            parts = [self._write_e()]
            self._token_dh(1)
            parts.append(self._encrypt_and_hash(self._s_pub, 32))
            self._token_dh(2)
        else:  # -> s, se
            parts = [self._encrypt_and_hash(self._s_pub, 32)]
            self._token_dh(3)
        parts.append(self._encrypt_and_hash(payload, payload_len))
        self._index += 1
        return b"".join(parts)

    def read_message(self, message):
        """Process one message from the peer and return its payload."""
        cdef Py_buffer view
        PyObject_GetBuffer(message, &view, PyBUF_SIMPLE)
        try:
            return self._read(<const unsigned char*>view.buf, view.len)
        finally:
            PyBuffer_Release(&view)

    cdef bytes _read(self, const unsigned char* p, Py_ssize_t size):
        # read_message on a message in C memory (the inbound core calls it without a Python call)
        cdef bytes payload
        if self._index >= 3 or self._my_turn():
            raise _XXStateError("not the peer's turn to send a handshake message")
        if self._index == 0 or self._index == 1:  # e first
            if size < 32:
                raise _XXInvalidMessage("handshake message too short for an ephemeral key")
            memcpy(self._re, p, 32)
            self._has_re = True
            self._mix_hash(p, 32)
            p += 32
            size -= 32
        if self._index == 1:  # <- e, ee, s, es
            self._token_dh(1)
            self._read_s(&p, &size)
            self._token_dh(2)
        elif self._index == 2:  # -> s, se
            self._read_s(&p, &size)
            self._token_dh(3)
        if self._has_k and size < _XX_TAG:
            raise _XXInvalidMessage("handshake message too short for its payload tag")
        payload = self._decrypt_and_hash(p, size)
        self._index += 1
        return payload

    cdef int _read_s(self, const unsigned char** p, Py_ssize_t* size) except -1:
        cdef Py_ssize_t need = 32 + (_XX_TAG if self._has_k else 0)
        cdef bytes rs
        if size[0] < need:
            raise _XXInvalidMessage("handshake message too short for a static key")
        rs = self._decrypt_and_hash(p[0], need)
        memcpy(self._rs, PyBytes_AS_STRING(rs), 32)
        self._has_rs = True
        p[0] += need
        size[0] -= need
        return 0

    def split(self):
        """(initiator→responder key, responder→initiator key); only once complete."""
        cdef unsigned char k1[32]
        cdef unsigned char k2[32]
        self._split_into(k1, k2)
        return PyBytes_FromStringAndSize(<char*>k1, 32), PyBytes_FromStringAndSize(<char*>k2, 32)

    cdef int _split_into(self, unsigned char* k1, unsigned char* k2) except -1:
        if self._index < 3:
            raise _XXStateError("the handshake is not complete")
        _xx_hkdf2(self._ck, NULL, 0, k1, k2)
        return 0
