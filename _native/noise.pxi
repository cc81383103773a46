# Noise transport messages (ChaCha20-Poly1305, u16 framing): twin of libp2p/_pure/noise.py.
#
# The AEAD itself is cryptography's (called through Python, one call per message). What this
# twin saves is the rest: frame headers and nonces built in C, plaintext and ciphertext handed
# to the AEAD as memoryviews over the caller's buffer and over the output bytes object (no
# slicing objects, no join), and no copy of complete messages on receive.

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

    def __init__(self, key, nonce=0, max_plaintext=NOISE_MAX_PLAINTEXT_LEN):
        if not 1 <= max_plaintext <= _NOISE_MAX_PT:
            raise InvalidArgumentError(f"max_plaintext must be 1..{_NOISE_MAX_PT}, not {max_plaintext}")
        self._encrypt_into = _noise_aead(key).encrypt_into
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

    def __init__(self, key, nonce=0, max_frame=NOISE_MAX_MESSAGE_LEN):
        if not _NOISE_TAG <= max_frame <= _NOISE_MAX_MSG:
            raise InvalidArgumentError(f"max_frame must be {_NOISE_TAG}..{_NOISE_MAX_MSG}, not {max_frame}")
        self._decrypt = _noise_aead(key).decrypt
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
        if n >= _NOISE_NONCE_LIMIT:
            self._failed = True
            raise NonceExhaustedError("the receive nonce reached 2**64-1; the connection must end")
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
