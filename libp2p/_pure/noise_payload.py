"""The received noise-libp2p handshake payload in one call: twin of ``_native/noise_payload.pxi``.

``noise_verify_payload`` decodes the ``NoiseHandshakePayload`` protobuf (libp2p/pb/noise.proto)
and, when its identity key is the canonical Ed25519 ``PublicKey`` protobuf (the key type every
implementation uses by default), checks the identity signature over
``"noise-libp2p-static-key:" || remote static key`` before returning anything. Other key types
(secp256k1, ECDSA, RSA) come back unverified (``verified`` False) for the caller's slow path
(``unmarshal_public_key`` and ``PublicKey.verify``).

The decoder follows protobuf's proto2 wire rules as the generated code does: fields in any order,
the last ``identity_key``/``identity_sig`` wins, every ``extensions`` occurrence merges (its
``stream_muxers`` concatenate), a known field number with another wire type and every unknown
field are skipped (groups included, nested at most ``_MAX_GROUP_DEPTH`` deep), field number 0,
wire types 6 and 7, a stray end-group tag, a varint of more than 10 bytes or a length past the end
are malformed. Every length is checked against what is left before it is used.

``ed25519_verify`` is the Ed25519 check alone (``Ed25519PublicKey.verify``): libsodium's
``crypto_sign_open``, as PyNaCl's ``VerifyKey.verify`` calls it, so the same signatures pass.
"""

from __future__ import annotations

from typing import Final

from nacl.bindings import crypto_sign_open
from nacl.exceptions import CryptoError

from libp2p.errors import LocalProtocolError
from libp2p.security.noise.errors import InvalidHandshakePayloadError, InvalidHandshakeSignatureError

__all__ = ["ED25519_PUBLIC_KEY_PREFIX", "ed25519_verify", "noise_verify_payload"]

Bytes = bytes | bytearray | memoryview

# The canonical Ed25519 PublicKey protobuf: Type = 1 (08 01), Data of 32 bytes (12 20), the key.
ED25519_PUBLIC_KEY_PREFIX: Final = b"\x08\x01\x12\x20"
_ED25519_PB_LEN: Final = 36
_ED25519_SIG_LEN: Final = 64
_STATIC_KEY_DOMAIN: Final = b"noise-libp2p-static-key:"
_MAX_GROUP_DEPTH: Final = 32
_MAX_TAG: Final = 0xFFFFFFFF


def ed25519_verify(public_key: Bytes, message: Bytes, signature: Bytes) -> bool:
    """True iff ``signature`` is ``public_key``'s Ed25519 signature of ``message``; never raises
    for bad input (a key that is not 32 bytes or a signature that is not 64 verify nothing)."""
    if len(public_key) != 32 or len(signature) != _ED25519_SIG_LEN:
        return False
    try:
        crypto_sign_open(bytes(signature) + bytes(message), bytes(public_key))
    except CryptoError:  # BadSignatureError is one
        return False
    return True


