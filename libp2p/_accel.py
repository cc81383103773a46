"""The one place that chooses between the Cython twins and the pure-Python twins.

Chosen once, at import: ``libp2p._native`` when it was built and ``LIBP2P_NO_EXTENSIONS``
is unset (or empty / "0"), else ``libp2p._pure``. Type checkers always see the pure twin.
Everything else imports hot-path names from here and never from either twin directly.
The twin contract is ``libp2p._pure.__all__``: a new twin adds its names there (and to
``_native/_native.pyx``'s ``__all__``), not here.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType
from typing import TYPE_CHECKING

from libp2p import _pure

if TYPE_CHECKING:
    from libp2p._pure import *  # noqa: F403

__all__ = ["IMPLEMENTATION", "NO_EXTENSIONS", "NATIVE_BUILT", "NATIVE_IMPORT_ERROR"]
__all__ += _pure.__all__

NO_EXTENSIONS: bool = os.environ.get("LIBP2P_NO_EXTENSIONS", "") not in ("", "0")
# Whether the compiled twin exists on disk, whatever is in use: a test fails when it was
# built but did not load.
NATIVE_BUILT: bool = importlib.util.find_spec("libp2p._native") is not None
NATIVE_IMPORT_ERROR: ImportError | None = None


def _load_native() -> ModuleType:
    _native = importlib.import_module("libp2p._native")
    missing = [name for name in _pure.__all__ if not hasattr(_native, name)]
    if missing:
        raise ImportError(f"libp2p._native lacks {missing}: rebuild the extension")
    return _native


_twin: ModuleType = _pure
IMPLEMENTATION = "python"
if not NO_EXTENSIONS:
    try:
        _twin = _load_native()
        IMPLEMENTATION = "cython"
    except ImportError as exc:
        NATIVE_IMPORT_ERROR = exc

if _twin is not _pure:
    globals().update({name: getattr(_twin, name) for name in _pure.__all__})


if not TYPE_CHECKING:

    def __getattr__(name: str) -> object:
        # The pure twins load per module on first use (a name missing here is one not yet used).
        if name not in _pure.__all__:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(_pure, name)
        globals()[name] = value
        return value
