"""Noise XX handshake-state twins: same bytes, same keys, same errors.

The cacophony vectors (tests/sansio/test_noise.py) drive whichever twin is in use through
``HandshakeState``; here both twins run side by side, each against itself and across.
"""

from __future__ import annotations

import os
from types import ModuleType

import pytest
from nacl.bindings import crypto_scalarmult_base

from libp2p import _pure
from libp2p.errors import LocalProtocolError
from libp2p.security.noise.errors import HandshakeDecryptError, InvalidHandshakeMessageError, NoiseStateError

try:
    from libp2p import _native
except ImportError:
    _native = None  # type: ignore[assignment]

INIT_S, RESP_S, INIT_E, RESP_E = (bytes([i]) * 32 for i in (1, 2, 3, 4))


def _pair(a: ModuleType, b: ModuleType, prologue: bytes = b"p") -> tuple[object, object]:
    init = a.NoiseXX(True, INIT_S, crypto_scalarmult_base(INIT_S), INIT_E, prologue)
    resp = b.NoiseXX(False, RESP_S, crypto_scalarmult_base(RESP_S), RESP_E, prologue)
    return init, resp


def _run(init: object, resp: object) -> list[bytes]:
    wire = [init.write_message(b"")]  # type: ignore[attr-defined]
    assert resp.read_message(wire[0]) == b""  # type: ignore[attr-defined]
    wire.append(resp.write_message(b"payload two"))  # type: ignore[attr-defined]
    assert init.read_message(wire[1]) == b"payload two"  # type: ignore[attr-defined]
    wire.append(init.write_message(bytearray(b"payload three" * 100)))  # type: ignore[attr-defined]
    assert resp.read_message(memoryview(wire[2])) == b"payload three" * 100  # type: ignore[attr-defined]
    return wire


def test_handshake_completes_and_keys_agree(accel: ModuleType) -> None:
    init, resp = _pair(accel, accel)
    _run(init, resp)
    for hs in (init, resp):
        assert hs.complete and hs.message_index == 3 and not hs.is_my_turn()  # type: ignore[attr-defined]
    assert init.split() == resp.split()  # type: ignore[attr-defined]
    assert init.handshake_hash == resp.handshake_hash  # type: ignore[attr-defined]
    assert init.rs == crypto_scalarmult_base(RESP_S) and resp.rs == crypto_scalarmult_base(INIT_S)  # type: ignore[attr-defined]
    assert init.re == crypto_scalarmult_base(RESP_E) and resp.re == crypto_scalarmult_base(INIT_E)  # type: ignore[attr-defined]


@pytest.mark.skipif(_native is None, reason="the Cython twin is not built")
@pytest.mark.parametrize("initiator_twin", ["pure", "cython"])
def test_twins_write_the_same_bytes(initiator_twin: str) -> None:
    ref_init, ref_resp = _pair(_pure, _pure)
    reference = _run(ref_init, ref_resp)
    a, b = (_pure, _native) if initiator_twin == "pure" else (_native, _pure)
    init, resp = _pair(a, b)
    assert _run(init, resp) == reference
    assert init.split() == resp.split() == ref_init.split()  # type: ignore[attr-defined]
    assert init.handshake_hash == ref_resp.handshake_hash  # type: ignore[attr-defined]


def test_fresh_ephemeral_keys_differ(accel: ModuleType) -> None:
    first = accel.NoiseXX(True, INIT_S, crypto_scalarmult_base(INIT_S)).write_message(b"")
    second = accel.NoiseXX(True, INIT_S, crypto_scalarmult_base(INIT_S)).write_message(b"")
    assert len(first) == len(second) == 32 and first != second


def test_turns_are_enforced(accel: ModuleType) -> None:
    init, resp = _pair(accel, accel)
    with pytest.raises(NoiseStateError):
        resp.write_message(b"")  # type: ignore[attr-defined]
    with pytest.raises(NoiseStateError):
        init.read_message(bytes(32))  # type: ignore[attr-defined]
    with pytest.raises(NoiseStateError):
        init.split()  # type: ignore[attr-defined]
    _run(init, resp)
    with pytest.raises(NoiseStateError):
        init.write_message(b"")  # type: ignore[attr-defined]
    with pytest.raises(NoiseStateError):
        resp.read_message(b"x" * 100)  # type: ignore[attr-defined]


@pytest.mark.parametrize("cut", [0, 31, 32 + 32, 32 + 48 + 15])
def test_short_message_two_is_refused(accel: ModuleType, cut: int) -> None:
    init, resp = _pair(accel, accel)
    resp.read_message(init.write_message(b""))  # type: ignore[attr-defined]
    msg2 = resp.write_message(b"")  # type: ignore[attr-defined]
    with pytest.raises(InvalidHandshakeMessageError):
        init.read_message(msg2[:cut])  # type: ignore[attr-defined]


def test_short_message_one_is_refused(accel: ModuleType) -> None:
    _, resp = _pair(accel, accel)
    with pytest.raises(InvalidHandshakeMessageError):
        resp.read_message(bytes(31))  # type: ignore[attr-defined]


@pytest.mark.parametrize("flip", [32, 32 + 47, -1])  # static key ciphertext, its tag, the payload tag
def test_tampered_message_two_fails_authentication(accel: ModuleType, flip: int) -> None:
    init, resp = _pair(accel, accel)
    resp.read_message(init.write_message(b""))  # type: ignore[attr-defined]
    msg2 = bytearray(resp.write_message(b"hello"))  # type: ignore[attr-defined]
    msg2[flip] ^= 1
    with pytest.raises(HandshakeDecryptError):
        init.read_message(bytes(msg2))  # type: ignore[attr-defined]


def test_low_order_ephemeral_key_is_refused(accel: ModuleType) -> None:
    init, resp = _pair(accel, accel)
    init.write_message(b"")  # type: ignore[attr-defined]
    resp.read_message(bytes(32))  # type: ignore[attr-defined]  # the identity point: any DH with it is zero
    with pytest.raises(InvalidHandshakeMessageError):
        resp.write_message(b"")  # type: ignore[attr-defined]


@pytest.mark.parametrize("which", ["s", "s_pub", "e"])
def test_key_lengths_are_checked(accel: ModuleType, which: str) -> None:
    keys = {"s": INIT_S, "s_pub": crypto_scalarmult_base(INIT_S), "e": INIT_E}
    keys[which] = os.urandom(31)
    with pytest.raises(LocalProtocolError):
        accel.NoiseXX(True, keys["s"], keys["s_pub"], keys["e"])
