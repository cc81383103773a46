"""Fuzz mplex: the frame decoder twins (split anywhere, with ``close()`` at the end) and an
``MplexSession`` fed the same stream.

    python fuzz/fuzz_mplex.py -atheris_runs=1000001 -max_len=4096

Byte 0 picks the message limit, bytes 1..4 the feed sizes, byte 5 the session's role.
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["libp2p"]):
    from _common import chunks, outcome, run, same, trace
    from libp2p.muxer.mplex.core import MplexSession


def _decode(twin, limit: int, pieces: list[bytes]):
    def step(out: list) -> None:
        decoder = twin.MplexFrameDecoder(limit)
        for piece in pieces:
            decoder.feed(piece)
            while (frame := decoder.next_frame()) is not None:
                out.append(frame)
        out.append(decoder.buffered)
        decoder.close()

    return trace(step)


def test_one_input(data: bytes) -> None:
    if len(data) < 6:
        return
    limit = (1 << (data[0] % 24)) - 1
    pieces = list(chunks(data[6:], data[1:5]))
    same(lambda t: _decode(t, limit, pieces))
    session = MplexSession(data[5] % 2 == 0)
    for piece in pieces:
        kind, _ = outcome(session.receive_data, piece)
        while session.next_event() is not None:
            pass
        session.data_to_send()
        if kind == "err":
            break
    outcome(session.receive_eof)


if __name__ == "__main__":
    run(test_one_input)
