"""AutoNAT v2's wire format: ``Message`` (a oneof of the four request-stream messages) and the bare
``DialBack``/``DialBackResponse`` of the dial-back stream, uvarint-length-prefixed (proto3)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from google.protobuf.message import Error as ProtobufError

from libp2p._accel import varint_encode
from libp2p.errors import DecodeError
from libp2p.multiaddr import Multiaddr
from libp2p.pb import autonatv2_pb2

__all__ = ["DIAL_REQUEST_PROTOCOL", "DIAL_BACK_PROTOCOL", "MAX_MESSAGE_SIZE", "MAX_DIAL_BACK_SIZE", "MAX_ADDRS",
           "MAX_DATA_CHUNK", "ResponseStatus", "DialStatus", "DialRequest", "DialResponse", "DialDataRequest",
           "DialDataResponse", "V2Message", "AutonatV2DecodeError", "encode_message", "decode_message",
           "encode_dial_back", "decode_dial_back", "encode_dial_back_response", "decode_dial_back_response", "frame"]

DIAL_REQUEST_PROTOCOL: Final = "/libp2p/autonat/2/dial-request"
DIAL_BACK_PROTOCOL: Final = "/libp2p/autonat/2/dial-back"
MAX_MESSAGE_SIZE: Final = 8192  # go's maxMsgSize
MAX_DIAL_BACK_SIZE: Final = 1024
MAX_ADDRS: Final = 50  # go's maxPeerAddresses
MAX_DATA_CHUNK: Final = 4096


class ResponseStatus(enum.IntEnum):
    E_INTERNAL_ERROR = 0
    E_REQUEST_REJECTED = 100
    E_DIAL_REFUSED = 101
    OK = 200


class DialStatus(enum.IntEnum):
    UNUSED = 0
    E_DIAL_ERROR = 100
    E_DIAL_BACK_ERROR = 101
    OK = 200


class AutonatV2DecodeError(DecodeError):
    """An AutoNAT v2 message is malformed, unexpected or over the size limit."""


@dataclass(frozen=True, slots=True)
class DialRequest:
    addrs: tuple[Multiaddr, ...]
    nonce: int


@dataclass(frozen=True, slots=True)
class DialResponse:
    status: int
    addr_idx: int = 0
    dial_status: int = 0


@dataclass(frozen=True, slots=True)
class DialDataRequest:
    addr_idx: int
    num_bytes: int


@dataclass(frozen=True, slots=True)
class DialDataResponse:
    data: bytes


V2Message = DialRequest | DialResponse | DialDataRequest | DialDataResponse


def frame(body: bytes) -> bytes:
    return varint_encode(len(body)) + body


def encode_message(message: V2Message) -> bytes:
    msg = autonatv2_pb2.Message()
    if isinstance(message, DialRequest):
        msg.dialRequest.addrs.extend(bytes(a) for a in message.addrs)
        msg.dialRequest.nonce = message.nonce
    elif isinstance(message, DialResponse):
        msg.dialResponse.status = message.status  # type: ignore[assignment]
        msg.dialResponse.addrIdx = message.addr_idx
        msg.dialResponse.dialStatus = message.dial_status  # type: ignore[assignment]
    elif isinstance(message, DialDataRequest):
        msg.dialDataRequest.addrIdx = message.addr_idx
        msg.dialDataRequest.numBytes = message.num_bytes
    else:
        msg.dialDataResponse.data = message.data
    return msg.SerializeToString()


def _parse(msg: object, data: bytes | bytearray | memoryview, limit: int) -> None:
    if len(data) > limit:
        raise AutonatV2DecodeError(f"AutoNAT v2 message of {len(data)} bytes exceeds {limit}")
    try:
        msg.ParseFromString(bytes(data))  # type: ignore[attr-defined]
    except (ProtobufError, ValueError) as exc:
        raise AutonatV2DecodeError(f"malformed AutoNAT v2 message: {exc}") from None


def decode_message(data: bytes | bytearray | memoryview) -> V2Message:
    msg = autonatv2_pb2.Message()
    _parse(msg, data, MAX_MESSAGE_SIZE)
    which = msg.WhichOneof("msg")
    if which == "dialRequest":
        addrs = []
        for raw in list(msg.dialRequest.addrs)[:MAX_ADDRS]:
            try:
                addrs.append(Multiaddr.from_bytes(raw))
            except DecodeError:
                addrs.append(Multiaddr("/p2p-circuit"))  # keeps the indices; never dialed
        return DialRequest(tuple(addrs), msg.dialRequest.nonce)
    if which == "dialResponse":
        r = msg.dialResponse
        return DialResponse(int(r.status), r.addrIdx, int(r.dialStatus))
    if which == "dialDataRequest":
        return DialDataRequest(msg.dialDataRequest.addrIdx, msg.dialDataRequest.numBytes)
    if which == "dialDataResponse":
        if len(msg.dialDataResponse.data) > MAX_DATA_CHUNK:
            raise AutonatV2DecodeError(f"dial data chunk over {MAX_DATA_CHUNK} bytes")
        return DialDataResponse(msg.dialDataResponse.data)
    raise AutonatV2DecodeError("AutoNAT v2 message without a body")


def encode_dial_back(nonce: int) -> bytes:
    return autonatv2_pb2.DialBack(nonce=nonce).SerializeToString()


def decode_dial_back(data: bytes | bytearray | memoryview) -> int:
    msg = autonatv2_pb2.DialBack()
    _parse(msg, data, MAX_DIAL_BACK_SIZE)
    return int(msg.nonce)


def encode_dial_back_response() -> bytes:
    return autonatv2_pb2.DialBackResponse(status=autonatv2_pb2.DialBackResponse.OK).SerializeToString()


def decode_dial_back_response(data: bytes | bytearray | memoryview) -> int:
    msg = autonatv2_pb2.DialBackResponse()
    _parse(msg, data, MAX_DIAL_BACK_SIZE)
    return int(msg.status)
