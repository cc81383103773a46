"""base58btc (the Bitcoin alphabet): the pure-Python twin of ``_native/base58.pxi``.

Peer IDs and ``/p2p/`` multiaddr values are printed and parsed in base58btc, so this sits on
the path of every peer-ID string conversion. Each leading zero byte is one leading ``1``.
"""

from __future__ import annotations

from libp2p.errors import ArgumentTypeError, MultibaseError

__all__ = ["base58btc_encode", "base58btc_decode"]

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
# Two digits per big-integer divmod: half the bignum operations of one digit at a time.
_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)


def base58btc_encode(data: bytes | bytearray | memoryview) -> str:
    raw = bytes(data)
    stripped = raw.lstrip(b"\0")
    zeros = len(raw) - len(stripped)
    n = int.from_bytes(stripped, "big")
    pairs = _PAIRS
    out = []
    while n:
        n, r = divmod(n, 3364)
        out.append(pairs[r])
    text = "".join(reversed(out))
    if text[:1] == "1":  # the top pair may carry one leading zero digit
        text = text[1:]
    return "1" * zeros + text


def base58btc_decode(text: str) -> bytes:
    if not isinstance(text, str):
        raise ArgumentTypeError("base58btc_decode takes a str")
    body = text.lstrip("1")
    zeros = len(text) - len(body)
    n = 0
    index = _INDEX
    try:
        for c in body:
            n = n * 58 + index[c]
    except KeyError:
        raise MultibaseError("invalid base58btc character") from None
    return b"\0" * zeros + (n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b"")
