"""Signed envelopes: the derived js-libp2p vector, every key type, tampering, fuzzing."""

from __future__ import annotations

import functools

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from libp2p._accel import varint_encode
from libp2p.errors import (
    DecodeError,
    EnvelopeError,
    EnvelopeSignatureError,
    InvalidSignatureError,
    UnsupportedKeyTypeError,
)
from libp2p.identity.envelope import MAX_ENVELOPE_SIZE, SignedEnvelope, signing_bytes
from libp2p.identity.keys import KeyType, PrivateKey, generate_key_pair, unmarshal_private_key
from tests.conftest import load_vector

_load = load_vector


V = _load("derived/signed-envelope-peer-record.json")
KEY_VECTORS = {
    v["name"]: bytes.fromhex(v["hex"]) for v in _load("official/peer-id-key-vectors.json")["vectors"]
}
DOMAIN = V["domain"]
PAYLOAD_TYPE = bytes.fromhex(V["payload_type_hex"])
PAYLOAD = bytes.fromhex(V["peer_record_payload_hex"])
ENVELOPE = bytes.fromhex(V["envelope_hex"])


@functools.cache
def vector_key(name: str) -> PrivateKey:
    return unmarshal_private_key(KEY_VECTORS[name])


ED_KEY = vector_key("ED25519 private key")


# --- the derived vector ---------------------------------------------------------------------


def test_signing_buffer_matches_vector() -> None:
    assert signing_bytes(DOMAIN, PAYLOAD_TYPE, PAYLOAD).hex() == V["signing_buffer_hex"]


def test_seal_reproduces_vector_exactly() -> None:
    assert ED_KEY.marshal().hex() == V["signing_key_private_protobuf_hex"]
    env = SignedEnvelope.seal(ED_KEY, DOMAIN, PAYLOAD_TYPE, PAYLOAD)
    assert env.signature.hex() == V["signature_hex"]
    assert env.marshal() == ENVELOPE


def test_open_vector() -> None:
    env = SignedEnvelope.open(ENVELOPE, DOMAIN)
    assert env.public_key == ED_KEY.public_key
    assert env.payload_type == PAYLOAD_TYPE
    assert env.payload == PAYLOAD
    assert env.signature.hex() == V["signature_hex"]
    assert env.verify(DOMAIN) is V["envelope_verifies"]
    assert not env.verify("libp2p-routing-state")
    assert env.marshal() == ENVELOPE
    assert SignedEnvelope.open(bytearray(ENVELOPE), DOMAIN) == env
    assert SignedEnvelope.open(memoryview(ENVELOPE), DOMAIN) == env


def test_envelope_matches_generated_protobuf() -> None:
    from libp2p.pb import envelope_pb2

    msg = envelope_pb2.Envelope()
    msg.ParseFromString(ENVELOPE)
    assert msg.public_key.Type == 1
    assert msg.public_key.Data == ED_KEY.public_key.raw()
    assert msg.SerializeToString() == ENVELOPE


# --- every key type -------------------------------------------------------------------------

KEY_NAMES = ["ED25519 private key", "secp256k1 private key", "ECDSA private key", "rsa private key"]


@pytest.mark.parametrize("name", KEY_NAMES)
def test_seal_open_every_vector_key(name: str) -> None:
    key = vector_key(name)
    env = SignedEnvelope.seal(key, "some-domain", b"\x12\x34", b"hello")
    data = env.marshal()
    opened = SignedEnvelope.open(data, "some-domain")
    assert opened == env
    assert opened.public_key == key.public_key
    with pytest.raises(EnvelopeSignatureError):
        SignedEnvelope.open(data, "other-domain")


@pytest.mark.parametrize("key_type", [KeyType.Ed25519, KeyType.Secp256k1, KeyType.ECDSA])
def test_seal_open_generated_keys(key_type: KeyType) -> None:
    key = generate_key_pair(key_type)
    env = SignedEnvelope.seal(key, "d", b"t", b"p" * 1000)
    assert SignedEnvelope.open(env.marshal(), "d") == env


def test_empty_fields_round_trip() -> None:
    # proto3 omits empty bytes fields; the signature still covers their zero lengths.
    env = SignedEnvelope.seal(ED_KEY, "", b"", b"")
    data = env.marshal()
    assert SignedEnvelope.open(data, "") == env
    with pytest.raises(EnvelopeSignatureError):
        SignedEnvelope.open(data, "x")


def test_unicode_domain() -> None:
    env = SignedEnvelope.seal(ED_KEY, "dömäin-✓", b"\x03\x01", b"x")
    assert SignedEnvelope.open(env.marshal(), "dömäin-✓") == env


# --- tampering ------------------------------------------------------------------------------


def _with(env: SignedEnvelope, **changes: bytes) -> bytes:
    fields = {"payload_type": env.payload_type, "payload": env.payload, "signature": env.signature}
    fields.update(changes)
    return SignedEnvelope(env.public_key, **fields).marshal()


