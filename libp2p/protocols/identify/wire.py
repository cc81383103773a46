"""identify's wire format: one (or a few) uvarint-length-prefixed ``Identify`` protobufs."""

from __future__ import annotations

from dataclasses import dataclass, field

from google.protobuf.message import DecodeError as ProtobufDecodeError

from libp2p._accel import varint_encode
from libp2p.errors import DecodeError, RemoteProtocolError
from libp2p.identity.keys import PublicKey, unmarshal_public_key
from libp2p.multiaddr import Multiaddr
from libp2p.pb import identify_pb2

__all__ = [
    "PROTOCOL_ID",
    "PUSH_PROTOCOL_ID",
    "MAX_MESSAGE_SIZE",
    "MAX_MESSAGES",
    "IdentifyInfo",
    "IdentifyDecodeError",
    "IdentifyMismatchError",
    "encode_identify",
    "encode_observed_addr",
    "decode_identify",
]

PROTOCOL_ID = "/ipfs/id/1.0.0"
PUSH_PROTOCOL_ID = "/ipfs/id/push/1.0.0"
# go accepts 8 KiB when a signed record is present (signedIDSize) and merges up to 10 messages.
MAX_MESSAGE_SIZE = 8 * 1024
MAX_MESSAGES = 10
# Bounds on what we keep from one peer's message.
MAX_ADDRS = 64
MAX_PROTOCOLS = 256
MAX_STRING = 1024
TIMEOUT = 5.0


class IdentifyDecodeError(DecodeError):
    """An Identify message is malformed or over the size limit."""


class IdentifyMismatchError(RemoteProtocolError):
    """The Identify public key does not match the connection's authenticated peer."""


@dataclass(slots=True)
class IdentifyInfo:
    """What one peer told us about itself. ``None`` fields were absent (push keeps old values)."""

    public_key: PublicKey | None = None
    listen_addrs: list[Multiaddr] | None = None
    protocols: list[str] | None = None
    observed_addr: Multiaddr | None = None
    protocol_version: str | None = None
    agent_version: str | None = None
    signed_peer_record: bytes | None = None
    # Addresses from a verified signed peer record, when one was sent and checked.
    certified_addrs: list[Multiaddr] | None = field(default=None)


def encode_identify(info: IdentifyInfo) -> bytes:
    msg = identify_pb2.Identify()
    if info.public_key is not None:
        msg.publicKey = info.public_key.marshal()
    if info.listen_addrs is not None:
        msg.listenAddrs.extend(bytes(a) for a in info.listen_addrs)
    if info.protocols is not None:
        msg.protocols.extend(info.protocols)
    if info.observed_addr is not None:
        msg.observedAddr = bytes(info.observed_addr)
    if info.protocol_version is not None:
        msg.protocolVersion = info.protocol_version
    if info.agent_version is not None:
        msg.agentVersion = info.agent_version
    if info.signed_peer_record is not None:
        msg.signedPeerRecord = info.signed_peer_record
    return msg.SerializeToString()


def encode_observed_addr(addr: Multiaddr) -> bytes:
    """Field 4 (``observedAddr``) alone: appended to an encoded ``Identify`` without it, the message
    is that ``Identify`` with the address (protobuf fields may come in any order)."""
    value = bytes(addr)
    return b"\x22" + varint_encode(len(value)) + value


def _addrs(raw: list[bytes]) -> list[Multiaddr]:
    out = []
    for b in raw[:MAX_ADDRS]:
        try:
            out.append(Multiaddr.from_bytes(b))
        except DecodeError:
            continue  # one bad address does not void the message (go skips it too)
    return out


def _text(value: str | bytes) -> str:
    # A proto2 string field that is not UTF-8 comes back from protobuf as bytes.
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value[:MAX_STRING]


def decode_identify(messages: list[bytes]) -> IdentifyInfo:
    """Merge one or more messages (repeated fields concatenate, later scalars win)."""
    msg = identify_pb2.Identify()
    try:
        for body in messages:
            msg.MergeFromString(body)
    except (ProtobufDecodeError, ValueError) as exc:
        raise IdentifyDecodeError(f"malformed Identify message: {exc}") from None
    info = IdentifyInfo()
    if msg.HasField("publicKey"):
        try:
            info.public_key = unmarshal_public_key(msg.publicKey)
        except DecodeError as exc:
            raise IdentifyDecodeError(f"bad public key in Identify: {exc}") from None
    if msg.listenAddrs:
        info.listen_addrs = _addrs(list(msg.listenAddrs))
    if msg.protocols:
        # proto2 does not check UTF-8: protobuf hands back bytes for an id that is not, which
        # can match no protocol of ours, so it is dropped like an empty one.
        info.protocols = [
            p for p in msg.protocols[:MAX_PROTOCOLS] if isinstance(p, str) and 0 < len(p) <= MAX_STRING
        ]
    if msg.HasField("observedAddr"):
        try:
            info.observed_addr = Multiaddr.from_bytes(msg.observedAddr)
        except DecodeError:
            info.observed_addr = None
    if msg.HasField("protocolVersion"):
        info.protocol_version = _text(msg.protocolVersion)
    if msg.HasField("agentVersion"):
        info.agent_version = _text(msg.agentVersion)
    if msg.HasField("signedPeerRecord"):
        info.signed_peer_record = msg.signedPeerRecord
    return info
