"""The DHT wire format: round trips, limits and malformed input."""

from __future__ import annotations

import os

import pytest

from libp2p._accel import varint_encode
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.pb import kad_pb2
from libp2p.protocols.kad.wire import (
    MAX_MESSAGE_SIZE,
    MAX_PEERS_PER_MESSAGE,
    ConnectionType,
    KadDecodeError,
    KadMessage,
    KadPeer,
    KadRecord,
    MessageReader,
    MessageType,
    decode_message,
    encode_message,
    frame_message,
)


def rand_peer() -> PeerId:
    return PeerId(bytes.fromhex("002408011220") + os.urandom(32))


def test_protocol_id() -> None:
    from libp2p.protocols.kad import PROTOCOL_ID

    assert PROTOCOL_ID == "/ipfs/kad/1.0.0"
    assert MAX_MESSAGE_SIZE == 4 * 1024 * 1024


@pytest.mark.parametrize("mtype", list(MessageType))
def test_round_trip_every_type(mtype: MessageType) -> None:
    peers = tuple(
        KadPeer(rand_peer(), (Multiaddr("/ip4/1.2.3.4/tcp/4001"), Multiaddr("/ip6/::1/tcp/1")), ConnectionType(i % 4))
        for i in range(5)
    )
    msg = KadMessage(
        mtype,
        key=b"/pk/" + rand_peer().to_bytes(),
        record=KadRecord(b"k", b"v" * 100, "2024-01-01T00:00:00Z"),
        closer_peers=peers,
        provider_peers=peers[:2],
    )
    assert decode_message(encode_message(msg)) == msg
    reader = MessageReader()
    framed = frame_message(msg) * 3
    for i in range(0, len(framed), 7):  # byte-dribbled, three messages in a row
        reader.receive_data(framed[i : i + 7])
    assert [reader.next_message() for _ in range(3)] == [msg, msg, msg]
    assert reader.next_message() is None
    reader.receive_eof()


def test_absent_type_is_put_value() -> None:
    # proto3: type 0 (PUT_VALUE) is not written on the wire.
    msg = KadMessage(MessageType.PUT_VALUE, b"key", KadRecord(b"key", b"value"))
    body = encode_message(msg)
    assert body[0] != 0x08
    assert decode_message(body).type is MessageType.PUT_VALUE


def test_go_field_numbers() -> None:
    pb = kad_pb2.Message()
    pb.type = kad_pb2.Message.FIND_NODE
    pb.key = b"abc"
    # field 1 varint 4, field 2 bytes "abc"
    assert pb.SerializeToString() == bytes.fromhex("0804") + bytes.fromhex("1203") + b"abc"


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xff\xff",  # truncated varint tag
        b"\x12\x10abc",  # length runs past the end
        b"\x08\x07",  # unknown message type
        b"\x42\x05\x0a\x09abc",  # a closerPeers entry whose id runs past the entry
    ],
)
def test_malformed_bodies(body: bytes) -> None:
    with pytest.raises(KadDecodeError):
        decode_message(body)


def test_oversized_frame_rejected_before_buffering() -> None:
    reader = MessageReader()
    with pytest.raises(KadDecodeError):
        reader.receive_data(varint_encode(MAX_MESSAGE_SIZE + 1))


def test_truncated_stream() -> None:
    reader = MessageReader()
    reader.receive_data(frame_message(KadMessage(MessageType.PING)) + b"\x05ab")
    assert reader.next_message() == KadMessage(MessageType.PING)
    with pytest.raises(KadDecodeError):
        reader.receive_eof()


def test_too_many_closer_peers() -> None:
    pb = kad_pb2.Message()
    pb.type = kad_pb2.Message.FIND_NODE
    for _ in range(MAX_PEERS_PER_MESSAGE + 1):
        entry = pb.closerPeers.add()
        entry.id = rand_peer().to_bytes()
    with pytest.raises(KadDecodeError, match="closer"):
        decode_message(pb.SerializeToString())


def test_bad_ids_and_addresses_are_dropped_and_counted() -> None:
    good = rand_peer()
    pb = kad_pb2.Message()
    pb.type = kad_pb2.Message.FIND_NODE
    e = pb.closerPeers.add()
    e.id = b"\x99\x99garbage"  # not a multihash peer ID
    e = pb.closerPeers.add()
    e.id = good.to_bytes()
    e.addrs.append(bytes(Multiaddr("/ip4/1.2.3.4/tcp/1")))
    e.addrs.append(b"\xff\xff\xff")  # bogus multiaddr
    e = pb.closerPeers.add()
    e.id = good.to_bytes()  # duplicate
    msg = decode_message(pb.SerializeToString())
    assert [p.peer_id for p in msg.closer_peers] == [good]
    assert msg.closer_peers[0].addrs == (Multiaddr("/ip4/1.2.3.4/tcp/1"),)
    assert msg.dropped == 3


def test_unknown_fields_are_skipped() -> None:
    body = encode_message(KadMessage(MessageType.GET_VALUE, b"k")) + bytes.fromhex("f80101")  # field 31 varint
    assert decode_message(body) == KadMessage(MessageType.GET_VALUE, b"k")
