# Noise transport messages (ChaCha20-Poly1305, u16 framing): twin of libp2p/_pure/noise.py.
#
# Frame headers and nonces are built in C, and complete messages are not copied on receive.
# The AEAD: a message of up to _SODIUM_MAX plaintext bytes goes straight to libsodium's
# ChaCha20-Poly1305 (IETF) in C, with the nonce on the stack and no Python object per call
# (~0.6 us for a 31-byte message, against ~1.5 us through cryptography's Python API, most of
# it that API's per-call set-up). libsodium is PyNaCl's (already a dependency): its cffi module
# hands out C function pointers (``ffi.addressof``), so nothing new is linked at build time.
# Larger messages, or a PyNaCl without those functions, go through cryptography (OpenSSL's
# AVX-512 code is about twice as fast on 16-64 KiB messages). Both produce the same bytes.

from cpython.buffer cimport PyBUF_READ, PyBUF_WRITE
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.memoryview cimport PyMemoryView_FromMemory

from operator import index as _operator_index

from cryptography.exceptions import InvalidTag as _InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305 as _ChaCha20Poly1305

from libp2p.security.noise.errors import DecryptError, NoiseFrameTooLargeError, NonceExhaustedError

NOISE_MAX_MESSAGE_LEN = 65535
NOISE_TAG_LEN = 16
NOISE_MAX_PLAINTEXT_LEN = 65519

cdef enum:
    _NOISE_MAX_MSG = 65535
    _NOISE_TAG = 16
    _NOISE_MAX_PT = 65519

# Noise reserves nonce 2**64-1; reaching it ends the connection.
cdef uint64_t _NOISE_NONCE_LIMIT = 0xFFFFFFFFFFFFFFFF
cdef Py_ssize_t _NOISE_COMPACT_AT = 1 << 16


ctypedef int (*_aead_encrypt_fn)(
    unsigned char* c, unsigned long long* clen_p, const unsigned char* m, unsigned long long mlen,
    const unsigned char* ad, unsigned long long adlen, const unsigned char* nsec,
    const unsigned char* npub, const unsigned char* k) noexcept nogil
ctypedef int (*_aead_decrypt_fn)(
    unsigned char* m, unsigned long long* mlen_p, unsigned char* nsec, const unsigned char* c,
    unsigned long long clen, const unsigned char* ad, unsigned long long adlen,
    const unsigned char* npub, const unsigned char* k) noexcept nogil

cdef _aead_encrypt_fn _sodium_encrypt = NULL
cdef _aead_decrypt_fn _sodium_decrypt = NULL
# Above this many plaintext bytes OpenSSL (through cryptography) is faster than libsodium here
# (benchmarks/suites/_aead_sizes.py measures the crossover).
cdef Py_ssize_t _SODIUM_MAX = 2048


cdef bint _sodium_looked_up = False


cdef bint _load_sodium():
    """Point the small-message AEAD at PyNaCl's libsodium; False leaves cryptography for all.
    Done at the first cipher, not at import: ``libp2p --version`` must not import PyNaCl."""
    global _sodium_encrypt, _sodium_decrypt, _sodium_looked_up
    _sodium_looked_up = True
    try:
        import nacl.bindings  # runs sodium_init(): libsodium picks its CPU-specific code
        from nacl._sodium import ffi, lib

        enc = int(ffi.cast("uintptr_t", ffi.addressof(lib, "crypto_aead_chacha20poly1305_ietf_encrypt")))
        dec = int(ffi.cast("uintptr_t", ffi.addressof(lib, "crypto_aead_chacha20poly1305_ietf_decrypt")))
        if lib.crypto_aead_chacha20poly1305_ietf_npubbytes() != 12 or lib.crypto_aead_chacha20poly1305_ietf_abytes() != 16:
            return False
    except (ImportError, AttributeError, TypeError):
        return False
    _sodium_encrypt = <_aead_encrypt_fn><size_t>enc
    _sodium_decrypt = <_aead_decrypt_fn><size_t>dec
    return True


def _noise_sodium_available():
    """Whether small messages go to libsodium directly (not part of the twin contract)."""
    if not _sodium_looked_up:
        _load_sodium()
    return _sodium_encrypt != NULL


def _noise_set_sodium_max(Py_ssize_t n):
    """Set the largest plaintext that goes to libsodium (-1: none); returns the old value.
    For tests, which compare both AEAD paths, and benchmarks/suites/_aead_sizes.py."""
    global _SODIUM_MAX
    old = _SODIUM_MAX
    _SODIUM_MAX = n
    return old


