"""The binary multiaddr scanner twins: same spans, same errors, only DecodeErrors on bad input."""

from __future__ import annotations

import random
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libp2p import _pure
from libp2p.errors import DecodeError, MultiaddrError
from tests.conftest import load_vector

try:
    from libp2p import _native
except ImportError:
    _native = None  # type: ignore[assignment]

VALID = [bytes.fromhex(v["bytes_hex"]) for v in load_vector("derived/multiaddr.json")["valid"]]
ED25519_ID = "0024080112202ffa35a99d3a3cfbb17bb7c1dc5561b18a8dcca4df38dc613ea859c37eb1336b"
IP4_TCP_P2P = bytes.fromhex("0401020304060fa1a50326" + ED25519_ID)


def test_spans_of_ip4_tcp_p2p(accel: ModuleType) -> None:
    assert accel.multiaddr_scan(IP4_TCP_P2P) == (4, 1, 5, 6, 6, 8, 421, 11, 49)
    assert accel.multiaddr_scan(bytearray(IP4_TCP_P2P)) == (4, 1, 5, 6, 6, 8, 421, 11, 49)
    assert accel.multiaddr_scan(memoryview(IP4_TCP_P2P)) == (4, 1, 5, 6, 6, 8, 421, 11, 49)
    assert accel.multiaddr_scan(b"") == ()
    assert accel.MAX_MULTIADDR_LEN == 1024


@pytest.mark.parametrize("data", VALID, ids=lambda b: b.hex()[:24])
def test_vectors_scan(accel: ModuleType, data: bytes) -> None:
    spans = accel.multiaddr_scan(data)
    assert len(spans) % 3 == 0 and spans[-1] == len(data)
    assert spans == _pure.multiaddr_scan(data)


BAD = [
    b"\x04\x7f\x00\x00",  # ip4 truncated
    b"\x06\x01",  # tcp truncated
    b"\x29" + bytes(15),  # ip6 truncated
    b"\x05\x00",  # unknown code 5
    b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # varint longer than 9 bytes
    b"\x80\x00",  # non-minimal varint
    b"\x91",  # truncated code varint
    b"\x35",  # dns without a length
    b"\x35\x05abc",  # length past the end
    b"\x35\x00",  # empty dns name
    b"\x35\x03a/b",  # "/" in a dns name
    b"\x35\x02\xc3\x28",  # invalid UTF-8
    b"\x36\x80\x80\x80\x80\x80\x80\x80\x80\x01",  # huge length
    b"\x90\x03\x00",  # empty unix path
    b"\xa5\x03\x00",  # empty p2p multihash
    b"\xa5\x03\x03\x12\x20\x00",  # multihash shorter than declared
    b"\xa5\x03\x02\x12\x80",  # multihash length varint truncated
    b"\xa5\x03\x03\x00\x00\x00",  # trailing byte after an identity multihash
    b"\xd2\x03\x01\x12",  # certhash with a truncated multihash
    b"\xbc\x03" + bytes(12),  # onion with port 0
    b"\xbd\x03" + bytes(20),  # onion3 truncated
    b"\xbe\x03\x0a" + bytes(10),  # garlic64 too short
    b"\xbf\x03\x21" + bytes(33),  # garlic32 of 33 bytes
    b"\x04" * (1025),  # over the size cap
    b"\x2a\x00",  # empty ip6zone
]


@pytest.mark.parametrize("data", BAD, ids=lambda b: b.hex()[:20])
def test_bad_input_raises_multiaddr_error(accel: ModuleType, data: bytes) -> None:
    with pytest.raises(MultiaddrError):
        accel.multiaddr_scan(data)


def test_garlic_and_onion_sizes(accel: ModuleType) -> None:
    assert accel.multiaddr_scan(b"\xbf\x03\x20" + bytes(32))[0] == 447
    assert accel.multiaddr_scan(b"\xbf\x03\x23" + bytes(35))[0] == 447
    assert accel.multiaddr_scan(b"\xbe\x03\x82\x03" + bytes(386))[0] == 446
    assert accel.multiaddr_scan(b"\xbc\x03" + bytes(11) + b"\x01")[0] == 444
    assert accel.multiaddr_scan(b"\xbd\x03" + bytes(35) + b"\x01\x00")[0] == 445


def test_every_truncation_of_vectors(accel: ModuleType) -> None:
    for data in VALID:
        for cut in range(len(data)):
            try:
                spans = accel.multiaddr_scan(data[:cut])
            except MultiaddrError:
                continue
            # A cut on a component boundary is itself a valid multiaddr.
            assert spans == _pure.multiaddr_scan(data[:cut])
            assert not spans or spans[-1] == cut


def _outcome(module: ModuleType, data: bytes) -> object:
    try:
        return module.multiaddr_scan(data)
    except DecodeError as exc:
        return type(exc)


@settings(max_examples=500)
@given(st.binary(max_size=64))
def test_random_bytes_only_decode_errors(data: bytes) -> None:
    outcome = _outcome(_pure, data)
    if _native is not None:
        assert _outcome(_native, data) == outcome


@settings(max_examples=300)
@given(st.sampled_from(VALID), st.integers(0, 200), st.binary(min_size=1, max_size=4))
def test_mutated_vectors_same_outcome(data: bytes, position: int, junk: bytes) -> None:
    position %= len(data)
    mutated = data[:position] + junk + data[position + len(junk) :]
    outcome = _outcome(_pure, mutated)
    if _native is not None:
        assert _outcome(_native, mutated) == outcome


def test_random_structured_fuzz(accel: ModuleType) -> None:
    rng = random.Random(1234)
    pieces = [b"\x04", b"\x06", b"\x29", b"\x35", b"\xa5\x03", b"\xd2\x03", b"\x90\x03", b"\xcd\x03", b"\x7f"]
    for _ in range(3000):
        data = b"".join(
            rng.choice(pieces) + rng.randbytes(rng.randrange(0, 6)) for _ in range(rng.randrange(1, 6))
        )
        assert _outcome(accel, data) == _outcome(_pure, data)


def test_non_buffer_is_type_error(accel: ModuleType) -> None:
    with pytest.raises(TypeError):
        accel.multiaddr_scan("/ip4/1.2.3.4")
