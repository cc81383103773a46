"""DNS messages as mDNS uses them (RFC 1035 §4, RFC 6762), reduced to what libp2p's mDNS
discovery reads and writes (libp2p/specs ``discovery/mdns.md``): questions, and PTR, TXT, SRV, A and
AAAA records; other record types are carried as opaque data.

Decoding is bounded: a message over ``MAX_MESSAGE`` bytes, more than ``MAX_RECORDS`` records, a
name over 255 bytes or with a compression loop, or any truncated field raises ``DecodeError``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from libp2p.errors import DecodeError, InvalidArgumentError

__all__ = [
    "MDNS_ADDR4",
    "MDNS_ADDR6",
    "MDNS_PORT",
    "MAX_MESSAGE",
    "MAX_RECORDS",
    "TYPE_A",
    "TYPE_AAAA",
    "TYPE_ANY",
    "TYPE_PTR",
    "TYPE_SRV",
    "TYPE_TXT",
    "CLASS_IN",
    "Question",
    "Record",
    "Message",
    "decode_message",
    "encode_message",
    "encode_txt",
    "decode_txt",
    "encode_name",
    "encode_srv",
]

MDNS_ADDR4 = "224.0.0.251"
MDNS_ADDR6 = "ff02::fb"
MDNS_PORT = 5353
#: RFC 6762 §17: an mDNS message fits in 9000 bytes
MAX_MESSAGE = 9000
#: questions plus records in one message
MAX_RECORDS = 256

TYPE_A = 1
TYPE_PTR = 12
TYPE_TXT = 16
TYPE_AAAA = 28
TYPE_SRV = 33
TYPE_ANY = 255
CLASS_IN = 1
_CLASS_MASK = 0x7FFF  # top bit: unicast-response (questions) or cache-flush (records)
_FLAG_RESPONSE = 0x8000
_FLAG_AUTHORITATIVE = 0x0400
_MAX_NAME = 255
_MAX_POINTERS = 64

_HEADER = struct.Struct("!HHHHHH")
_QFIXED = struct.Struct("!HH")
_RFIXED = struct.Struct("!HHIH")


@dataclass(frozen=True, slots=True)
class Question:
    name: str
    type: int
    unicast_response: bool = False


@dataclass(frozen=True, slots=True)
class Record:
    name: str
    type: int
    ttl: int
    #: PTR: the target name (str); TXT: the strings (tuple of bytes); other types: raw bytes
    data: str | tuple[bytes, ...] | bytes
    cache_flush: bool = False


@dataclass(frozen=True, slots=True)
class Message:
    id: int = 0
    response: bool = False
    questions: tuple[Question, ...] = ()
    answers: tuple[Record, ...] = ()
    authorities: tuple[Record, ...] = ()
    additionals: tuple[Record, ...] = ()


# --- encoding ----------------------------------------------------------------------------------


def encode_name(name: str) -> bytes:
    """A name as labels (no compression); ``ValueError`` if a label is empty or over 63 bytes."""
    out = bytearray()
    for label in name.rstrip(".").split("."):
        raw = label.encode()
        if not 0 < len(raw) <= 63:
            raise InvalidArgumentError(f"bad DNS label {label!r} in {name!r}")
        out.append(len(raw))
        out += raw
    out.append(0)
    if len(out) > _MAX_NAME:
        raise InvalidArgumentError(f"DNS name too long: {name!r}")
    return bytes(out)


def encode_txt(strings: tuple[bytes, ...]) -> bytes:
    out = bytearray()
    for s in strings:
        if len(s) > 255:
            raise InvalidArgumentError("a TXT string is at most 255 bytes")
        out.append(len(s))
        out += s
    return bytes(out)


_SRV_FIXED = struct.Struct("!HHH")


def encode_srv(port: int, target: str, priority: int = 0, weight: int = 0) -> bytes:
    """SRV rdata (RFC 2782): priority, weight, port and the target host name."""
    if not 0 <= port <= 0xFFFF:
        raise InvalidArgumentError(f"bad SRV port {port}")
    return _SRV_FIXED.pack(priority, weight, port) + encode_name(target)


def _encode_record(r: Record) -> bytes:
    if r.type == TYPE_PTR:
        assert isinstance(r.data, str)
        rdata = encode_name(r.data)
    elif r.type == TYPE_TXT:
        assert isinstance(r.data, tuple)
        rdata = encode_txt(r.data)
    else:
        assert isinstance(r.data, bytes)
        rdata = r.data
    cls = CLASS_IN | (0x8000 if r.cache_flush else 0)
    return encode_name(r.name) + _RFIXED.pack(r.type, cls, r.ttl, len(rdata)) + rdata


def encode_message(m: Message) -> bytes:
    flags = (_FLAG_RESPONSE | _FLAG_AUTHORITATIVE) if m.response else 0
    out = bytearray(_HEADER.pack(m.id, flags, len(m.questions), len(m.answers), len(m.authorities),
                                 len(m.additionals)))
    for q in m.questions:
        out += encode_name(q.name) + _QFIXED.pack(q.type, CLASS_IN | (0x8000 if q.unicast_response else 0))
    for r in (*m.answers, *m.authorities, *m.additionals):
        out += _encode_record(r)
    return bytes(out)


# --- decoding ----------------------------------------------------------------------------------


def _read_name(buf: bytes, offset: int) -> tuple[str, int]:
    """The name at ``offset`` and the offset after it (following compression pointers)."""
    labels: list[str] = []
    length = 0
    end = -1
    pointers = 0
    pos = offset
    while True:
        if pos >= len(buf):
            raise DecodeError("DNS name runs past the message")
        n = buf[pos]
        if n & 0xC0 == 0xC0:
            if pos + 1 >= len(buf):
                raise DecodeError("truncated DNS name pointer")
            pointers += 1
            if pointers > _MAX_POINTERS:
                raise DecodeError("DNS name compression loop")
            if end < 0:
                end = pos + 2
            target = ((n & 0x3F) << 8) | buf[pos + 1]
            if target >= pos:
                raise DecodeError("DNS name pointer does not point backwards")
            pos = target
            continue
        if n & 0xC0:
            raise DecodeError(f"unknown DNS label type {n:#x}")
        pos += 1
        if n == 0:
            break
        if pos + n > len(buf):
            raise DecodeError("DNS label runs past the message")
        length += n + 1
        if length > _MAX_NAME:
            raise DecodeError("DNS name over 255 bytes")
        labels.append(buf[pos : pos + n].decode("utf-8", "replace"))
        pos += n
    return ".".join(labels), (end if end >= 0 else pos)


def decode_txt(rdata: bytes) -> tuple[bytes, ...]:
    out: list[bytes] = []
    pos = 0
    while pos < len(rdata):
        n = rdata[pos]
        if pos + 1 + n > len(rdata):
            raise DecodeError("TXT string runs past its record")
        out.append(rdata[pos + 1 : pos + 1 + n])
        pos += 1 + n
    return tuple(out)


def decode_message(data: bytes | bytearray | memoryview) -> Message:
    buf = bytes(data)
    if len(buf) > MAX_MESSAGE:
        raise DecodeError(f"mDNS message of {len(buf)} bytes (limit {MAX_MESSAGE})")
    if len(buf) < _HEADER.size:
        raise DecodeError("mDNS message shorter than its header")
    mid, flags, qd, an, ns, ar = _HEADER.unpack_from(buf)
    if qd + an + ns + ar > MAX_RECORDS:
        raise DecodeError(f"mDNS message claims {qd + an + ns + ar} records (limit {MAX_RECORDS})")
    pos = _HEADER.size
    questions: list[Question] = []
    for _ in range(qd):
        name, pos = _read_name(buf, pos)
        if pos + _QFIXED.size > len(buf):
            raise DecodeError("truncated DNS question")
        qtype, qclass = _QFIXED.unpack_from(buf, pos)
        pos += _QFIXED.size
        questions.append(Question(name, qtype, bool(qclass & 0x8000)))
    sections: list[list[Record]] = [[], [], []]
    for section, count in zip(sections, (an, ns, ar)):
        for _ in range(count):
            name, pos = _read_name(buf, pos)
            if pos + _RFIXED.size > len(buf):
                raise DecodeError("truncated DNS record")
            rtype, rclass, ttl, rdlen = _RFIXED.unpack_from(buf, pos)
            pos += _RFIXED.size
            if pos + rdlen > len(buf):
                raise DecodeError("DNS record data runs past the message")
            rdata_start = pos
            pos += rdlen
            value: str | tuple[bytes, ...] | bytes
            if rtype == TYPE_PTR:
                value, _ = _read_name(buf, rdata_start)
            elif rtype == TYPE_TXT:
                value = decode_txt(buf[rdata_start:pos])
            else:
                value = buf[rdata_start:pos]
            section.append(Record(name, rtype, ttl, value, bool(rclass & 0x8000)))
    return Message(mid, bool(flags & _FLAG_RESPONSE), tuple(questions), tuple(sections[0]), tuple(sections[1]),
                   tuple(sections[2]))
