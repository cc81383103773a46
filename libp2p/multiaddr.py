"""Multiaddr: the immutable, self-describing network address (multiformats/multiaddr).

A ``Multiaddr`` holds its binary form and the component spans found by ``multiaddr_scan``
(the hot-path twin in ``libp2p._accel``). ``Multiaddr.from_bytes`` only validates and stores;
the text form and the per-component values are decoded on demand, and the text is cached.

Choices where the implementations differ (all documented in the tests too):

* ``unix``: the binary value is the path bytes. On input both forms are accepted: the
  js form, one percent-encoded segment (``/unix/%2Ftmp%2Fx.sock``), and the go form, where
  the rest of the string is the path (``/unix/tmp/x.sock`` is the path ``/tmp/x.sock``).
  A segment is read the js way when it contains ``%``, is the last one, or is followed by a
  protocol name; otherwise the go way. Output is always the js form (what the reference
  vectors show), so our own text always parses back to the same bytes.
* ``http-path``: as js (the vectors): text ``api%2Fv0`` is the path bytes ``/api/v0``.
* ``certhash``: any multibase on input; stored as the multihash; printed as base64url (``u…``).
* ``p2p``: ``/ipfs/`` is accepted on input; base58btc (``Qm…``, ``1…``) or a CIDv1 with the
  libp2p-key codec in any multibase; stored as the multihash; printed base58btc under ``/p2p/``.
  Like go, bytes are checked for multihash structure only, not for a supported hash.
* ``memory``: as js and the protocol table, a length-prefixed UTF-8 value (go and rust use a
  fixed 8-byte integer, so memory addresses are not portable; they never leave the process).
* ``ip6``: printed per RFC 5952, IPv4-mapped addresses in mixed notation (``::ffff:1.2.3.4``).
* The empty multiaddr is allowed (``Multiaddr("/")``, ``b""``); it prints as ``/``.
* Size: at most ``MAX_MULTIADDR_LEN`` (1024) bytes in binary and 4096 characters as text.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import socket
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, Self

from libp2p._accel import MAX_MULTIADDR_LEN, multiaddr_scan, varint_encode
from libp2p.errors import ArgumentTypeError, MultiaddrError, MultiaddrLookupError

if TYPE_CHECKING:
    from libp2p.identity.peer_id import PeerId

__all__ = [
    "MAX_MULTIADDR_LEN",
    "PROTOCOLS",
    "P_CERTHASH",
    "P_DCCP",
    "P_DNS",
    "P_DNS4",
    "P_DNS6",
    "P_DNSADDR",
    "P_GARLIC32",
    "P_GARLIC64",
    "P_HTTP",
    "P_HTTPS",
    "P_HTTP_PATH",
    "P_IP4",
    "P_IP6",
    "P_IP6ZONE",
    "P_IPCIDR",
    "P_MEMORY",
    "P_NOISE",
    "P_ONION",
    "P_ONION3",
    "P_P2P",
    "P_P2P_CIRCUIT",
    "P_QUIC",
    "P_QUIC_V1",
    "P_SCTP",
    "P_SNI",
    "P_TCP",
    "P_TLS",
    "P_UDP",
    "P_UNIX",
    "P_WEBRTC",
    "P_WEBRTC_DIRECT",
    "P_WEBTRANSPORT",
    "P_WS",
    "P_WSS",
    "Component",
    "Multiaddr",
    "Protocol",
    "protocol_with_code",
    "protocol_with_name",
]

P_IP4 = 4
P_TCP = 6
P_DCCP = 33
P_IP6 = 41
P_IP6ZONE = 42
P_IPCIDR = 43
P_DNS = 53
P_DNS4 = 54
P_DNS6 = 55
P_DNSADDR = 56
P_SCTP = 132
P_UDP = 273
P_WEBRTC_DIRECT = 280
P_WEBRTC = 281
P_P2P_CIRCUIT = 290
P_UNIX = 400
P_P2P = 421
P_HTTPS = 443
P_ONION = 444
P_ONION3 = 445
P_GARLIC64 = 446
P_GARLIC32 = 447
P_TLS = 448
P_SNI = 449
P_NOISE = 454
P_QUIC = 460
P_QUIC_V1 = 461
P_WEBTRANSPORT = 465
P_CERTHASH = 466
P_WS = 477
P_WSS = 478
P_HTTP = 480
P_HTTP_PATH = 481
P_MEMORY = 777

_LIBP2P_KEY = 0x72
# Text longer than this cannot encode to MAX_MULTIADDR_LEN bytes in any sane form, and capping
# it keeps base58 decoding (quadratic) cheap.
_MAX_TEXT_LEN = 4 * MAX_MULTIADDR_LEN
# encodeURIComponent leaves these unescaped besides letters and digits (quote() adds "_.-~").
_URI_SAFE = "!*'()"
_HEX = frozenset("0123456789abcdefABCDEF")
_IPV4_MAPPED_PREFIX = b"\x00" * 10 + b"\xff\xff"


# --- value codecs: text -> value bytes, value bytes -> text ---------------------------------


def _bad(proto: str, value: str, why: str = "") -> MultiaddrError:
    return MultiaddrError(f"invalid /{proto} value {value!r}" + (f": {why}" if why else ""))


def _ip4_to_bytes(text: str) -> bytes:
    try:
        return socket.inet_pton(socket.AF_INET, text)
    except (OSError, ValueError):
        raise _bad("ip4", text) from None


def _ip4_to_string(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET, raw)


def _ip6_to_bytes(text: str) -> bytes:
    # inet_pton takes "::", embedded IPv4 and any case; it rejects zones ("%eth0").
    try:
        return socket.inet_pton(socket.AF_INET6, text)
    except (OSError, ValueError):
        raise _bad("ip6", text) from None


def _ip6_to_string(raw: bytes) -> str:
    if raw[:12] == _IPV4_MAPPED_PREFIX:
        return "::ffff:" + socket.inet_ntop(socket.AF_INET, raw[12:])
    return str(ipaddress.IPv6Address(raw))


def _decimal(text: str, proto: str, limit: int) -> int:
    # int() would also take "+1", " 1", "1_0" and non-ASCII digits.
    if not (0 < len(text) <= 5 and text.isascii() and text.isdigit()):
        raise _bad(proto, text, "not a decimal number")
    value = int(text)
    if value > limit:
        raise _bad(proto, text, f"must be at most {limit}")
    return value


def _port_to_bytes_for(proto: str) -> Callable[[str], bytes]:
    def to_bytes(text: str) -> bytes:
        return _decimal(text, proto, 65535).to_bytes(2, "big")

    return to_bytes


def _port_to_string(raw: bytes) -> str:
    return str(int.from_bytes(raw, "big"))


def _cidr_to_bytes(text: str) -> bytes:
    return bytes((_decimal(text, "ipcidr", 255),))


def _cidr_to_string(raw: bytes) -> str:
    return str(raw[0])


def _name_to_bytes_for(proto: str) -> Callable[[str], bytes]:
    def to_bytes(text: str) -> bytes:
        if not text or "/" in text:
            raise _bad(proto, text, "empty or contains '/'")
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            raise _bad(proto, text, "not encodable as UTF-8") from None

    return to_bytes


def _utf8_to_string(raw: bytes) -> str:
    return raw.decode("utf-8")  # the scanner already checked it


def _p2p_to_bytes(text: str) -> bytes:
    # Same rule as go-multiaddr and the peer-id spec: "Qm…"/"1…" are bare base58btc multihashes,
    # anything else must be a CIDv1 with the libp2p-key codec, in any multibase. Text that is no
    # CID at all is tried as base58btc last, so that a multihash with an unusual hash function
    # (accepted in binary, as go does) still parses back from the text we print for it.
    from libp2p.identity.multiformats import base58btc_decode, decode_cid, parse_multihash

    def multihash(text: str) -> bytes:
        raw = base58btc_decode(text)
        try:
            parse_multihash(raw)
        except ValueError as exc:
            raise MultiaddrError(f"invalid peer ID {text!r} in /p2p: {exc}") from None
        return raw

    if not text:
        raise _bad("p2p", text, "empty")
    try:
        if text[0] in "Q1":
            return multihash(text)
        cid = decode_cid(text)
    except ValueError as exc:  # DecodeError is a ValueError
        if isinstance(exc, MultiaddrError):
            raise
        try:
            return multihash(text)
        except MultiaddrError:
            raise
        except ValueError:
            raise MultiaddrError(f"invalid peer ID {text!r} in /p2p: {exc}") from None
    if cid.version != 1 or cid.codec != _LIBP2P_KEY:
        raise _bad("p2p", text, "not a peer ID (CIDv1 with the libp2p-key codec)")
    return bytes(cid.multihash)


def _p2p_to_string(raw: bytes) -> str:
    from libp2p.identity.multiformats import base58btc_encode

    return base58btc_encode(raw)


def _certhash_to_bytes(text: str) -> bytes:
    from libp2p.identity.multiformats import multibase_decode

    try:
        return multibase_decode(text)
    except ValueError as exc:
        raise _bad("certhash", text, str(exc)) from None


def _certhash_to_string(raw: bytes) -> str:
    return "u" + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _percent_decode(text: str, proto: str) -> bytes:
    """Strict percent-decoding (like decodeURIComponent, a malformed escape is an error)."""
    if "%" not in text:
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            raise _bad(proto, text, "not encodable as UTF-8") from None
    out = bytearray()
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "%":
            pair = text[i + 1 : i + 3]
            if len(pair) != 2 or not _HEX.issuperset(pair):
                raise _bad(proto, text, "malformed percent escape")
            out.append(int(pair, 16))
            i += 3
        else:
            try:
                out += c.encode("utf-8")
            except UnicodeEncodeError:
                raise _bad(proto, text, "not encodable as UTF-8") from None
            i += 1
    return bytes(out)


def _percent_encode(raw: bytes) -> str:
    from urllib.parse import quote

    return quote(raw, safe=_URI_SAFE)


def _unix_to_bytes(text: str) -> bytes:
    return _percent_decode(text, "unix")


def _http_path_to_bytes(text: str) -> bytes:
    if not text:
        raise _bad("http-path", text, "empty")
    return b"/" + _percent_decode(text, "http-path")


def _http_path_to_string(raw: bytes) -> str:
    return _percent_encode(raw[1:] if raw[:1] == b"/" else raw)


def _onion_to_bytes_for(proto: str, host_chars: int) -> Callable[[str], bytes]:
    def to_bytes(text: str) -> bytes:
        host, sep, port = text.partition(":")
        if not sep or len(host) != host_chars or not host.isascii():
            raise _bad(proto, text, f"expected <{host_chars} base32 chars>:<port>")
        try:
            raw = base64.b32decode(host.upper())
        except (binascii.Error, ValueError):
            raise _bad(proto, text, "bad base32") from None
        number = _decimal(port, proto, 65535)
        if number == 0:
            raise _bad(proto, text, "port must not be 0")
        return raw + number.to_bytes(2, "big")

    return to_bytes


def _onion_to_string(raw: bytes) -> str:
    host = base64.b32encode(raw[:-2]).decode("ascii").lower()
    return f"{host}:{int.from_bytes(raw[-2:], 'big')}"


def _garlic64_to_bytes(text: str) -> bytes:
    # i2p's base64 alphabet ends in "-~" instead of "+/".
    try:
        return base64.b64decode(text.encode("ascii"), altchars=b"-~", validate=True)
    except (binascii.Error, ValueError):
        raise _bad("garlic64", text, "bad i2p base64") from None


def _garlic64_to_string(raw: bytes) -> str:
    return base64.b64encode(raw, altchars=b"-~").decode("ascii")


def _garlic32_to_bytes(text: str) -> bytes:
    if not text.isascii() or text != text.lower() or "=" in text:
        raise _bad("garlic32", text, "expected lower-case unpadded base32")
    try:
        return base64.b32decode(text.upper() + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        raise _bad("garlic32", text, "bad base32") from None


def _garlic32_to_string(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def _no_value(text: str) -> bytes:
    raise MultiaddrError("protocol takes no value")


def _no_string(raw: bytes) -> str:
    return ""


# --- the protocol table ----------------------------------------------------------------------


class Protocol:
    """One row of the multiaddr protocol table.

    ``size`` is in bits as in ``protocols.csv``: > 0 fixed, 0 no value, -1 length-prefixed.
    ``path`` marks ``unix``, whose go text form takes the rest of the string.
    """

    __slots__ = ("_to_bytes", "_to_string", "code", "name", "path", "size", "vcode")

    name: str
    code: int
    size: int
    vcode: bytes
    path: bool
    _to_bytes: Callable[[str], bytes]
    _to_string: Callable[[bytes], str]

    def __init__(
        self,
        name: str,
        code: int,
        size: int,
        to_bytes: Callable[[str], bytes] = _no_value,
        to_string: Callable[[bytes], str] = _no_string,
        path: bool = False,
    ) -> None:
        setter = object.__setattr__
        setter(self, "name", name)
        setter(self, "code", code)
        setter(self, "size", size)
        setter(self, "vcode", varint_encode(code))
        setter(self, "path", path)
        setter(self, "_to_bytes", to_bytes)
        setter(self, "_to_string", to_string)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Protocol is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Protocol is immutable")

    def value_to_bytes(self, text: str) -> bytes:
        """The binary value (without a length prefix) of a text value; MultiaddrError if bad."""
        return self._to_bytes(text)

    def value_to_string(self, raw: bytes) -> str:
        """The text of a binary value that ``multiaddr_scan`` accepted ("" when there is none)."""
        return self._to_string(raw)

    def __repr__(self) -> str:
        return f"Protocol({self.name!r}, code={self.code}, size={self.size})"

    def __reduce__(self) -> tuple[Callable[[int], Protocol], tuple[int]]:
        return protocol_with_code, (self.code,)


_V = -1
PROTOCOLS: tuple[Protocol, ...] = (
    Protocol("ip4", P_IP4, 32, _ip4_to_bytes, _ip4_to_string),
    Protocol("tcp", P_TCP, 16, _port_to_bytes_for("tcp"), _port_to_string),
    Protocol("udp", P_UDP, 16, _port_to_bytes_for("udp"), _port_to_string),
    Protocol("dccp", P_DCCP, 16, _port_to_bytes_for("dccp"), _port_to_string),
    Protocol("ip6", P_IP6, 128, _ip6_to_bytes, _ip6_to_string),
    Protocol("ip6zone", P_IP6ZONE, _V, _name_to_bytes_for("ip6zone"), _utf8_to_string),
    Protocol("ipcidr", P_IPCIDR, 8, _cidr_to_bytes, _cidr_to_string),
    Protocol("dns", P_DNS, _V, _name_to_bytes_for("dns"), _utf8_to_string),
    Protocol("dns4", P_DNS4, _V, _name_to_bytes_for("dns4"), _utf8_to_string),
    Protocol("dns6", P_DNS6, _V, _name_to_bytes_for("dns6"), _utf8_to_string),
    Protocol("dnsaddr", P_DNSADDR, _V, _name_to_bytes_for("dnsaddr"), _utf8_to_string),
    Protocol("sctp", P_SCTP, 16, _port_to_bytes_for("sctp"), _port_to_string),
    Protocol("udt", 301, 0),
    Protocol("utp", 302, 0),
    Protocol("unix", P_UNIX, _V, _unix_to_bytes, lambda raw: _percent_encode(raw), path=True),
    Protocol("p2p", P_P2P, _V, _p2p_to_bytes, _p2p_to_string),
    Protocol("onion", P_ONION, 96, _onion_to_bytes_for("onion", 16), _onion_to_string),
    Protocol("onion3", P_ONION3, 296, _onion_to_bytes_for("onion3", 56), _onion_to_string),
    Protocol("garlic64", P_GARLIC64, _V, _garlic64_to_bytes, _garlic64_to_string),
    Protocol("garlic32", P_GARLIC32, _V, _garlic32_to_bytes, _garlic32_to_string),
    Protocol("tls", P_TLS, 0),
    Protocol("sni", P_SNI, _V, _name_to_bytes_for("sni"), _utf8_to_string),
    Protocol("noise", P_NOISE, 0),
    Protocol("quic", P_QUIC, 0),
    Protocol("quic-v1", P_QUIC_V1, 0),
    Protocol("webtransport", P_WEBTRANSPORT, 0),
    Protocol("certhash", P_CERTHASH, _V, _certhash_to_bytes, _certhash_to_string),
    Protocol("http", P_HTTP, 0),
    Protocol("http-path", P_HTTP_PATH, _V, _http_path_to_bytes, _http_path_to_string),
    Protocol("https", P_HTTPS, 0),
    Protocol("ws", P_WS, 0),
    Protocol("wss", P_WSS, 0),
    Protocol("p2p-websocket-star", 479, 0),
    Protocol("p2p-stardust", 277, 0),
    Protocol("p2p-webrtc-star", 275, 0),
    Protocol("p2p-webrtc-direct", 276, 0),
    Protocol("webrtc-direct", P_WEBRTC_DIRECT, 0),
    Protocol("webrtc", P_WEBRTC, 0),
    Protocol("p2p-circuit", P_P2P_CIRCUIT, 0),
    Protocol("memory", P_MEMORY, _V, _name_to_bytes_for("memory"), _utf8_to_string),
)
del _V

_BY_CODE: dict[int, Protocol] = {p.code: p for p in PROTOCOLS}
_BY_NAME: dict[str, Protocol] = {p.name: p for p in PROTOCOLS}
_BY_NAME["ipfs"] = _BY_CODE[P_P2P]  # accepted on input, printed as /p2p/


def protocol_with_name(name: str) -> Protocol:
    """The protocol called ``name`` (``ipfs`` is ``p2p``); MultiaddrLookupError if unknown."""
    proto = _BY_NAME.get(name)
    if proto is None:
        raise MultiaddrLookupError(f"unknown multiaddr protocol {name!r}")
    return proto


def protocol_with_code(code: int) -> Protocol:
    """The protocol with multicodec ``code``; MultiaddrLookupError if unknown."""
    proto = _BY_CODE.get(code)
    if proto is None:
        raise MultiaddrLookupError(f"unknown multiaddr protocol code {code}")
    return proto


def _lookup(protocol: int | str | Protocol) -> Protocol:
    if isinstance(protocol, Protocol):
        return protocol
    if isinstance(protocol, str):
        return protocol_with_name(protocol)
    return protocol_with_code(protocol)


# --- text parsing ----------------------------------------------------------------------------


def _parse_text(text: str) -> bytes:
    if len(text) > _MAX_TEXT_LEN:
        raise MultiaddrError(f"multiaddr text longer than {_MAX_TEXT_LEN} characters")
    if not text.startswith("/"):
        raise MultiaddrError(f'multiaddr must start with "/": {text!r}')
    parts = text.rstrip("/").split("/")  # go trims trailing slashes too
    out = bytearray()
    n = len(parts)
    i = 1
    while i < n:
        name = parts[i]
        i += 1
        proto = _BY_NAME.get(name)
        if proto is None:
            raise MultiaddrError(f"unknown multiaddr protocol {name!r} in {text!r}")
        out += proto.vcode
        if proto.size == 0:
            continue
        if i >= n:
            raise MultiaddrError(f"/{name} is missing its value in {text!r}")
        segment = parts[i]
        if proto.path and "%" not in segment and i + 1 < n and parts[i + 1] not in _BY_NAME:
            # go form: the rest of the string is the path, slashes included.
            try:
                value = ("/" + "/".join(parts[i:])).encode("utf-8")
            except UnicodeEncodeError:
                raise MultiaddrError(f"/{name} path is not encodable as UTF-8") from None
            i = n
        else:
            value = proto._to_bytes(segment)
            i += 1
        if proto.size < 0:
            out += varint_encode(len(value))
        out += value
    return bytes(out)


class Component(NamedTuple):
    """One decoded component: its protocol, its text value (None if it has none), its raw value."""

    protocol: Protocol
    value: str | None
    raw: bytes


_object_new = object.__new__


class Multiaddr:
    """An immutable multiaddr, equal and hashed by its binary form.

    ``Multiaddr(text | bytes | Multiaddr)``; ``Multiaddr.from_bytes(b)`` is the fast path for
    bytes off the wire. Iterating yields ``(protocol_name, value_or_None)`` pairs.
    """

    __slots__ = ("__weakref__", "_b", "_spans", "_text")

    _b: bytes
    _spans: tuple[int, ...]
    _text: str

    def __new__(cls, addr: str | bytes | bytearray | memoryview | Multiaddr) -> Self:
        if isinstance(addr, str):
            return cls.from_bytes(_parse_text(addr))
        if isinstance(addr, Multiaddr):
            if type(addr) is cls:
                return addr  # immutable: sharing is safe
            return cls._make(addr._b, addr._spans)
        if isinstance(addr, (bytes, bytearray, memoryview)):
            return cls.from_bytes(addr)
        raise ArgumentTypeError(f"Multiaddr() takes str, bytes or Multiaddr, not {type(addr).__name__}")

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> Self:
        """Validate a binary multiaddr and wrap it; MultiaddrError if malformed."""
        if data.__class__ is not bytes:
            data = bytes(data)
        spans = multiaddr_scan(data)
        self = _object_new(cls)
        _set_b(self, data)
        _set_spans(self, spans)
        return self

    @classmethod
    def _make(cls, data: bytes, spans: tuple[int, ...]) -> Self:
        self = _object_new(cls)
        _set_b(self, data)
        _set_spans(self, spans)
        return self

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Multiaddr is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Multiaddr is immutable")

    # --- conversions ---

    def __bytes__(self) -> bytes:
        return self._b

    def to_bytes(self) -> bytes:
        """The binary form."""
        return self._b

    def __str__(self) -> str:
        try:
            return self._text
        except AttributeError:
            pass
        data = self._b
        parts = []
        for code, _, start, end in self._iter_spans():
            proto = _BY_CODE[code]
            if proto.size == 0:
                parts.append("/" + proto.name)
            else:
                parts.append(f"/{proto.name}/{proto._to_string(data[start:end])}")
        text = "".join(parts) or "/"
        _set_text(self, text)
        return text

    def __repr__(self) -> str:
        return f"Multiaddr({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Multiaddr):
            return self._b == other._b
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        if isinstance(other, Multiaddr):
            return self._b != other._b
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._b)

    def __reduce__(self) -> tuple[Callable[[bytes], Multiaddr], tuple[bytes]]:
        return type(self).from_bytes, (self._b,)

    def __copy__(self) -> Multiaddr:
        return self

    def __deepcopy__(self, memo: Any) -> Multiaddr:
        return self

    # --- components ---

    def _iter_spans(self) -> Iterator[tuple[int, int, int, int]]:
        """``(code, component_start, value_start, value_end)`` for each component."""
        spans = self._spans
        start = 0
        for k in range(0, len(spans), 3):
            end = spans[k + 2]
            yield spans[k], start, spans[k + 1], end
            start = end

    def __iter__(self) -> Iterator[tuple[str, str | None]]:
        for component in self.components():
            yield component.protocol.name, component.value

    def components(self) -> list[Component]:
        """The address as ``(protocol, value)`` components, outermost first."""
        data = self._b
        out = []
        for code, _, start, end in self._iter_spans():
            proto = _BY_CODE[code]
            raw = data[start:end]
            out.append(Component(proto, proto._to_string(raw) if proto.size else None, raw))
        return out

    def protocols(self) -> list[Protocol]:
        """The protocols of the components, in order."""
        spans = self._spans
        return [_BY_CODE[spans[k]] for k in range(0, len(spans), 3)]

    def split(self) -> list[Multiaddr]:
        """One single-component multiaddr per component, in order."""
        data = self._b
        cls = type(self)
        return [
            cls._make(data[cstart:end], (code, start - cstart, end - cstart))
            for code, cstart, start, end in self._iter_spans()
        ]

    def has_protocol(self, protocol: int | str | Protocol) -> bool:
        """Whether a component uses ``protocol`` (a name, a code or a ``Protocol``)."""
        code = _lookup(protocol).code
        spans = self._spans
        return any(spans[k] == code for k in range(0, len(spans), 3))

    def value_for_protocol(self, protocol: int | str | Protocol) -> str:
        """The text value of the first component of ``protocol`` (go's ValueForProtocol).

        Returns "" for a protocol that takes no value but is present. Raises
        MultiaddrLookupError when the protocol is absent (or unknown).
        """
        proto = _lookup(protocol)
        code = proto.code
        for c, _, start, end in self._iter_spans():
            if c == code:
                return proto._to_string(self._b[start:end])
        raise MultiaddrLookupError(f"{self} has no /{proto.name} component")

    @property
    def peer_id(self) -> PeerId | None:
        """The peer ID when the last component is ``/p2p/<id>``, else None (go's GetPeerID).

        Raises InvalidPeerIdError if that multihash is not a valid peer ID.
        """
        spans = self._spans
        if not spans or spans[-3] != P_P2P:
            return None
        from libp2p.identity.peer_id import PeerId

        return PeerId.from_bytes(self._b[spans[-2] : spans[-1]])

    # --- encapsulation ---

    def encapsulate(self, other: str | bytes | Multiaddr) -> Multiaddr:
        """``self`` followed by ``other``."""
        tail = other._b if isinstance(other, Multiaddr) else Multiaddr(other)._b
        return type(self).from_bytes(self._b + tail)

    def decapsulate(self, other: str | bytes | Multiaddr) -> Multiaddr:
        """Remove the last occurrence of ``other`` and everything after it.

        ``other`` must match whole components. If it does not occur, ``self`` is returned
        unchanged (go's Decapsulate; js used to throw).
        """
        needle = other._b if isinstance(other, Multiaddr) else Multiaddr(other)._b
        if not needle:
            return self
        data = self._b
        starts = [cstart for _, cstart, _, _ in self._iter_spans()]
        boundaries = set(starts)
        boundaries.add(len(data))
        for index in range(len(starts) - 1, -1, -1):
            cstart = starts[index]
            if data.startswith(needle, cstart) and cstart + len(needle) in boundaries:
                return self._prefix(index, cstart)
        return self

    def decapsulate_code(self, protocol: int | str | Protocol) -> Multiaddr:
        """Remove the last component of ``protocol`` and everything after it (js's decapsulateCode).

        Returns ``self`` unchanged when there is no such component.
        """
        code = _lookup(protocol).code
        found = None
        for index, (c, cstart, _, _) in enumerate(self._iter_spans()):
            if c == code:
                found = index, cstart
        if found is None:
            return self
        return self._prefix(found[0], found[1])

    def _prefix(self, count: int, length: int) -> Multiaddr:
        """The first ``count`` components, which end at byte ``length``."""
        return type(self)._make(self._b[:length], self._spans[: 3 * count])


# The slot descriptors' setters: internal writes that bypass the immutability guard.
_set_b = Multiaddr.__dict__["_b"].__set__
_set_spans = Multiaddr.__dict__["_spans"].__set__
_set_text = Multiaddr.__dict__["_text"].__set__
