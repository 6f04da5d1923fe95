"""Keep freed memory in the process and fault it in early: glibc settings for the CLI.

A mosaic allocates and frees large arrays all the time (row strips of inputs,
partial sums, tiles). glibc hands blocks above its mmap threshold straight
back to the kernel when they are freed, and gives each thread its own arena
of small heaps, so the next array of the same size arrives as fresh pages:
every page is faulted in and zeroed again. On virtual machines that report
free pages to their host that costs more still (measured: page zeroing was
10 % of a command-line mosaic's CPU time on the 2-core development VM).

``keep_freed_memory()`` tells glibc to serve every thread from one arena,
to serve large blocks from the heap and not to give the heap's top back, so
freed arrays are reused; the process's resident size then stays at its peak
until it exits. Only the ``tiledrizzle`` command calls it (a short-lived
process that owns its allocator), never the library: a notebook or a Dask
worker keeps its own settings (Dask's nanny sets ``MALLOC_TRIM_THRESHOLD_``
for its workers on purpose). Settings given in the environment
(``MALLOC_ARENA_MAX``, ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``)
are left as they are. Elsewhere than glibc this does nothing.

``warm_heap_in_background()`` then faults a heap's worth of pages in on an
idle core while the main thread imports and plans, so the kernels' arrays
find them mapped (``tiledrizzle mosaic`` on a local scheduler: 3.4 s -> 3.2 s
end to end on the 8-input benchmark of ``benchmarks/bench_end_to_end.py``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

MMAP_THRESHOLD = 32 * 2**20
"""The largest threshold glibc accepts on 64-bit systems: blocks above it still get
their own mappings (returned to the kernel when freed)."""

TRIM_THRESHOLD = 2**31 - 1
"""Give the heap's top back only past 2 GiB of free memory there (mallopt takes an int)."""

_KEPT = {}
"""What ``keep_freed_memory`` set in this process."""

SETTINGS = (
    ("MALLOC_ARENA_MAX", M_ARENA_MAX, 1),
    ("MALLOC_MMAP_THRESHOLD_", M_MMAP_THRESHOLD, MMAP_THRESHOLD),
    ("MALLOC_TRIM_THRESHOLD_", M_TRIM_THRESHOLD, TRIM_THRESHOLD),
)


def keep_freed_memory() -> dict:
    """Apply the settings (glibc only); returns ``{parameter: accepted}`` for those tried."""
    if not sys.platform.startswith("linux"):
        return {}
    try:
        mallopt = _libc().mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl has no mallopt)
        return {}
    applied = {}
    for env_name, param, value in SETTINGS:
        if env_name in os.environ:
            continue
        applied[env_name] = bool(mallopt(param, value))
    _KEPT.update(applied)
    return applied


WARM_BYTES = 512 * 2**20
"""Heap faulted in ahead of a mosaic on a local scheduler (about one strip cache)."""

WARM_CHUNK = 16 * 2**20
"""Blocks of the warm-up: below the mmap threshold, so they come from the heap."""


@functools.cache
def _libc():
    """The C library with the signatures used here (mallopt only where it exists)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    if hasattr(libc, "mallopt"):
        libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.mallopt.restype = ctypes.c_int
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = (ctypes.c_size_t,)
    libc.free.argtypes = (ctypes.c_void_p,)
    libc.memset.restype = ctypes.c_void_p
    libc.memset.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t)
    return libc


def warm_heap(nbytes=WARM_BYTES, chunk=WARM_CHUNK):
    """Fault ``nbytes`` of heap in now and free them: later arrays reuse those pages.

    With ``keep_freed_memory`` the freed blocks stay in the heap, and the
    arrays of the mosaic (strips, partial sums, tiles) are carved from pages
    that are already mapped instead of faulting fresh ones in while the
    kernels run. ctypes calls release the GIL, so this runs on an idle core
    while the main thread imports and plans (the same idea as the JVM's
    ``-XX:+AlwaysPreTouch``). Returns the bytes touched.
    """
    libc = _libc()
    blocks = []
    try:
        for _ in range(nbytes // chunk):
            p = libc.malloc(chunk)
            if not p:
                break
            libc.memset(p, 0, chunk)
            blocks.append(p)
    finally:
        for p in blocks:
            libc.free(p)
    return len(blocks) * chunk


def warm_heap_in_background(nbytes=WARM_BYTES):
    """``warm_heap`` on a daemon thread, where it helps: glibc with the settings of
    ``keep_freed_memory`` in force, a core to spare and memory to spare (at most
    a quarter of what is available). Returns the thread, or None."""
    import threading

    if not _KEPT or len(os.sched_getaffinity(0)) < 2:
        return None
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None
    nbytes = min(nbytes, available // 4)
    thread = threading.Thread(target=warm_heap, args=(nbytes,), name="warm-heap", daemon=True)
    thread.start()
    return thread
