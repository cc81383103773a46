"""Fuzz unsigned-varint decoding and uvarint length-prefixed framing, both twins.

    python fuzz/fuzz_varint.py -atheris_runs=1000001 -max_len=4096

Input: byte 0 picks the frame limit, bytes 1..4 the feed sizes, the rest is the stream.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["libp2p"]):
    from _common import chunks, run, same, trace


def _frames(twin, limit: int, pieces: list[bytes]):
    def step(out: list) -> None:
        reader = twin.FrameReader(limit)
        for piece in pieces:
            reader.feed(piece)
            while (frame := reader.next_frame()) is not None:
                out.append(frame)
            # bounded: at most one frame plus what was fed and not parsed
            if reader.buffered > limit + twin.MAX_VARINT_LEN + len(piece):
                raise AssertionError("FrameReader buffers more than one frame")
        out.append(reader.drain() if len(out) % 2 else b"")
        reader.close()

    return trace(step)


def test_one_input(data: bytes) -> None:
    for offset in range(min(len(data), 3) + 1):
        for buf in (data, bytearray(data), memoryview(data)):
            kind, value = same(lambda t: t.varint_decode(buf, offset))
        if kind == "ok":
            number, end = value
            # only minimal encodings decode, so re-encoding gives the same bytes
            if same(lambda t: t.varint_encode(number)) != ("ok", data[offset:end]):
                raise AssertionError("varint decode/encode round trip failed")
    if len(data) < 5:
        return
    limit = (1 << (data[0] % 20)) - 1 if data[0] < 240 else data[0]
    pieces = list(chunks(data[5:], data[1:5]))
    same(lambda t: _frames(t, limit, pieces))


if __name__ == "__main__":
    run(test_one_input)
