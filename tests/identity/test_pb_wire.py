"""libp2p.pb.wire against protobuf's generated code: the hand-written encoders for identify, the
signed envelope, the peer record and the Noise payload write the bytes protobuf writes, and their
decoders accept, refuse and read what protobuf does (seeded mutations of real messages, and edge
cases: long varints, groups, fixed-size and unknown fields, wrong wire types, unknown key types)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from google.protobuf.message import DecodeError as ProtobufDecodeError

from libp2p._accel import varint_encode
from libp2p.errors import DecodeError, EnvelopeError, PeerRecordError, VarintRangeError
from libp2p.identity.envelope import SignedEnvelope
from libp2p.identity.keys import KeyType, generate_key_pair, unmarshal_public_key
from libp2p.identity.peer_id import PeerId
from libp2p.identity.peer_record import PeerRecord
from libp2p.multiaddr import Multiaddr
from libp2p.pb import crypto_pb2, envelope_pb2, identify_pb2, noise_pb2, peer_record_pb2, wire
from libp2p.protocols.identify import wire as identify_wire

KEY = generate_key_pair()
PK = KEY.public_key.marshal()
RAW = KEY.public_key.raw()
RECORD = PeerRecord(PeerId.from_public_key(KEY.public_key), 12345678901234, [Multiaddr("/ip4/1.2.3.4/tcp/1")])
ENVELOPE = RECORD.seal(KEY)
INFO = identify_wire.IdentifyInfo(
    public_key=KEY.public_key,
    listen_addrs=[Multiaddr("/ip4/1.2.3.4/tcp/1"), Multiaddr("/ip6/::1/tcp/2")],
    protocols=["/a", "/ipfs/id/1.0.0", ""],
    observed_addr=Multiaddr("/ip4/5.6.7.8/tcp/9"),
    protocol_version="ipfs/0.1.0",
    agent_version="x" * 300,
    signed_peer_record=b"rec",
)


def _identify_pb(info: identify_wire.IdentifyInfo) -> bytes:
    assert info.public_key is not None and info.listen_addrs is not None and info.observed_addr is not None
    return identify_pb2.Identify(
        publicKey=info.public_key.marshal(), listenAddrs=[bytes(a) for a in info.listen_addrs],
        protocols=info.protocols, observedAddr=bytes(info.observed_addr),
        protocolVersion=info.protocol_version,
        agentVersion=info.agent_version, signedPeerRecord=info.signed_peer_record,
    ).SerializeToString()


# --- encoders -------------------------------------------------------------------------------


@pytest.mark.parametrize("muxers", [(), ("/yamux/1.0.0",), ("/yamux/1.0.0", "/mplex/6.7.0")])
def test_noise_payload_is_protobufs(muxers: tuple[str, ...]) -> None:
    pb = noise_pb2.NoiseHandshakePayload(identity_key=PK, identity_sig=b"s" * 64)
    if muxers:
        pb.extensions.stream_muxers.extend(muxers)
    assert wire.noise_payload(PK, b"s" * 64, muxers) == pb.SerializeToString()


def test_identify_encoding_is_protobufs() -> None:
    assert identify_wire.encode_identify(INFO) == _identify_pb(INFO)
    assert identify_wire.encode_identify(identify_wire.IdentifyInfo()) == b""
    assert identify_wire.encode_identify(identify_wire.IdentifyInfo(agent_version="")) == (
        identify_pb2.Identify(agentVersion="").SerializeToString()
    )


@pytest.mark.parametrize("seq", [0, 1, 12345678901234, 2**64 - 1])
def test_peer_record_encoding_is_protobufs(seq: int) -> None:
    record = PeerRecord(RECORD.peer_id, seq, RECORD.addrs)
    pb = peer_record_pb2.PeerRecord(peer_id=bytes(RECORD.peer_id), seq=seq)
    for addr in RECORD.addrs:
        pb.addresses.add(multiaddr=bytes(addr))
    assert record.marshal() == pb.SerializeToString()


@pytest.mark.parametrize("key_type", [KeyType.Ed25519, KeyType.ECDSA, KeyType.Secp256k1])
@pytest.mark.parametrize("payload", [b"", b"payload"])
def test_envelope_encoding_is_protobufs(key_type: KeyType, payload: bytes) -> None:
    key = generate_key_pair(key_type)
    env = SignedEnvelope.seal(key, "domain", b"\x03\x01" if payload else b"", payload)
    pb = envelope_pb2.Envelope(
        public_key=crypto_pb2.PublicKey(Type=key.public_key.key_type.name, Data=key.public_key.raw()),
        payload_type=env.payload_type, payload=env.payload, signature=env.signature,
    )
    assert env.marshal() == pb.SerializeToString()


def test_varint_covers_64_bits_and_no_more() -> None:
    assert wire.varint(2**64 - 1) == b"\xff" * 9 + b"\x01"
    assert wire.varint(300) == varint_encode(300)
    for bad in (-1, 2**64):
        with pytest.raises(VarintRangeError):
            wire.varint(bad)


# --- decoders, against protobuf's ----------------------------------------------------------


def _identify_by_protobuf(messages: list[bytes]) -> Any:
    msg = identify_pb2.Identify()
    try:
        for body in messages:
            msg.MergeFromString(body)
    except (ProtobufDecodeError, ValueError):
        return "error"
    out: dict[str, Any] = {}
    if msg.HasField("publicKey"):
        try:
            out["key"] = unmarshal_public_key(msg.publicKey).marshal()
        except DecodeError:
            return "error"
    if msg.listenAddrs:
        out["addrs"] = [bytes(a) for a in identify_wire._addrs(list(msg.listenAddrs))]
    if msg.protocols:
        out["protocols"] = [p for p in msg.protocols[:identify_wire.MAX_PROTOCOLS]
                            if isinstance(p, str) and 0 < len(p) <= identify_wire.MAX_STRING]
    if msg.HasField("observedAddr"):
        try:
            out["observed"] = bytes(Multiaddr.from_bytes(msg.observedAddr))
        except DecodeError:
            pass
    for name in ("protocolVersion", "agentVersion"):
        if msg.HasField(name):
            value = getattr(msg, name)
            out[name] = (value.decode("utf-8", "replace") if isinstance(value, bytes) else value)[
                :identify_wire.MAX_STRING]
    if msg.HasField("signedPeerRecord"):
        out["record"] = msg.signedPeerRecord
    return out


def _identify_by_wire(messages: list[bytes]) -> Any:
    try:
        info = identify_wire.decode_identify(messages)
    except identify_wire.IdentifyDecodeError:
        return "error"
    out: dict[str, Any] = {}
    if info.public_key is not None:
        out["key"] = info.public_key.marshal()
    if info.listen_addrs is not None:
        out["addrs"] = [bytes(a) for a in info.listen_addrs]
    if info.protocols is not None:
        out["protocols"] = info.protocols
    if info.observed_addr is not None:
        out["observed"] = bytes(info.observed_addr)
    if info.protocol_version is not None:
        out["protocolVersion"] = info.protocol_version
    if info.agent_version is not None:
        out["agentVersion"] = info.agent_version
    if info.signed_peer_record is not None:
        out["record"] = info.signed_peer_record
    return out


def _envelope_by_protobuf(data: bytes) -> Any:
    msg = envelope_pb2.Envelope()
    try:
        msg.ParseFromString(data)
    except (ProtobufDecodeError, ValueError):
        return "error"
    if not msg.HasField("public_key"):
        return "error"
    try:
        key = unmarshal_public_key(msg.public_key.SerializePartialToString())
    except DecodeError:
        return "error"
    return key.marshal(), msg.payload_type, msg.payload, msg.signature


def _envelope_by_wire(data: bytes) -> Any:
    try:
        env = SignedEnvelope._decode(data)
    except EnvelopeError:
        return "error"
    return env.public_key.marshal(), env.payload_type, env.payload, env.signature


def _record_by_protobuf(data: bytes) -> Any:
    msg = peer_record_pb2.PeerRecord()
    try:
        msg.ParseFromString(data)
        return bytes(PeerId.from_bytes(msg.peer_id)), msg.seq, [bytes(Multiaddr.from_bytes(a.multiaddr))
                                                               for a in msg.addresses]
    except (ProtobufDecodeError, DecodeError, ValueError):
        return "error"


def _record_by_wire(data: bytes) -> Any:
    try:
        record = PeerRecord.unmarshal(data)
    except PeerRecordError:
        return "error"
    return bytes(record.peer_id), record.seq, [bytes(a) for a in record.addrs]


_TAGS = (0x08, 0x0A, 0x10, 0x12, 0x1A, 0x22, 0x2A, 0x32, 0x42,  # varint and length-delimited fields
         0x0B, 0x0C, 0x0D, 0x09, 0x15, 0x1B, 0x1C, 0x4A, 0x45)  # groups, fixed-size, unknown


def _mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        if op == 0 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 1 and b:
            start = rng.randrange(len(b))
            del b[start:start + rng.randint(1, 8)]
        elif op == 2:
            at = rng.randint(0, len(b))
            b[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 6)))
        elif op == 3:
            b += bytes([rng.choice(_TAGS)]) + bytes(rng.randrange(256) for _ in range(rng.randint(0, 5)))
        elif op == 4:
            b += b[: rng.randint(0, len(b))]
        elif b:
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    return bytes(b)


def test_mutated_messages_decode_as_protobuf_decodes_them() -> None:
    rng = random.Random(16)
    identify = [_identify_pb(INFO), identify_pb2.Identify(protocols=["/x"]).SerializeToString()]
    mismatches = []
    errors = [0, 0, 0]
    for _ in range(2000):
        data = _mutate(rng, rng.choice(identify))
        if _identify_by_protobuf([data]) != _identify_by_wire([data]):
            mismatches.append(("identify", data.hex()))
        errors[0] += _identify_by_protobuf([data]) == "error"
        data = _mutate(rng, ENVELOPE.marshal())
        if _envelope_by_protobuf(data) != _envelope_by_wire(data):
            mismatches.append(("envelope", data.hex()))
        errors[1] += _envelope_by_protobuf(data) == "error"
        data = _mutate(rng, RECORD.marshal())
        if _record_by_protobuf(data) != _record_by_wire(data):
            mismatches.append(("record", data.hex()))
        errors[2] += _record_by_protobuf(data) == "error"
    assert mismatches == []
    assert all(200 < n < 1800 for n in errors), errors  # both accepted and refused inputs were tried


def _v(n: int) -> bytes:
    return wire.varint(n)


def _key(key_type: int, data: bytes) -> bytes:
    return b"\x08" + _v(key_type) + b"\x12" + _v(len(data)) + data


@pytest.mark.parametrize("messages", [
    [b"\x0a" + _v(len(PK)) + PK + b"\x1a\x02\xff\xfe" + b"\x2a\x02\xff\x41" + b"\x32\x01\x80"],  # not UTF-8
    [b"\x1a\x02/a", b"\x1a\x02/b\x2a\x01x", b"\x2a\x01y"],  # merged: repeated concatenate, later wins
    [b"\x0b\x08\x01\x0c\x1a\x02/a"], [b"\x0b\x08\x01\x14"], [b"\x0c"], [b"\x0e\x00"], [b"\x00\x00"],
    [b"\x1a\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01"], [b"\x08" + b"\xff" * 9 + b"\x7f" + b"\x1a\x01a"],
    [b"\x08" + b"\xff" * 10 + b"\x01"], [b"\xff\xff\xff\xff\x0f\x00"], [b"\xff\xff\xff\xff\x1f\x00"],
    [b"\x0d\x01\x02\x03\x04\x1a\x01a"], [b"\x09\x01\x02\x03"], [b"\x08\x01\x1a\x01a"], [b"\x18\x05\x1a\x01a"],
])
def test_identify_edge_cases(messages: list[bytes]) -> None:
    assert _identify_by_wire(messages) == _identify_by_protobuf(messages)


@pytest.mark.parametrize("data", [
    b"\x0a" + _v(len(_key(1, RAW))) + _key(1, RAW) + b"\x12\x02\x03\x01",
    b"\x0a" + _v(len(_key(7, RAW))) + _key(7, RAW),  # a key type protobuf does not know
    b"\x0a\x02\x08\x01\x0a" + _v(len(RAW) + 2) + b"\x12" + _v(len(RAW)) + RAW,  # public_key twice: merged
    b"\x0a" + _v(len(_key(1, RAW)) + 5) + _key(1, RAW) + b"\x1d\x01\x02\x03\x04",  # a fixed32 in the key
    b"\x0a" + _v(len(_key(1, RAW)) + 2) + _key(1, RAW) + b"\x18\x00",  # an unknown varint in the key
    b"\x0a" + _v(len(_key(1, RAW)) + 2) + _key(1, RAW) + b"\x1b\x1c",  # a group in the key
    b"\x0a" + _v(len(RAW) + 4) + b"\x12" + _v(len(RAW)) + RAW + b"\x08\x01",  # Data before Type
    b"\x0a" + _v(len(RAW) + 13) + b"\x08\x81\x80\x80\x80\x80\x80\x80\x80\x80\x00\x12" + _v(len(RAW)) + RAW,
    b"\x0a" + _v(len(RAW) + 13) + b"\x08" + b"\xff" * 9 + b"\x01\x12" + _v(len(RAW)) + RAW,
    b"\x0a\x00", b"", b"\x12\x00",
    b"\x0a" + _v(len(_key(1, RAW))) + _key(1, RAW) + b"\x10\x05\x1a\x00\x2a\x00",  # payload_type as a varint
])
def test_envelope_edge_cases(data: bytes) -> None:
    assert _envelope_by_wire(data) == _envelope_by_protobuf(data)


_PID = bytes(RECORD.peer_id)
_MA = bytes(RECORD.addrs[0])


@pytest.mark.parametrize("data", [
    b"\x0a" + _v(len(_PID)) + _PID + b"\x10" + b"\xff" * 9 + b"\x01",
    b"\x0a" + _v(len(_PID)) + _PID + b"\x10" + b"\xff" * 9 + b"\x7f",  # bits past 64 dropped
    b"\x0a" + _v(len(_PID)) + _PID + b"\x1a\x00",
    b"\x0a" + _v(len(_PID)) + _PID + b"\x1a\x03\x08\x01\x0c",
    b"\x0a" + _v(len(_PID)) + _PID + b"\x1a" + _v(len(_MA) + 4) + b"\x0a" + _v(len(_MA)) + _MA + b"\x10\x01",
    b"\x0a" + _v(len(_PID)) + _PID + b"\x12\x01\x05",
    b"\x0a" + _v(len(_PID)) + _PID + b"\x1a\x02\x10\x01",
])
def test_peer_record_edge_cases(data: bytes) -> None:
    assert _record_by_wire(data) == _record_by_protobuf(data)


def test_malformed_bytes_raise_a_decode_error() -> None:
    malformed = (b"\x08", b"\x0a\x05ab", b"\x00\x00", b"\x0f", b"\x0c", b"\x0b\x08\x01",
                 b"\x08" + b"\x80" * 10 + b"\x01")
    for data in malformed:
        with pytest.raises(wire.WireError) as raised:
            wire.fields(data)
        assert isinstance(raised.value, DecodeError)
