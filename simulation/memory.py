"""Allocator settings for generation, which makes and drops many large temporary arrays.

A file of 50k tt̄ events allocates and frees several GB of short-lived arrays (PF
candidates, their copies inside the ROOT writer). Two Linux defaults make the kernel's
page faults, not the physics, the largest cost of that:

* numpy asks for transparent huge pages on arrays of 4 MB and more. Where the kernel's
  THP ``defrag`` setting is ``madvise`` (its default), such a fault may first compact
  memory, which costs far more than the page saves for an array used once.
* glibc gives freed blocks above its mmap threshold back to the kernel at once, so the
  next array of that size is faulted in again page by page.

:func:`generation_allocator` switches numpy's huge-page request off and lets glibc keep
freed blocks up to 32 MB for reuse, only while it is active. Afterwards numpy's setting
is restored and glibc's thresholds go back to their documented 128 kB defaults (glibc no
longer adjusts its mmap threshold dynamically after it has been set) and the kept memory
is given back. Elsewhere (not Linux, not glibc, another numpy) the settings it cannot
make are left alone. ``benchmarks/bench_generator.py`` prints the
generator rate with and without it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

# glibc mallopt parameters (malloc.h) and their documented defaults
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
DEFAULT_THRESHOLD = 128 * 1024
KEEP_BLOCKS_UP_TO = 32 * 1024 * 1024  # glibc's largest allowed mmap threshold on 64 bit
KEEP_FREED = 1024 * 1024 * 1024  # free memory kept at the top of the heap before trimming


def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    return libc if libc is not None and hasattr(libc, "mallopt") else None


def _set_numpy_hugepages(enabled: bool) -> bool | None:
    """Set numpy's huge-page request; returns the previous setting (None: not available)."""
    setter = getattr(getattr(np, "_core", None), "multiarray", None)
    setter = getattr(setter, "_set_madvise_hugepage", None)
    return bool(setter(enabled)) if setter is not None else None


@contextmanager
def generation_allocator() -> Iterator[None]:
    """While active: no huge-page requests from numpy, glibc keeps freed blocks."""
    hugepages = _set_numpy_hugepages(False)
    libc = _glibc()
    if libc is not None:
        libc.mallopt(M_MMAP_THRESHOLD, KEEP_BLOCKS_UP_TO)
        libc.mallopt(M_TRIM_THRESHOLD, KEEP_FREED)
    try:
        yield
    finally:
        if libc is not None:
            libc.mallopt(M_MMAP_THRESHOLD, DEFAULT_THRESHOLD)
            libc.mallopt(M_TRIM_THRESHOLD, DEFAULT_THRESHOLD)
            libc.malloc_trim(0)
        if hugepages is not None:
            _set_numpy_hugepages(hugepages)
