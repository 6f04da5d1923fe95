"""The two kinds of input the tasks drizzle: scanned arrays and lazily read files.

Both are frozen data (no Dask, no I/O): ``ScannedExposure`` carries the whole
input with the reference's scan limits; ``LazyExposure`` carries a source and
a pixmap function, read band by band where its task runs (``engine.tasks``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tiledrizzle.core.kernel_input import PreparedInput


@dataclass(frozen=True)
class ScannedExposure:
    """One validated input with its scan limits, global index and context id.

    ``index`` orders inputs in the reducer; ``ctx_id`` (None: no context)
    selects the context plane and bit (``kernels.registry.CTX_PLANE_BITS`` per plane).
    ``x_first/x_last`` are the per-row column limits of the reference's scan.
    """

    index: int
    ctx_id: int | None
    inp: PreparedInput
    x_first: np.ndarray
    x_last: np.ndarray
    row_first: int
    row_last: int

    @property
    def shape(self):
        return self.inp.shape

    @property
    def options(self) -> PreparedInput:
        return self.inp

    @property
    def n_var(self) -> int:
        return self.inp.data2.shape[0]

    @property
    def with_dq(self) -> bool:
        return self.inp.dq.shape[0] > 0


@dataclass(frozen=True)
class LazyExposure:
    """An input read band by band where its task runs: only small objects travel.

    ``source`` reads input arrays (``.shape``; ``.read(y0, y1, x0, x1)`` ->
    ``(data, weights, data2, dq)`` in kernel dtypes, half-open bounds);
    ``pixmap`` is a callable ``(rows: slice, cols: slice) -> (ny, nx, 2)``
    array. ``options`` carries the kernel and its scalars (its arrays are
    empty placeholders); ``n_var`` and ``with_dq`` say what ``read`` returns
    besides data and weights. Every pixel of the input is visited (there is no
    whole-input scan); the kernel skips those that miss the tile.
    """

    index: int
    ctx_id: int | None
    source: object
    pixmap: object
    options: PreparedInput
    halo: int
    n_var: int
    with_dq: bool
    strip_owner: str | None = None  # key of its strips in this process's cache

    @property
    def shape(self):
        return tuple(self.source.shape)

    @property
    def row_first(self):
        return 0

    @property
    def row_last(self):
        return self.shape[0] - 1

    @property
    def x_first(self):
        return np.zeros(self.shape[0], dtype=np.int32)

    @property
    def x_last(self):
        return np.full(self.shape[0], self.shape[1] - 1, dtype=np.int32)
