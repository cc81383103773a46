"""Fuzz yamux: the frame decoder twins (fed as bytes and as bytearray, split anywhere),
``yamux_unpack_header``, and a ``YamuxSession`` fed the same stream.

    python fuzz/fuzz_yamux.py -atheris_runs=1000001 -max_len=4096

Byte 0 picks the payload limit, bytes 1..4 the feed sizes, byte 5 the session's role.
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["libp2p"]):
    from _common import TwinMismatch, chunks, outcome, run, same, trace
    from libp2p.muxer.events import DataReceived
    from libp2p.muxer.yamux.core import YamuxSession


def _decode(twin, limit: int, pieces: list[bytes], as_bytes: bool):
    def step(out: list) -> None:
        decoder = twin.YamuxFrameDecoder(limit)
        for piece in pieces:
            decoder.feed(piece if as_bytes else bytearray(piece))
            while (frame := decoder.next_frame()) is not None:
                out.append(frame)
        out.append(decoder.buffered)

    return trace(step)


def _session(initiator: bool, pieces: list[bytes]) -> None:
    session = YamuxSession(initiator)
    now = 0.0
    for piece in pieces:
        now += 0.5
        kind, _ = outcome(session.receive_data, piece, now)
        while (event := session.next_event()) is not None:
            if isinstance(event, DataReceived):
                outcome(session.acknowledge_received, event.stream_id, len(event.data), now)
        session.data_to_send()
        outcome(session.handle_timer, now)
        if kind == "err" or session.closed:
            break


def test_one_input(data: bytes) -> None:
    for offset in (0, 1):
        same(lambda t: t.yamux_unpack_header(data, offset))
    if len(data) < 6:
        return
    limit = (1 << (data[0] % 24)) - 1
    pieces = list(chunks(data[6:], data[1:5]))
    first = same(lambda t: _decode(t, limit, pieces, True))
    if same(lambda t: _decode(t, limit, pieces, False)) != first:
        raise TwinMismatch("bytes and bytearray input decode differently")
    _session(data[5] % 2 == 0, pieces)


if __name__ == "__main__":
    run(test_one_input)
