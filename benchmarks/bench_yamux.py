"""yamux: header pack/unpack and the frame decoder (both twins); a sans-IO bulk transfer."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from libp2p.muxer.events import DataReceived
from libp2p.muxer.yamux import YamuxConfig, YamuxSession

_FRAME_PAYLOAD = 16 * 1024
_DECODE_TOTAL = 1 << 20
_BULK_TOTAL = 64 << 20


@pytest.mark.benchmark(group="yamux_header_pack")
def test_yamux_pack_header(benchmark: Any, accel: ModuleType) -> None:
    assert len(benchmark(accel.yamux_pack_header, 0, 2, 12345, 16384)) == 12


@pytest.mark.benchmark(group="yamux_header_unpack")
def test_yamux_unpack_header(benchmark: Any, accel: ModuleType) -> None:
    header = accel.yamux_pack_header(0, 2, 12345, 16384) + b"payload"
    assert benchmark(accel.yamux_unpack_header, header, 0) == (0, 0, 2, 12345, 16384)


def _data_stream(accel: ModuleType) -> bytes:
    frame = accel.yamux_pack_header(0, 0, 1, _FRAME_PAYLOAD) + b"x" * _FRAME_PAYLOAD
    return frame * (_DECODE_TOTAL // _FRAME_PAYLOAD)


@pytest.mark.benchmark(group="yamux_decode_1MiB")
@pytest.mark.parametrize("chunk", [_DECODE_TOTAL, 64 * 1024])
def test_yamux_decoder_throughput(benchmark: Any, accel: ModuleType, chunk: int) -> None:
    """1 MiB of 16 KiB Data frames, fed in one piece or in 64 KiB reads (frames straddle reads)."""
    wire = _data_stream(accel)
    chunks = [wire[i : i + chunk] for i in range(0, len(wire), chunk)]

    def run() -> int:
        decoder = accel.YamuxFrameDecoder(1 << 24)
        n = 0
        for piece in chunks:
            decoder.feed(piece)
            next_frame = decoder.next_frame
            while (frame := next_frame()) is not None:
                n += frame[3]
        return n

    assert benchmark(run) == _DECODE_TOTAL


def _bulk_transfer(total: int, write_size: int = 256 * 1024) -> int:
    """Send ``total`` bytes on one stream between two in-memory sessions; return bytes received.

    The receiver acknowledges everything at once, as an adapter whose reader keeps up would.
    A fake clock advances 1 µs per round with a 1 ms RTT, so the window auto-tunes to 16 MiB.
    """
    cfg = YamuxConfig(enable_keepalive=False, measure_rtt_interval=None)
    a = YamuxSession(True, cfg)
    b = YamuxSession(False, cfg)
    a._rtt = b._rtt = 0.001
    sid = a.open_stream()
    chunk = b"\x00" * write_size
    sent = received = 0
    now = 0.0
    while received < total:
        while sent < total:
            n = a.send_data(sid, chunk if total - sent >= len(chunk) else chunk[: total - sent])
            if not n:
                break
            sent += n
        # As the kernel would hand it over: one contiguous read per batch.
        b.receive_data(b"".join(a.data_to_send()))
        now += 1e-6
        for ev in b.events():
            if type(ev) is DataReceived:
                size = len(ev.data)
                received += size
                b.acknowledge_received(sid, size, now)
        a.receive_data(b"".join(b.data_to_send()))
        a.events()
    return received


@pytest.mark.benchmark(group="yamux_bulk_64MiB")
def test_yamux_bulk_transfer(benchmark: Any, twin: ModuleType) -> None:
    """Two sessions, one stream, 64 MiB: MB/s = 64 * 1.048576 / median seconds."""
    result = benchmark.pedantic(_bulk_transfer, args=(_BULK_TOTAL,), rounds=5, iterations=1, warmup_rounds=1)
    assert result == _BULK_TOTAL
    benchmark.extra_info["MB/s"] = round(_BULK_TOTAL / 1e6 / benchmark.stats.stats.median, 1)


@pytest.mark.benchmark(group="yamux_small_writes_4MiB")
def test_yamux_small_writes(benchmark: Any, twin: ModuleType) -> None:
    """4 MiB in 1 KiB writes (4096 frames): the per-frame cost of both sessions."""
    total = 4 << 20
    result = benchmark.pedantic(_bulk_transfer, args=(total, 1024), rounds=5, iterations=1, warmup_rounds=1)
    assert result == total
    benchmark.extra_info["MB/s"] = round(total / 1e6 / benchmark.stats.stats.median, 1)
