"""Fuzz peer IDs (binary and text), base58btc (both twins), multibase and CIDs.

    python fuzz/fuzz_peer_id.py -atheris_runs=1000001 -max_len=4096

Byte 0 picks the decoder; the rest is its input (text as UTF-8 with errors replaced, or
mapped onto the base58 alphabet so that most inputs get past the first character).
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["libp2p"]):
    from _common import outcome, run, same
    from libp2p.identity.multiformats import decode_cid, multibase_decode, multibase_encode, multibase_names
    from libp2p.identity.peer_id import PeerId

_BASES = multibase_names()
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _check_peer(pid: PeerId) -> None:
    text = pid.to_base58()
    if PeerId.from_string(text) != pid or PeerId.from_bytes(pid.to_bytes()) != pid:
        raise AssertionError("peer ID text/bytes round trip failed")
    if PeerId.from_string(pid.to_cid_string()) != pid:
        raise AssertionError("peer ID CID round trip failed")
    kind, key = outcome(lambda: pid.public_key)
    if kind == "ok" and key is not None and not pid.matches_public_key(key):
        raise AssertionError("inlined key does not match its peer ID")


def test_one_input(data: bytes) -> None:
    if not data:
        return
    mode, body = data[0] % 6, data[1:]
    if mode == 0:
        kind, pid = outcome(PeerId.from_bytes, body)
        if kind == "ok":
            _check_peer(pid)
    elif mode == 1:
        kind, pid = outcome(PeerId.from_string, body.decode("utf-8", "replace"))
        if kind == "ok":
            _check_peer(pid)
    elif mode == 2:
        text = "".join(_B58[b % 58] if b < 232 else chr(b) for b in body[:512])
        kind, raw = same(lambda t: t.base58btc_decode(text))
        if kind == "ok" and same(lambda t: t.base58btc_encode(raw)) != ("ok", text):
            raise AssertionError("base58btc decode/encode round trip failed")
        kind, pid = outcome(PeerId.from_string, text)
        if kind == "ok":
            _check_peer(pid)
    elif mode == 3:
        kind, raw = same(lambda t: t.base58btc_encode(body))
        if same(lambda t: t.base58btc_decode(raw)) != ("ok", body):
            raise AssertionError("base58btc encode/decode round trip failed")
    elif mode == 4:
        outcome(multibase_decode, body[:512].decode("utf-8", "replace"))
        if body:
            name = _BASES[body[0] % len(_BASES)]
            if multibase_decode(multibase_encode(name, body[1:257])) != body[1:257]:
                raise AssertionError(f"multibase {name} encode/decode round trip failed")
    else:
        for value in (body, body[:512].decode("utf-8", "replace")):
            kind, cid = outcome(decode_cid, value)
            if kind == "ok":
                if decode_cid(bytes(cid)) != cid or decode_cid(cid.encode()) != cid:
                    raise AssertionError("CID round trip failed")


if __name__ == "__main__":
    run(test_one_input)
