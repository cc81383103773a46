"""Validators (/pk, /ipns), IPNS records and DAG-CBOR, and the bounded record store."""

from __future__ import annotations

import os

import pytest

from libp2p.identity.keys import KeyType, generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.pb import ipns_pb2
from libp2p.protocols.kad.ipns import (
    SIGNATURE_V2_PREFIX,
    IpnsError,
    cbor_decode,
    cbor_encode,
    create_ipns_record,
    decode_ipns_record,
    format_rfc3339,
    parse_rfc3339,
    verify_ipns_record,
)
from libp2p.protocols.kad.records import (
    InvalidRecordError,
    IpnsValidator,
    MemoryRecordStore,
    PublicKeyValidator,
    StoreFullError,
    default_validator,
)

NOW = 1_700_000_000.0


def ipns_key(pid: PeerId) -> bytes:
    return b"/ipns/" + pid.to_bytes()


# --- DAG-CBOR and times ---------------------------------------------------------------------------


def test_cbor_canonical_key_order_and_round_trip() -> None:
    data = cbor_encode({"Value": b"/ipfs/x", "Validity": b"t", "ValidityType": 0, "Sequence": 1, "TTL": 5})
    # length-first order: TTL, Value, Sequence, Validity, ValidityType
    assert data[0] == 0xA5
    assert data.index(b"TTL") < data.index(b"Value") < data.index(b"Sequence") < data.index(b"Validity")
    assert cbor_decode(data) == {"Value": b"/ipfs/x", "Validity": b"t", "ValidityType": 0, "Sequence": 1, "TTL": 5}
    for value in [0, 23, 24, 255, 256, 65535, 65536, 2**32, 2**64 - 1, -1, -500, "é", [1, [2]], True, None]:
        assert cbor_decode(cbor_encode(value)) == value
    assert cbor_encode(1000) == bytes.fromhex("1903e8")


@pytest.mark.parametrize("bad", [b"", b"\x19\x03", b"\x5f", b"\xa1\x01\x02", b"\xa2\x61a\x01\x61a\x02", b"\x01\x02"])
def test_cbor_rejects_malformed(bad: bytes) -> None:
    with pytest.raises(IpnsError):
        cbor_decode(bad)


def test_rfc3339() -> None:
    assert parse_rfc3339("1970-01-01T00:00:00.000000001Z") == pytest.approx(1e-9)
    assert parse_rfc3339("2001-02-03T04:05:06+01:00") == parse_rfc3339("2001-02-03T03:05:06Z")
    assert parse_rfc3339(format_rfc3339(NOW + 0.25)) == pytest.approx(NOW + 0.25)
    assert format_rfc3339(0.0) == "1970-01-01T00:00:00.000000000Z"
    with pytest.raises(IpnsError):
        parse_rfc3339("yesterday")


# --- IPNS ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key_type", [KeyType.Ed25519, KeyType.Secp256k1, KeyType.ECDSA])
def test_ipns_record_verifies(key_type: KeyType) -> None:
    key = generate_key_pair(key_type)
    pid = PeerId.from_public_key(key.public_key)
    raw = create_ipns_record(key, b"/ipfs/bafkqaddwgevxmmraojswg33smq", 7, NOW + 3600)
    record = verify_ipns_record(pid, raw, NOW)
    assert record.sequence == 7 and record.value == b"/ipfs/bafkqaddwgevxmmraojswg33smq"
    # Keys that cannot be inlined in the name travel in the record.
    assert (record.public_key is not None) == (pid.public_key is None)
    IpnsValidator(lambda: NOW).validate(ipns_key(pid), raw)


def test_ipns_v2_only_record() -> None:
    key = generate_key_pair()
    pid = PeerId.from_public_key(key.public_key)
    raw = create_ipns_record(key, b"/ipfs/x", 1, NOW + 60, v1_compatible=False)
    entry = ipns_pb2.IpnsEntry.FromString(raw)
    assert not entry.HasField("value") and entry.HasField("signatureV2")
    verify_ipns_record(pid, raw, NOW)


def test_ipns_expired_and_foreign_and_tampered() -> None:
    key, other = generate_key_pair(), generate_key_pair()
    pid = PeerId.from_public_key(key.public_key)
    raw = create_ipns_record(key, b"/ipfs/x", 1, NOW + 60)
    with pytest.raises(IpnsError, match="expired"):
        verify_ipns_record(pid, raw, NOW + 61)
    with pytest.raises(IpnsError):
        verify_ipns_record(PeerId.from_public_key(other.public_key), raw, NOW)
    entry = ipns_pb2.IpnsEntry.FromString(raw)
    entry.signatureV2 = bytes(64)
    with pytest.raises(IpnsError, match="signature"):
        verify_ipns_record(pid, entry.SerializeToString(), NOW)
    # V1 copy that disagrees with the signed data
    entry = ipns_pb2.IpnsEntry.FromString(raw)
    entry.value = b"/ipfs/evil"
    with pytest.raises(IpnsError, match="V1"):
        verify_ipns_record(pid, entry.SerializeToString(), NOW)
    # Data re-signed by another key but kept under this name
    entry = ipns_pb2.IpnsEntry.FromString(raw)
    entry.signatureV2 = other.sign(SIGNATURE_V2_PREFIX + entry.data)
    with pytest.raises(IpnsError):
        verify_ipns_record(pid, entry.SerializeToString(), NOW)
    # A public key field naming someone else
    entry = ipns_pb2.IpnsEntry.FromString(raw)
    entry.pubKey = other.public_key.marshal()
    with pytest.raises(IpnsError, match="does not belong"):
        verify_ipns_record(pid, entry.SerializeToString(), NOW)
    # V1-only
    entry = ipns_pb2.IpnsEntry.FromString(raw)
    entry.ClearField("signatureV2")
    entry.ClearField("data")
    with pytest.raises(IpnsError, match="V1-only"):
        decode_ipns_record(entry.SerializeToString())
    with pytest.raises(IpnsError, match="exceeds"):
        decode_ipns_record(b"\x00" * (10 * 1024 + 1))
    with pytest.raises(IpnsError):
        decode_ipns_record(b"\xff\xff")


