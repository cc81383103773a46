"""Fuzz the Kademlia DHT: the message protobuf (``decode_message``, ``MessageReader``), record
validation (``/pk``, ``/ipns`` with the DAG-CBOR decoder) and the key-space twins.

    python fuzz/fuzz_kad.py -atheris_runs=1000001 -max_len=4096

Byte 0 picks the decoder; the rest is its input.
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["libp2p"]):
    from _common import chunks, outcome, run, same
    from libp2p.protocols.kad.ipns import cbor_decode, cbor_encode, decode_ipns_record
    from libp2p.protocols.kad.records import default_validator
    from libp2p.protocols.kad.wire import MessageReader, decode_message, encode_message

_VALIDATOR = default_validator(clock=lambda: 1.7e9)


def test_one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    mode, body = data[0] % 6, data[2:]
    if mode == 0:
        kind, msg = outcome(decode_message, body)
        if kind == "ok" and decode_message(encode_message(msg)) != msg:
            raise AssertionError("DHT message re-encode changed it")
    elif mode == 1:
        reader = MessageReader(1 << (data[1] % 23))
        for piece in chunks(body, data[1:2]):
            if outcome(reader.receive_data, piece)[0] == "err":
                return
            while reader.next_message() is not None:
                pass
        outcome(reader.receive_eof)
    elif mode == 2:
        kind, value = outcome(cbor_decode, body)
        if kind == "ok":
            try:
                encoded = cbor_encode(value)
            except TypeError:  # floats decode (go writes none) but are not written
                return
            if cbor_decode(encoded) != value:
                raise AssertionError("CBOR re-encode changed the value")
    elif mode == 3:
        kind, record = outcome(decode_ipns_record, body)
        if kind == "ok":
            outcome(lambda: record.eol)
    elif mode == 4:
        key, _, value = body.partition(b"\xff\xfe")
        # select() is only ever asked about values that validated (core.py validates first)
        values = [v for v in value.split(b"\xff\xfd")[:4] if outcome(_VALIDATOR.validate, key, v)[0] == "ok"]
        if values and not 0 <= _VALIDATOR.select(key, values) < len(values):
            raise AssertionError("select() returned an index out of range")
    else:
        n = 1 + data[1] % 33
        keys = [body[i : i + n] for i in range(0, len(body) - n + 1, n)][:64]
        if not keys:
            return
        target, rest = keys[0], keys[1:]
        same(lambda t: t.sort_by_distance(target, rest, data[1] % 8 or None))
        for k in rest[:8]:
            same(lambda t: t.xor_distance(target, k))
            same(lambda t: t.common_prefix_length(target, k))
        odd = body[: n + 1]
        same(lambda t: t.xor_distance(target, odd))
        same(lambda t: t.sort_by_distance(target, [*rest, odd]))


if __name__ == "__main__":
    run(test_one_input)
