# A listener's inbound handshake as one sans-IO core: twin of libp2p/_pure/noise_inbound.py
# (read its docstring: both twins take the same bytes, answer the same bytes and raise the same
# errors).
#
# multistream-select's messages are parsed in place from the caller's buffer (the usual first
# flight, header + /noise proposal, is one memcmp), and the Noise XX responder's two messages go
# straight to NoiseXX's C steps: a connection's handshake costs two Python-visible calls here
# (one per received segment) instead of ~80 Python calls. Only a partial message is copied.

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.memoryview cimport PyMemoryView_FromMemory
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.string cimport memset

from libp2p.security.noise.errors import (
    InvalidHandshakeMessageError as _IHInvalidMessage,
    MuxerNegotiationError as _IHMuxerError,
    NoiseFrameTooLargeError as _IHFrameTooLarge,
    NoisePayloadTooLargeError as _IHPayloadTooLarge,
    NoiseStateError as _IHStateError,
)

NOISE_PROTOCOL_ID = "/noise"

# the multistream header and the /noise proposal: a dialer's usual first flight, and our answer
cdef bytes _IH_FLIGHT = b"\x13/multistream/1.0.0\n\x07/noise\n"
cdef bytes _IH_HEADER = b"\x13/multistream/1.0.0\n"
cdef bytes _IH_NA = b"\x03na\n"
cdef str _IH_MULTISTREAM = "/multistream/1.0.0"

cdef enum:
    _IH_NEGOTIATING = 0
    _IH_AWAIT_1 = 1
    _IH_AWAIT_3 = 2
    _IH_DONE = 3
    _IH_OTHER = 4  # another security protocol was agreed
    _IH_TAKEN = 5
    _IH_FAILED = 6
    _IH_MS_MAX = 1024  # multistream's message bound (MAX_MESSAGE_SIZE)
    _IH_DH = 32
    _IH_TAG = 16

# Names from modules that import libp2p._accel (so not importable while it loads): looked up
# when the first core is made.
cdef bint _ih_loaded = False
cdef object _ih_DecodeError, _ih_MessageDecodeError, _ih_MessageTooLargeError, _ih_MissingNewlineError
cdef object _ih_EmptyMessageError, _ih_IncorrectVersionError, _ih_TooManyRoundsError
cdef object _ih_NegotiationStateError, _ih_DataAfterRefusalError
cdef object _ih_listing, _ih_encode_list_response
cdef object _ih_Ed25519PublicKey, _ih_PeerId, _ih_NoiseHandshake


cdef int _ih_load() except -1:
    global _ih_loaded, _ih_DecodeError, _ih_MessageDecodeError, _ih_MessageTooLargeError, _ih_MissingNewlineError
    global _ih_EmptyMessageError, _ih_IncorrectVersionError, _ih_TooManyRoundsError
    global _ih_NegotiationStateError, _ih_DataAfterRefusalError, _ih_listing, _ih_encode_list_response
    global _ih_Ed25519PublicKey, _ih_PeerId, _ih_NoiseHandshake
    from libp2p.errors import DecodeError
    from libp2p.identity.keys import Ed25519PublicKey
    from libp2p.identity.peer_id import PeerId
    from libp2p.negotiate.core import _listing, encode_list_response
    from libp2p.negotiate.errors import (
        DataAfterRefusalError,
        EmptyMessageError,
        IncorrectVersionError,
        MessageDecodeError,
        MessageTooLargeError,
        MissingNewlineError,
        NegotiationStateError,
        TooManyRoundsError,
    )
    from libp2p.security.noise.core import NoiseHandshake

    _ih_DecodeError = DecodeError
    _ih_MessageDecodeError = MessageDecodeError
    _ih_MessageTooLargeError = MessageTooLargeError
    _ih_MissingNewlineError = MissingNewlineError
    _ih_EmptyMessageError = EmptyMessageError
    _ih_IncorrectVersionError = IncorrectVersionError
    _ih_TooManyRoundsError = TooManyRoundsError
    _ih_NegotiationStateError = NegotiationStateError
    _ih_DataAfterRefusalError = DataAfterRefusalError
    _ih_listing = _listing
    _ih_encode_list_response = encode_list_response
    _ih_Ed25519PublicKey = Ed25519PublicKey
    _ih_PeerId = PeerId
    _ih_NoiseHandshake = NoiseHandshake
    _ih_loaded = True
    return 0


