"""Peer records: the derived js-libp2p vector, consume checks, sequence numbers, fuzzing."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libp2p.errors import (
    DecodeError,
    EnvelopeError,
    EnvelopeSignatureError,
    LocalProtocolError,
    PeerRecordError,
)
from libp2p.identity.envelope import SignedEnvelope
from libp2p.identity.keys import KeyType, generate_key_pair, unmarshal_private_key
from libp2p.identity.peer_id import PeerId
from libp2p.identity.peer_record import (
    PEER_RECORD_DOMAIN,
    PEER_RECORD_PAYLOAD_TYPE,
    PeerRecord,
    consume_peer_record,
    new_seq,
)
from libp2p.multiaddr import Multiaddr
from tests.conftest import load_vector

V: Any = load_vector("derived/signed-envelope-peer-record.json")
KEY = unmarshal_private_key(bytes.fromhex(V["signing_key_private_protobuf_hex"]))
PEER_ID = PeerId.from_string(V["peer_id"])
SEQ = int(V["seq"])
ADDRS = [Multiaddr(s) for s in V["multiaddrs"]]
PAYLOAD = bytes.fromhex(V["peer_record_payload_hex"])
ENVELOPE = bytes.fromhex(V["envelope_hex"])


def test_constants() -> None:
    assert PEER_RECORD_DOMAIN == V["domain"] == "libp2p-peer-record"
    assert PEER_RECORD_PAYLOAD_TYPE == bytes.fromhex(V["payload_type_hex"]) == b"\x03\x01"


def test_marshal_matches_vector() -> None:
    assert PeerId.from_public_key(KEY.public_key) == PEER_ID
    record = PeerRecord(PEER_ID, SEQ, ADDRS)
    assert record.marshal() == PAYLOAD


def test_unmarshal_vector() -> None:
    record = PeerRecord.unmarshal(PAYLOAD)
    assert record.peer_id == PEER_ID
    assert record.seq == SEQ
    assert list(record.addrs) == ADDRS
    assert [str(a) for a in record.addrs] == V["multiaddrs"]
    assert record == PeerRecord(PEER_ID, SEQ, ADDRS)
    assert hash(record) == hash(PeerRecord(PEER_ID, SEQ, tuple(ADDRS)))


def test_seal_reproduces_vector_envelope() -> None:
    env = PeerRecord(PEER_ID, SEQ, ADDRS).seal(KEY)
    assert env.payload_type == PEER_RECORD_PAYLOAD_TYPE
    assert env.signature.hex() == V["signature_hex"]
    assert env.marshal() == ENVELOPE


def test_consume_vector() -> None:
    env, record = consume_peer_record(ENVELOPE)
    assert env.public_key == KEY.public_key
    assert record == PeerRecord(PEER_ID, SEQ, ADDRS)
    assert PeerRecord.from_envelope(env) == record


@pytest.mark.parametrize("key_type", [KeyType.Ed25519, KeyType.Secp256k1, KeyType.ECDSA])
def test_round_trip_generated_keys(key_type: KeyType) -> None:
    key = generate_key_pair(key_type)
    pid = PeerId.from_public_key(key.public_key)
    record = PeerRecord.new(pid, ADDRS)
    data = record.seal(key).marshal()
    env, again = consume_peer_record(data)
    assert again == record
    assert env.public_key == key.public_key


def test_rsa_vector_key_round_trip() -> None:
    # RSA peer IDs are sha2-256 hashes: the key is not inlined and must come from the envelope.
    vectors = load_vector("official/peer-id-key-vectors.json")["vectors"]
    rsa_key = unmarshal_private_key(
        bytes.fromhex(next(v["hex"] for v in vectors if v["name"] == "rsa private key"))
    )
    pid = PeerId.from_public_key(rsa_key.public_key)
    assert pid.public_key is None
    record = PeerRecord(pid, 7, ADDRS)
    env, again = consume_peer_record(record.seal(rsa_key).marshal())
    assert again == record and env.public_key == rsa_key.public_key


def test_empty_record() -> None:
    record = PeerRecord(PEER_ID, 0, [])
    assert PeerRecord.unmarshal(record.marshal()) == record
    _, again = consume_peer_record(record.seal(KEY).marshal())
    assert again == record


def test_max_seq() -> None:
    record = PeerRecord(PEER_ID, 2**64 - 1, ADDRS)
    assert PeerRecord.unmarshal(record.marshal()).seq == 2**64 - 1


@pytest.mark.parametrize("seq", [-1, 2**64])
def test_seq_out_of_range(seq: int) -> None:
    with pytest.raises(LocalProtocolError):
        PeerRecord(PEER_ID, seq, ADDRS)


# --- consume checks -------------------------------------------------------------------------


def test_wrong_payload_type() -> None:
    env = SignedEnvelope.seal(KEY, PEER_RECORD_DOMAIN, b"\x03\x02", PAYLOAD)
    with pytest.raises(PeerRecordError, match="payload type"):
        consume_peer_record(env.marshal())


def test_wrong_domain() -> None:
    env = SignedEnvelope.seal(KEY, "libp2p-relay-rsvp", PEER_RECORD_PAYLOAD_TYPE, PAYLOAD)
    with pytest.raises(EnvelopeSignatureError):
        consume_peer_record(env.marshal())


def test_record_of_another_peer() -> None:
    other = generate_key_pair()
    # A record naming PEER_ID, but signed by `other`.
    env = SignedEnvelope.seal(other, PEER_RECORD_DOMAIN, PEER_RECORD_PAYLOAD_TYPE, PAYLOAD)
    with pytest.raises(PeerRecordError, match="another peer"):
        consume_peer_record(env.marshal())
    with pytest.raises(PeerRecordError):
        PeerRecord.from_envelope(SignedEnvelope.open(env.marshal(), PEER_RECORD_DOMAIN))


def test_seal_with_wrong_key_refused() -> None:
    with pytest.raises(LocalProtocolError):
        PeerRecord(PEER_ID, SEQ, ADDRS).seal(generate_key_pair())


def test_garbage_payload_in_valid_envelope() -> None:
    env = SignedEnvelope.seal(KEY, PEER_RECORD_DOMAIN, PEER_RECORD_PAYLOAD_TYPE, b"\xff\xff\xff")
    with pytest.raises(PeerRecordError):
        consume_peer_record(env.marshal())


def test_tampered_envelope_bits() -> None:
    for i in range(len(ENVELOPE)):
        b = bytearray(ENVELOPE)
        b[i] ^= 0x04
        with pytest.raises(EnvelopeError):
            consume_peer_record(bytes(b))


# --- decoding robustness --------------------------------------------------------------------


def _decodes_or_decode_error(data: bytes) -> None:
    try:
        record = PeerRecord.unmarshal(data)
    except DecodeError:
        return
    assert PeerRecord.unmarshal(record.marshal()) == record


def test_every_truncation_of_the_payload() -> None:
    for n in range(len(PAYLOAD)):
        _decodes_or_decode_error(PAYLOAD[:n])


@pytest.mark.parametrize(
    "data",
    [
        b"",  # no peer id
        b"\x0a\x00",  # empty peer id
        b"\x0a\x03abc",  # not a multihash
        PAYLOAD + b"\x1a\x03\x0a\x01\xff",  # invalid multiaddr
        PAYLOAD + b"\x1a\x02\x0a\x05",  # truncated address
        b"\x0a\xff",
        b"\x10" + b"\xff" * 11,  # overlong varint
        b"\x00" * (64 * 1024 + 1),
    ],
)
def test_malformed_records(data: bytes) -> None:
    with pytest.raises(PeerRecordError):
        PeerRecord.unmarshal(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_random_bytes(data: bytes) -> None:
    _decodes_or_decode_error(data)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0), st.integers(min_value=1, max_value=255))
def test_fuzz_mutated_payload(pos: int, xor: int) -> None:
    b = bytearray(PAYLOAD)
    b[pos % len(b)] ^= xor
    _decodes_or_decode_error(bytes(b))


# --- sequence numbers -----------------------------------------------------------------------


def test_new_seq_strictly_increasing() -> None:
    seqs = [new_seq() for _ in range(10000)]
    assert all(a < b for a, b in itertools.pairwise(seqs))
    assert seqs[0] > 1_600_000_000 * 10**9  # unix time in ns


def test_new_seq_survives_clock_going_back(monkeypatch: pytest.MonkeyPatch) -> None:
    first = new_seq()
    # The clock steps back: seqs must still increase.
    monkeypatch.setattr(time, "time_ns", lambda: 5)
    assert new_seq() == first + 1
    assert new_seq() == first + 2
