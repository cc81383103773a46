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
