"""The received Noise handshake payload twins (``noise_verify_payload``, ``ed25519_verify``).

Both twins: the libp2p vector's payloads, every check (signature, key type, field presence,
UTF-8), protobuf's skipping of unknown fields, and bounds. Side by side: the same outcome on
valid and mutated payloads and random bytes, and agreement with the protobuf library (the
generated ``NoiseHandshakePayload``) on every payload it decodes.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libp2p import _pure
from libp2p.errors import LocalProtocolError
from libp2p.identity.keys import Ed25519PrivateKey, Ed25519PublicKey, KeyType, generate_key_pair
from libp2p.pb import noise_pb2
from libp2p.security.noise.core import STATIC_KEY_DOMAIN
from libp2p.security.noise.errors import InvalidHandshakePayloadError, InvalidHandshakeSignatureError
from tests.conftest import load_vector

try:
    from libp2p import _native
except ImportError:
    _native = None  # type: ignore[assignment]

needs_native = pytest.mark.skipif(_native is None, reason="libp2p._native is not built")

YAMUX, MPLEX = "/yamux/1.0.0", "/mplex/6.7.0"
IDENTITY = Ed25519PrivateKey.from_seed(b"\x05" * 32)
STATIC = bytes(range(32))


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number: int, wire_type: int, value: bytes) -> bytes:
    tag = _varint(number << 3 | wire_type)
    return tag + (_varint(len(value)) + value if wire_type == 2 else value)


def _payload(
    key: Any = IDENTITY, static: bytes = STATIC, muxers: tuple[str, ...] = (YAMUX, MPLEX), extra: bytes = b""
) -> bytes:
    ext = b"".join(_field(2, 2, m.encode()) for m in muxers)
    return (
        _field(1, 2, key.public_key.marshal())
        + _field(2, 2, key.sign(STATIC_KEY_DOMAIN + static))
        + (_field(4, 2, ext) if muxers else b"")
        + extra
    )


def _outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        return ("ok", fn(*args))
    except Exception as exc:  # noqa: BLE001 - the type is what we compare
        return ("raised", type(exc))


# --- each twin ------------------------------------------------------------------------------


def test_libp2p_vector_payloads(accel: ModuleType) -> None:
    v = load_vector("derived/noise-libp2p-xx-handshake.json")
    for payload_field, sig_field, signer, muxers in (
        ("msg2_payload_NoiseHandshakePayload_hex", "msg2_identity_sig_hex", "responder", (YAMUX, MPLEX)),
        ("msg3_payload_NoiseHandshakePayload_hex", "msg3_identity_sig_hex", "initiator", (YAMUX,)),
    ):
        payload = bytes.fromhex(v[payload_field])
        static = bytes.fromhex(v[signer]["noise_static_public_hex"])
        key, sig, got_muxers, verified = accel.noise_verify_payload(payload, static)
        assert key.hex() == v[signer]["identity_public_key_protobuf_hex"]
        assert sig.hex() == v[sig_field]
        assert got_muxers == muxers and verified is True
        # the same payload does not cover the other side's static key
        other = "initiator" if signer == "responder" else "responder"
        with pytest.raises(InvalidHandshakeSignatureError):
            accel.noise_verify_payload(payload, bytes.fromhex(v[other]["noise_static_public_hex"]))


def test_valid_payload_in_any_buffer(accel: ModuleType) -> None:
    payload = _payload()
    for buf in (payload, bytearray(payload), memoryview(payload)):
        key, sig, muxers, verified = accel.noise_verify_payload(buf, bytearray(STATIC))
        assert key == IDENTITY.public_key.marshal() and len(sig) == 64
        assert muxers == (YAMUX, MPLEX) and verified is True
        assert type(key) is bytes and type(sig) is bytes and all(type(m) is str for m in muxers)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: _payload(static=bytes(32)), id="signature over another static key"),
        pytest.param(
            lambda: _field(1, 2, IDENTITY.public_key.marshal())
            + _field(2, 2, Ed25519PrivateKey.from_seed(b"\x06" * 32).sign(STATIC_KEY_DOMAIN + STATIC)),
            id="signature by another key",
        ),
        pytest.param(
            lambda: _field(1, 2, IDENTITY.public_key.marshal()) + _field(2, 2, IDENTITY.sign(STATIC)),
            id="signature without the domain",
        ),
        pytest.param(lambda: _payload()[:38] + _field(2, 2, b"\x00" * 63), id="63-byte signature"),
        pytest.param(lambda: _payload()[:38] + _field(2, 2, b""), id="empty signature"),
    ],
)
def test_bad_ed25519_signature(accel: ModuleType, make: Any) -> None:
    with pytest.raises(InvalidHandshakeSignatureError):
        accel.noise_verify_payload(make(), STATIC)


def test_every_signature_byte_matters(accel: ModuleType) -> None:
    payload = _payload(muxers=())
    sig_at = payload.index(IDENTITY.sign(STATIC_KEY_DOMAIN + STATIC))
    for i in range(sig_at, sig_at + 64):
        bad = bytearray(payload)
        bad[i] ^= 0x01
        with pytest.raises(InvalidHandshakeSignatureError):
            accel.noise_verify_payload(bytes(bad), STATIC)


@pytest.mark.parametrize("key_type", [KeyType.Secp256k1, KeyType.ECDSA, KeyType.RSA])
def test_other_key_types_are_left_to_the_caller(accel: ModuleType, key_type: KeyType) -> None:
    key = generate_key_pair(key_type)
    payload = _payload(key)
    marshaled, sig, muxers, verified = accel.noise_verify_payload(payload, STATIC)
    assert verified is False and marshaled == key.public_key.marshal() and muxers == (YAMUX, MPLEX)
    assert key.public_key.verify(STATIC_KEY_DOMAIN + STATIC, sig)


@pytest.mark.parametrize(
    "identity_key",
    [
        b"",
        b"\x08\x01\x12\x21" + bytes(33),  # Ed25519 type, 33 bytes of data
        b"\x08\x01\x12\x1f" + bytes(31),
        b"\x08\x01\x12\x20" + bytes(32) + b"\x00",  # trailing byte
        b"\x08\x81\x00\x12\x20" + bytes(32),  # non-minimal type varint
        b"\x12\x20" + bytes(32) + b"\x08\x01",  # fields out of order
        b"\x08\x09\x12\x01\x00",  # unknown key type
    ],
)
def test_non_canonical_keys_are_not_verified_here(accel: ModuleType, identity_key: bytes) -> None:
    # The caller's unmarshal_public_key rejects each of these; nothing is verified against them.
    payload = _field(1, 2, identity_key) + _field(2, 2, bytes(64))
    assert accel.noise_verify_payload(payload, STATIC) == (identity_key, bytes(64), (), False)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"", id="empty"),
        pytest.param(_field(1, 2, IDENTITY.public_key.marshal()), id="no signature"),
        pytest.param(_field(2, 2, bytes(64)), id="no key"),
        pytest.param(_field(1, 0, b"\x01") + _field(2, 2, bytes(64)), id="key as a varint is not a key"),
    ],
)
def test_missing_fields(accel: ModuleType, payload: bytes) -> None:
    with pytest.raises(InvalidHandshakePayloadError, match="lacks"):
        accel.noise_verify_payload(payload, STATIC)


def test_unknown_fields_are_skipped(accel: ModuleType) -> None:
    group = _varint(9 << 3 | 3) + _field(1, 0, b"\x05") + _varint(10 << 3 | 3) + _varint(10 << 3 | 4)
    group += _field(2, 5, b"abcd") + _varint(9 << 3 | 4)
    extra = (
        _field(3, 2, b"early data, removed from the spec")
        + _field(5, 0, b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01")
        + _field(6, 1, b"12345678")
        + _field(7, 5, b"1234")
        + _field(4, 0, b"\x01")  # a known number with another wire type: an unknown field
        + _field(536870911, 2, b"the largest field number")
        + group
    )
    ext_extra = _field(1, 2, b"certhash") + _field(9, 0, b"\x00") + _field(2, 0, b"\x07")
    payload = extra + _payload(muxers=()) + _field(4, 2, ext_extra + _field(2, 2, YAMUX.encode())) + extra
    _, _, muxers, verified = accel.noise_verify_payload(payload, STATIC)
    assert muxers == (YAMUX,) and verified is True
    assert noise_pb2.NoiseHandshakePayload.FromString(payload).extensions.stream_muxers == [YAMUX]


def test_repeated_fields_follow_protobuf(accel: ModuleType) -> None:
    # The last identity_key/identity_sig wins; every extensions message merges.
    payload = (
        _field(1, 2, b"first key")
        + _field(2, 2, b"first sig")
        + _field(4, 2, _field(2, 2, b"/a"))
        + _payload(muxers=())
        + _field(4, 2, _field(2, 2, b"/b") + _field(2, 2, b""))
    )
    key, sig, muxers, verified = accel.noise_verify_payload(payload, STATIC)
    pb = noise_pb2.NoiseHandshakePayload.FromString(payload)
    assert (key, sig, muxers) == (pb.identity_key, pb.identity_sig, tuple(pb.extensions.stream_muxers))
    assert muxers == ("/a", "/b", "") and verified is True


@pytest.mark.parametrize(
    "suffix",
    [
        pytest.param(b"\x00", id="field number 0"),
        pytest.param(b"\x07\x00", id="field number 0, wire type 7"),
        pytest.param(b"\x2e", id="wire type 6"),
        pytest.param(b"\x2f", id="wire type 7"),
        pytest.param(b"\x2c", id="end group outside a group"),
        pytest.param(b"\x2b\x08\x01", id="group without its end"),
        pytest.param(b"\x2b\x34", id="group ended by another group's end"),
        pytest.param(b"\x2b" * 40 + b"\x2c" * 40, id="groups nested 40 deep"),
        pytest.param(b"\x2a\x05abcd", id="length past the end"),
        pytest.param(b"\x2a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", id="length of 2**64-1"),
        pytest.param(b"\x2a", id="no length"),
        pytest.param(b"\x28", id="no varint value"),
        pytest.param(b"\x28" + b"\xff" * 10 + b"\x00", id="11-byte varint"),
        pytest.param(b"\x28" + b"\xff" * 9 + b"\x02", id="varint past 64 bits"),
        pytest.param(b"\x29abc", id="truncated fixed64"),
        pytest.param(b"\x2d\x00", id="truncated fixed32"),
        pytest.param(b"\x80\x80\x80\x80\x10", id="tag past 32 bits"),
        pytest.param(b"\x22\x02\x12\x05", id="truncated muxer in extensions"),
        pytest.param(b"\x22\x03\x12\x01\xff", id="muxer not UTF-8"),
        pytest.param(b"\x22\x04\x12\x02\xed\xa0", id="muxer truncated UTF-8"),
        pytest.param(b"\x22\x05\x12\x03\xed\xa0\x80", id="muxer a UTF-16 surrogate"),
    ],
)
def test_malformed_payloads(accel: ModuleType, suffix: bytes) -> None:
    with pytest.raises(InvalidHandshakePayloadError):
        accel.noise_verify_payload(_payload() + suffix, STATIC)


def test_groups_nested_below_the_limit_are_skipped(accel: ModuleType) -> None:
    nested = b"\x2b" * 32 + b"\x2c" * 32
    assert accel.noise_verify_payload(_payload() + nested, STATIC)[3] is True


def test_the_remote_static_key_must_be_32_bytes(accel: ModuleType) -> None:
    for static in (b"", bytes(31), bytes(33)):
        with pytest.raises(LocalProtocolError):
            accel.noise_verify_payload(_payload(), static)


def test_ed25519_verify(accel: ModuleType) -> None:
    key = Ed25519PrivateKey.from_seed(b"\x07" * 32)
    public = key.public_key.raw()
    for message in (b"", b"x", bytes(56), os.urandom(513), os.urandom(70_000)):
        sig = key.sign(message)
        assert accel.ed25519_verify(public, message, sig) is True
        assert accel.ed25519_verify(bytearray(public), memoryview(message), bytearray(sig)) is True
        assert accel.ed25519_verify(public, message + b"!", sig) is False
        assert accel.ed25519_verify(public, message, sig[:-1] + bytes([sig[-1] ^ 1])) is False
        assert accel.ed25519_verify(public, message, sig[:63]) is False
        assert accel.ed25519_verify(public, message, sig + b"\x00") is False
        assert accel.ed25519_verify(public[:31], message, sig) is False
        assert accel.ed25519_verify(bytes(32), message, sig) is False


# --- the key built from the payload -----------------------------------------------------------


def test_ed25519_public_key_from_marshaled() -> None:
    marshaled = IDENTITY.public_key.marshal()
    key = Ed25519PublicKey.from_marshaled(marshaled)
    assert key == IDENTITY.public_key and key.marshal() == marshaled and key.raw() == marshaled[4:]
    assert key.verify(b"m", IDENTITY.sign(b"m")) and not key.verify(b"n", IDENTITY.sign(b"m"))
    for bad in (marshaled[:-1], marshaled + b"\x00", b"\x08\x02" + marshaled[2:], b"\x08\x01\x12\x21" + bytes(32)):
        with pytest.raises(Exception) as info:
            Ed25519PublicKey.from_marshaled(bad)
        assert info.type.__name__ == "InvalidKeyError"


# --- the twins side by side -------------------------------------------------------------------


def _reference(payload: bytes) -> tuple[bytes, bytes, tuple[str, ...]] | None:
    """What the protobuf library decodes, or None where it refuses."""
    try:
        pb = noise_pb2.NoiseHandshakePayload.FromString(payload)
        muxers = tuple(pb.extensions.stream_muxers)
    except Exception:  # noqa: BLE001 - any refusal
        return None
    if not pb.HasField("identity_key") or not pb.HasField("identity_sig"):
        return None
    if not all(isinstance(m, str) for m in muxers):
        return None
    return pb.identity_key, pb.identity_sig, muxers


def _check(payload: bytes, static: bytes = STATIC) -> None:
    pure = _outcome(_pure.noise_verify_payload, payload, static)
    if _native is not None:
        assert pure == _outcome(_native.noise_verify_payload, payload, static), payload.hex()
    if pure[0] == "ok":
        # whatever the twins accept, protobuf decodes to the same fields
        assert _reference(payload) == pure[1][:3], payload.hex()
    elif pure[1] is InvalidHandshakePayloadError:
        # and whatever they refuse as malformed, protobuf refuses too
        assert _reference(payload) is None, payload.hex()


_BASE = [
    _payload(),
    _payload(muxers=()),
    _payload(muxers=(YAMUX,), extra=_field(3, 2, b"x") + _field(9, 0, b"\x01")),
    _payload(generate_key_pair(KeyType.Secp256k1)),
]


@pytest.mark.parametrize("base", range(len(_BASE)))
def test_twins_agree_on_every_single_byte_mutation(base: int) -> None:
    payload = _BASE[base]
    _check(payload)
    for i in range(len(payload)):
        for flip in (0x01, 0x80, 0xFF):
            bad = bytearray(payload)
            bad[i] ^= flip
            _check(bytes(bad))
        _check(payload[:i])
        _check(payload[:i] + payload[i + 1 :])


@settings(max_examples=400)
@given(st.binary(max_size=200))
def test_twins_agree_on_random_bytes(data: bytes) -> None:
    _check(data)
    _check(_payload(muxers=()) + data)


@settings(max_examples=200)
@given(st.lists(st.text(max_size=12), max_size=5), st.binary(max_size=40))
def test_twins_agree_on_generated_payloads(muxers: list[str], unknown: bytes) -> None:
    payload = _payload(muxers=tuple(muxers), extra=_field(15, 2, unknown))
    outcome = _outcome(_pure.noise_verify_payload, payload, STATIC)
    assert outcome == ("ok", (IDENTITY.public_key.marshal(), IDENTITY.sign(STATIC_KEY_DOMAIN + STATIC), tuple(muxers), True))
    _check(payload)
