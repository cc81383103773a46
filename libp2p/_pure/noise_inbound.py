"""A listener's inbound handshake as one sans-IO core: twin of ``_native/noise_inbound.pxi``.

From the connection's first byte until it is secured: multistream-select 1.0 for the security
protocol (the header, ``ls``, ``na`` to what is not offered, the same bounds as
``MultistreamListener``), then, when ``/noise`` is agreed, the Noise XX responder with the
noise-libp2p payload (``NoiseHandshake``'s checks, in the same order): bytes in, bytes to write
out. This twin composes the existing pure pieces (``MultistreamListener``, ``NoiseXX``,
``noise_verify_payload``); the compiled one does the same steps in C with no Python frame per
message. Deadlines stay with the caller.

``receive_data(data)`` returns what to write now. Then:

* ``complete``: Noise finished; ``remote_peer_id``, ``remote_public_key``, ``remote_muxers``,
  ``selected_muxer`` (the early muxer, or None), ``handshake_hash`` are set, and ``transport()``
  hands out the cipher pair once (its decryptor already holds what followed message 3);
* ``protocol`` set but not ``/noise``: another security protocol was agreed (TLS); the bytes
  that followed its proposal are in ``unused_data()`` and the caller continues with it.

Errors are the ones the composed cores raise (``NegotiationError`` and ``HandshakeError``
families), plus ``DataAfterRefusalError`` when bytes that are no multistream message follow a
refused proposal (the refusal is then still in ``data_to_send()``). Any error leaves the core
failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from libp2p._pure.noise import NoiseDecryptor, NoiseEncryptor
from libp2p._pure.noise_payload import noise_verify_payload
from libp2p._pure.noise_xx import NoiseXX
from libp2p.errors import DecodeError, InvalidArgumentError
from libp2p.security.noise.errors import (
    InvalidHandshakeMessageError,
    MuxerNegotiationError,
    NoiseFrameTooLargeError,
    NoisePayloadTooLargeError,
    NoiseStateError,
)

if TYPE_CHECKING:
    from libp2p.identity.keys import PublicKey
    from libp2p.identity.peer_id import PeerId
    from libp2p.negotiate.core import MultistreamListener

__all__ = ["NOISE_PROTOCOL_ID", "InboundHandshake"]

NOISE_PROTOCOL_ID: Final = "/noise"
# The usual first flight of a dialer: the multistream header and the /noise proposal (an
# optimistic one's message 1 behind them); our answer is the same bytes.
_NOISE_FLIGHT: Final = b"\x13/multistream/1.0.0\n\x07/noise\n"
_DHLEN: Final = 32
_TAGLEN: Final = 16

# States
_NEGOTIATING: Final = 0
_AWAIT_1: Final = 1
_AWAIT_3: Final = 2
_DONE: Final = 3
_OTHER: Final = 4  # another security protocol was agreed
_TAKEN: Final = 5
_FAILED: Final = 6

Bytes = bytes | bytearray | memoryview


class InboundHandshake:
    """The listener's multistream + Noise XX responder, for one connection (see the module doc).

    ``protocols``: the security protocol ids accepted, in order (``ls`` lists them so);
    ``static_private``/``static_public``: the reused X25519 static key pair; ``payload``: the
    signed NoiseHandshakePayload for it (constant per host); ``muxers``: ours, for the early muxer
    choice; ``max_message``: the largest Noise handshake message accepted (96..65535);
    ``max_rounds``: proposals before giving up on a dialer. ``fresh()`` makes the next
    connection's core from one made with these once.
    """

    __slots__ = (
        "_accepted", "_args", "_in", "_keys", "_listener", "_max", "_max_rounds", "_muxers", "_out", "_payload",
        "_protocols", "_state", "_xx", "complete", "handshake_hash", "protocol", "remote_muxers",
        "remote_peer_id", "remote_public_key", "remote_static_key", "selected_muxer",
    )

    def __init__(
        self,
        protocols: Sequence[str],
        static_private: Bytes,
        static_public: Bytes,
        payload: Bytes,
        muxers: Sequence[str],
        max_message: int = 65535,
        max_rounds: int = 64,
    ) -> None:
        from libp2p.negotiate.core import _listing
        from libp2p.negotiate.errors import NegotiationStateError

        if isinstance(protocols, str) or isinstance(muxers, str):
            raise InvalidArgumentError("protocols and muxers are sequences of protocol ids, not one str")
        if not 96 <= max_message <= 65535:
            raise InvalidArgumentError(f"max_message must be 96..65535, not {max_message}")
        if max_rounds < 1:
            raise NegotiationStateError("max_rounds must be at least 1")
        # message 2 = e, enc(s), enc(payload): it must fit the u16 framing
        if 2 * _DHLEN + 2 * _TAGLEN + len(payload) > 65535:
            raise NoisePayloadTooLargeError(f"a handshake payload of {len(payload)} bytes does not fit message 2")
        self._protocols = _listing(tuple(protocols))
        self._accepted = frozenset(self._protocols)
        self._payload = bytes(payload)
        self._muxers = tuple(muxers)
        self._max = max_message
        self._max_rounds = max_rounds
        self._args = (self._protocols, bytes(static_private), bytes(static_public), self._payload, self._muxers,
                      max_message, max_rounds)
        self._xx = NoiseXX(False, static_private, static_public)
        self._state = _NEGOTIATING
        self._listener: MultistreamListener | None = None
        self._in = bytearray()
        self._out = bytearray()
        self._keys: tuple[bytes, bytes] | None = None
        #: the agreed security protocol (None while negotiating)
        self.protocol: str | None = None
        #: Noise completed: the results below are set and ``transport()`` is available
        self.complete = False
        self.remote_peer_id: PeerId | None = None
        self.remote_public_key: PublicKey | None = None
        self.remote_static_key: bytes | None = None
        self.remote_muxers: tuple[str, ...] = ()
        self.selected_muxer: str | None = None
        self.handshake_hash: bytes | None = None

    def fresh(self, ephemeral_key: Bytes | None = None) -> InboundHandshake:
        """A new core with this one's configuration (for the next connection); ``ephemeral_key``:
        its X25519 ephemeral private key (test vectors; default: a fresh one)."""
        core = InboundHandshake(*self._args)
        if ephemeral_key is not None:
            core._xx = NoiseXX(False, self._args[1], self._args[2], ephemeral_key)
        return core

    @property
    def refused(self) -> int:
        """Proposals answered ``na``."""
        return self._listener.refused if self._listener is not None else 0

    # --- the sans-IO face -----------------------------------------------------------------

    def receive_data(self, data: Bytes) -> bytes:
        """Bytes from the dialer, split anywhere; returns the bytes to write to it now."""
        state = self._state
        if state == _FAILED:
            raise NoiseStateError("the inbound handshake already failed")
        if state == _TAKEN:
            raise NoiseStateError("the handshake is over; feed the transport decryptor instead")
        if state >= _DONE:
            self._in += data
            return b""
        try:
            if state == _NEGOTIATING:
                data = self._negotiate(data)
                if self._state != _AWAIT_1:
                    return self.data_to_send()
            self._noise(data)
        except BaseException as exc:
            from libp2p.negotiate.errors import DataAfterRefusalError

            self._fail(keep_out=isinstance(exc, DataAfterRefusalError))
            raise
        return self.data_to_send()

    def data_to_send(self) -> bytes:
        """What is queued and was not returned yet: only the refusal after ``DataAfterRefusalError``."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def unused_data(self) -> bytes:
        """The bytes after the proposal of another agreed protocol (each call takes them)."""
        out = bytes(self._in) if self._state == _OTHER else b""
        if out:
            self._in.clear()
        return out

    def transport(self) -> tuple[NoiseEncryptor, NoiseDecryptor]:
        """The (send, receive) cipher pair; once, after completion. The decryptor already holds the
        bytes that followed message 3."""
        keys = self._keys
        if self._state != _DONE or keys is None:
            raise NoiseStateError("transport() needs a completed handshake and is available once")
        self._keys = None
        self._state = _TAKEN
        decryptor = NoiseDecryptor(keys[0])
        if self._in:
            decryptor.feed(self._in)
            self._in = bytearray()
        return NoiseEncryptor(keys[1]), decryptor

    # --- internals --------------------------------------------------------------------------

    def _fail(self, keep_out: bool = False) -> None:
        self._state = _FAILED
        self.complete = False
        self._keys = None
        self._in = bytearray()
        if not keep_out:
            self._out.clear()

    def _negotiate(self, data: Bytes) -> Bytes:
        """Feed multistream; once /noise is agreed, the bytes that followed its proposal."""
        listener = self._listener
        if listener is None:
            if data[: len(_NOISE_FLIGHT)] == _NOISE_FLIGHT and NOISE_PROTOCOL_ID in self._accepted:
                self._out += _NOISE_FLIGHT
                self.protocol = NOISE_PROTOCOL_ID
                self._state = _AWAIT_1
                return data[len(_NOISE_FLIGHT):]
            from libp2p.negotiate.core import MultistreamListener

            listener = self._listener = MultistreamListener(
                self._accepted.__contains__, listed=self._protocols, max_rounds=self._max_rounds)
        try:
            listener.receive_data(data)
        except DecodeError:
            if not listener.refused:
                raise
            from libp2p.negotiate.errors import DataAfterRefusalError

            # An optimistic dialer's data after a proposal we refused: the refusal still goes out.
            self._out += listener.data_to_send()
            raise DataAfterRefusalError("data followed a refused proposal") from None
        self._out += listener.data_to_send()
        chosen = listener.protocol
        if chosen is None:
            return b""
        self.protocol = chosen
        if chosen != NOISE_PROTOCOL_ID:
            self._state = _OTHER
            self._in += listener.unused_data()
            return b""
        self._state = _AWAIT_1
        return listener.unused_data()

    def _noise(self, data: Bytes) -> None:
        buf = self._in
        buf += data
        limit = self._max
        while self._state <= _AWAIT_3 and len(buf) >= 2:
            length = (buf[0] << 8) | buf[1]
            if length > limit:
                raise NoiseFrameTooLargeError(f"handshake message of {length} bytes exceeds the {limit}-byte limit")
            end = 2 + length
            if len(buf) < end:
                return
            frame = bytes(buf[2:end])
            del buf[:end]
            if self._state == _AWAIT_1:
                self._message_1(frame)
            else:
                self._message_3(frame)

    def _message_1(self, frame: bytes) -> None:
        if len(frame) < _DHLEN:
            raise InvalidHandshakeMessageError(f"message 1 of {len(frame)} bytes is shorter than a key")
        # Message 1's payload (plaintext, unauthenticated) is ignored: libp2p sends none.
        xx = self._xx
        xx.read_message(frame)
        message = xx.write_message(self._payload)
        self._out += len(message).to_bytes(2, "big")
        self._out += message
        self._state = _AWAIT_3

    def _message_3(self, frame: bytes) -> None:
        minimum = _DHLEN + 2 * _TAGLEN
        if len(frame) < minimum:
            raise InvalidHandshakeMessageError(f"handshake message of {len(frame)} bytes is shorter than {minimum}")
        xx = self._xx
        payload = xx.read_message(frame)
        rs = xx.rs
        assert rs is not None
        # One call decodes the payload and checks an Ed25519 signature over this static key.
        identity_key, _sig, muxers, verified = noise_verify_payload(payload, rs)
        from libp2p.identity.keys import Ed25519PublicKey
        from libp2p.identity.peer_id import PeerId
        from libp2p.security.noise.core import NoiseHandshake

        if verified:
            key: PublicKey = Ed25519PublicKey.from_marshaled(identity_key)
        else:  # other key types: the general path (decodes again, verifies with the key's type)
            key, muxers = NoiseHandshake._verify_payload(payload, rs)
        peer_id = PeerId.from_public_key(key)
        selected = _select_muxer(muxers, self._muxers)
        self._keys = xx.split()
        self.remote_public_key = key
        self.remote_peer_id = peer_id
        self.remote_static_key = rs
        self.remote_muxers = muxers
        self.selected_muxer = selected
        self.handshake_hash = xx.handshake_hash
        self._state = _DONE
        self.complete = True


def _select_muxer(initiator: tuple[str, ...], responder: tuple[str, ...]) -> str | None:
    # As libp2p.security.noise.core.select_muxer: the initiator's first that we list too.
    if not initiator or not responder:
        return None
    for muxer in initiator:
        if muxer in responder:
            return muxer
    raise MuxerNegotiationError(
        f"no common stream muxer: initiator offers {list(initiator)}, responder {list(responder)}"
    )
