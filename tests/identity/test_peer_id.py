"""PeerId: text and binary forms, ordering, and derivation from public keys (vectors)."""

from __future__ import annotations

import copy
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libp2p.errors import DecodeError, InvalidPeerIdError
from libp2p.identity.keys import KeyType, generate_key_pair, unmarshal_public_key
from libp2p.identity.multiformats import multibase_encode, multibase_names
from libp2p.identity.peer_id import PeerId
from tests.conftest import load_vector

_VEC = load_vector("derived/peer-ids.json")


@pytest.mark.parametrize("case", _VEC["string_form_parsing"], ids=lambda c: c["input"][:12])
def test_string_forms(case: dict[str, str]) -> None:
    pid = PeerId.from_string(case["input"])
    assert bytes(pid).hex() == case["multihash_hex"]
    assert str(pid) == case["base58btc"]
    assert pid.to_cid_string() == case["cidv1_base32"]
    assert PeerId.from_string(case["cidv1_base32"]) == pid
    assert PeerId.from_string(case["base58btc"]) == pid
    assert PeerId.from_bytes(bytes.fromhex(case["multihash_hex"])) == pid


def _key_cases() -> list[dict[str, str]]:
    cases = list(_VEC["from_spec_public_keys"]) + list(_VEC["ed25519_from_seed"])
    return [c for c in cases if "peer_id_multihash_hex" in c]


@pytest.mark.parametrize("case", _key_cases(), ids=lambda c: c.get("source", c.get("seed_hex", "")[:8]))
def test_peer_id_from_public_key_vectors(case: dict[str, str]) -> None:
    from libp2p.identity.keys import unmarshal_public_key

    key = unmarshal_public_key(bytes.fromhex(case["public_key_protobuf_hex"]))
    pid = PeerId.from_public_key(key)
    assert bytes(pid).hex() == case["peer_id_multihash_hex"]
    if "peer_id_base58btc" in case:
        assert str(pid) == case["peer_id_base58btc"]
        assert pid.to_cid_string() == case["peer_id_cidv1_base32"]
        assert PeerId.from_string(case["peer_id_cidv1_base32"]) == pid
    assert pid.matches_public_key(key)
    inlined = len(key.marshal()) <= 42
    assert (pid.public_key == key) if inlined else (pid.public_key is None)


@pytest.mark.parametrize("base", multibase_names())
def test_cid_in_any_multibase(base: str) -> None:
    pid = PeerId.from_string("12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA")
    text = pid.to_cid_string(base)
    assert text == multibase_encode(base, bytes(pid.to_cid()))
    if text[0] in "Q1":  # a base whose text could be mistaken for base58btc is not a valid peer-ID form
        return
    assert PeerId.from_string(text) == pid


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Qm",
        "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5",  # one character short
        "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5S0",  # '0' is not base58
        "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",  # a dag-pb CID, not libp2p-key
        "x" * 500,
        "b" + "a" * 401,
        "zQmYyQSo1",
    ],
)
def test_invalid_strings(text: str) -> None:
    with pytest.raises(InvalidPeerIdError):
        PeerId.from_string(text)


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x12\x20" + bytes(31), b"\x13\x40" + bytes(64), b"\x00\x2b" + bytes(43), b"\x00\x05abc", b"\xff"],
)
def test_invalid_bytes(raw: bytes) -> None:
    with pytest.raises(InvalidPeerIdError):
        PeerId.from_bytes(raw)


@given(st.binary(max_size=60))
def test_random_bytes_only_decode_errors(raw: bytes) -> None:
    try:
        pid = PeerId.from_bytes(raw)
    except DecodeError:
        return
    assert PeerId.from_string(str(pid)) == pid
    assert PeerId.from_string(pid.to_cid_string()) == pid


@given(st.text(max_size=70))
def test_random_text_only_decode_errors(text: str) -> None:
    try:
        PeerId.from_string(text)
    except DecodeError:
        pass


def test_equality_hash_ordering_and_copies() -> None:
    a = PeerId.from_string("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")
    b = PeerId.from_string("12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA")
    assert a != b and a == PeerId.from_bytes(bytes(a))
    assert len({a, b, PeerId.from_bytes(bytes(b))}) == 2
    assert sorted([a, b]) == sorted([b, a]) == ([a, b] if bytes(a) < bytes(b) else [b, a])
    assert (b < a) == (bytes(b) < bytes(a)) and (a <= a) and (a >= a)
    assert a != "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"
    assert pickle.loads(pickle.dumps(a)) == a
    assert copy.deepcopy(a) is a
    assert "QmYyQSo1" in repr(a)
    with pytest.raises(AttributeError):
        a.foo = 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("key_type", [KeyType.Ed25519, KeyType.RSA])
def test_matches_public_key_with_and_without_the_deriving_key(key_type: KeyType) -> None:
    # from_public_key remembers the key object it came from; any other key is still derived and compared.
    key = generate_key_pair(key_type, bits=2048).public_key
    other = generate_key_pair(key_type, bits=2048).public_key
    derived = PeerId.from_public_key(key)
    parsed = PeerId.from_bytes(derived.to_bytes())  # same ID, no key remembered
    assert derived == parsed and hash(derived) == hash(parsed)
    assert derived.matches_public_key(key) and parsed.matches_public_key(key)
    assert derived.matches_public_key(unmarshal_public_key(key.marshal()))  # an equal key, another object
    assert not derived.matches_public_key(other) and not parsed.matches_public_key(other)
    assert PeerId.from_string(str(derived)) == derived
