"""The Kademlia DHT wire format: uvarint-length-prefixed ``dht.pb.Message`` protobufs.

One request and one response per exchange; a stream may carry several exchanges in turn
(go-libp2p-kad-dht reuses one stream per peer). ``ADD_PROVIDER`` has no response.
Decoding is strict about what can hurt us (sizes, counts, peer IDs) and lenient about what
cannot (an unparsable address is dropped, as go does, and counted).
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError as ProtobufDecodeError

from libp2p._accel import FrameReader, varint_encode
from libp2p.errors import DecodeError, InvalidPeerIdError, LocalProtocolError, RemoteProtocolError
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.pb import kad_pb2

__all__ = [
    "LAN_PROTOCOL_ID",
    "MAX_ADDRS_PER_PEER",
    "MAX_KEY_SIZE",
    "MAX_MESSAGE_SIZE",
    "MAX_PEERS_PER_MESSAGE",
    "PROTOCOL_ID",
    "REQUEST_TIMEOUT",
    "STREAM_IDLE_TIMEOUT",
    "ConnectionType",
    "KadDecodeError",
    "KadMessage",
    "KadPeer",
    "KadProtocolError",
    "KadRecord",
    "MessageReader",
    "MessageType",
    "decode_message",
    "encode_message",
    "frame_message",
]

PROTOCOL_ID = "/ipfs/kad/1.0.0"
LAN_PROTOCOL_ID = "/ipfs/lan/kad/1.0.0"
# go: network.MessageSizeMax = 1 << 22 (4 MiB), for both directions.
MAX_MESSAGE_SIZE = 1 << 22
# A server answers with k (20) closer peers and at most a few hundred providers. A list longer
# than this is hostile: the whole message is rejected. (The query engine further keeps at most
# k closer peers from one response.)
MAX_PEERS_PER_MESSAGE = 256
# Addresses kept per peer entry; the rest are dropped and counted.
MAX_ADDRS_PER_PEER = 32
# Keys are peer IDs, multihashes or /namespace/... paths; nothing legitimate is near this.
MAX_KEY_SIZE = 1024
# go-libp2p-kad-dht: dhtReadMessageTimeout (one response) and dhtStreamIdleTimeout (server side).
REQUEST_TIMEOUT = 10.0
STREAM_IDLE_TIMEOUT = 60.0


class MessageType(enum.IntEnum):
    PUT_VALUE = 0
    GET_VALUE = 1
    ADD_PROVIDER = 2
    GET_PROVIDERS = 3
    FIND_NODE = 4
    PING = 5


class ConnectionType(enum.IntEnum):
    NOT_CONNECTED = 0
    CONNECTED = 1
    CAN_CONNECT = 2
    CANNOT_CONNECT = 3


class KadDecodeError(DecodeError):
    """A DHT message is malformed, too large, or carries too many entries."""


class KadProtocolError(RemoteProtocolError):
    """A DHT peer answered out of protocol (wrong type, no answer where one is due)."""


@dataclass(frozen=True, slots=True)
class KadPeer:
    """A ``Message.Peer`` entry: a peer, its addresses, and how the sender is connected to it."""

    peer_id: PeerId
    addrs: tuple[Multiaddr, ...] = ()
    connection: ConnectionType = ConnectionType.NOT_CONNECTED


@dataclass(frozen=True, slots=True)
class KadRecord:
    key: bytes
    value: bytes
    time_received: str = ""


@dataclass(frozen=True, slots=True)
class KadMessage:
    """A decoded ``Message``. ``dropped`` counts entries the decoder left out (bad IDs or addresses)."""

    type: MessageType
    key: bytes = b""
    record: KadRecord | None = None
    closer_peers: tuple[KadPeer, ...] = ()
    provider_peers: tuple[KadPeer, ...] = ()
    dropped: int = field(default=0, compare=False)


def _encode_peer(out: kad_pb2.Message.Peer, peer: KadPeer) -> None:
    out.id = peer.peer_id.to_bytes()
    out.addrs.extend(bytes(a) for a in peer.addrs)
    out.connection = int(peer.connection)  # type: ignore[assignment]


def encode_message(msg: KadMessage) -> bytes:
    pb = kad_pb2.Message()
    pb.type = int(msg.type)  # type: ignore[assignment]
    if msg.key:
        pb.key = msg.key
    if msg.record is not None:
        pb.record.key = msg.record.key
        pb.record.value = msg.record.value
        if msg.record.time_received:
            pb.record.timeReceived = msg.record.time_received
    for peer in msg.closer_peers:
        _encode_peer(pb.closerPeers.add(), peer)
    for peer in msg.provider_peers:
        _encode_peer(pb.providerPeers.add(), peer)
    return pb.SerializeToString()


def frame_message(msg: KadMessage) -> bytes:
    body = encode_message(msg)
    if len(body) > MAX_MESSAGE_SIZE:
        raise LocalProtocolError(f"DHT message of {len(body)} bytes exceeds {MAX_MESSAGE_SIZE}")
    return varint_encode(len(body)) + body


def _decode_peers(entries: object) -> tuple[tuple[KadPeer, ...], int]:
    peers: list[KadPeer] = []
    dropped = 0
    seen: set[PeerId] = set()
    for entry in entries:  # type: ignore[attr-defined]
        try:
            pid = PeerId(entry.id)
        except InvalidPeerIdError:
            dropped += 1
            continue
        if pid in seen:
            dropped += 1
            continue
        seen.add(pid)
        addrs: list[Multiaddr] = []
        for raw in entry.addrs:
            if len(addrs) >= MAX_ADDRS_PER_PEER:
                dropped += 1
                continue
            try:
                addrs.append(Multiaddr.from_bytes(raw))
            except DecodeError:
                dropped += 1
        try:
            conn = ConnectionType(entry.connection)
        except ValueError:
            conn = ConnectionType.NOT_CONNECTED
        peers.append(KadPeer(pid, tuple(addrs), conn))
    return tuple(peers), dropped


def decode_message(data: bytes | bytearray | memoryview) -> KadMessage:
    """Decode one message body (without its length prefix)."""
    if len(data) > MAX_MESSAGE_SIZE:
        raise KadDecodeError(f"DHT message of {len(data)} bytes exceeds {MAX_MESSAGE_SIZE}")
    pb = kad_pb2.Message()
    try:
        pb.ParseFromString(bytes(data))
    except (ProtobufDecodeError, RuntimeError, ValueError) as exc:
        raise KadDecodeError(f"malformed DHT message: {exc}") from None
    try:
        mtype = MessageType(pb.type)
    except ValueError:
        raise KadDecodeError(f"unknown DHT message type {pb.type}") from None
    if len(pb.key) > MAX_KEY_SIZE:
        raise KadDecodeError(f"DHT key of {len(pb.key)} bytes")
    if len(pb.closerPeers) > MAX_PEERS_PER_MESSAGE or len(pb.providerPeers) > MAX_PEERS_PER_MESSAGE:
        raise KadDecodeError(
            f"DHT message lists {len(pb.closerPeers)} closer and {len(pb.providerPeers)} provider peers "
            f"(limit {MAX_PEERS_PER_MESSAGE})"
        )
    record = None
    if pb.HasField("record"):
        if len(pb.record.key) > MAX_KEY_SIZE:
            raise KadDecodeError(f"record key of {len(pb.record.key)} bytes")
        record = KadRecord(pb.record.key, pb.record.value, pb.record.timeReceived)
    closer, d1 = _decode_peers(pb.closerPeers)
    providers, d2 = _decode_peers(pb.providerPeers)
    return KadMessage(mtype, pb.key, record, closer, providers, d1 + d2)


class MessageReader:
    """Incremental reader of length-prefixed DHT messages (the length is checked before buffering)."""

    def __init__(self, max_message_size: int = MAX_MESSAGE_SIZE) -> None:
        self._frames = FrameReader(max_message_size)
        self._messages: deque[KadMessage] = deque()

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        self._frames.feed(data)
        try:
            while (frame := self._frames.next_frame()) is not None:
                self._messages.append(decode_message(frame))
        except KadDecodeError:
            raise
        except DecodeError as exc:
            raise KadDecodeError(f"bad DHT framing: {exc}") from None

    def receive_eof(self) -> None:
        try:
            self._frames.close()
        except DecodeError as exc:
            raise KadDecodeError(f"DHT stream ended inside a message: {exc}") from None

    def next_message(self) -> KadMessage | None:
        return self._messages.popleft() if self._messages else None

    @property
    def buffered(self) -> int:
        return self._frames.buffered
