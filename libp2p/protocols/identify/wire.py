"""identify's wire format: one (or a few) uvarint-length-prefixed ``Identify`` protobufs."""

from __future__ import annotations

from dataclasses import dataclass, field

from libp2p._accel import varint_encode
from libp2p.errors import DecodeError, RemoteProtocolError
from libp2p.identity.keys import PublicKey, unmarshal_public_key
from libp2p.multiaddr import Multiaddr
from libp2p.pb.wire import WireError, fields, length_delimited

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


# Identify's fields (libp2p/pb/identify.proto, proto2; encoded by libp2p.pb.wire, see there why).
_PUBLIC_KEY = 1
_LISTEN_ADDRS = 2
_PROTOCOLS = 3
_OBSERVED_ADDR = 4
_PROTOCOL_VERSION = 5
_AGENT_VERSION = 6
_SIGNED_PEER_RECORD = 8


def encode_identify(info: IdentifyInfo) -> bytes:
    """The ``Identify`` protobuf, fields in number order (as protobuf writes them)."""
    parts: list[bytes] = []
    if info.public_key is not None:
        parts.append(length_delimited(_PUBLIC_KEY, info.public_key.marshal()))
    if info.listen_addrs is not None:
        parts.extend(length_delimited(_LISTEN_ADDRS, bytes(a)) for a in info.listen_addrs)
    if info.protocols is not None:
        parts.extend(length_delimited(_PROTOCOLS, p.encode("utf-8")) for p in info.protocols)
    if info.observed_addr is not None:
        parts.append(length_delimited(_OBSERVED_ADDR, bytes(info.observed_addr)))
    if info.protocol_version is not None:
        parts.append(length_delimited(_PROTOCOL_VERSION, info.protocol_version.encode("utf-8")))
    if info.agent_version is not None:
        parts.append(length_delimited(_AGENT_VERSION, info.agent_version.encode("utf-8")))
    if info.signed_peer_record is not None:
        parts.append(length_delimited(_SIGNED_PEER_RECORD, info.signed_peer_record))
    return b"".join(parts)


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


def _text(value: bytes) -> str:
    # proto2 does not check UTF-8 in a string field
    return value.decode("utf-8", "replace")[:MAX_STRING]


def _protocol(value: bytes) -> str | None:
    # An id that is not UTF-8 can match no protocol of ours: dropped like an empty one.
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if 0 < len(text) <= MAX_STRING else None


def decode_identify(messages: list[bytes]) -> IdentifyInfo:
    """Merge one or more messages (repeated fields concatenate, later scalars win; a known field
    with another wire type is skipped like an unknown one, as protobuf does)."""
    scalars: dict[int, bytes] = {}
    addrs: list[bytes] = []
    protocols: list[bytes] = []
    try:
        for body in messages:
            for number, wire_type, value in fields(body):
                if wire_type != 2:
                    continue  # a known field with another wire type is skipped, as protobuf does
                if number == _LISTEN_ADDRS:
                    addrs.append(value)
                elif number == _PROTOCOLS:
                    protocols.append(value)
                else:
                    scalars[number] = value
    except WireError as exc:
        raise IdentifyDecodeError(f"malformed Identify message: {exc}") from None
    info = IdentifyInfo()
    if _PUBLIC_KEY in scalars:
        try:
            info.public_key = unmarshal_public_key(scalars[_PUBLIC_KEY])
        except DecodeError as exc:
            raise IdentifyDecodeError(f"bad public key in Identify: {exc}") from None
    if addrs:
        info.listen_addrs = _addrs(addrs)
    if protocols:
        info.protocols = [p for p in map(_protocol, protocols[:MAX_PROTOCOLS]) if p is not None]
    if _OBSERVED_ADDR in scalars:
        try:
            info.observed_addr = Multiaddr.from_bytes(scalars[_OBSERVED_ADDR])
        except DecodeError:
            info.observed_addr = None
    if _PROTOCOL_VERSION in scalars:
        info.protocol_version = _text(scalars[_PROTOCOL_VERSION])
    if _AGENT_VERSION in scalars:
        info.agent_version = _text(scalars[_AGENT_VERSION])
    if _SIGNED_PEER_RECORD in scalars:
        info.signed_peer_record = scalars[_SIGNED_PEER_RECORD]
    return info
