"""PeerIdCore, both twins: a peer ID's equality, hash and order, and PeerId built on it."""

from __future__ import annotations

import copy
import operator
import pickle
import weakref
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libp2p.identity.keys import KeyType, generate_key_pair
from libp2p.identity.multiformats import IDENTITY, SHA2_256, multihash_digest
from libp2p.identity.peer_id import PeerId

_OPS = (operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge)


def _make(accel: ModuleType, raw: bytes) -> Any:
    class Pid(accel.PeerIdCore):  # type: ignore[name-defined,misc]
        __slots__ = ("extra",)

    pid = Pid()
    pid._bytes = raw
    return pid


def _outcome(op: Any, a: Any, b: Any) -> tuple[str, Any]:
    try:
        return ("ok", op(a, b))
    except Exception as exc:  # noqa: BLE001 - the type is what we compare
        return ("raised", type(exc))


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=1, max_size=40), st.binary(min_size=1, max_size=40))
def test_equality_hash_and_order_follow_the_bytes(accel: ModuleType, a: bytes, b: bytes) -> None:
    x, y = _make(accel, a), _make(accel, b)
    for op in _OPS:
        assert op(x, y) == op(a, b)
    assert hash(x) == hash(a)
    if a == b:
        assert hash(x) == hash(y)


@pytest.mark.parametrize("other", [b"\x00\x01", "text", 3, None, object()])
def test_other_kinds_are_never_equal_nor_ordered(accel: ModuleType, other: object) -> None:
    x = _make(accel, b"\x00\x01")
    assert (x == other) is False
    assert (x != other) is True
    for op in _OPS[2:]:
        assert _outcome(op, x, other)[0] == "raised"


def test_peer_id_hash_and_equality_across_construction_paths() -> None:
    key = generate_key_pair().public_key
    derived = PeerId.from_public_key(key)
    ids = [
        derived,
        PeerId(derived.to_bytes()),
        PeerId.from_bytes(bytearray(derived.to_bytes())),
        PeerId.from_string(derived.to_base58()),
        PeerId.from_string(derived.to_cid_string()),
        pickle.loads(pickle.dumps(derived)),
        copy.copy(derived),
        copy.deepcopy(derived),
    ]
    table = {derived: "v"}
    for pid in ids:
        assert pid == derived and not pid != derived
        assert hash(pid) == hash(derived) == hash(derived.to_bytes())
        assert table[pid] == "v"
        assert pid in {derived}
    assert len(set(ids)) == 1
    other = PeerId.from_public_key(generate_key_pair().public_key)
    assert other != derived and other not in table
    assert sorted([other, derived]) == sorted([derived, other])
    assert (derived < other) == (derived.to_bytes() < other.to_bytes())
    assert weakref.ref(derived)() is derived
    assert derived != derived.to_bytes()
    with pytest.raises(AttributeError):
        derived.extra = 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("key_type", list(KeyType))
def test_peer_id_of_a_key_is_its_multihash(key_type: KeyType) -> None:
    key = generate_key_pair(key_type, bits=2048).public_key
    encoded = key.marshal()
    expected = multihash_digest(IDENTITY if len(encoded) <= 42 else SHA2_256, encoded)
    pid = PeerId.from_public_key(key)
    assert pid.to_bytes() == expected
    parsed = PeerId(expected)
    assert parsed == pid and parsed.matches_public_key(key)
    assert not parsed.matches_public_key(generate_key_pair(key_type, bits=2048).public_key)
