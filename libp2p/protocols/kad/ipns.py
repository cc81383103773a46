"""IPNS records (ipfs/specs ``ipns/ipns-record.md``): create, decode and verify V2 records.

A record is an ``IpnsEntry`` protobuf whose ``data`` field is a DAG-CBOR map with ``Value``,
``Validity``, ``ValidityType``, ``Sequence`` and ``TTL``; ``signatureV2`` signs
``b"ipns-signature:" + data``. Legacy V1 fields, when present, must equal the signed ones.
V1 signatures are never used for verification (the spec forbids it), so V1-only records are
invalid. The small DAG-CBOR codec here covers what IPNS needs: maps, byte and text strings,
unsigned and negative integers, arrays, tags, simple values and 64-bit floats, with canonical
(length-first) map key order when encoding.
"""

from __future__ import annotations

import re
import struct
import time
from calendar import timegm
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError as ProtobufDecodeError

from libp2p.errors import ArgumentTypeError, DecodeError, InvalidArgumentError, Libp2pError
from libp2p.identity.keys import PrivateKey, PublicKey, unmarshal_public_key
from libp2p.identity.peer_id import PeerId
from libp2p.pb import ipns_pb2

__all__ = [
    "DEFAULT_TTL_NS",
    "MAX_IPNS_RECORD_SIZE",
    "SIGNATURE_V2_PREFIX",
    "IpnsError",
    "IpnsRecord",
    "cbor_decode",
    "cbor_encode",
    "create_ipns_record",
    "decode_ipns_record",
    "format_rfc3339",
    "parse_rfc3339",
    "verify_ipns_record",
]

MAX_IPNS_RECORD_SIZE = 10 * 1024
SIGNATURE_V2_PREFIX = b"ipns-signature:"
DEFAULT_TTL_NS = 300 * 10**9  # the spec's suggested 5 minutes
_MAX_CBOR_DEPTH = 16


class IpnsError(DecodeError):
    """An IPNS record is malformed, badly signed, expired, or does not belong to its name."""


# --- DAG-CBOR (the subset IPNS needs) ----------------------------------------------------------


def _head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes([major << 5 | value])
    if value < 1 << 8:
        return bytes([major << 5 | 24, value])
    if value < 1 << 16:
        return bytes([major << 5 | 25]) + value.to_bytes(2, "big")
    if value < 1 << 32:
        return bytes([major << 5 | 26]) + value.to_bytes(4, "big")
    if value < 1 << 64:
        return bytes([major << 5 | 27]) + value.to_bytes(8, "big")
    raise InvalidArgumentError("integer too large for CBOR")


