"""multibase, multihash and CID."""

from __future__ import annotations

import csv
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libp2p.errors import CIDError, DecodeError, MultibaseError, MultihashError
from libp2p.identity.multiformats import (
    CID,
    LIBP2P_KEY,
    base58btc_decode,
    base58btc_encode,
    decode_cid,
    multibase_decode,
    multibase_encode,
    multibase_names,
    multihash_digest,
    multihash_encode,
    parse_multihash,
)
from tests.conftest import VECTORS

# Examples from the multibase spec's test vectors for "yes mani !" (shared across bases).
_YES_MANI = {
    "base2": "001111001011001010111001100100000011011010110000101101110011010010010000000100001",
    "base8": "7362625631006654133464440102",
    "base10": "9573277761329450583662625",
    "base16": "f796573206d616e692021",
    "base16upper": "F796573206D616E692021",
    "base32": "bpfsxgidnmfxgsibb",
    "base32upper": "BPFSXGIDNMFXGSIBB",
    "base32hex": "vf5in683dc5n6i811",
    "base32hexupper": "VF5IN683DC5N6I811",
    "base32pad": "cpfsxgidnmfxgsibb",
    "base32padupper": "CPFSXGIDNMFXGSIBB",
    "base32hexpad": "tf5in683dc5n6i811",
    "base32hexpadupper": "TF5IN683DC5N6I811",
    "base32z": "hxf1zgedpcfzg1ebb",
    "base36": "k2lcpzo5yikidynfl",
    "base36upper": "K2LCPZO5YIKIDYNFL",
    "base58flickr": "Z7Pznk19XTTzBtx",
    "base58btc": "z7paNL19xttacUY",
    "base64": "meWVzIG1hbmkgIQ",
    "base64pad": "MeWVzIG1hbmkgIQ==",
    "base64url": "ueWVzIG1hbmkgIQ",
    "base64urlpad": "UeWVzIG1hbmkgIQ==",
}


@pytest.mark.parametrize(("name", "text"), sorted(_YES_MANI.items()))
def test_multibase_spec_examples(name: str, text: str) -> None:
    assert multibase_encode(name, b"yes mani !") == text
    assert multibase_decode(text) == b"yes mani !"


def test_every_base_has_an_example() -> None:
    assert set(multibase_names()) == set(_YES_MANI)


@given(st.sampled_from(sorted(_YES_MANI)), st.binary(max_size=48))
def test_multibase_round_trip(name: str, data: bytes) -> None:
    assert multibase_decode(multibase_encode(name, data)) == data


@given(st.binary(max_size=48))
def test_base58_leading_zeros(data: bytes) -> None:
    assert base58btc_decode(base58btc_encode(data)) == data
    assert base58btc_encode(b"\0\0" + data).startswith("11")


@pytest.mark.parametrize("text", ["", "x123", "b!!!", "z0OIl", "BPFSXGIDNMFXGSIbb", "bmf", "m===", "f7"])
def test_multibase_rejects(text: str) -> None:
    with pytest.raises(MultibaseError):
        multibase_decode(text)


@given(st.text(max_size=30))
def test_multibase_random_text_only_decode_errors(text: str) -> None:
    try:
        multibase_decode(text)
    except DecodeError:
        pass


def _multihash_rows() -> list[tuple[str, int, bytes, bytes]]:
    with (VECTORS / "official" / "multihash-test-cases.csv").open(encoding="utf-8") as f:
        # the upstream "input" column is hashed as the ASCII text shown, not as hex-decoded bytes
        return [(r["algorithm"], int(r["bits"]), r["input"].encode(), bytes.fromhex(r["multihash"])) for r in csv.DictReader(f)]


@pytest.mark.parametrize(("algorithm", "bits", "data", "expected"), _multihash_rows(), ids=lambda v: str(v)[:16])
def test_multihash_vectors_parse(algorithm: str, bits: int, data: bytes, expected: bytes) -> None:
    code, digest = parse_multihash(expected)
    assert len(digest) * 8 == bits
    assert multihash_encode(code, digest) == expected
    if algorithm == "sha2-256" and bits == 256:
        assert multihash_digest(code, data) == expected
        assert digest == hashlib.sha256(data).digest()


def test_multihash_rejects() -> None:
    for bad in (b"", b"\x12", b"\x12\x20" + bytes(31), b"\x12\x20" + bytes(33), b"\x80", b"\x12\x80\x00"):
        with pytest.raises(MultihashError):
            parse_multihash(bad)
    with pytest.raises(MultihashError):
        parse_multihash(b"\x00\x7f" + bytes(127) + b"x")  # over the size bound
    with pytest.raises(MultihashError):
        multihash_digest(0x13, b"")


def test_cid_forms() -> None:
    v0 = decode_cid("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")
    assert v0.version == 0 and v0.encode() == "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"
    v1 = decode_cid("bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe")
    assert (v1.version, v1.codec, v1.multihash) == (1, LIBP2P_KEY, v0.multihash)
    assert decode_cid(bytes(v1)) == v1
    assert decode_cid(v1.encode("base36")) == v1
    assert CID(1, LIBP2P_KEY, v0.multihash).encode() == "bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe"
    for bad in (b"", b"\x02\x72\x00\x00", b"\x01", b"\x01\x72\x12\x20abc", "zzzz"):
        with pytest.raises(CIDError):
            decode_cid(bad)


@given(st.binary(max_size=50))
def test_cid_random_bytes_only_decode_errors(data: bytes) -> None:
    try:
        decode_cid(data)
    except DecodeError:
        pass
