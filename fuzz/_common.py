"""Shared helpers of the atheris targets in this folder.

The contract every decoder must keep: return a value or raise a ``Libp2pError`` subclass.
``outcome`` turns the typed errors into values and lets anything else escape, which atheris
reports as a crash. ``same`` runs one function over both twins and raises ``TwinMismatch``
when their results (or their error types) differ.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

from libp2p import _pure
from libp2p.errors import Libp2pError

try:
    from libp2p import _native
except ImportError:  # pure-Python build: twin comparisons are skipped, the contract is not
    _native = None  # type: ignore[assignment]
    print("fuzz: libp2p._native is not built; only the pure twin is fuzzed", file=sys.stderr)

TWINS: tuple[ModuleType, ...] = (_pure,) if _native is None else (_pure, _native)


class TwinMismatch(AssertionError):
    """The two twins disagreed on the same input."""


def outcome(fn: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    """``("ok", value)`` or ``("err", error type)``; untyped exceptions propagate (a crash)."""
    try:
        return ("ok", fn(*args))
    except Libp2pError as exc:
        return ("err", type(exc))


def same(fn: Callable[[ModuleType], Any]) -> tuple[str, Any]:
    """``outcome(fn, twin)`` for each twin; they must agree. Returns the pure twin's outcome."""
    results = [outcome(fn, twin) for twin in TWINS]
    for other in results[1:]:
        if other != results[0]:
            raise TwinMismatch(f"pure {results[0]!r} != native {other!r}")
    return results[0]


def chunks(data: bytes, sizes: bytes, max_pieces: int = 64) -> Iterator[bytes]:
    """``data`` cut into pieces whose sizes cycle through ``sizes`` (0 means 'the rest').

    Pieces are made large enough that there are at most ``max_pieces`` of them, which keeps
    the cost of one input bounded.
    """
    if not sizes:
        yield data
        return
    floor = -(-len(data) // max_pieces)
    pos = 0
    k = 0
    while pos < len(data):
        size = sizes[k % len(sizes)]
        k += 1
        end = len(data) if size == 0 else pos + max(size, floor)
        yield data[pos:end]
        pos = end


def trace(step: Callable[[list[Any]], None]) -> tuple[list[Any], Any]:
    """Run ``step(out)``; return what it appended and the type of the typed error that stopped it."""
    out: list[Any] = []
    try:
        step(out)
    except Libp2pError as exc:
        return out, type(exc)
    return out, None


def run(test_one_input: Callable[[bytes], None]) -> None:
    """Hand ``test_one_input`` to atheris; ``sys.argv`` carries the libFuzzer options."""
    import atheris

    # The library logs a peer's protocol violations at WARNING; under fuzzing that is every input.
    logging.disable(logging.CRITICAL)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
