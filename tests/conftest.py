"""Shared fixtures: ``accel`` runs a test over both twins in one process (the pure one alone under
``LIBP2P_NO_EXTENSIONS=1``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from libp2p import _pure
from libp2p._accel import NO_EXTENSIONS

try:
    from libp2p import _native
except ImportError:  # not built: the pure twin still runs, the compiled one is skipped
    _native = None  # type: ignore[assignment]

_IMPLS = [pytest.param(_pure, id="python")]
if _native is None:
    _IMPLS.append(pytest.param(None, id="cython", marks=pytest.mark.skip(reason="libp2p._native is not built")))
elif not NO_EXTENSIONS:
    # Under LIBP2P_NO_EXTENSIONS=1 (ci/test.sh's second pass) the compiled case is left out: the
    # compiled pass already ran it, with the rest of the library compiled too, as users get it.
    _IMPLS.append(pytest.param(_native, id="cython"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "twin_pinned: every program the test runs picks its twin itself (compare.py's ours-cython drops "
        "LIBP2P_NO_EXTENSIONS, ours-pure sets it) or is foreign, so ci/test.sh's pure pass would repeat it",
    )


@pytest.fixture(params=_IMPLS)
def accel(request: pytest.FixtureRequest) -> ModuleType:
    """The twin module under test: ``libp2p._pure`` or ``libp2p._native``."""
    return request.param  # type: ignore[no-any-return]


def _find_vectors() -> Path:
    """The shared reference vectors: ``../shared/reference/vectors`` beside the checkout."""
    override = os.environ.get("LIBP2P_VECTORS")
    if override:
        return Path(override)
    here = Path(__file__).resolve().parent.parent
    return here.parent / "shared" / "reference" / "vectors"


VECTORS = _find_vectors()


@pytest.fixture(scope="session")
def vectors_dir() -> Path:
    if not VECTORS.is_dir():
        pytest.fail(f"reference vectors not found at {VECTORS} (set LIBP2P_VECTORS)")
    return VECTORS


def load_vector(relative: str) -> Any:
    """Load a JSON vector file by its path under the vectors folder."""
    path = VECTORS / relative
    if not path.is_file():
        pytest.fail(f"vector file missing: {path}")
    with path.open(encoding="utf-8") as f:
        return json.load(f)
