"""The protobuf wire format by hand, for the few small messages every connection exchanges.

Identify, the signed peer record inside it (``Envelope``, ``PeerRecord``) and the Noise handshake
payload are encoded and decoded here rather than by the generated ``*_pb2`` modules: importing
protobuf's runtime costs a new process ~19 ms of CPU and 47 modules (benchmarks/RESULTS.md,
issue #16 item 6), which a ``libp2p ping`` paid before its first packet. The other protocols
(DHT, pubsub, relay, AutoNAT, DCUtR) keep the generated code.

:func:`fields` reads a message the way protobuf's parser does: fields in any order, a varint of
at most 10 bytes (bits past 64 dropped), unknown fields skipped (groups included, nested at most
``MAX_GROUP_DEPTH`` deep); field number 0, a tag past 32 bits, wire types 6 and 7, a stray
end-group tag, a truncated value or a length past the end are malformed (:class:`WireError`).
The encoders write fields in field-number order, as protobuf serialises.
"""

from __future__ import annotations

from typing import Any, Final

from libp2p._accel import varint_encode
from libp2p.errors import DecodeError, VarintRangeError

__all__ = ["MAX_GROUP_DEPTH", "WireError", "fields", "length_delimited", "noise_payload", "varint"]

Bytes = bytes | bytearray | memoryview

MAX_GROUP_DEPTH: Final = 32
_MASK64: Final = (1 << 64) - 1
_MAX_TAG: Final = 0xFFFFFFFF

# wire types
VARINT: Final = 0
LEN: Final = 2


class WireError(DecodeError):
    """Bytes that are not a well-formed protobuf message."""


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end:
            raise WireError("truncated varint")
        if shift >= 70:
            raise WireError("varint longer than 10 bytes")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value & _MASK64, pos
        shift += 7


def _skip_group(buf: bytes, pos: int, end: int, field: int, depth: int) -> int:
    if depth >= MAX_GROUP_DEPTH:
        raise WireError("groups nested too deep")
    while True:
        tag, pos = _varint(buf, pos, end)
        number, wire_type = tag >> 3, tag & 7
        if tag > _MAX_TAG or number == 0:
            raise WireError(f"invalid tag {tag}")
        if wire_type == 4:
            if number != field:
                raise WireError("end-group tag of another group")
            return pos
        pos = _skip(buf, pos, end, number, wire_type, depth + 1)


def _skip(buf: bytes, pos: int, end: int, field: int, wire_type: int, depth: int) -> int:
    if wire_type == 0:
        return _varint(buf, pos, end)[1]
    if wire_type == 2:
        length, pos = _varint(buf, pos, end)
        if length > end - pos:
            raise WireError("field length past the end of the message")
        return pos + length
    if wire_type == 1 or wire_type == 5:
        size = 8 if wire_type == 1 else 4
        if size > end - pos:
            raise WireError("truncated fixed-size field")
        return pos + size
    if wire_type == 3:
        return _skip_group(buf, pos, end, field, depth)
    raise WireError(f"wire type {wire_type}")  # 4 (an end-group tag outside its group), 6, 7


def fields(data: Bytes) -> list[tuple[int, int, Any]]:
    """Every field of one message, in order, as ``(field number, wire type, value)``: an ``int``
    for a varint or a fixed-size value (little-endian), ``bytes`` for a length-delimited one, and
    ``b""`` for a group (checked, its content skipped: none of the messages read here has one).
    (Typed ``Any``: the wire type says which, and the callers read identify on every connection.)"""
    buf = bytes(data)
    end = len(buf)
    pos = 0
    out: list[tuple[int, int, Any]] = []
    while pos < end:
        tag = buf[pos]
        if tag < 0x80:
            pos += 1
        else:
            tag, pos = _varint(buf, pos, end)
        number, wire_type = tag >> 3, tag & 7
        if tag > _MAX_TAG or number == 0:
            raise WireError(f"invalid tag {tag}")
        if wire_type == 2:
            length = buf[pos] if pos < end else 0x80
            if length < 0x80:  # a one-byte length, inline
                pos += 1
            else:
                length, pos = _varint(buf, pos, end)
            if length > end - pos:
                raise WireError("field length past the end of the message")
            out.append((number, 2, buf[pos:pos + length]))
            pos += length
        elif wire_type == 0:
            value, pos = _varint(buf, pos, end)
            out.append((number, 0, value))
        elif wire_type == 1 or wire_type == 5:
            start, pos = pos, _skip(buf, pos, end, number, wire_type, 0)
            out.append((number, wire_type, int.from_bytes(buf[start:pos], "little")))
        else:
            pos = _skip(buf, pos, end, number, wire_type, 0)
            out.append((number, wire_type, b""))
    return out


def varint(value: int) -> bytes:
    """A protobuf varint: up to 64 bits (10 bytes), beyond the 63 of multiformats' varints."""
    if not 0 <= value <= _MASK64:
        raise VarintRangeError(f"protobuf varint out of range: {value}")
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def length_delimited(field: int, value: Bytes) -> bytes:
    """One length-delimited field (tag, length, bytes); ``field`` below 16."""
    return bytes((field << 3 | 2,)) + varint_encode(len(value)) + bytes(value)


def noise_payload(identity_key: bytes, identity_sig: bytes, muxers: tuple[str, ...]) -> bytes:
    """A ``NoiseHandshakePayload`` (libp2p/pb/noise.proto): identity_key (1), identity_sig (2),
    and with ``muxers`` the ``extensions`` (4) listing them as ``stream_muxers`` (2)."""
    out = length_delimited(1, identity_key) + length_delimited(2, identity_sig)
    if muxers:
        out += length_delimited(4, b"".join(length_delimited(2, m.encode("utf-8")) for m in muxers))
    return out
