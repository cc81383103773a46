"""Kademlia key-space arithmetic: the pure-Python twin of ``_native/kademlia.pxi``.

Keys are byte strings of equal length (32 bytes, sha256 of a peer ID, in the DHT).
Distances compare as big-endian unsigned integers, so comparing the XOR bytes works too.
"""

from __future__ import annotations

from collections.abc import Sequence

from libp2p.errors import KeyLengthError, LocalProtocolError

__all__ = ["xor_distance", "common_prefix_length", "sort_by_distance"]

_Key = bytes | bytearray | memoryview


def xor_distance(a: _Key, b: _Key) -> bytes:
    """The XOR of two equal-length keys, as bytes of the same length."""
    x = int.from_bytes(a, "big") ^ int.from_bytes(b, "big")  # TypeError on non-buffers, as the twin
    n = len(a)
    if len(b) != n:
        raise KeyLengthError(f"keys differ in length: {n} and {len(b)}")
    return x.to_bytes(n, "big")


def common_prefix_length(a: _Key, b: _Key) -> int:
    """Number of leading bits the two keys share (the k-bucket index from the far end)."""
    x = int.from_bytes(a, "big") ^ int.from_bytes(b, "big")
    n = len(a)
    if len(b) != n:
        raise KeyLengthError(f"keys differ in length: {n} and {len(b)}")
    return 8 * n - x.bit_length()


def sort_by_distance(target: _Key, keys: Sequence[_Key], limit: int | None = None) -> list[int]:
    """Indices of ``keys`` ordered by XOR distance to ``target``, closest first (stable).

    With ``limit``, only the first ``limit`` indices are returned.
    """
    if limit is not None and limit < 0:
        raise LocalProtocolError(f"negative limit {limit}")
    t = int.from_bytes(target, "big")
    n = len(target)
    dists = []
    for k in keys:
        d = int.from_bytes(k, "big") ^ t
        if len(k) != n:
            raise KeyLengthError(f"key of {len(k)} bytes compared with a {n}-byte target")
        dists.append(d)
    order = sorted(range(len(dists)), key=dists.__getitem__)
    if limit is not None:
        del order[limit:]
    return order