cdef inline void _noise_nonce_into(unsigned char* buf, uint64_t n) noexcept nogil:
    cdef int i
    buf[0] = 0
    buf[1] = 0
    buf[2] = 0
    buf[3] = 0
    for i in range(8):
        buf[4 + i] = <unsigned char>((n >> (8 * i)) & 0xFF)


cdef int _noise_key_into(unsigned char* dst, key) except -1:
    cdef Py_buffer view
    PyObject_GetBuffer(key, &view, PyBUF_SIMPLE)
    try:
        if view.len != 32:
            raise InvalidArgumentError(f"a Noise transport key is 32 bytes, not {view.len}")
        memcpy(dst, view.buf, 32)
    finally:
        PyBuffer_Release(&view)
    return 0


cdef inline bytes _noise_nonce(uint64_t n):
    # 4 zero bytes, then the counter little-endian (byte by byte: host order independent).
    cdef char buf[12]
    cdef int i
    buf[0] = 0
    buf[1] = 0
    buf[2] = 0
    buf[3] = 0
    for i in range(8):
        buf[4 + i] = <char>((n >> (8 * i)) & 0xFF)
    return PyBytes_FromStringAndSize(buf, 12)


cdef object _noise_aead(key):
    if len(key) != 32:
        raise InvalidArgumentError(f"a Noise transport key is 32 bytes, not {len(key)}")
    return _ChaCha20Poly1305(bytes(key))


cdef uint64_t _noise_check_nonce(nonce) except? 0xFFFFFFFFFFFFFFFF:
    nonce = _operator_index(nonce)
    if not 0 <= nonce < 0xFFFFFFFFFFFFFFFF:
        raise NonceExhaustedError(f"nonce {nonce} is outside 0..2**64-2")
    return <uint64_t>nonce


cdef class NoiseEncryptor:
    """The sending half: plaintext in, framed Noise transport messages out.

    ``max_plaintext`` (1..65519) caps the plaintext per message; the default fills messages
    to the spec's limit. (It is a knob because the AEAD's speed depends on the message size:
    with OpenSSL 4 on AVX-512 a 65408-byte message encrypts ~30% faster than a 65519-byte one.)
    """

    cdef object _encrypt_into
    cdef uint64_t _n
    cdef Py_ssize_t _chunk
    cdef unsigned char _key[32]

    def __init__(self, key, nonce=0, max_plaintext=NOISE_MAX_PLAINTEXT_LEN):
        if not 1 <= max_plaintext <= _NOISE_MAX_PT:
            raise InvalidArgumentError(f"max_plaintext must be 1..{_NOISE_MAX_PT}, not {max_plaintext}")
        # OpenSSL's AEAD object is made at the first message libsodium does not take (bulk):
        # small-message connections never need it (~12 us per cipher at set-up).
        self._encrypt_into = None
        _noise_key_into(self._key, key)
        if not _sodium_looked_up:
            _load_sodium()
        self._n = _noise_check_nonce(nonce)
        self._chunk = max_plaintext

    @property
    def nonce(self):
        """The nonce the next message will use (= messages sent so far)."""
        return self._n

    @property
    def max_plaintext(self):
        return self._chunk

    def encrypt(self, data):
        """Encrypt ``data`` into as many framed messages as it needs, concatenated.

        Empty ``data`` gives one empty message (legal on the wire). Callers that queue many
        small writes should join them and call this once: one AEAD call per message.
        """
        cdef Py_buffer view
        cdef Py_ssize_t size, count, total, start, chunk, pos
        cdef Py_ssize_t step = self._chunk
        cdef uint64_t n = self._n
        cdef char* out_p
        cdef bytes out
        cdef unsigned char nonce_buf[12]
        cdef unsigned long long written
        encrypt_into = self._encrypt_into
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            size = view.len
            count = (size + step - 1) // step
            if count == 0:
                count = 1
            if <uint64_t>count > _NOISE_NONCE_LIMIT - n:
                raise NonceExhaustedError("the send nonce would reach 2**64-1; the connection must end")
            total = size + count * (2 + _NOISE_TAG)
            # Written in place: the bytes object is new and unshared until we return it.
            out = PyBytes_FromStringAndSize(NULL, total)
            out_p = PyBytes_AS_STRING(out)
            pos = 0
            start = 0
            while True:
                chunk = size - start
                if chunk > step:
                    chunk = step
                out_p[pos] = <char>((chunk + _NOISE_TAG) >> 8)
                out_p[pos + 1] = <char>((chunk + _NOISE_TAG) & 0xFF)
                if chunk <= _SODIUM_MAX and _sodium_encrypt != NULL:
                    _noise_nonce_into(nonce_buf, n)
                    _sodium_encrypt(
                        <unsigned char*>out_p + pos + 2, &written,
                        <const unsigned char*>view.buf + start, chunk, NULL, 0, NULL, nonce_buf, self._key,
                    )
                else:
                    if encrypt_into is None:
                        encrypt_into = self._encrypt_into = _noise_aead(
                            PyBytes_FromStringAndSize(<char*>self._key, 32)).encrypt_into
                    encrypt_into(
                        _noise_nonce(n),
                        PyMemoryView_FromMemory(<char*>view.buf + start, chunk, PyBUF_READ),
                        None,
                        PyMemoryView_FromMemory(out_p + pos + 2, chunk + _NOISE_TAG, PyBUF_WRITE),
                    )
                n += 1
                pos += 2 + chunk + _NOISE_TAG
                start += chunk
                if start >= size:
                    break
        finally:
            PyBuffer_Release(&view)
        self._n = n
        return out


