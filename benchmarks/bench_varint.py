"""unsigned-varint encode/decode and the length-prefixed frame reader, both twins."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

# 1 byte (a protobuf tag / a small length), 2 bytes (a typical frame length), 5 bytes (a large length)
_VALUES = {"1B": 100, "2B": 1400, "5B": 1 << 30}


@pytest.mark.benchmark(group="varint_encode")
@pytest.mark.parametrize("size", list(_VALUES))
def test_varint_encode(benchmark: Any, accel: ModuleType, size: str) -> None:
    value = _VALUES[size]
    benchmark(accel.varint_encode, value)


@pytest.mark.benchmark(group="varint_decode")
@pytest.mark.parametrize("size", list(_VALUES))
def test_varint_decode(benchmark: Any, accel: ModuleType, size: str) -> None:
    data = accel.varint_encode(_VALUES[size]) + b"payload"
    assert benchmark(accel.varint_decode, data, 0)[0] == _VALUES[size]


@pytest.mark.benchmark(group="frame_reader")
def test_frame_reader_100_frames(benchmark: Any, accel: ModuleType) -> None:
    """Feed one 100-frame chunk (100-byte frames) and take every frame out: cost per chunk."""
    chunk = (accel.varint_encode(100) + b"x" * 100) * 100

    def run() -> int:
        reader = accel.FrameReader(1 << 16)
        reader.feed(chunk)
        return len(reader.frames())

    assert benchmark(run) == 100
