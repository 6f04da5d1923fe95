"""Row strips of lazily read inputs, made once per process and shared by its tasks.

A task of a lazy input (a FITS file, or arrays with a computed pixel map) needs
the input's pixels, its pixel map and the map's ``step`` over one band of block
rows (plus a halo). Every tile that the band's blocks touch has a task needing
the same rows, so each process keeps the strips it has made -- pixels read,
pixel map computed, step and NaN flag measured, once -- in a cache bounded by
``STRIP_CACHE_BYTES`` (least recently used strips go first) and shared by its
threads; a strip that one thread is making is waited for by the others. The
engine forgets a batch's strips when the batch ends.

The engine also says how many tasks of the batch read each strip (``uses``):
a strip leaves the cache when the last of them has taken it, so its memory is
reused for the next strips instead of fresh pages (which cost as much to fault
in as the pixmap costs to compute). The count is a hint: on a cluster a
process runs only some of those tasks and its strips stay until evicted or
forgotten; a strip dropped too early is made again, with the same numbers.

The budget is Dask configuration, read where the tasks run:
``tiledrizzle.strip-cache-bytes`` (e.g. ``DASK_TILEDRIZZLE__STRIP_CACHE_BYTES=0``
in a worker's environment turns the cache off).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from tiledrizzle.core.errors import InputError
from tiledrizzle.kernels.footprint import map_step

STRIP_CACHE_BYTES = 512 * 2**20
"""Bytes of strips a process keeps by default (a strip of a 2048-pixel-wide input
with variance is about 30 MiB); see ``tiledrizzle.strip-cache-bytes``."""


def configured_budget():
    """``tiledrizzle.strip-cache-bytes`` from the Dask configuration (bytes)."""
    import dask
    from dask.utils import parse_bytes

    value = dask.config.get("tiledrizzle.strip-cache-bytes", STRIP_CACHE_BYTES)
    try:
        return max(int(parse_bytes(value) if isinstance(value, str) else value), 0)
    except (TypeError, ValueError):
        raise InputError(
            f"tiledrizzle.strip-cache-bytes must be a number of bytes, got {value!r}"
        ) from None


@dataclass(frozen=True)
class Strip:
    """Rows ``y0..y1-1`` of an input, every column: kernel arrays, map, step, NaN flag."""

    y0: int
    data: np.ndarray
    weights: np.ndarray
    data2: np.ndarray
    dq: np.ndarray
    pixmap: np.ndarray
    step: float
    nan_free: bool

    @property
    def nbytes(self) -> int:
        arrays = (self.data, self.weights, self.data2, self.dq, self.pixmap)
        return sum(a.nbytes for a in arrays)


def make_strip(source, pixmap_fn, y0, y1) -> Strip:
    """Read rows ``y0..y1-1`` of ``source`` and compute their pixel map."""
    nx = source.shape[1]
    data, weights, data2, dq = source.read(y0, y1, 0, nx)
    pixmap = np.ascontiguousarray(pixmap_fn(slice(y0, y1), slice(0, nx)), dtype=np.float64)
    step = map_step(pixmap, 0, 0, 0, y1 - y0 - 1, 0, nx - 1, 0)
    return Strip(y0, data, weights, data2, dq, pixmap, step, not np.isnan(pixmap).any())


class StripCache:
    """A byte-bounded LRU of strips; ``get`` makes a missing strip once."""

    def __init__(self, budget=None):
        self._budget = budget
        self.nbytes = 0
        self._items = OrderedDict()
        self._uses_left = {}
        self._making = {}
        self._lock = threading.Lock()

    @property
    def budget(self):
        """Bytes kept at most (fixed, or the Dask configuration's when None was given)."""
        return configured_budget() if self._budget is None else self._budget

    def get(self, key, make, uses=None):
        """The strip under ``key``, made by ``make()`` if no thread has made it yet.

        ``uses``: how many calls will ask for this strip in all (None: unknown);
        the call that takes the last of them removes it from the cache.
        """
        with self._lock:
            strip = self._taken(key)
            if strip is not None:
                return strip
            ready = self._making.get(key)
            mine = ready is None
            if mine:
                ready = self._making[key] = threading.Event()
        if not mine:
            ready.wait()
            with self._lock:
                strip = self._taken(key)
            return strip if strip is not None else make()  # its maker failed, or evicted
        try:
            strip = make()
            budget = self.budget
            with self._lock:
                if strip.nbytes <= budget and (uses is None or uses > 1):
                    self._items[key] = strip
                    self.nbytes += strip.nbytes
                    if uses is not None:
                        self._uses_left[key] = uses - 1
                    while self.nbytes > budget:
                        self._drop(next(iter(self._items)))
            return strip
        finally:
            with self._lock:
                self._making.pop(key, None)
            ready.set()

    def _taken(self, key):
        """The cached strip under ``key`` (None if absent), counted as one use (lock held)."""
        strip = self._items.get(key)
        if strip is None:
            return None
        left = self._uses_left.get(key)
        if left is not None and left <= 1:
            self._drop(key)
        else:
            self._items.move_to_end(key)
            if left is not None:
                self._uses_left[key] = left - 1
        return strip

    def _drop(self, key):
        self.nbytes -= self._items.pop(key).nbytes
        self._uses_left.pop(key, None)

    def forget(self, owner):
        """Drop the strips whose key starts with ``owner``."""
        with self._lock:
            for key in [k for k in self._items if k[0] == owner]:
                self._drop(key)


STRIPS = StripCache()
"""This process's strips (keys: ``(owner, y0, y1)``)."""


def forget_strips(owners):
    """Drop the strips of ``owners`` (the ``strip_owner`` of lazy inputs) in this process."""
    for owner in owners:
        STRIPS.forget(owner)
