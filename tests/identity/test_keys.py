"""Keys: official spec vectors, derived deterministic signatures, strict decoding, fuzzing."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from libp2p._accel import varint_encode
from libp2p.errors import DecodeError, InvalidKeyError, LocalProtocolError, UnsupportedKeyTypeError
from libp2p.identity.keys import (
    MAX_PRIVATE_KEY_DATA,
    MAX_PUBLIC_KEY_DATA,
    EcdsaPrivateKey,
    EcdsaPublicKey,
    Ed25519PrivateKey,
    Ed25519PublicKey,
    KeyType,
    PrivateKey,
    PublicKey,
    RsaPrivateKey,
    RsaPublicKey,
    Secp256k1PrivateKey,
    Secp256k1PublicKey,
    generate_key_pair,
    unmarshal_private_key,
    unmarshal_public_key,
)

# --- vectors --------------------------------------------------------------------------------
from tests.conftest import load_vector

_load = load_vector


KEY_VECTORS = {
    v["name"]: bytes.fromhex(v["hex"]) for v in _load("official/peer-id-key-vectors.json")["vectors"]
}
PEER_IDS = _load("derived/peer-ids.json")
MESSAGE = b"libp2p test message"

PAIRS = [
    ("ED25519 private key", "ED25519 public key", KeyType.Ed25519, Ed25519PrivateKey, Ed25519PublicKey),
    (
        "secp256k1 private key",
        "secp256k1 public key",
        KeyType.Secp256k1,
        Secp256k1PrivateKey,
        Secp256k1PublicKey,
    ),
    ("ECDSA private key", "ECDSA public key", KeyType.ECDSA, EcdsaPrivateKey, EcdsaPublicKey),
    ("rsa private key", "rsa public key", KeyType.RSA, RsaPrivateKey, RsaPublicKey),
]
PAIR_IDS = [p[2].name for p in PAIRS]


@pytest.fixture(scope="module")
def rsa_key() -> PrivateKey:
    # The only RSA key generated in this module (generation is slow).
    return generate_key_pair(KeyType.RSA, bits=2048)


@pytest.fixture(scope="module")
def fresh_keys(rsa_key: PrivateKey) -> list[PrivateKey]:
    return [
        generate_key_pair(KeyType.Ed25519),
        generate_key_pair(KeyType.Secp256k1),
        generate_key_pair(KeyType.ECDSA),
        rsa_key,
    ]


@functools.cache
def vector_private(name: str) -> PrivateKey:
    # Cached: loading the 4096-bit RSA vector validates it, which takes ~0.2 s.
    return unmarshal_private_key(KEY_VECTORS[name])


# --- official vectors -----------------------------------------------------------------------


@pytest.mark.parametrize("priv_name,pub_name,key_type,priv_cls,pub_cls", PAIRS, ids=PAIR_IDS)
def test_official_vectors_round_trip(
    priv_name: str, pub_name: str, key_type: KeyType, priv_cls: type, pub_cls: type
) -> None:
    priv = unmarshal_private_key(KEY_VECTORS[priv_name])
    pub = unmarshal_public_key(KEY_VECTORS[pub_name])
    assert type(priv) is priv_cls and type(pub) is pub_cls
    assert priv.key_type == key_type == pub.key_type
    # Byte-identical re-encoding, for private and public keys.
    assert priv.marshal() == KEY_VECTORS[priv_name]
    assert pub.marshal() == KEY_VECTORS[pub_name]
    # Private → public derivation gives the published public key.
    assert priv.public_key == pub
    assert priv.public_key.marshal() == KEY_VECTORS[pub_name]
    assert priv.public_key is priv.public_key  # cached
    assert hash(priv.public_key) == hash(pub)
    # raw() is the Data field.
    assert pub.marshal().endswith(pub.raw())
    assert priv.marshal().endswith(priv.raw())
    # Decoding again from the raw Data gives the same key.
    assert pub_cls.from_raw(pub.raw()) == pub
    assert priv_cls.from_raw(priv.raw()) == priv


def test_official_ed25519_private_uses_64_byte_form() -> None:
    data = KEY_VECTORS["ED25519 private key"]
    assert data[:4] == bytes.fromhex("08011240") and len(data) == 68


@pytest.mark.parametrize("priv_name,pub_name,key_type,priv_cls,pub_cls", PAIRS, ids=PAIR_IDS)
def test_vector_keys_sign_and_verify(
    priv_name: str, pub_name: str, key_type: KeyType, priv_cls: type, pub_cls: type
) -> None:
    priv = vector_private(priv_name)
    pub = unmarshal_public_key(KEY_VECTORS[pub_name])
    sig = priv.sign(MESSAGE)
    assert pub.verify(MESSAGE, sig)
    assert pub.verify(bytearray(MESSAGE), memoryview(sig))
    assert not pub.verify(MESSAGE + b"!", sig)
    assert not pub.verify(MESSAGE, bytes([sig[0] ^ 1]) + sig[1:])
    assert not pub.verify(MESSAGE, sig[:-1] + bytes([sig[-1] ^ 1]))


# --- derived vectors (js-libp2p generated) --------------------------------------------------


@pytest.mark.parametrize("entry", PEER_IDS["signatures_with_spec_private_keys"], ids=lambda e: e["type"])
def test_derived_deterministic_signatures(entry: dict[str, Any]) -> None:
    priv = vector_private(entry["key"])
    msg = entry["message_utf8"].encode()
    sig = priv.sign(msg)
    assert sig.hex() == entry["signature_hex"]
    assert priv.public_key.marshal().hex() == entry["derived_public_key_protobuf_hex"]
    assert priv.public_key.verify(msg, bytes.fromhex(entry["signature_hex"])) is entry["verifies"]


def test_ecdsa_vector_sign_verify_round_trip() -> None:
    # ECDSA signatures are randomized: no fixed bytes, only a round trip.
    priv = vector_private("ECDSA private key")
    pub = unmarshal_public_key(KEY_VECTORS["ECDSA public key"])
    sigs = {priv.sign(MESSAGE) for _ in range(3)}
    assert len(sigs) == 3
    assert all(pub.verify(MESSAGE, s) for s in sigs)


@pytest.mark.parametrize("entry", PEER_IDS["ed25519_from_seed"], ids=lambda e: e["seed_hex"][:8])
def test_ed25519_from_seed(entry: dict[str, Any]) -> None:
    priv = Ed25519PrivateKey.from_seed(bytes.fromhex(entry["seed_hex"]))
    assert priv.seed().hex() == entry["seed_hex"]
    assert priv.marshal().hex() == entry["private_key_protobuf_hex"]
    assert priv.public_key.marshal().hex() == entry["public_key_protobuf_hex"]
    assert priv.public_key.raw().hex() == entry["raw_public_key_hex"]
    msg = entry["sign_message_utf8"].encode()
    assert priv.sign(msg).hex() == entry["ed25519_signature_hex"]
    assert unmarshal_private_key(bytes.fromhex(entry["private_key_protobuf_hex"])) == priv


@pytest.mark.parametrize("entry", PEER_IDS["from_spec_public_keys"], ids=lambda e: e["source"].split(": ")[1])
def test_peer_ids_of_vector_keys(entry: dict[str, Any]) -> None:
    from libp2p.identity.peer_id import PeerId

    pub = unmarshal_public_key(bytes.fromhex(entry["public_key_protobuf_hex"]))
    pid = PeerId.from_public_key(pub)
    assert bytes(pid).hex() == entry["peer_id_multihash_hex"]
    assert str(pid) == entry["peer_id_base58btc"]
    if pid.public_key is not None:
        assert pid.public_key == pub


# --- generated keys -------------------------------------------------------------------------


def test_generate_sign_verify_every_type(fresh_keys: list[PrivateKey]) -> None:
    for priv in fresh_keys:
        sig = priv.sign(MESSAGE)
        pub = priv.public_key
        assert pub.verify(MESSAGE, sig)
        assert not pub.verify(b"other", sig)
        # Round trip through both protobufs.
        assert unmarshal_private_key(priv.marshal()) == priv
        again = unmarshal_public_key(pub.marshal())
        assert again == pub and hash(again) == hash(pub)
        assert again.verify(MESSAGE, sig)


def test_generate_default_is_ed25519() -> None:
    assert isinstance(generate_key_pair(), Ed25519PrivateKey)
    assert generate_key_pair() != generate_key_pair()


def test_generated_rsa_is_2048_bits(rsa_key: PrivateKey) -> None:
    assert isinstance(rsa_key, RsaPrivateKey) and rsa_key.bits == 2048
    assert isinstance(rsa_key.public_key, RsaPublicKey) and rsa_key.public_key.bits == 2048


@pytest.mark.parametrize("bits", [1024, 2047, 8193, 16384])
def test_generate_rsa_rejects_sizes(bits: int) -> None:
    with pytest.raises(LocalProtocolError):
        generate_key_pair(KeyType.RSA, bits=bits)


def test_cross_type_verify_fails(fresh_keys: list[PrivateKey]) -> None:
    vector_keys = [vector_private(p[0]) for p in PAIRS]
    keys = fresh_keys + vector_keys
    sigs = [k.sign(MESSAGE) for k in keys]
    for i, signer in enumerate(keys):
        for j, other in enumerate(keys):
            if i == j:
                continue
            assert not other.public_key.verify(MESSAGE, sigs[i]), (signer, other)


@pytest.mark.parametrize("priv_name", [p[0] for p in PAIRS], ids=PAIR_IDS)
@pytest.mark.parametrize(
    "signature",
    [
        b"",
        b"\x00",
        b"\x30",
        b"\x30\x00",
        b"\xff" * 64,
        b"\x00" * 72,
        b"\x30\x81" + b"\x00" * 200,
        b"x" * 5000,
    ],
)
def test_verify_never_raises_on_garbage(priv_name: str, signature: bytes) -> None:
    pub = vector_private(priv_name).public_key
    assert pub.verify(MESSAGE, signature) is False


@settings(max_examples=200, deadline=None)
@given(sig=st.binary(max_size=600), msg=st.binary(max_size=64))
def test_verify_fuzz_returns_false(sig: bytes, msg: bytes) -> None:
    for name, *_ in PAIRS:
        assert _VECTOR_PUBS[name].verify(msg, sig) is False


_VECTOR_PUBS = {p[0]: unmarshal_public_key(KEY_VECTORS[p[1]]) for p in PAIRS}


# --- secp256k1 specifics --------------------------------------------------------------------

_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _der_int(v: int) -> bytes:
    b = v.to_bytes((v.bit_length() + 8) // 8, "big")  # room for a sign bit
    return b"\x02" + bytes([len(b)]) + b


def _parse_der_sig(sig: bytes) -> tuple[int, int]:
    assert sig[0] == 0x30
    i = 2
    lr = sig[i + 1]
    r = int.from_bytes(sig[i + 2 : i + 2 + lr], "big")
    i += 2 + lr
    ls = sig[i + 1]
    s = int.from_bytes(sig[i + 2 : i + 2 + ls], "big")
    return r, s


def test_secp256k1_accepts_high_s() -> None:
    # go-libp2p (btcec) verifies high-S signatures; libsecp256k1 alone would not.
    priv = vector_private("secp256k1 private key")
    sig = priv.sign(MESSAGE)
    r, s = _parse_der_sig(sig)
    assert s <= _SECP256K1_N // 2  # we produce low-S
    body = _der_int(r) + _der_int(_SECP256K1_N - s)
    high = b"\x30" + bytes([len(body)]) + body
    assert high != sig
    assert priv.public_key.verify(MESSAGE, high)
    assert not priv.public_key.verify(MESSAGE + b"x", high)


def test_secp256k1_uncompressed_public_key_accepted_and_compressed() -> None:
    priv = vector_private("secp256k1 private key")
    assert isinstance(priv, Secp256k1PrivateKey)
    import coincurve

    uncompressed = coincurve.PrivateKey(priv.raw()).public_key.format(compressed=False)
    assert len(uncompressed) == 65
    pub = unmarshal_public_key(b"\x08\x02\x12\x41" + uncompressed)
    assert pub == priv.public_key
    assert pub.marshal() == KEY_VECTORS["secp256k1 public key"]


@pytest.mark.parametrize(
    "scalar",
    [b"\x00" * 32, _SECP256K1_N.to_bytes(32, "big"), b"\xff" * 32, b"\x01" * 31, b"\x01" * 33],
)
def test_secp256k1_invalid_private_scalars(scalar: bytes) -> None:
    with pytest.raises(InvalidKeyError):
        unmarshal_private_key(b"\x08\x02\x12" + varint_encode(len(scalar)) + scalar)


def test_secp256k1_invalid_public_points() -> None:
    for data in [b"\x02" + b"\x00" * 32, b"\x05" + b"\x01" * 32, b"\x04" + b"\x00" * 64, b"\x02" * 34]:
        with pytest.raises(InvalidKeyError):
            Secp256k1PublicKey.from_raw(data)


# --- Ed25519 specifics ----------------------------------------------------------------------


def test_ed25519_legacy_96_byte_private_key() -> None:
    canonical = KEY_VECTORS["ED25519 private key"]
    data = canonical[4:]
    legacy = b"\x08\x01\x12\x60" + data + data[32:]
    priv = unmarshal_private_key(legacy)
    assert priv.marshal() == canonical  # re-marshalled in the 64-byte form


def test_ed25519_legacy_with_different_public_halves_rejected() -> None:
    data = KEY_VECTORS["ED25519 private key"][4:]
    other = bytes(32 * [7])
    with pytest.raises(InvalidKeyError):
        unmarshal_private_key(b"\x08\x01\x12\x60" + data + other)


def test_ed25519_public_half_must_match_seed() -> None:
    data = bytearray(KEY_VECTORS["ED25519 private key"])
    data[-1] ^= 1
    with pytest.raises(InvalidKeyError):
        unmarshal_private_key(bytes(data))


@pytest.mark.parametrize("n", [0, 31, 33, 64])
def test_ed25519_public_wrong_length(n: int) -> None:
    with pytest.raises(InvalidKeyError):
        unmarshal_public_key(b"\x08\x01\x12" + varint_encode(n) + b"\x01" * n)


@pytest.mark.parametrize("n", [0, 32, 63, 65, 95, 97, 128])
def test_ed25519_private_wrong_length(n: int) -> None:
    with pytest.raises(InvalidKeyError):
        unmarshal_private_key(b"\x08\x01\x12" + varint_encode(n) + b"\x01" * n)


def test_ed25519_from_seed_wrong_length() -> None:
    with pytest.raises(InvalidKeyError):
        Ed25519PrivateKey.from_seed(b"\x00" * 31)


# --- ECDSA / RSA specifics ------------------------------------------------------------------


def test_ecdsa_other_curves_rejected() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    sec1 = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    with pytest.raises(InvalidKeyError):
        unmarshal_public_key(b"\x08\x03\x12" + varint_encode(len(spki)) + spki)
    with pytest.raises(InvalidKeyError):
        unmarshal_private_key(b"\x08\x03\x12" + varint_encode(len(sec1)) + sec1)


def test_ecdsa_non_canonical_encodings_rejected() -> None:
    priv = vector_private("ECDSA private key")
    assert isinstance(priv, EcdsaPrivateKey)
    key = serialization.load_der_private_key(priv.raw(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    compressed = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    with pytest.raises(InvalidKeyError):
        EcdsaPrivateKey.from_raw(pkcs8)
    with pytest.raises(InvalidKeyError):
        EcdsaPublicKey.from_raw(compressed)
    # An RSA key under the ECDSA type, and the reverse.
    with pytest.raises(InvalidKeyError):
        EcdsaPublicKey.from_raw(unmarshal_public_key(KEY_VECTORS["rsa public key"]).raw())
    with pytest.raises(InvalidKeyError):
        RsaPublicKey.from_raw(unmarshal_public_key(KEY_VECTORS["ECDSA public key"]).raw())


def test_rsa_small_key_rejected() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    spki = small.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pkcs1 = small.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    with pytest.raises(InvalidKeyError):
        unmarshal_public_key(b"\x08\x00\x12" + varint_encode(len(spki)) + spki)
    with pytest.raises(InvalidKeyError):
        unmarshal_private_key(b"\x08\x00\x12" + varint_encode(len(pkcs1)) + pkcs1)


def test_rsa_non_canonical_encodings_rejected() -> None:
    pub = unmarshal_public_key(KEY_VECTORS["rsa public key"])
    key = serialization.load_der_public_key(pub.raw())
    assert isinstance(key, rsa.RSAPublicKey)
    pkcs1_pub = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    with pytest.raises(InvalidKeyError):
        RsaPublicKey.from_raw(pkcs1_pub)
    priv = vector_private("rsa private key")
    pkey = serialization.load_der_private_key(priv.raw(), None)
    assert isinstance(pkey, rsa.RSAPrivateKey)
    pkcs8 = pkey.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(InvalidKeyError):
        RsaPrivateKey.from_raw(pkcs8)


# --- the key protobuf: strict canonical form ------------------------------------------------

ED_PUB = KEY_VECTORS["ED25519 public key"]
ED_DATA = ED_PUB[4:]


@pytest.mark.parametrize(
    "data",
    [
        b"\x12\x20" + ED_DATA + b"\x08\x01",  # fields out of order
        b"\x08\x01\x12\x20" + ED_DATA + b"\x18\x00",  # extra field
        b"\x08\x01\x12\x20" + ED_DATA + b"\x00",  # trailing byte
        b"\x08\x81\x00\x12\x20" + ED_DATA,  # non-minimal type varint
        b"\x08\x01\x12\xa0\x00" + ED_DATA,  # non-minimal length varint
        b"\x08\x01\x08\x01\x12\x20" + ED_DATA,  # repeated Type
        b"\x12\x20" + ED_DATA,  # Type missing
        b"\x08\x01",  # Data missing
        b"\x08\x01\x12\x21" + ED_DATA,  # length past the end
        b"\x08\x01\x1a\x20" + ED_DATA,  # Data with the wrong field number
        b"\x08\x01\x12\xff\xff\xff\xff\xff\xff\xff\xff\x7f",  # huge length
        b"\x08\x01\x12\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # overlong varint
        b"",
    ],
)
def test_non_canonical_key_protobufs_rejected(data: bytes) -> None:
    with pytest.raises(InvalidKeyError):
        unmarshal_public_key(data)
    with pytest.raises(InvalidKeyError):
        unmarshal_private_key(data)


@pytest.mark.parametrize("code", [4, 5, 127, 128, 300, 2**40])
def test_unknown_key_type(code: int) -> None:
    data = b"\x08" + varint_encode(code) + b"\x12\x20" + ED_DATA
    with pytest.raises(UnsupportedKeyTypeError):
        unmarshal_public_key(data)
    with pytest.raises(UnsupportedKeyTypeError):
        unmarshal_private_key(data)


def test_oversized_key_data_rejected() -> None:
    for limit, fn in [
        (MAX_PUBLIC_KEY_DATA, unmarshal_public_key),
        (MAX_PRIVATE_KEY_DATA, unmarshal_private_key),
    ]:
        big = b"\x00" * (limit + 1)
        with pytest.raises(InvalidKeyError):
            fn(b"\x08\x00\x12" + varint_encode(len(big)) + big)
        with pytest.raises(InvalidKeyError):
            fn(b"\x08\x00\x12" + varint_encode(len(big)) + big[:10])  # length alone is too big
        with pytest.raises(InvalidKeyError):
            fn(b"\x00" * (limit * 4))


def test_accepts_bytearray_and_memoryview() -> None:
    assert unmarshal_public_key(bytearray(ED_PUB)).marshal() == ED_PUB
    assert unmarshal_public_key(memoryview(b"xx" + ED_PUB)[2:]).marshal() == ED_PUB


def test_key_protobuf_matches_generated_protobuf_module() -> None:
    from libp2p.pb import crypto_pb2

    for name, data in KEY_VECTORS.items():
        cls = crypto_pb2.PrivateKey if "private" in name else crypto_pb2.PublicKey
        msg = cls()
        msg.ParseFromString(data)
        assert msg.SerializeToString() == data


# --- every truncation of every vector; hypothesis fuzzing -----------------------------------


@pytest.mark.parametrize("name", sorted(KEY_VECTORS))
def test_every_truncation_of_every_vector_raises_decode_error(name: str) -> None:
    data = KEY_VECTORS[name]
    fn = unmarshal_private_key if "private" in name else unmarshal_public_key
    for n in range(len(data)):
        with pytest.raises(InvalidKeyError):
            fn(data[:n])


@pytest.mark.parametrize("name", sorted(KEY_VECTORS))
def test_appended_bytes_rejected(name: str) -> None:
    fn = unmarshal_private_key if "private" in name else unmarshal_public_key
    with pytest.raises(InvalidKeyError):
        fn(KEY_VECTORS[name] + b"\x00")


def _decode_or_decode_error(fn: Any, data: bytes) -> None:
    try:
        key = fn(data)
    except DecodeError:
        return
    # Whatever decodes re-encodes canonically and decodes to the same key.
    assert isinstance(key, (PublicKey, PrivateKey))
    assert fn(key.marshal()) == key


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_random_bytes(data: bytes) -> None:
    _decode_or_decode_error(unmarshal_public_key, data)
    _decode_or_decode_error(unmarshal_private_key, data)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(sorted(KEY_VECTORS)),
    st.integers(min_value=0),
    st.integers(min_value=1, max_value=255),
)
def test_fuzz_mutated_vectors(name: str, pos: int, xor: int) -> None:
    data = bytearray(KEY_VECTORS[name])
    data[pos % len(data)] ^= xor
    fn = unmarshal_private_key if "private" in name else unmarshal_public_key
    _decode_or_decode_error(fn, bytes(data))


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([0, 1, 2, 3]), st.binary(max_size=300))
def test_fuzz_valid_envelope_random_data(type_code: int, payload: bytes) -> None:
    data = b"\x08" + bytes([type_code]) + b"\x12" + varint_encode(len(payload)) + payload
    _decode_or_decode_error(unmarshal_public_key, data)
    _decode_or_decode_error(unmarshal_private_key, data)


# --- equality, hashing, repr ----------------------------------------------------------------


def test_equality_and_hash() -> None:
    a = vector_private("ED25519 private key")
    b = unmarshal_private_key(KEY_VECTORS["ED25519 private key"])
    assert a == b and hash(a) == hash(b)
    assert a != vector_private("secp256k1 private key")
    assert a.public_key != a  # private vs public never equal
    assert a.public_key != b"not a key"
    assert len({a.public_key, b.public_key, vector_private("secp256k1 private key").public_key}) == 2


def test_repr_does_not_leak_secret() -> None:
    for name, *_ in PAIRS:
        priv = vector_private(name)
        text = repr(priv)
        assert type(priv).__name__ in text
        assert priv.raw().hex()[:16] not in text
        assert type(priv.public_key).__name__ in repr(priv.public_key)


def test_key_type_values() -> None:
    assert [int(k) for k in KeyType] == [0, 1, 2, 3]
    assert [k.name for k in KeyType] == ["RSA", "Ed25519", "Secp256k1", "ECDSA"]
