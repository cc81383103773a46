"""The compiled twin exports exactly the pure twin's names and fails the same way on the same input."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libp2p import _accel, _pure

try:
    from libp2p import _native
except ImportError:
    _native = None  # type: ignore[assignment]

needs_native = pytest.mark.skipif(_native is None, reason="libp2p._native is not built")


@needs_native
def test_same_names() -> None:
    assert sorted(_native.__all__) == sorted(_pure.__all__)
    for name in _pure.__all__:
        assert hasattr(_native, name), name
        p, n = getattr(_pure, name), getattr(_native, name)
        assert callable(p) == callable(n), name
        assert inspect.isclass(p) == inspect.isclass(n), name
        if not callable(p):
            assert p == n, name
        if inspect.isclass(p):
            public = {a for a in dir(p) if not a.startswith("_")}
            assert public == {a for a in dir(n) if not a.startswith("_")}, name


def test_accel_exports_the_twin_contract() -> None:
    for name in _pure.__all__:
        assert name in _accel.__all__, name
        assert getattr(_accel, name) is not None


def _outcome(fn: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    try:
        return ("ok", fn(*args))
    except Exception as exc:  # noqa: BLE001 - the type is what we compare
        return ("raised", type(exc))


def _same(name: str, *args: Any) -> None:
    assert _outcome(getattr(_pure, name), *args) == _outcome(getattr(_native, name), *args), (name, args)


_buffers = st.one_of(st.binary(max_size=20), st.binary(max_size=20).map(bytearray))


@needs_native
@settings(max_examples=300)
@given(_buffers, st.integers(min_value=-3, max_value=25))
def test_varint_decode_parity(data: bytes, offset: int) -> None:
    _same("varint_decode", data, offset)


@needs_native
@given(st.one_of(st.integers(), st.integers(min_value=-(1 << 65), max_value=1 << 65)))
def test_varint_encode_parity(value: int) -> None:
    _same("varint_encode", value)
    _same("varint_size", value)


@needs_native
@settings(max_examples=200)
@given(st.binary(max_size=40), st.integers(min_value=0, max_value=64), st.integers(min_value=1, max_value=8))
def test_frame_reader_parity(data: bytes, limit: int, step: int) -> None:
    def run(twin: Any) -> list[Any]:
        reader = twin.FrameReader(limit)
        trace: list[Any] = []
        for i in range(0, len(data), step):
            reader.feed(data[i : i + step])
            trace.append(_outcome(reader.frames))
            if trace[-1][0] == "raised":
                return trace
        trace.append(_outcome(reader.close))
        trace.append(reader.buffered)
        return trace

    assert run(_pure) == run(_native)


@needs_native
@given(st.binary(max_size=34), st.binary(max_size=34))
def test_kademlia_parity(a: bytes, b: bytes) -> None:
    _same("xor_distance", a, b)
    _same("common_prefix_length", a, b)
    _same("sort_by_distance", a, [b, a, b])


@needs_native
@given(st.one_of(st.text(max_size=30), st.text(alphabet="123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0OIl", max_size=30)))
def test_base58_parity(text: str) -> None:
    _same("base58btc_decode", text)
    _same("base58btc_encode", text.encode())


@needs_native
@pytest.mark.parametrize("bad", [None, 1.5, "str", object()])
def test_type_errors_parity(bad: Any) -> None:
    _same("varint_encode", bad)
    _same("varint_decode", bad)
    _same("xor_distance", bad, b"")
    _same("common_prefix_length", b"", bad)
    _same("sort_by_distance", bad, [])
    _same("base58btc_encode", bad)
    _same("base58btc_decode", bad)
