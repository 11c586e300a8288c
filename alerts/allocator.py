"""Keep freed memory in the process instead of handing it back to the kernel after each array.

Scoring a series allocates a few hundred temporary arrays of the series' length. With glibc's
defaults each one above the (dynamic) mmap threshold is a fresh ``mmap`` and freeing it trims
the heap, so every array is page-faulted in again: measured on the anomaly throughput benchmark,
2.3 M minor page faults and half the run time went to that. Raising the mmap and trim thresholds
makes the heap reuse those pages (59 k faults; see docs/benchmarks.md). The cost is that up to
``trim_mb`` of freed memory stays mapped to the process.

Called by the command-line entry points, not at import: a library should not change its host
process's allocator. A no-op where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util

_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
_MB = 1 << 20


def tune_allocator(*, mmap_mb: int = 64, trim_mb: int = 512, pad_mb: int = 64) -> bool:
    """Raise glibc's mmap and trim thresholds; returns whether the settings took effect."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return all(
        mallopt(option, value * _MB) == 1
        for option, value in (
            (_M_MMAP_THRESHOLD, mmap_mb),
            (_M_TRIM_THRESHOLD, trim_mb),
            (_M_TOP_PAD, pad_mb),
        )
    )
