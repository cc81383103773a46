"""The one place that chooses between the Cython twins and the pure-Python twins.

Chosen once, at import: ``libp2p._native`` when it was built and ``LIBP2P_NO_EXTENSIONS``
is unset (or empty / "0"), else ``libp2p._pure``. Type checkers always see the pure twin.
Everything else imports hot-path names from here and never from either twin directly.
"""

from __future__ import annotations

import importlib.util
import os
from typing import TYPE_CHECKING

__all__ = [
    "IMPLEMENTATION",
    "NO_EXTENSIONS",
    "NATIVE_BUILT",
    "NATIVE_IMPORT_ERROR",
    "MAX_VARINT_LEN",
    "MAX_VARINT_VALUE",
    "FrameReader",
    "varint_decode",
    "varint_encode",
    "varint_size",
    "common_prefix_length",
    "sort_by_distance",
    "xor_distance",
]

NO_EXTENSIONS: bool = os.environ.get("LIBP2P_NO_EXTENSIONS", "") not in ("", "0")
# Whether the compiled twin exists on disk, whatever is in use: a test fails when it was
# built but did not load.
NATIVE_BUILT: bool = importlib.util.find_spec("libp2p._native") is not None
NATIVE_IMPORT_ERROR: ImportError | None = None

if TYPE_CHECKING or NO_EXTENSIONS:
    from libp2p._pure import (
        MAX_VARINT_LEN,
        MAX_VARINT_VALUE,
        FrameReader,
        common_prefix_length,
        sort_by_distance,
        varint_decode,
        varint_encode,
        varint_size,
        xor_distance,
    )

    IMPLEMENTATION = "python"
else:
    try:
        from libp2p._native import (  # type: ignore[no-redef]
            MAX_VARINT_LEN,
            MAX_VARINT_VALUE,
            FrameReader,
            common_prefix_length,
            sort_by_distance,
            varint_decode,
            varint_encode,
            varint_size,
            xor_distance,
        )

        IMPLEMENTATION = "cython"
    except ImportError as exc:
        NATIVE_IMPORT_ERROR = exc
        from libp2p._pure import (
            MAX_VARINT_LEN,
            MAX_VARINT_VALUE,
            FrameReader,
            common_prefix_length,
            sort_by_distance,
            varint_decode,
            varint_encode,
            varint_size,
            xor_distance,
        )

        IMPLEMENTATION = "python"
