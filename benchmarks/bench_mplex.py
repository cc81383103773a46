"""mplex frame codec, both twins: header/frame packing and incremental decoding."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

_SIZES = {"100B": 100, "4KiB": 4096, "64KiB": 65536}


@pytest.mark.benchmark(group="mplex_pack_header")
def test_mplex_pack_header(benchmark: Any, accel: ModuleType) -> None:
    assert benchmark(accel.mplex_pack_header, 1000, 2, 4096) == bytes.fromhex("c23e8020")


@pytest.mark.benchmark(group="mplex_pack_frame")
@pytest.mark.parametrize("size", list(_SIZES))
def test_mplex_pack_frame(benchmark: Any, accel: ModuleType, size: str) -> None:
    payload = b"x" * _SIZES[size]
    expected = len(accel.mplex_pack_header(1000, 2, len(payload))) + len(payload)
    assert len(benchmark(accel.mplex_pack_frame, 1000, 2, payload)) == expected


@pytest.mark.benchmark(group="mplex_decode")
@pytest.mark.parametrize(("size", "count"), [("100B", 100), ("4KiB", 64), ("64KiB", 16)])
def test_mplex_decode_chunk(benchmark: Any, accel: ModuleType, size: str, count: int) -> None:
    """Feed one chunk holding ``count`` frames and take every frame out: cost per chunk."""
    chunk = b"".join(accel.mplex_pack_frame(i, 2, b"y" * _SIZES[size]) for i in range(count))

    def run() -> int:
        dec = accel.MplexFrameDecoder()
        dec.feed(chunk)
        return len(dec.frames())

    assert benchmark(run) == count


@pytest.mark.benchmark(group="mplex_decode_split")
def test_mplex_decode_small_reads(benchmark: Any, accel: ModuleType) -> None:
    """100-byte frames arriving in 1400-byte reads (frames straddle reads)."""
    stream = b"".join(accel.mplex_pack_frame(7, 1, b"z" * 100) for _ in range(140))
    reads = [stream[i : i + 1400] for i in range(0, len(stream), 1400)]

    def run() -> int:
        dec = accel.MplexFrameDecoder()
        n = 0
        for r in reads:
            dec.feed(r)
            while dec.next_frame() is not None:
                n += 1
        return n

    assert benchmark(run) == 140
