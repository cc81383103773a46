"""What every decoder test in this folder checks, and the input strategies they share.

The contract: a decoder returns a value or raises a ``Libp2pError`` subclass. ``outcome``
turns typed errors into values and lets anything else (IndexError, struct.error,
UnicodeDecodeError, protobuf's DecodeError, MemoryError, RecursionError, ...) fail the test
with its own traceback. ``same`` runs one call over both twins and requires the same result
or the same error type; without the compiled twin it runs the pure one alone, and the tests
that exist only to compare twins are marked ``needs_native``.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from fuzz._common import TWINS, outcome, same, trace

needs_native = pytest.mark.skipif(len(TWINS) == 1, reason="libp2p._native is not built")

# Modest example counts: the folder runs twice in CI (compiled and LIBP2P_NO_EXTENSIONS=1);
# the long runs are the atheris targets in fuzz/.
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ_SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

HUGE_LENGTHS = (2**31 - 1, 2**32, 2**32 + 1, 2**40, 2**62, 2**63 - 1)





def split(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    """``data`` cut at the given positions (taken modulo its length, sorted)."""
    points = sorted({c % (len(data) + 1) for c in cuts})
    start = 0
    for p in points:
        yield data[start:p]
        start = p
    yield data[start:]


def uvarint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[bytes], max_ops: int = 3) -> bytes:
    """A valid encoding from ``base`` with a few byte flips, truncations, insertions,
    deletions or huge varint length prefixes spliced in."""
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(1, max_ops))):
        op = draw(st.sampled_from(("flip", "truncate", "insert", "delete", "huge", "append")))
        pos = draw(st.integers(0, len(data)))
        if op == "flip" and data:
            data[min(pos, len(data) - 1)] ^= draw(st.integers(1, 255))
        elif op == "truncate":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 4))]
        elif op == "huge":
            # replace what may be a length prefix at pos with a huge one
            data[pos : pos + draw(st.integers(0, 2))] = uvarint(draw(st.sampled_from(HUGE_LENGTHS)))
        else:
            data += draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


def near(base: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """Valid encodings, mutated ones, and arbitrary bytes."""
    return st.one_of(base, mutated(base), st.binary(max_size=512))


def peak_allocation(fn: Callable[[], Any]) -> int:
    """Bytes allocated at the peak while ``fn`` runs (typed errors are expected and swallowed)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        outcome(fn)
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