cdef class NoiseDecryptor:
    """The receiving half: framed Noise transport messages in (any split), plaintexts out.

    Two ways to use it: ``decrypt(data)`` decrypts the complete messages in ``data`` where they
    lie and keeps only an unfinished tail (the hot path); ``feed(data)`` then
    ``next_plaintext()`` / ``decrypt_available()`` buffer everything first. A declared length
    above ``max_frame`` raises ``NoiseFrameTooLargeError`` as soon as the prefix is complete; a
    message that fails authentication raises ``DecryptError``, after which the decryptor is
    unusable (its nonce no longer matches the peer's).
    """

    cdef object _decrypt
    cdef uint64_t _n
    cdef Py_ssize_t _max
    cdef bytearray _buf
    cdef Py_ssize_t _pos
    cdef bint _failed
    cdef unsigned char _key[32]

    def __init__(self, key, nonce=0, max_frame=NOISE_MAX_MESSAGE_LEN):
        if not _NOISE_TAG <= max_frame <= _NOISE_MAX_MSG:
            raise InvalidArgumentError(f"max_frame must be {_NOISE_TAG}..{_NOISE_MAX_MSG}, not {max_frame}")
        self._decrypt = None  # made at the first message libsodium does not take, as above
        _noise_key_into(self._key, key)
        if not _sodium_looked_up:
            _load_sodium()
        self._n = _noise_check_nonce(nonce)
        self._max = max_frame
        self._buf = bytearray()
        self._pos = 0
        self._failed = False

    @property
    def nonce(self):
        """The nonce the next message must have been sent with (= messages received so far)."""
        return self._n

    @property
    def max_frame(self):
        return self._max

    @property
    def buffered(self):
        """Bytes received but not yet decrypted (an unfinished message)."""
        return PyByteArray_GET_SIZE(self._buf) - self._pos

    cdef bytes _open(self, char* p, Py_ssize_t length):
        # One message at p[0:length], already length-checked: authenticate and decrypt it.
        cdef uint64_t n = self._n
        cdef unsigned char nonce_buf[12]
        cdef unsigned long long written
        cdef bytes out
        if n >= _NOISE_NONCE_LIMIT:
            self._failed = True
            raise NonceExhaustedError("the receive nonce reached 2**64-1; the connection must end")
        if length - _NOISE_TAG <= _SODIUM_MAX and _sodium_decrypt != NULL:
            _noise_nonce_into(nonce_buf, n)
            out = PyBytes_FromStringAndSize(NULL, length - _NOISE_TAG)
            # libsodium checks the tag (in constant time) before it writes any plaintext.
            if _sodium_decrypt(
                <unsigned char*>PyBytes_AS_STRING(out), &written, NULL,
                <const unsigned char*>p, length, NULL, 0, nonce_buf, self._key,
            ) != 0:
                self._failed = True
                raise DecryptError(f"Noise message {n} failed authentication")
            self._n = n + 1
            return out
        if self._decrypt is None:
            self._decrypt = _noise_aead(PyBytes_FromStringAndSize(<char*>self._key, 32)).decrypt
        try:
            plaintext = self._decrypt(_noise_nonce(n), PyMemoryView_FromMemory(p, length, PyBUF_READ), None)
        except _InvalidTag:
            self._failed = True
            raise DecryptError(f"Noise message {n} failed authentication") from None
        self._n = n + 1
        return plaintext

    cdef int _check_length(self, Py_ssize_t length) except -1:
        if length > self._max:
            self._failed = True
            raise NoiseFrameTooLargeError(f"Noise message of {length} bytes exceeds the {self._max}-byte limit")
        if length < _NOISE_TAG:
            self._failed = True
            raise DecryptError(f"Noise message of {length} bytes is shorter than its 16-byte tag")
        return 0

    cdef int _check_usable(self) except -1:
        if self._failed:
            raise DecryptError("the decryptor failed earlier; the connection must be closed")
        return 0

    def feed(self, data):
        """Buffer received bytes (copied) for ``next_plaintext()`` / ``decrypt_available()``."""
        self._check_usable()
        if self._pos >= _NOISE_COMPACT_AT:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    cdef object _next(self):
        cdef Py_ssize_t n = PyByteArray_GET_SIZE(self._buf)
        cdef char* p = PyByteArray_AS_STRING(self._buf)
        cdef Py_ssize_t pos = self._pos
        cdef Py_ssize_t length, end
        if n - pos < 2:
            return None
        length = ((<uint8_t>p[pos]) << 8) | (<uint8_t>p[pos + 1])
        self._check_length(length)
        end = pos + 2 + length
        if end > n:
            return None
        # The buffer is not resized while the AEAD reads from it.
        plaintext = self._open(p + pos + 2, length)
        if end == n:
            del self._buf[:]
            self._pos = 0
        else:
            self._pos = end
        return plaintext

    def next_plaintext(self):
        """The plaintext of the next complete buffered message, or ``None``."""
        self._check_usable()
        return self._next()

    def decrypt_available(self):
        """The plaintexts of every complete buffered message."""
        cdef list out = []
        self._check_usable()
        while True:
            plaintext = self._next()
            if plaintext is None:
                return out
            out.append(plaintext)

    def decrypt(self, data):
        """Decrypt the messages completed by ``data``; only an unfinished tail is copied.

        ``data`` is read only during the call, so a reused receive buffer is safe.
        """
        cdef Py_buffer view
        cdef list out = []
        cdef const uint8_t* p
        cdef Py_ssize_t size, pos, length, end
        self._check_usable()
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            p = <const uint8_t*>view.buf
            size = view.len
            pos = 0
            if PyByteArray_GET_SIZE(self._buf) > self._pos:
                pos = self._complete_pending(p, size, out)
                if pos < 0:
                    return out
            while size - pos >= 2:
                length = (p[pos] << 8) | p[pos + 1]
                self._check_length(length)
                end = pos + 2 + length
                if end > size:
                    break
                out.append(self._open(<char*>p + pos + 2, length))
                pos = end
            if pos < size:
                self._buf += PyMemoryView_FromMemory(<char*>p + pos, size - pos, PyBUF_READ)
        finally:
            PyBuffer_Release(&view)
        return out

    cdef Py_ssize_t _complete_pending(self, const uint8_t* src, Py_ssize_t size, list out) except -2:
        # Returns how much of src was consumed, or -1 when src ran out first.
        cdef Py_ssize_t have, take, pos = 0, length, need
        cdef const uint8_t* b
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        have = PyByteArray_GET_SIZE(self._buf)
        if have < 2:
            take = 2 - have
            if take > size:
                take = size
            self._buf += PyMemoryView_FromMemory(<char*>src, take, PyBUF_READ)
            pos = take
            if have + take < 2:
                return -1
            have += take
        b = <const uint8_t*>PyByteArray_AS_STRING(self._buf)
        length = (b[0] << 8) | b[1]
        self._check_length(length)
        need = 2 + length - have
        if need > size - pos:
            self._buf += PyMemoryView_FromMemory(<char*>src + pos, size - pos, PyBUF_READ)
            return -1
        self._buf += PyMemoryView_FromMemory(<char*>src + pos, need, PyBUF_READ)
        out.append(self._open(PyByteArray_AS_STRING(self._buf) + 2, length))
        del self._buf[:]
        return pos + need
