"""The selection point: which twin is in use, and that a built extension is the one used."""

from __future__ import annotations

import os
import subprocess
import sys

import libp2p
from libp2p import _accel


def test_implementation_is_consistent() -> None:
    assert libp2p.IMPLEMENTATION in ("cython", "python")
    assert libp2p.IMPLEMENTATION == _accel.IMPLEMENTATION
    twin = "libp2p._native" if libp2p.IMPLEMENTATION == "cython" else "libp2p._pure.varint"
    assert _accel.varint_decode.__module__ == twin or getattr(_accel.varint_decode, "__module__", None) == twin


def test_built_extension_is_in_use() -> None:
    """Fails when the extension was built but a silent fallback left the pure twin in use."""
    if _accel.NO_EXTENSIONS:
        assert libp2p.IMPLEMENTATION == "python"
    elif _accel.NATIVE_BUILT:
        assert libp2p.IMPLEMENTATION == "cython", f"extension built but not loaded: {_accel.NATIVE_IMPORT_ERROR!r}"
    else:
        assert libp2p.IMPLEMENTATION == "python"


def test_extension_required_when_asked() -> None:
    # CI sets LIBP2P_REQUIRE_EXTENSIONS=1, where a compiler exists: a failed build must not pass unnoticed.
    if os.environ.get("LIBP2P_REQUIRE_EXTENSIONS", "") not in ("", "0"):
        assert _accel.NATIVE_BUILT, "LIBP2P_REQUIRE_EXTENSIONS is set but libp2p._native was not built"


def test_environment_variable_forces_pure_python() -> None:
    code = "import libp2p, libp2p._accel as a; print(libp2p.IMPLEMENTATION, a.varint_encode.__module__)"
    env = dict(os.environ, LIBP2P_NO_EXTENSIONS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["python", "libp2p._pure.varint"]
    if _accel.NATIVE_BUILT:
        env = {k: v for k, v in os.environ.items() if k != "LIBP2P_NO_EXTENSIONS"}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)
        assert out.stdout.split()[0] == "cython"
