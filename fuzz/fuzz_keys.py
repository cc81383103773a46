"""Fuzz the key protobufs: ``unmarshal_public_key`` / ``unmarshal_private_key`` over every key type.

    python fuzz/fuzz_keys.py -atheris_runs=1000001 -max_len=4096

Byte 0 even: the rest is a PublicKey protobuf, odd: a PrivateKey protobuf. A key that decodes
must re-marshal to the very same bytes (only the canonical form is accepted) and must answer
``verify`` on a garbage signature with a bool, not an exception.
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["libp2p"]):
    from _common import outcome, run
    from libp2p.identity.keys import unmarshal_private_key, unmarshal_public_key
    from libp2p.identity.peer_id import PeerId


def _check_public(key, raw: bytes, data: bytes) -> None:
    if key.marshal() != raw:
        raise AssertionError("public key re-marshals differently: not canonical")
    if not isinstance(key.verify(data, data[:80]), bool):
        raise AssertionError("verify did not return a bool")
    PeerId.from_public_key(key)


def test_one_input(data: bytes) -> None:
    if not data:
        return
    body = data[1:]
    if data[0] % 2 == 0:
        kind, key = outcome(unmarshal_public_key, body)
        if kind == "ok":
            _check_public(key, body, data)
    else:
        kind, key = outcome(unmarshal_private_key, body)
        if kind == "ok":
            if key.marshal() != body:
                raise AssertionError("private key re-marshals differently: not canonical")
            public = key.public_key
            if not public.verify(data, key.sign(data)):
                raise AssertionError("a decoded private key's signature does not verify")


if __name__ == "__main__":
    run(test_one_input)
