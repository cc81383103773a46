"""AutoNAT v1's wire format: uvarint-length-prefixed ``Message`` protobufs (proto2), at most 4 KiB."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from google.protobuf.message import Error as ProtobufError

from libp2p._accel import varint_encode
from libp2p.errors import DecodeError
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.pb import autonat_pb2

__all__ = ["PROTOCOL_ID", "MAX_MESSAGE_SIZE", "MAX_ADDRS", "ResponseStatus", "DialRequest", "DialResponse",
           "AutonatDecodeError", "encode_dial", "encode_response", "decode_dial", "decode_response", "frame"]

PROTOCOL_ID: Final = "/libp2p/autonat/1.0.0"
MAX_MESSAGE_SIZE: Final = 4096  # go's maxMsgSize
MAX_ADDRS: Final = 32
MAX_TEXT: Final = 256


class ResponseStatus(enum.IntEnum):
    OK = 0
    E_DIAL_ERROR = 100
    E_DIAL_REFUSED = 101
    E_BAD_REQUEST = 200
    E_INTERNAL_ERROR = 300


class AutonatDecodeError(DecodeError):
    """An AutoNAT message is malformed or over the size limit."""


@dataclass(frozen=True, slots=True)
class DialRequest:
    peer_id: PeerId
    addrs: tuple[Multiaddr, ...]


@dataclass(frozen=True, slots=True)
class DialResponse:
    status: int
    text: str = ""
    addr: Multiaddr | None = None


def frame(body: bytes) -> bytes:
    return varint_encode(len(body)) + body


def encode_dial(request: DialRequest) -> bytes:
    msg = autonat_pb2.Message(type=autonat_pb2.Message.DIAL)
    msg.dial.peer.id = request.peer_id.to_bytes()
    msg.dial.peer.addrs.extend(bytes(a) for a in request.addrs)
    return msg.SerializeToString()


def encode_response(response: DialResponse) -> bytes:
    msg = autonat_pb2.Message(type=autonat_pb2.Message.DIAL_RESPONSE)
    msg.dialResponse.status = response.status  # type: ignore[assignment]
    if response.text:
        msg.dialResponse.statusText = response.text[:MAX_TEXT]
    if response.addr is not None:
        msg.dialResponse.addr = bytes(response.addr)
    return msg.SerializeToString()


def _parse(data: bytes | bytearray | memoryview) -> autonat_pb2.Message:
    if len(data) > MAX_MESSAGE_SIZE:
        raise AutonatDecodeError(f"AutoNAT message of {len(data)} bytes exceeds {MAX_MESSAGE_SIZE}")
    msg = autonat_pb2.Message()
    try:
        msg.ParseFromString(bytes(data))
    except (ProtobufError, ValueError) as exc:
        raise AutonatDecodeError(f"malformed AutoNAT message: {exc}") from None
    return msg


def decode_dial(data: bytes | bytearray | memoryview) -> DialRequest:
    msg = _parse(data)
    if not msg.HasField("type") or msg.type != autonat_pb2.Message.DIAL or not msg.HasField("dial"):
        raise AutonatDecodeError("expected a DIAL message")
    peer = msg.dial.peer
    if not msg.dial.HasField("peer") or not peer.HasField("id"):
        raise AutonatDecodeError("DIAL without a peer id")
    try:
        peer_id = PeerId.from_bytes(peer.id)
    except DecodeError as exc:
        raise AutonatDecodeError(f"bad peer id in DIAL: {exc}") from None
    addrs = []
    for raw in list(peer.addrs)[:MAX_ADDRS]:
        try:
            addrs.append(Multiaddr.from_bytes(raw))
        except DecodeError:
            continue
    return DialRequest(peer_id, tuple(addrs))


def decode_response(data: bytes | bytearray | memoryview) -> DialResponse:
    msg = _parse(data)
    if not msg.HasField("type") or msg.type != autonat_pb2.Message.DIAL_RESPONSE or not msg.HasField("dialResponse"):
        raise AutonatDecodeError("expected a DIAL_RESPONSE message")
    r = msg.dialResponse
    if not r.HasField("status"):
        raise AutonatDecodeError("DIAL_RESPONSE without a (known) status")
    addr = None
    if r.HasField("addr"):
        try:
            addr = Multiaddr.from_bytes(r.addr)
        except DecodeError:
            addr = None
    text = r.statusText if isinstance(r.statusText, str) else ""
    return DialResponse(int(r.status), text[:MAX_TEXT], addr)
