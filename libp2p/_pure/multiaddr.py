"""Binary multiaddr scanner and validator: the pure-Python twin of ``_native/multiaddr.pxi``.

``multiaddr_scan(data)`` checks a whole binary multiaddr and returns where its components are,
so ``Multiaddr.from_bytes`` can store the bytes and decode text only when asked. Every length
is checked against the bytes that remain before anything is sliced, and every failure is a
``MultiaddrError``: random, truncated or oversized input never raises anything else.
"""

from __future__ import annotations

from libp2p.errors import MultiaddrError

__all__ = ["MAX_MULTIADDR_LEN", "multiaddr_scan"]

# go-multiaddr has no overall cap; we bound what a peer can make us hold and scan. 1 KiB fits
# every real address (the largest, an i2p garlic64 destination, is under 620 bytes with the
# transport and a peer ID around it).
MAX_MULTIADDR_LEN = 1024

# Value kinds, one per protocol code. Non-negative: a fixed-size value of that many bytes.
_ONION = -1  # 12 bytes: 10-byte onion v2 host + port that must not be 0
_ONION3 = -2  # 37 bytes: 35-byte onion v3 host + port that must not be 0
_NAME = -3  # length-prefixed non-empty UTF-8 without "/" (dns*, sni, ip6zone, memory)
_MHASH = -4  # length-prefixed multihash (p2p, certhash)
_TEXT = -5  # length-prefixed non-empty UTF-8, "/" allowed (unix, http-path)
_GARLIC64 = -6  # length-prefixed, at least 386 bytes (an i2p destination)
_GARLIC32 = -7  # length-prefixed, 32 bytes or at least 35

_KINDS: dict[int, int] = {
    4: 4,  # ip4
    6: 2,  # tcp
    273: 2,  # udp
    33: 2,  # dccp
    132: 2,  # sctp
    41: 16,  # ip6
    43: 1,  # ipcidr
    42: _NAME,  # ip6zone
    53: _NAME,  # dns
    54: _NAME,  # dns4
    55: _NAME,  # dns6
    56: _NAME,  # dnsaddr
    449: _NAME,  # sni
    777: _NAME,  # memory
    421: _MHASH,  # p2p
    466: _MHASH,  # certhash
    400: _TEXT,  # unix
    481: _TEXT,  # http-path
    444: _ONION,
    445: _ONION3,
    446: _GARLIC64,
    447: _GARLIC32,
}
for _code in (448, 454, 460, 461, 465, 480, 443, 477, 478, 479, 277, 275, 276, 280, 281, 290, 301, 302):
    _KINDS[_code] = 0
del _code


def _uvarint(data: bytes | bytearray | memoryview, i: int, n: int) -> tuple[int, int]:
    """A minimal uvarint of at most 9 bytes at ``data[i:n]`` (multi-byte case only)."""
    value = 0
    shift = 0
    start = i
    while True:
        if i - start >= 9:
            raise MultiaddrError("varint longer than 9 bytes in multiaddr")
        if i >= n:
            raise MultiaddrError("multiaddr ends inside a varint")
        b = data[i]
        i += 1
        if b < 0x80:
            if b == 0 and i - start > 1:
                raise MultiaddrError("non-minimal varint in multiaddr")
            return value | (b << shift), i
        value |= (b & 0x7F) << shift
        shift += 7


def _check_multihash(data: bytes | bytearray | memoryview, i: int, end: int) -> None:
    if i >= end:
        raise MultiaddrError("empty multihash in multiaddr")
    if data[i] < 0x80:
        i += 1
    else:
        i = _uvarint(data, i, end)[1]
    if i < end and data[i] < 0x80:
        length = data[i]
        i += 1
    else:
        length, i = _uvarint(data, i, end)
    if length != end - i:
        raise MultiaddrError("multihash length does not match its value in multiaddr")


def _check_text(data: bytes | bytearray | memoryview, start: int, end: int, slash_ok: bool) -> None:
    if start == end:
        raise MultiaddrError("empty value in multiaddr")
    raw = bytes(data[start:end])
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MultiaddrError("multiaddr value is not valid UTF-8") from None
    if not slash_ok and 0x2F in raw:
        raise MultiaddrError("multiaddr value contains '/'")


def multiaddr_scan(data: bytes | bytearray | memoryview) -> tuple[int, ...]:
    """Validate a binary multiaddr; return ``(code, value_start, value_end)`` per component, flat.

    Component ``k`` occupies ``data[prev_end:value_end]`` where ``prev_end`` is the previous
    component's value end (0 for the first). Raises ``MultiaddrError`` on any malformed input.
    """
    n = len(data)
    if n > MAX_MULTIADDR_LEN:
        raise MultiaddrError(f"multiaddr of {n} bytes exceeds the {MAX_MULTIADDR_LEN}-byte limit")
    out: list[int] = []
    i = 0
    kinds = _KINDS
    while i < n:
        code = data[i]
        if code < 0x80:
            i += 1
        else:
            code, i = _uvarint(data, i, n)
        kind = kinds.get(code)
        if kind is None:
            raise MultiaddrError(f"unknown multiaddr protocol code {code}")
        if kind >= 0:
            end = i + kind
            if end > n:
                raise MultiaddrError("multiaddr ends inside a fixed-size value")
        elif kind <= _ONION and kind >= _ONION3:
            end = i + (12 if kind == _ONION else 37)
            if end > n:
                raise MultiaddrError("multiaddr ends inside an onion address")
            if data[end - 2] == 0 and data[end - 1] == 0:
                raise MultiaddrError("onion port must not be 0")
        else:
            if i < n and data[i] < 0x80:
                length = data[i]
                i += 1
            else:
                length, i = _uvarint(data, i, n)
            if length > n - i:
                raise MultiaddrError("multiaddr value length exceeds the remaining bytes")
            end = i + length
            if kind == _MHASH:
                _check_multihash(data, i, end)
            elif kind == _NAME:
                _check_text(data, i, end, False)
            elif kind == _TEXT:
                _check_text(data, i, end, True)
            elif kind == _GARLIC64:
                if length < 386:
                    raise MultiaddrError("garlic64 value shorter than 386 bytes")
            elif length != 32 and length < 35:
                raise MultiaddrError("garlic32 value must be 32 or at least 35 bytes")
        out += (code, i, end)
        i = end
    return tuple(out)
