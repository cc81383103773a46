"""DCUtR's wire format: uvarint-length-prefixed ``HolePunch`` messages (proto2), at most 4 KiB."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from google.protobuf.message import Error as ProtobufError

from libp2p._accel import varint_encode
from libp2p.errors import DecodeError
from libp2p.multiaddr import Multiaddr
from libp2p.pb import holepunch_pb2

__all__ = ["PROTOCOL_ID", "MAX_MESSAGE_SIZE", "MAX_ADDRS", "HolePunchType", "HolePunch", "DcutrDecodeError",
           "encode_holepunch", "decode_holepunch", "frame"]

PROTOCOL_ID: Final = "/libp2p/dcutr"
# The spec: messages over 4 KiB SHOULD be refused (go's maxMsgSize).
MAX_MESSAGE_SIZE: Final = 4096
MAX_ADDRS: Final = 32


class HolePunchType(enum.IntEnum):
    CONNECT = 100
    SYNC = 300


class DcutrDecodeError(DecodeError):
    """A HolePunch message is malformed or over the size limit."""


@dataclass(frozen=True, slots=True)
class HolePunch:
    type: HolePunchType
    addrs: tuple[Multiaddr, ...] = ()


def encode_holepunch(msg: HolePunch) -> bytes:
    raw = holepunch_pb2.HolePunch(type=int(msg.type))  # type: ignore[arg-type]
    raw.ObsAddrs.extend(bytes(a) for a in msg.addrs)
    return raw.SerializeToString()


def frame(body: bytes) -> bytes:
    return varint_encode(len(body)) + body


def decode_holepunch(data: bytes | bytearray | memoryview) -> HolePunch:
    if len(data) > MAX_MESSAGE_SIZE:
        raise DcutrDecodeError(f"HolePunch of {len(data)} bytes exceeds {MAX_MESSAGE_SIZE}")
    raw = holepunch_pb2.HolePunch()
    try:
        raw.ParseFromString(bytes(data))
    except (ProtobufError, ValueError) as exc:
        raise DcutrDecodeError(f"malformed HolePunch: {exc}") from None
    if not raw.HasField("type"):  # missing, or an unknown enum value (proto2 keeps it aside)
        raise DcutrDecodeError("HolePunch without a (known) type")
    try:
        kind = HolePunchType(raw.type)
    except ValueError:
        raise DcutrDecodeError(f"unknown HolePunch type {raw.type}") from None
    addrs = []
    for b in list(raw.ObsAddrs)[:MAX_ADDRS]:
        try:
            addrs.append(Multiaddr.from_bytes(b))
        except DecodeError:
            continue  # a bogus address is skipped, the others stand
    return HolePunch(kind, tuple(addrs))
