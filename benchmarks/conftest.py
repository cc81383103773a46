"""Benchmarks run each twin through the same ``accel`` fixture as the tests."""

from __future__ import annotations

from types import ModuleType

import pytest

from libp2p import _pure

try:
    from libp2p import _native
except ImportError:
    _native = None  # type: ignore[assignment]

TWINS = [pytest.param(_pure, id="python")]
if _native is not None:
    TWINS.append(pytest.param(_native, id="cython"))


@pytest.fixture(params=TWINS)
def accel(request: pytest.FixtureRequest) -> ModuleType:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def twin(accel: ModuleType, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Run library code (not just the twin functions) on ``accel``'s twin for one benchmark.

    Every ``libp2p`` module that imported a twin name from ``libp2p._accel`` gets the same
    name from ``accel`` instead, for the duration of the benchmark.
    """
    import sys

    from libp2p import _accel

    chosen = {id(getattr(_accel, name)): name for name in _pure.__all__}
    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith("libp2p") or module is None:
            continue
        for attr, value in list(vars(module).items()):
            name = chosen.get(id(value))
            if name is not None and module_name not in ("libp2p._pure", "libp2p._native"):
                monkeypatch.setattr(module, attr, getattr(accel, name))
    return accel
