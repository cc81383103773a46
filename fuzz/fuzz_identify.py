"""Fuzz identify: ``decode_identify`` over one or several protobuf bodies and the
``IdentifyReader`` core over the framed stream (split anywhere, then EOF).

    python fuzz/fuzz_identify.py -atheris_runs=1000001 -max_len=4096

Byte 0 bit 0 clear: the rest is cut at 0xff 0xfe into message bodies; set: the rest is the
length-prefixed stream, fed in pieces sized by bytes 1..2. A decoded message must re-encode
and decode to the same information.
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["libp2p"]):
    from _common import chunks, outcome, run
    from libp2p.protocols.identify.core import IdentifyReader
    from libp2p.protocols.identify.wire import decode_identify, encode_identify


def _norm(info):
    # a list whose every entry was dropped (an empty protocol id, a bad address) reads as absent
    for name in ("listen_addrs", "protocols"):
        if getattr(info, name) == []:
            setattr(info, name, None)
    return info


def _check(info) -> None:
    for text in (*(info.protocols or ()), info.protocol_version or "", info.agent_version or ""):
        if not isinstance(text, str):
            raise AssertionError(f"identify decoded a text field as {type(text).__name__}")
    again = _norm(decode_identify([encode_identify(info)]))
    if again != _norm(info):
        raise AssertionError(f"identify re-encode changed {info!r} into {again!r}")


def test_one_input(data: bytes) -> None:
    if len(data) < 3:
        return
    body = data[3:]
    if data[0] % 2 == 0:
        kind, info = outcome(decode_identify, body.split(b"\xff\xfe")[:10])
        if kind == "ok":
            _check(info)
        return
    reader = IdentifyReader()
    for piece in chunks(body, data[1:3]):
        if outcome(reader.receive_data, piece)[0] == "err":
            return
    if outcome(reader.receive_eof)[0] == "ok":
        event = reader.next_event()
        if event is None:
            raise AssertionError("EOF after a message gave no event")
        _check(event.info)


if __name__ == "__main__":
    run(test_one_input)
