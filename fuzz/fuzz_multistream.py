"""Fuzz multistream-select 1.0: the dialer and listener cores fed arbitrary bytes (split
anywhere, optionally after a valid header), and ``decode_list_response``.

    python fuzz/fuzz_multistream.py -atheris_runs=1000001 -max_len=4096

Byte 0: role and options; bytes 1..3: feed sizes; the rest is what the peer sent.
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["libp2p"]):
    from _common import chunks, outcome, run
    from libp2p.negotiate.core import (
        MultistreamDialer,
        MultistreamListener,
        decode_list_response,
        encode_message,
    )
    from libp2p.negotiate.events import ProtocolAgreed, ProtocolsListed

_HEADER = encode_message("/multistream/1.0.0")
_PROTOCOLS = ("/yamux/1.0.0", "/mplex/6.7.0", "/noise")


def _negotiate(core, pieces: list[bytes]) -> None:
    core.data_to_send()
    for piece in pieces:
        kind, _ = outcome(core.receive_data, piece)
        core.data_to_send()
        while (event := core.next_event()) is not None:
            if isinstance(event, ProtocolAgreed) and event.protocol != core.protocol:
                raise AssertionError("agreed event and protocol property differ")
            if isinstance(event, ProtocolsListed):
                for p in event.protocols:
                    if not isinstance(p, str) or not p:
                        raise AssertionError("listed an empty or non-str protocol id")
        if kind == "err":
            if outcome(core.receive_data, b"x")[0] != "err":
                raise AssertionError("a failed negotiator accepted more data")
            return
    if core.finished:
        core.unused_data()


def test_one_input(data: bytes) -> None:
    if len(data) < 4:
        return
    opts, body = data[0], data[4:]
    if opts & 0x10:
        body = _HEADER + body
    pieces = list(chunks(body, data[1:4]))
    role = opts % 4
    if role == 0:
        outcome(decode_list_response, body)
    elif role == 1:
        protos = _PROTOCOLS[: 1 + (opts >> 5) % 3]
        _negotiate(MultistreamDialer(protos, optimistic=bool(opts & 0x80)), pieces)
    elif role == 2:
        protos = _PROTOCOLS[: (opts >> 5) % 3]
        _negotiate(MultistreamDialer(protos, list_protocols=True), pieces)
    else:
        supported = _PROTOCOLS if opts & 0x20 else (lambda p: p.startswith("/y"))
        _negotiate(MultistreamListener(supported, max_rounds=1 + (opts >> 6)), pieces)


if __name__ == "__main__":
    run(test_one_input)
