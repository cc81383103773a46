"""Fuzz binary and text multiaddrs: the scanner twins, ``Multiaddr.from_bytes``, text parsing
and the bytes -> text -> bytes round trip.

    python fuzz/fuzz_multiaddr.py -atheris_runs=1000001 -max_len=4096

Byte 0 even: the rest is a binary multiaddr; odd: the rest is multiaddr text (UTF-8, errors
replaced).
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["libp2p"]):
    from _common import outcome, run, same
    from libp2p.errors import MultiaddrError
    from libp2p.multiaddr import Multiaddr


def _slashless_http_path(addr: Multiaddr) -> bool:
    # Known, left for a decision (fuzz/RESULTS.md): a binary /http-path value that does not
    # start with "/" prints without one, and text parsing always prepends "/".
    return any(c.protocol.name == "http-path" and not c.raw.startswith(b"/") for c in addr.components())


def _check_addr(addr: Multiaddr) -> None:
    text = str(addr)  # every scanned address has a text form
    addr.components()
    addr.protocols()
    addr.split()
    outcome(lambda: addr.peer_id)  # a /p2p/ value is checked as a peer ID only when asked
    kind, back = outcome(Multiaddr, text)
    if kind == "err" and not (back is MultiaddrError and len(text) > 4096):
        raise AssertionError(f"{text!r} does not parse back: {back}")
    if kind == "ok" and back != addr and not _slashless_http_path(addr):
        raise AssertionError(f"round trip changed {bytes(addr).hex()} into {bytes(back).hex()} via {text!r}")


def test_one_input(data: bytes) -> None:
    if not data:
        return
    body = data[1:]
    if data[0] % 2 == 0:
        kind, spans = same(lambda t: t.multiaddr_scan(body))
        kind2, addr = outcome(Multiaddr.from_bytes, body)
        if kind2 != kind:
            raise AssertionError("Multiaddr.from_bytes disagrees with multiaddr_scan")
        if kind == "ok":
            _check_addr(addr)
            if bytes(addr) != body:
                raise AssertionError("from_bytes changed the bytes")
    else:
        text = body.decode("utf-8", "replace")
        kind, addr = outcome(Multiaddr, text)
        if kind == "ok":
            _check_addr(addr)


if __name__ == "__main__":
    run(test_one_input)