cdef class InboundHandshake:
    """The listener's multistream + Noise XX responder, for one connection (see the pure twin)."""

    # configuration, shared by the cores ``fresh`` makes
    cdef tuple _protocols
    cdef frozenset _accepted
    cdef bytes _ls_answer
    cdef bytes _static
    cdef bytes _static_pub
    cdef bytes _payload
    cdef tuple _muxers
    cdef Py_ssize_t _max
    cdef int _max_rounds
    cdef bint _noise_ok
    # one connection's state
    cdef int _state
    cdef int _rounds
    cdef int _refused
    cdef bint _first
    cdef bint _header_seen
    cdef bint _has_keys
    cdef bytearray _in
    cdef bytearray _out
    cdef NoiseXX _xx
    cdef object _ephemeral
    cdef unsigned char _k1[32]
    cdef unsigned char _k2[32]
    cdef readonly object protocol
    cdef readonly bint complete
    cdef readonly object remote_peer_id
    cdef readonly object remote_public_key
    cdef readonly object remote_static_key
    cdef readonly object remote_muxers
    cdef readonly object selected_muxer
    cdef readonly object handshake_hash

    def __init__(self, protocols, static_private, static_public, payload, muxers, max_message=65535,
                 max_rounds=64):
        if not _ih_loaded:
            _ih_load()
        if isinstance(protocols, str) or isinstance(muxers, str):
            raise InvalidArgumentError("protocols and muxers are sequences of protocol ids, not one str")
        if not 96 <= max_message <= 65535:
            raise InvalidArgumentError(f"max_message must be 96..65535, not {max_message}")
        if max_rounds < 1:
            raise _ih_NegotiationStateError("max_rounds must be at least 1")
        if 2 * _IH_DH + 2 * _IH_TAG + len(payload) > 65535:
            raise _IHPayloadTooLarge(f"a handshake payload of {len(payload)} bytes does not fit message 2")
        self._protocols = _ih_listing(tuple(protocols))
        self._accepted = frozenset(self._protocols)
        self._ls_answer = _ih_encode_list_response(self._protocols)
        self._static = bytes(static_private)
        self._static_pub = bytes(static_public)
        self._payload = bytes(payload)
        self._muxers = tuple(muxers)
        self._max = max_message
        self._max_rounds = max_rounds
        self._noise_ok = NOISE_PROTOCOL_ID in self._accepted
        # the key lengths are checked now, not at the first connection
        NoiseXX(False, self._static, self._static_pub)
        self._reset()

    cdef void _reset(self) noexcept:
        self._state = _IH_NEGOTIATING
        self._rounds = 0
        self._refused = 0
        self._first = True
        self._header_seen = False
        self._has_keys = False
        self._in = bytearray()
        self._out = bytearray()
        self._xx = None
        self._ephemeral = None
        self.protocol = None
        self.complete = False
        self.remote_muxers = ()

    def fresh(self, ephemeral_key=None):
        """A new core with this one's configuration (for the next connection); ``ephemeral_key``:
        its X25519 ephemeral private key (test vectors; default: a fresh one)."""
        cdef InboundHandshake core = InboundHandshake.__new__(InboundHandshake)
        core._protocols = self._protocols
        core._accepted = self._accepted
        core._ls_answer = self._ls_answer
        core._static = self._static
        core._static_pub = self._static_pub
        core._payload = self._payload
        core._muxers = self._muxers
        core._max = self._max
        core._max_rounds = self._max_rounds
        core._noise_ok = self._noise_ok
        core._reset()
        if ephemeral_key is not None:
            _xx_key_into(core._k1, ephemeral_key, "ephemeral private")  # checked now (and wiped)
            memset(core._k1, 0, 32)
            core._ephemeral = bytes(ephemeral_key)
        return core

    @property
    def refused(self):
        """Proposals answered ``na``."""
        return self._refused

    # --- the sans-IO face -----------------------------------------------------------------

    def receive_data(self, data):
        """Bytes from the dialer, split anywhere; returns the bytes to write to it now."""
        cdef Py_buffer view
        cdef Py_ssize_t used, n
        cdef bytes out
        if self._state == _IH_FAILED:
            raise _IHStateError("the inbound handshake already failed")
        if self._state == _IH_TAKEN:
            raise _IHStateError("the handshake is over; feed the transport decryptor instead")
        if self._state >= _IH_DONE:
            self._in += data
            return b""
        try:
            if PyByteArray_GET_SIZE(self._in) == 0:
                # parsed where it lies; only what is left of it is kept
                PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
                try:
                    used = self._consume(<const unsigned char*>view.buf, view.len)
                    if used < view.len:
                        self._in += PyMemoryView_FromMemory(<char*>view.buf + used, view.len - used, PyBUF_READ)
                finally:
                    PyBuffer_Release(&view)
            else:
                self._in += data
                n = PyByteArray_GET_SIZE(self._in)
                # self._in is not resized while it is parsed
                used = self._consume(<const unsigned char*>PyByteArray_AS_STRING(self._in), n)
                if used:
                    del self._in[:used]
        except BaseException as exc:
            self._fail(isinstance(exc, _ih_DataAfterRefusalError))
            raise
        if PyByteArray_GET_SIZE(self._out) == 0:
            return b""
        out = bytes(self._out)
        del self._out[:]
        return out

    def data_to_send(self):
        """What is queued and was not returned yet: only the refusal after ``DataAfterRefusalError``."""
        out = bytes(self._out)
        del self._out[:]
        return out

    def unused_data(self):
        """The bytes after the proposal of another agreed protocol (each call takes them)."""
        if self._state != _IH_OTHER or PyByteArray_GET_SIZE(self._in) == 0:
            return b""
        out = bytes(self._in)
        del self._in[:]
        return out

    def transport(self):
        """The (send, receive) cipher pair; once, after completion. The decryptor already holds the
        bytes that followed message 3."""
        if self._state != _IH_DONE or not self._has_keys:
            raise _IHStateError("transport() needs a completed handshake and is available once")
        self._state = _IH_TAKEN
        self._has_keys = False
        # the responder receives with the first key and sends with the second
        decryptor = NoiseDecryptor(PyBytes_FromStringAndSize(<char*>self._k1, 32))
        encryptor = NoiseEncryptor(PyBytes_FromStringAndSize(<char*>self._k2, 32))
        memset(self._k1, 0, 32)
        memset(self._k2, 0, 32)
        if PyByteArray_GET_SIZE(self._in):
            decryptor.feed(self._in)
            self._in = bytearray()
        return encryptor, decryptor

    # --- internals --------------------------------------------------------------------------

    cdef void _fail(self, bint keep_out) noexcept:
        self._state = _IH_FAILED
        self.complete = False
        self._has_keys = False
        memset(self._k1, 0, 32)
        memset(self._k2, 0, 32)
        self._in = bytearray()
        if not keep_out:
            self._out = bytearray()

    cdef Py_ssize_t _consume(self, const unsigned char* p, Py_ssize_t n) except -1:
        """Take what it can of p[0:n]; returns how many bytes it took."""
        cdef Py_ssize_t pos = 0
        if self._state == _IH_NEGOTIATING:
            pos = self._negotiate(p, n)
            if self._state != _IH_AWAIT_1:
                return pos
        return pos + self._noise(p + pos, n - pos)

    cdef Py_ssize_t _negotiate(self, const unsigned char* p, Py_ssize_t n) except -1:
        cdef Py_ssize_t pos = 0, used, start
        cdef uint64_t length
        cdef VarintStatus status
        cdef Py_ssize_t flight = PyBytes_GET_SIZE(_IH_FLIGHT)
        if self._first:
            self._first = False
            if self._noise_ok and n >= flight and memcmp(p, PyBytes_AS_STRING(_IH_FLIGHT), flight) == 0:
                self._out += _IH_FLIGHT
                self._agree(NOISE_PROTOCOL_ID)
                return flight
            self._out += _IH_HEADER
        try:
            while pos < n:
                status = _parse_varint(<const uint8_t*>p + pos, n - pos, &length, &used)
                if status == VARINT_TRUNCATED:
                    break
                if status != VARINT_OK:
                    raise _ih_MessageDecodeError(f"bad message length prefix: {_varint_error(status)}")
                if length > _IH_MS_MAX:
                    raise _ih_MessageTooLargeError(f"frame of {length} bytes exceeds the {_IH_MS_MAX}-byte limit")
                start = pos + used
                if <Py_ssize_t>length > n - start:
                    break
                self._message(p + pos, p + start, <Py_ssize_t>length)
                pos = start + <Py_ssize_t>length
                if self._state != _IH_NEGOTIATING:
                    break
        except _ih_DecodeError:
            if not self._refused:
                raise
            # an optimistic dialer's data after a proposal we refused: the refusal still goes out
            raise _ih_DataAfterRefusalError("data followed a refused proposal") from None
        return pos

    cdef int _message(self, const unsigned char* whole, const unsigned char* p, Py_ssize_t length) except -1:
        """One multistream message: ``whole`` starts at its length prefix, p[0:length] is the rest."""
        cdef Py_ssize_t size = length - 1
        cdef str text
        if length == 0:
            raise _ih_EmptyMessageError("zero-length multistream message")
        if p[size] != 10:
            raise _ih_MissingNewlineError("multistream message does not end in a newline")
        if not self._header_seen:
            if size != 18 or memcmp(p, b"/multistream/1.0.0", 18) != 0:
                raise _ih_IncorrectVersionError(
                    f"expected {_IH_MULTISTREAM!r} first, got {PyBytes_FromStringAndSize(<const char*>p, size if size < 64 else 64)!r}")
            self._header_seen = True
            return 0
        self._rounds += 1
        if self._rounds > self._max_rounds:
            raise _ih_TooManyRoundsError(f"dialer made more than {self._max_rounds} proposals")
        if size == 0:
            raise _ih_EmptyMessageError("empty protocol id")
        try:
            text = PyUnicode_DecodeUTF8(<const char*>p, size, NULL)
        except UnicodeDecodeError as exc:
            raise _ih_MessageDecodeError(f"message is not UTF-8: {exc}") from exc
        if text == "ls":
            self._out += self._ls_answer
            return 0
        if (text != "na" and text != _IH_MULTISTREAM and text != "/libp2p/simultaneous-connect"
                and text in self._accepted):
            # the echo is the proposal's own bytes (its length prefix is minimal: checked above)
            self._out += PyMemoryView_FromMemory(<char*>whole, (p - whole) + length, PyBUF_READ)
            self._agree(text)
            return 0
        self._refused += 1
        self._out += _IH_NA
        return 0

    cdef int _agree(self, str protocol) except -1:
        self.protocol = protocol
        if protocol == NOISE_PROTOCOL_ID:
            self._xx = NoiseXX(False, self._static, self._static_pub, self._ephemeral)
            self._ephemeral = None
            self._state = _IH_AWAIT_1
        else:
            self._state = _IH_OTHER
        return 0

    cdef Py_ssize_t _noise(self, const unsigned char* p, Py_ssize_t n) except -1:
        cdef Py_ssize_t pos = 0, length
        while self._state <= _IH_AWAIT_3 and n - pos >= 2:
            length = (p[pos] << 8) | p[pos + 1]
            if length > self._max:
                raise _IHFrameTooLarge(f"handshake message of {length} bytes exceeds the {self._max}-byte limit")
            if n - pos - 2 < length:
                break
            if self._state == _IH_AWAIT_1:
                self._message_1(p + pos + 2, length)
            else:
                self._message_3(p + pos + 2, length)
            pos += 2 + length
        return pos

    cdef int _message_1(self, const unsigned char* p, Py_ssize_t length) except -1:
        cdef bytes message
        cdef unsigned char prefix[2]
        if length < _IH_DH:
            raise _IHInvalidMessage(f"message 1 of {length} bytes is shorter than a key")
        # message 1's payload (plaintext, unauthenticated) is ignored: libp2p sends none
        self._xx._read(p, length)
        message = self._xx._write(<const unsigned char*>PyBytes_AS_STRING(self._payload),
                                  PyBytes_GET_SIZE(self._payload))
        prefix[0] = <unsigned char>(PyBytes_GET_SIZE(message) >> 8)
        prefix[1] = <unsigned char>(PyBytes_GET_SIZE(message) & 0xFF)
        self._out += PyMemoryView_FromMemory(<char*>prefix, 2, PyBUF_READ)
        self._out += message
        self._state = _IH_AWAIT_3
        return 0

    cdef int _message_3(self, const unsigned char* p, Py_ssize_t length) except -1:
        cdef bytes payload, rs
        cdef NoiseXX xx = self._xx
        if length < _IH_DH + 2 * _IH_TAG:
            raise _IHInvalidMessage(f"handshake message of {length} bytes is shorter than {_IH_DH + 2 * _IH_TAG}")
        payload = xx._read(p, length)
        rs = PyBytes_FromStringAndSize(<char*>xx._rs, 32)
        # one call decodes the payload and checks an Ed25519 signature over this static key
        identity_key, _sig, muxers, verified = noise_verify_payload(payload, rs)
        if verified:
            key = _ih_Ed25519PublicKey.from_marshaled(identity_key)
        else:  # other key types: the general path (decodes again, verifies with the key's type)
            key, muxers = _ih_NoiseHandshake._verify_payload(payload, rs)
        peer_id = _ih_PeerId.from_public_key(key)
        selected = self._select_muxer(muxers)
        xx._split_into(self._k1, self._k2)
        self._has_keys = True
        self.remote_public_key = key
        self.remote_peer_id = peer_id
        self.remote_static_key = rs
        self.remote_muxers = muxers
        self.selected_muxer = selected
        self.handshake_hash = PyBytes_FromStringAndSize(<char*>xx._h, 32)
        self._state = _IH_DONE
        self.complete = True
        return 0

    cdef object _select_muxer(self, tuple initiator):
        # As libp2p.security.noise.core.select_muxer: the initiator's first that we list too.
        if not initiator or not self._muxers:
            return None
        for muxer in initiator:
            if muxer in self._muxers:
                return muxer
        raise _IHMuxerError(
            f"no common stream muxer: initiator offers {list(initiator)}, responder {list(self._muxers)}")