def _flips(data: bytes) -> list[bytes]:
    out = []
    for i in range(len(data)):
        for x in (0x01, 0x80):
            b = bytearray(data)
            b[i] ^= x
            out.append(bytes(b))
    return out


def test_tampered_payload_signature_or_type_fails_with_signature_error() -> None:
    env = SignedEnvelope.open(ENVELOPE, DOMAIN)
    cases = (
        [_with(env, payload=p) for p in _flips(env.payload)]
        + [_with(env, signature=s) for s in _flips(env.signature)]
        + [_with(env, payload_type=t) for t in _flips(env.payload_type)]
        + [_with(env, payload=env.payload + b"\x00"), _with(env, payload=env.payload[:-1])]
        + [_with(env, payload_type=b"\x03\x02"), _with(env, payload_type=b""), _with(env, signature=b"")]
    )
    for data in cases:
        with pytest.raises(EnvelopeSignatureError) as info:
            SignedEnvelope.open(data, DOMAIN)
        assert isinstance(info.value, InvalidSignatureError)
        assert isinstance(info.value, EnvelopeError)


def test_other_signer_key_fails() -> None:
    env = SignedEnvelope.open(ENVELOPE, DOMAIN)
    other = SignedEnvelope(
        vector_key("secp256k1 private key").public_key, env.payload_type, env.payload, env.signature
    )
    with pytest.raises(EnvelopeSignatureError):
        SignedEnvelope.open(other.marshal(), DOMAIN)


@pytest.mark.parametrize("domain", ["", "libp2p-peer-recorc", "libp2p-peer-record ", "libp2p-routing-state"])
def test_wrong_domain_fails(domain: str) -> None:
    with pytest.raises(EnvelopeSignatureError):
        SignedEnvelope.open(ENVELOPE, domain)


def test_every_bit_flip_of_the_vector_fails_typed() -> None:
    for data in _flips(ENVELOPE):
        with pytest.raises(EnvelopeError):
            SignedEnvelope.open(data, DOMAIN)


def test_every_truncation_of_the_vector_fails_typed() -> None:
    for n in range(len(ENVELOPE)):
        with pytest.raises(EnvelopeError):
            SignedEnvelope.open(ENVELOPE[:n], DOMAIN)


def test_missing_public_key() -> None:
    with pytest.raises(EnvelopeError, match="no public key"):
        SignedEnvelope.open(b"\x12\x02\x03\x01\x1a\x01x\x2a\x01y", DOMAIN)


def test_unsupported_key_type_in_envelope() -> None:
    key = b"\x08\x09\x12\x20" + b"\x01" * 32
    data = b"\x0a" + varint_encode(len(key)) + key + b"\x2a\x01y"
    with pytest.raises(EnvelopeError) as info:
        SignedEnvelope.open(data, DOMAIN)
    assert isinstance(info.value.__cause__, (UnsupportedKeyTypeError, DecodeError))


def test_oversized_envelope_rejected() -> None:
    env = SignedEnvelope.seal(ED_KEY, DOMAIN, PAYLOAD_TYPE, b"\x00" * MAX_ENVELOPE_SIZE)
    with pytest.raises(EnvelopeError, match="exceeds"):
        SignedEnvelope.open(env.marshal(), DOMAIN)
    with pytest.raises(EnvelopeError):
        SignedEnvelope.open(b"\x00" * (MAX_ENVELOPE_SIZE + 1), DOMAIN)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data: bytes) -> None:
    with pytest.raises(EnvelopeError):
        SignedEnvelope.open(data, DOMAIN)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0), st.integers(min_value=1, max_value=255), st.binary(max_size=8))
@example(pos=182, xor=1, insert=b"\x01\x08")  # an equivalent encoding: see below
def test_fuzz_mutated_vector(pos: int, xor: int, insert: bytes) -> None:
    data = bytearray(ENVELOPE)
    data[pos % len(data)] ^= xor
    data[pos % len(data) : pos % len(data)] = insert
    try:
        env = SignedEnvelope.open(bytes(data), DOMAIN)
    except EnvelopeError:
        return
    # Some mutations leave an equivalent encoding, e.g. flipping the last byte and inserting
    # ``01 08`` before it appends ``08 00``: field 1 with the wrong wire type, which protobuf
    # skips as an unknown field. Such bytes may verify, but only if nothing signed changed.
    assert env == SignedEnvelope.open(ENVELOPE, DOMAIN)


def test_envelope_is_frozen_and_hashable() -> None:
    env = SignedEnvelope.open(ENVELOPE, DOMAIN)
    with pytest.raises(AttributeError):
        env.payload = b"x"  # type: ignore[misc]
    assert hash(env) == hash(SignedEnvelope.open(ENVELOPE, DOMAIN))