def test_ipns_rsa_name_needs_embedded_key() -> None:
    key = generate_key_pair(KeyType.RSA, bits=2048)
    pid = PeerId.from_public_key(key.public_key)
    raw = create_ipns_record(key, b"/ipfs/x", 1, NOW + 60)
    verify_ipns_record(pid, raw, NOW)
    stripped = create_ipns_record(key, b"/ipfs/x", 1, NOW + 60, embed_public_key=False)
    with pytest.raises(IpnsError, match="inline"):
        verify_ipns_record(pid, stripped, NOW)


def test_ipns_select_prefers_sequence_then_validity() -> None:
    key = generate_key_pair()
    pid = PeerId.from_public_key(key.public_key)
    v = IpnsValidator(lambda: NOW)
    a = create_ipns_record(key, b"/ipfs/a", 1, NOW + 100)
    b = create_ipns_record(key, b"/ipfs/b", 2, NOW + 50)
    c = create_ipns_record(key, b"/ipfs/c", 2, NOW + 500)
    assert v.select(ipns_key(pid), [a, b]) == 1
    assert v.select(ipns_key(pid), [a, b, c]) == 2
    assert v.select(ipns_key(pid), [b"junk", a]) == 1


# --- /pk and dispatch ---------------------------------------------------------------------------------


def test_public_key_validator() -> None:
    key, other = generate_key_pair(), generate_key_pair()
    pid = PeerId.from_public_key(key.public_key)
    v = PublicKeyValidator()
    v.validate(b"/pk/" + pid.to_bytes(), key.public_key.marshal())
    with pytest.raises(InvalidRecordError):
        v.validate(b"/pk/" + pid.to_bytes(), other.public_key.marshal())
    with pytest.raises(InvalidRecordError):
        v.validate(b"/pk/" + pid.to_bytes(), b"not a key")
    with pytest.raises(InvalidRecordError):
        v.validate(b"/pk/garbage", key.public_key.marshal())


def test_namespaced_validator_refuses_unknown_namespaces() -> None:
    v = default_validator(lambda: NOW)
    for key in [b"/other/x", b"nonamespace", b"/", b"//x"]:
        with pytest.raises(InvalidRecordError):
            v.validate(key, b"v")


# --- store ------------------------------------------------------------------------------------------------


def rand_peer() -> PeerId:
    return PeerId(bytes.fromhex("002408011220") + os.urandom(32))


def test_store_limits_and_expiry() -> None:
    store = MemoryRecordStore(max_records=2, max_value_size=10, record_ttl=100.0)
    store.put(b"a", b"1", 0.0)
    store.put(b"b", b"2", 0.0)
    store.put(b"a", b"3", 1.0)  # replacing is always allowed
    with pytest.raises(StoreFullError):
        store.put(b"c", b"4", 2.0)
    with pytest.raises(StoreFullError):
        store.put(b"a", b"x" * 11, 2.0)
    assert store.get(b"b", 99.0) is not None
    assert store.get(b"b", 100.0) is None  # expired
    store.put(b"c", b"4", 100.0)  # room again (b expired; pruning made space)
    rec = store.get(b"c", 100.0)
    assert rec is not None and rec.value == b"4"


def test_provider_limits_and_expiry() -> None:
    store = MemoryRecordStore(max_providers_per_key=2, max_provider_keys=2, max_provider_records=3,
                              provider_ttl=100.0, provider_addr_ttl=50.0)
    p1, p2, p3 = rand_peer(), rand_peer(), rand_peer()
    addr = Multiaddr("/ip4/1.2.3.4/tcp/1")
    store.add_provider(b"k1", p1, [addr], 0.0)
    store.add_provider(b"k1", p2, [], 0.0)
    with pytest.raises(StoreFullError):
        store.add_provider(b"k1", p3, [], 0.0)  # per key
    store.add_provider(b"k2", p3, [], 0.0)
    with pytest.raises(StoreFullError):
        store.add_provider(b"k3", p3, [], 0.0)  # keys in all
    with pytest.raises(StoreFullError):
        store.add_provider(b"k2", p1, [], 0.0)  # records in all
    assert {e.peer_id for e in store.providers(b"k1", 10.0)} == {p1, p2}
    assert store.providers(b"k1", 60.0)[0].addrs == ()  # addresses expire first
    store.add_provider(b"k1", p1, [], 90.0)  # re-provide refreshes expiry
    assert [e.peer_id for e in store.providers(b"k1", 120.0)] == [p1]
    assert store.providers(b"k2", 120.0) == []
    store.prune(500.0)
    assert store.provider_keys() == []
