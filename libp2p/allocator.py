"""Process-wide C allocator tuning for processes that move a lot of data (glibc only).

Every received muxer frame becomes a new ``bytes`` object of up to 64 KiB (one Noise message),
allocated and freed within microseconds. glibc returns the top of its heap to the kernel whenever
more than ``M_TRIM_THRESHOLD`` (128 KiB in a fresh process) is free there, so each such frame can
cost a shrink of the heap and sixteen page faults to grow it again. glibc raises that threshold
on its own once the process frees any block of 128 KiB or more; until then, receiving runs at
about half speed. Which processes hit it is luck: under uvloop our perf server received at ~1.0
GB/s with 1.5 million page faults per 6 GiB, against ~1.8 GB/s and 7 thousand after tuning
(benchmarks/RESULTS.md).

:func:`tune_allocator` sets the two thresholds to values glibc's own adjustment would reach. The
``libp2p`` command calls it; applications may call it once at start-up. It does nothing on other C
libraries, or when the process was started with any ``MALLOC_*_`` tuning variable (the operator
decided).
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys

__all__ = ["tune_allocator"]

log = logging.getLogger("libp2p.allocator")

# <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

_ENV_KNOBS = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")

_tuned: bool | None = None


def _glibc() -> bool:
    # What platform.libc_ver() asks first, without importing platform (~1.5 ms at start-up).
    try:
        version = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):
        return False
    return version is not None and version.split(maxsplit=1)[:1] == ["glibc"]


def tune_allocator(mmap_threshold: int = 4 << 20) -> bool:
    """Serve blocks below ``mmap_threshold`` from the heap and keep up to twice that free at its
    top (glibc ``mallopt``). Returns whether the settings are in effect; idempotent."""
    global _tuned
    if _tuned is not None:
        return _tuned
    _tuned = False
    if not sys.platform.startswith("linux") or not _glibc():
        return False
    if any(knob in os.environ for knob in _ENV_KNOBS):
        log.debug("allocator left alone: MALLOC_* tuning set in the environment")
        return False
    try:
        mallopt = ctypes.CDLL(None, use_errno=True).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; the mmap threshold first, as glibc caps it.
    _tuned = bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(_M_TRIM_THRESHOLD, 2 * mmap_threshold))
    log.debug("allocator tuned: %s (mmap threshold %d bytes)", _tuned, mmap_threshold)
    return _tuned
