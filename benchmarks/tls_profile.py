#!/usr/bin/env python3
"""Where the TCP + TLS security channel's time goes: per handshake and per message, no sockets.

    .venv/bin/python benchmarks/tls_profile.py [--handshakes N] [--messages N] [--size B] [--cprofile] [--json]

Runs the sans-IO TLS core in memory (``libp2p.security.tls.core``): a dialer and a listener
handshake (as ``tls_handshake`` drives them, with the host-level credentials), then ``--messages``
round trips of ``--size`` bytes through the record layer (encrypt on one side, decrypt on the
other, and back: what a ping over yamux costs in security work). For each phase and side it
prints CPU microseconds per operation (``time.process_time``) and Python function calls per
operation (cProfile's count); with ``--cprofile`` the top functions by own time. Used for the
before/after table in benchmarks/RESULTS.md (issue #16, TCP + TLS follow-up).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import pstats
import sys
import time
from collections.abc import Callable
from typing import Any

from libp2p.identity.keys import generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.security.tls import core

MUXERS = ["/yamux/1.0.0"]


_IDENTITIES: dict[Any, Any] = {}


def _make(is_initiator: bool, key: Any, remote: PeerId | None, now: dt.datetime) -> Any:
    """A handshake as the host starts one: with the host's ``TLSIdentity`` where this version has one."""
    make: Callable[..., Any] = core.TLSHandshake
    kw: dict[str, Any] = {}
    identity_cls = getattr(core, "TLSIdentity", None)
    if identity_cls is not None:
        if key not in _IDENTITIES:
            _IDENTITIES[key] = identity_cls(key)
        kw["identity"] = _IDENTITIES[key]
    return make(is_initiator, key, remote_peer_id=remote, muxers=MUXERS, now=now, **kw)


def _pair(dialer_key: Any, listener_key: Any, listener_id: PeerId) -> tuple[Any, Any]:
    now = dt.datetime.now(dt.timezone.utc)
    return _make(True, dialer_key, listener_id, now), _make(False, listener_key, None, now)


def handshake(dialer_key: Any, listener_key: Any, listener_id: PeerId, side: str, prof: cProfile.Profile | None) -> float:
    """One in-memory handshake; returns the CPU seconds of ``side``'s work (both: all of it)."""
    spent = 0.0

    def timed(who: str, fn: Callable[[], Any]) -> Any:
        nonlocal spent
        if side not in (who, "both"):
            return fn()
        if prof is not None:
            prof.enable()
        t0 = time.process_time()
        try:
            return fn()
        finally:
            spent += time.process_time() - t0
            if prof is not None:
                prof.disable()

    now = dt.datetime.now(dt.timezone.utc)
    dialer = timed("dialer", lambda: _make(True, dialer_key, listener_id, now))
    listener = timed("listener", lambda: _make(False, listener_key, None, now))
    flight = timed("dialer", dialer.data_to_send)
    for _ in range(6):
        if dialer.complete and listener.complete:
            break
        if flight and not listener.complete:
            timed("listener", lambda: listener.receive_data(flight))
        back = timed("listener", listener.data_to_send)
        if back and not dialer.complete:
            timed("dialer", lambda: dialer.receive_data(back))
        flight = timed("dialer", dialer.data_to_send)
    if flight and not listener.complete:
        timed("listener", lambda: listener.receive_data(flight))
    assert dialer.complete and listener.complete
    return spent


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--handshakes", type=int, default=200)
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--size", type=int, default=44, help="plaintext bytes per message (ping 32 B + yamux header 12 B)")
    ap.add_argument("--cprofile", action="store_true")
    ap.add_argument("--json", action="store_true")
    cfg = ap.parse_args(argv)
    dialer_key, listener_key = generate_key_pair(), generate_key_pair()
    listener_id = PeerId.from_public_key(listener_key.public_key)
    out: dict[str, Any] = {}
    for side in ("dialer", "listener"):
        handshake(dialer_key, listener_key, listener_id, side, None)  # warm: first-use costs
        prof = cProfile.Profile()
        calls_prof = cProfile.Profile()
        spent = sum(handshake(dialer_key, listener_key, listener_id, side, None) for _ in range(cfg.handshakes))
        n_calls = 20
        for _ in range(n_calls):
            handshake(dialer_key, listener_key, listener_id, side, calls_prof)
        calls = pstats.Stats(calls_prof).total_calls  # type: ignore[attr-defined]
        out[f"handshake {side}"] = {"cpu_us": spent / cfg.handshakes * 1e6, "py_calls": calls / n_calls}
        if cfg.cprofile:
            for _ in range(20):
                handshake(dialer_key, listener_key, listener_id, side, prof)
            _print_profile(f"handshake, {side} side (20 handshakes)", prof)

    dialer, listener = _pair(dialer_key, listener_key, listener_id)
    flight = dialer.data_to_send()
    while not (dialer.complete and listener.complete):
        if flight and not listener.complete:
            listener.receive_data(flight)
        back = listener.data_to_send()
        if back and not dialer.complete:
            dialer.receive_data(back)
            back = b""
        flight = dialer.data_to_send()
    if flight and not listener.complete:
        listener.receive_data(flight)
    a, b = dialer.session(), listener.session()
    back += listener.data_to_send()
    assert not a.decrypt(back)  # what the listener sent after its last handshake step
    payload = bytes(cfg.size)

    def round_trip() -> None:
        assert sum(map(len, b.decrypt(memoryview(a.encrypt(payload))))) == cfg.size
        assert sum(map(len, a.decrypt(memoryview(b.encrypt(payload))))) == cfg.size

    for _ in range(200):
        round_trip()
    t0 = time.process_time()
    for _ in range(cfg.messages):
        round_trip()
    spent = time.process_time() - t0
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(1000):
        round_trip()
    prof.disable()
    calls = pstats.Stats(prof).total_calls  # type: ignore[attr-defined]
    # per message = one encrypt on one side + one decrypt on the other (a round trip is two);
    # the harness's own calls (round_trip, memoryview, sum, map) are ~2.5 of the count
    out["message (encrypt + decrypt)"] = {"cpu_us": spent / cfg.messages / 2 * 1e6, "py_calls": (calls / 1000 - 1) / 2}
    if cfg.cprofile:
        _print_profile("record layer, 1000 round trips", prof)
    if cfg.json:
        print(json.dumps(out, indent=1))
    else:
        print(f"| {'operation':32} | CPU µs/op | Python calls/op |")
        print(f"|{'-' * 34}|-----------|-----------------|")
        for name, row in out.items():
            print(f"| {name:32} | {row['cpu_us']:9.1f} | {row['py_calls']:15.1f} |")
    return 0


def _print_profile(title: str, prof: cProfile.Profile) -> None:
    s = io.StringIO()
    pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(25)
    print(f"### {title}")
    print("\n".join(s.getvalue().splitlines()[:45]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