def _malformed(what: str) -> InvalidHandshakePayloadError:
    return InvalidHandshakePayloadError(f"malformed NoiseHandshakePayload: {what}")


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end:
            raise _malformed("truncated varint")
        if shift >= 70:
            raise _malformed("varint longer than 10 bytes")
        byte = buf[pos]
        pos += 1
        if shift == 63 and byte > 1:
            raise _malformed("varint overflows 64 bits")
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _tag(buf: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(field number, wire type, position after the tag)."""
    tag, pos = _varint(buf, pos, end)
    if tag > _MAX_TAG or tag >> 3 == 0:
        raise _malformed(f"invalid tag {tag}")
    return tag >> 3, tag & 7, pos


def _length(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """The start and end of a length-delimited field whose length varint starts at ``pos``."""
    length, pos = _varint(buf, pos, end)
    if length > end - pos:
        raise _malformed("field length past the end of the message")
    return pos, pos + length


def _skip(buf: bytes, pos: int, end: int, field: int, wire_type: int, depth: int) -> int:
    """Skip the value of an unknown field; the position after it."""
    if wire_type == 0:
        return _varint(buf, pos, end)[1]
    if wire_type == 2:
        return _length(buf, pos, end)[1]
    if wire_type == 1 or wire_type == 5:
        size = 8 if wire_type == 1 else 4
        if size > end - pos:
            raise _malformed("truncated fixed-size field")
        return pos + size
    if wire_type == 3:
        if depth >= _MAX_GROUP_DEPTH:
            raise _malformed("groups nested too deep")
        while True:
            inner, inner_type, pos = _tag(buf, pos, end)
            if inner_type == 4:
                if inner != field:
                    raise _malformed("end-group tag of another group")
                return pos
            pos = _skip(buf, pos, end, inner, inner_type, depth + 1)
    raise _malformed(f"wire type {wire_type}")  # 4 (an end-group tag outside its group), 6, 7


def _muxers_into(muxers: list[str], buf: bytes, pos: int, end: int) -> None:
    """The ``stream_muxers`` of one ``NoiseExtensions`` message in ``buf[pos:end]``."""
    while pos < end:
        tag = buf[pos]
        if 8 <= tag < 0x80:  # a one-byte tag, inline (fields 1 to 15)
            field, wire_type, pos = tag >> 3, tag & 7, pos + 1
        else:
            field, wire_type, pos = _tag(buf, pos, end)
        if field == 2 and wire_type == 2:
            start, pos = _length(buf, pos, end)
            try:
                muxers.append(buf[start:pos].decode("utf-8"))
            except UnicodeDecodeError:
                raise InvalidHandshakePayloadError(
                    "NoiseHandshakePayload lists a stream muxer id that is not UTF-8"
                ) from None
        else:
            pos = _skip(buf, pos, end, field, wire_type, 0)


def noise_verify_payload(payload: Bytes, remote_static: Bytes) -> tuple[bytes, bytes, tuple[str, ...], bool]:
    """Decode a received ``NoiseHandshakePayload``; verify its signature when the key is Ed25519.

    Returns ``(identity_key, identity_sig, stream_muxers, verified)``. ``verified`` is True when
    ``identity_key`` is the canonical 36-byte Ed25519 ``PublicKey`` protobuf and its signature
    over the domain string and ``remote_static`` (32 bytes) is valid; False for any other key
    encoding, which the caller must unmarshal and verify itself.

    Raises ``InvalidHandshakePayloadError`` when the protobuf is malformed, lacks
    ``identity_key`` or ``identity_sig``, or lists a muxer id that is not UTF-8, and
    ``InvalidHandshakeSignatureError`` when an Ed25519 signature does not verify.
    """
    if len(remote_static) != 32:
        raise LocalProtocolError(f"the remote static key must be 32 bytes, not {len(remote_static)}")
    buf = bytes(payload)
    end = len(buf)
    pos = 0
    key: bytes | None = None
    sig: bytes | None = None
    muxers: list[str] = []
    while pos < end:
        tag = buf[pos]
        if 8 <= tag < 0x80:  # a one-byte tag, inline (fields 1 to 15)
            field, wire_type, pos = tag >> 3, tag & 7, pos + 1
        else:
            field, wire_type, pos = _tag(buf, pos, end)
        if wire_type == 2 and field in (1, 2, 4):
            length = buf[pos] if pos < end else 0x80
            if length < 0x80:  # a one-byte length, inline
                pos += 1
                if length > end - pos:
                    raise _malformed("field length past the end of the message")
                start, pos = pos, pos + length
            else:
                start, pos = _length(buf, pos, end)
            if field == 1:
                key = buf[start:pos]
            elif field == 2:
                sig = buf[start:pos]
            else:
                _muxers_into(muxers, buf, start, pos)
        else:
            pos = _skip(buf, pos, end, field, wire_type, 0)
    if key is None or sig is None:
        raise InvalidHandshakePayloadError("NoiseHandshakePayload lacks identity_key or identity_sig")
    if len(key) != _ED25519_PB_LEN or not key.startswith(ED25519_PUBLIC_KEY_PREFIX):
        return key, sig, tuple(muxers), False
    # The signature must cover the static key this very handshake delivered.
    if not ed25519_verify(key[4:], _STATIC_KEY_DOMAIN + bytes(remote_static), sig):
        raise InvalidHandshakeSignatureError("identity signature does not cover the peer's Noise static key")
    return key, sig, tuple(muxers), True