def cbor_encode(value: Any) -> bytes:
    """Deterministic DAG-CBOR of ints, bytes, str, lists and str-keyed dicts."""
    if isinstance(value, bool) or value is None:
        return b"\xf5" if value is True else b"\xf4" if value is False else b"\xf6"
    if isinstance(value, int):
        return _head(0, value) if value >= 0 else _head(1, -1 - value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        return _head(2, len(raw)) + raw
    if isinstance(value, str):
        raw = value.encode()
        return _head(3, len(raw)) + raw
    if isinstance(value, (list, tuple)):
        return _head(4, len(value)) + b"".join(cbor_encode(v) for v in value)
    if isinstance(value, dict):
        items = []
        for k, v in value.items():
            if not isinstance(k, str):
                raise ArgumentTypeError("DAG-CBOR map keys are strings")
            items.append((cbor_encode(k), cbor_encode(v)))
        # RFC 7049 canonical order: shorter encoded key first, then bytewise.
        items.sort(key=lambda kv: (len(kv[0]), kv[0]))
        return _head(5, len(items)) + b"".join(k + v for k, v in items)
    raise ArgumentTypeError(f"cannot encode {type(value).__name__} as DAG-CBOR")


def cbor_decode(data: bytes) -> Any:
    """Decode one DAG-CBOR item that spans all of ``data``."""
    value, end = _decode_item(data, 0, 0)
    if end != len(data):
        raise IpnsError("trailing bytes after the CBOR item")
    return value


def _decode_item(data: bytes, pos: int, depth: int) -> tuple[Any, int]:
    if depth > _MAX_CBOR_DEPTH:
        raise IpnsError("CBOR nested too deeply")
    if pos >= len(data):
        raise IpnsError("CBOR truncated")
    initial = data[pos]
    major, info = initial >> 5, initial & 0x1F
    pos += 1
    if major == 7:
        if info == 20:
            return False, pos
        if info == 21:
            return True, pos
        if info == 22:
            return None, pos
        if info == 27:
            if pos + 8 > len(data):
                raise IpnsError("CBOR truncated")
            return struct.unpack(">d", data[pos : pos + 8])[0], pos + 8
        raise IpnsError(f"unsupported CBOR simple value {info}")
    if info < 24:
        arg = info
    elif info <= 27:
        n = 1 << (info - 24)
        if pos + n > len(data):
            raise IpnsError("CBOR truncated")
        arg = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    else:
        raise IpnsError("indefinite-length CBOR is not DAG-CBOR")
    if major == 0:
        return arg, pos
    if major == 1:
        return -1 - arg, pos
    if major in (2, 3):
        if pos + arg > len(data):
            raise IpnsError("CBOR string runs past the end")
        raw = data[pos : pos + arg]
        pos += arg
        if major == 2:
            return raw, pos
        try:
            return raw.decode(), pos
        except UnicodeDecodeError:
            raise IpnsError("CBOR text is not UTF-8") from None
    if major == 4:
        if arg > len(data):
            raise IpnsError("CBOR array longer than its input")
        items = []
        for _ in range(arg):
            item, pos = _decode_item(data, pos, depth + 1)
            items.append(item)
        return items, pos
    if major == 5:
        if arg > len(data):
            raise IpnsError("CBOR map longer than its input")
        out: dict[Any, Any] = {}
        for _ in range(arg):
            k, pos = _decode_item(data, pos, depth + 1)
            if not isinstance(k, str):
                raise IpnsError("DAG-CBOR map keys are strings")
            if k in out:
                raise IpnsError(f"duplicate CBOR map key {k!r}")
            out[k], pos = _decode_item(data, pos, depth + 1)
        return out, pos
    # major 6: a tag (42 = CID link); keep the tagged content.
    return _decode_item(data, pos, depth + 1)


# --- RFC 3339 times ------------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)


def parse_rfc3339(text: str) -> float:
    """Seconds since the Unix epoch (nanosecond fractions kept to float precision)."""
    m = _RFC3339.match(text)
    if m is None:
        raise IpnsError(f"not an RFC 3339 time: {text[:64]!r}")
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        raise IpnsError(f"not an RFC 3339 time: {text[:64]!r}")
    seconds = float(timegm((year, month, day, hour, minute, second, 0, 0, 0)))
    if m.group(7):
        seconds += int(m.group(7)) / 10 ** len(m.group(7))
    if m.group(9):
        offset = int(m.group(10)) * 3600 + int(m.group(11)) * 60
        seconds -= offset if m.group(9) == "+" else -offset
    return seconds


def format_rfc3339(seconds: float) -> str:
    """UTC with nine fractional digits, as go's ``FormatRFC3339`` writes IPNS validity."""
    whole = int(seconds // 1)
    nanos = round((seconds - whole) * 1e9)
    if nanos >= 10**9:
        whole, nanos = whole + 1, nanos - 10**9
    t = time.gmtime(whole)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{nanos:09d}Z"


# --- records ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IpnsRecord:
    value: bytes
    validity: bytes  # RFC 3339 text, as bytes
    validity_type: int
    sequence: int
    ttl: int  # nanoseconds
    public_key: bytes | None
    signature_v2: bytes
    data: bytes

    @property
    def eol(self) -> float:
        return parse_rfc3339(self.validity.decode("ascii", "replace"))


def create_ipns_record(
    key: PrivateKey,
    value: bytes,
    sequence: int,
    eol: float,
    ttl_ns: int = DEFAULT_TTL_NS,
    *,
    v1_compatible: bool = True,
    embed_public_key: bool | None = None,
) -> bytes:
    """A signed, serialized ``IpnsEntry``. With ``v1_compatible`` (the default, as boxo) it also
    carries the legacy V1 copies of the fields and a V1 signature, for old resolvers; we never
    check V1 signatures ourselves (the spec forbids relying on them)."""
    validity = format_rfc3339(eol).encode()
    data = cbor_encode({"Value": value, "Validity": validity, "ValidityType": 0, "Sequence": sequence, "TTL": ttl_ns})
    entry = ipns_pb2.IpnsEntry()
    entry.signatureV2 = key.sign(SIGNATURE_V2_PREFIX + data)
    entry.data = data
    if v1_compatible:
        entry.value = value
        entry.validity = validity
        entry.validityType = ipns_pb2.IpnsEntry.EOL
        entry.sequence = sequence
        entry.ttl = ttl_ns
        # The legacy signature covers value + validity + "EOL".
        entry.signatureV1 = key.sign(value + validity + b"EOL")
    public = key.public_key
    if embed_public_key is None:
        embed_public_key = PeerId.from_public_key(public).public_key is None
    if embed_public_key:
        entry.pubKey = public.marshal()
    return entry.SerializeToString()


def decode_ipns_record(raw: bytes) -> IpnsRecord:
    """Parse and structurally check a record (no signature or time check)."""
    if len(raw) > MAX_IPNS_RECORD_SIZE:
        raise IpnsError(f"IPNS record of {len(raw)} bytes exceeds {MAX_IPNS_RECORD_SIZE}")
    entry = ipns_pb2.IpnsEntry()
    try:
        entry.ParseFromString(raw)
    except (ProtobufDecodeError, RuntimeError, ValueError) as exc:
        raise IpnsError(f"malformed IPNS record: {exc}") from None
    if not entry.signatureV2 or not entry.data:
        raise IpnsError("IPNS record lacks signatureV2 or data (V1-only records are invalid)")
    fields = cbor_decode(entry.data)
    if not isinstance(fields, dict):
        raise IpnsError("IPNS data is not a CBOR map")
    value, validity = fields.get("Value"), fields.get("Validity")
    vtype, seq, ttl = fields.get("ValidityType"), fields.get("Sequence"), fields.get("TTL")
    if not isinstance(value, bytes) or not isinstance(validity, bytes):
        raise IpnsError("IPNS data lacks Value or Validity bytes")
    if not isinstance(vtype, int) or not isinstance(seq, int) or not isinstance(ttl, int):
        raise IpnsError("IPNS data lacks ValidityType, Sequence or TTL integers")
    if isinstance(vtype, bool) or seq < 0 or ttl < 0:
        raise IpnsError("IPNS data has out-of-range integers")
    # Legacy copies must agree with the signed data.
    if entry.HasField("signatureV1") or entry.HasField("value"):
        if (
            entry.value != value
            or entry.validity != validity
            or int(entry.validityType) != vtype
            or entry.sequence != seq
            or entry.ttl != ttl
        ):
            raise IpnsError("IPNS V1 fields differ from the signed V2 data")
    return IpnsRecord(
        value, validity, vtype, seq, ttl,
        entry.pubKey if entry.HasField("pubKey") else None,
        entry.signatureV2, entry.data,
    )


def verify_ipns_record(name: PeerId, raw: bytes, now: float) -> IpnsRecord:
    """Full verification against the IPNS name (a peer ID); ``now`` in Unix seconds."""
    record = decode_ipns_record(raw)
    public: PublicKey | None
    if record.public_key is not None:
        try:
            public = unmarshal_public_key(record.public_key)
        except Libp2pError as exc:
            raise IpnsError(f"IPNS record carries a bad public key: {exc}") from None
        if not name.matches_public_key(public):
            raise IpnsError("IPNS record's public key does not belong to its name")
    else:
        public = name.public_key
        if public is None:
            raise IpnsError("IPNS name does not inline its key and the record carries none")
    if not public.verify(SIGNATURE_V2_PREFIX + record.data, record.signature_v2):
        raise IpnsError("IPNS signatureV2 does not verify")
    if record.validity_type != 0:
        raise IpnsError(f"unknown IPNS validity type {record.validity_type}")
    if record.eol <= now:
        raise IpnsError("IPNS record has expired")
    return record
