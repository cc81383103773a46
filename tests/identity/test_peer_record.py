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
    LEGACY_PEER_RECORD_DOMAIN,
    LEGACY_PEER_RECORD_PAYLOAD_TYPE,
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


# --- rust-libp2p's legacy records ----------------------------------------------------------

# Captured from the rust-libp2p 0.57.1 interop peer (interop/rust, `listen --signed-peer-record
# --listen /ip4/127.0.0.1/tcp/4001 --key-seed 000102..1f`, Ed25519 and then `--key-type secp256k1`):
# the signedPeerRecord field of its identify message, as libp2p-identify 0.48 builds it.
RUST_PEERS = ["12D3KooWA4Xop1JaT3MHxwYMkCepYsv4iPVopMXwCz5iHYdBfeSB",
              "16Uiu2HAmL28ttDteu7271Jq6NgB1ZRkjcseHK3nMp91fYPQcoweh"]
RUST_ENVELOPES = [bytes.fromhex(
    "0a240801122003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8121c2f6c69627032702f726f75"
    "74696e672d73746174652d7265636f72641a3a0a2600240801122003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f"
    "1ddc8664125531b810e8aeb6d8061a0a0a08047f000001060fa12a40069c4bfaa4a047b88ee2a349140d81c10fff023972413c"
    "2e29a84f3d3c85844cd880a6e7f4aa32af450f5a8e5bf3a2c24b64c4671097279b07f92e951632b405"), bytes.fromhex(
    "0a2508021221036d6caac248af96f6afa7f904f550253a0f3ef3f5aa2fe6838a95b216691468e2121c2f6c69627032702f726f"
    "7574696e672d73746174652d7265636f72641a3b0a27002508021221036d6caac248af96f6afa7f904f550253a0f3ef3f5aa2f"
    "e6838a95b216691468e210e8aeb6d8061a0a0a08047f000001060fa12a473045022100848e272912ee4d77175b7f7788719675"
    "15408b24ee78ab4879a1d9bcdc9bf10f022069b7568fe04acb20a815d328758923dc0fb5a4a41149502d91accf4c1ef80a5a")]


def test_legacy_constants() -> None:
    # libp2p-core 0.44 src/peer_record.rs: LEGACY_DOMAIN_SEP, LEGACY_PAYLOAD_TYPE (its UTF-8 bytes)
    assert LEGACY_PEER_RECORD_DOMAIN == "libp2p-routing-state"
    assert LEGACY_PEER_RECORD_PAYLOAD_TYPE == b"/libp2p/routing-state-record"


@pytest.mark.parametrize("i", [0, 1], ids=["ed25519", "secp256k1"])
def test_rust_legacy_envelope_vector(i: int) -> None:
    env, record = consume_peer_record(RUST_ENVELOPES[i], legacy=True)
    assert env.payload_type == LEGACY_PEER_RECORD_PAYLOAD_TYPE
    assert str(record.peer_id) == RUST_PEERS[i]
    assert record.seq == 1796052840  # rust-libp2p's seq: unix time in seconds
    assert [str(a) for a in record.addrs] == ["/ip4/127.0.0.1/tcp/4001"]
    assert record.marshal() == env.payload
    # a strict (standard-only) consumer refuses it: the signature is for the legacy domain
    with pytest.raises(EnvelopeSignatureError):
        consume_peer_record(RUST_ENVELOPES[i])


def _legacy(key: Any, record: PeerRecord, domain: str = LEGACY_PEER_RECORD_DOMAIN,
            payload_type: bytes = LEGACY_PEER_RECORD_PAYLOAD_TYPE) -> bytes:
    return SignedEnvelope.seal(key, domain, payload_type, record.marshal()).marshal()


def test_locally_sealed_legacy_record() -> None:
    record = PeerRecord(PEER_ID, SEQ, ADDRS)
    data = _legacy(KEY, record)
    env, again = consume_peer_record(data, legacy=True)
    assert again == record
    assert env.public_key == KEY.public_key
    assert PeerRecord.from_envelope(env, legacy=True) == record
    # only when asked for
    with pytest.raises(EnvelopeSignatureError):
        consume_peer_record(data)
    with pytest.raises(PeerRecordError, match="payload type"):
        PeerRecord.from_envelope(env)
    # standard records still work with legacy=True
    env, again = consume_peer_record(ENVELOPE, legacy=True)
    assert again.seq == SEQ and env.payload_type == PEER_RECORD_PAYLOAD_TYPE


def test_legacy_record_needs_the_legacy_domain() -> None:
    # the payload type picks the domain: neither mix verifies
    record = PeerRecord(PEER_ID, SEQ, ADDRS)
    with pytest.raises(EnvelopeSignatureError):
        consume_peer_record(_legacy(KEY, record, domain=PEER_RECORD_DOMAIN), legacy=True)
    with pytest.raises(EnvelopeSignatureError):
        consume_peer_record(_legacy(KEY, record, payload_type=PEER_RECORD_PAYLOAD_TYPE), legacy=True)


def test_legacy_record_of_another_peer() -> None:
    # a legacy record naming PEER_ID, signed by another key
    with pytest.raises(PeerRecordError, match="another peer"):
        consume_peer_record(_legacy(generate_key_pair(), PeerRecord(PEER_ID, SEQ, ADDRS)), legacy=True)


def test_legacy_other_payload_type_refused() -> None:
    with pytest.raises(EnvelopeError, match="payload type"):
        consume_peer_record(_legacy(KEY, PeerRecord(PEER_ID, SEQ, ADDRS), payload_type=b"\x03\x02"), legacy=True)


def test_legacy_tampered_envelope_bits() -> None:
    data = RUST_ENVELOPES[0]
    for i in range(len(data)):
        b = bytearray(data)
        b[i] ^= 0x04
        with pytest.raises(EnvelopeError):
            consume_peer_record(bytes(b), legacy=True)


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
