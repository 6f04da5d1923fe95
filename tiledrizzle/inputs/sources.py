"""Where a lazily drizzled input's pixels come from: ``read(y0, y1, x0, x1)`` per band.

A source returns ``(data, weights, data2, dq)`` for the half-open box, in the
kernels' dtypes: float32 data and weights, float32 ``data2`` of shape (k, h, w),
uint32 ``dq`` or an empty (0, 0) array. ``ArraySource`` serves arrays held in
memory; ``tiledrizzle.io.FitsSource`` reads FITS files where the task runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tiledrizzle.core.kernel_input import EMPTY_DQ


@dataclass(frozen=True)
class ArraySource:
    """Input arrays in memory (validated and converted by the caller)."""

    data: np.ndarray
    weights: np.ndarray
    data2: np.ndarray  # (k, ny, nx)
    dq: np.ndarray  # (ny, nx) or EMPTY_DQ

    @property
    def shape(self):
        return self.data.shape

    def read(self, y0, y1, x0, x1):
        box = (slice(y0, y1), slice(x0, x1))
        return (
            np.ascontiguousarray(self.data[box]),
            np.ascontiguousarray(self.weights[box]),
            np.ascontiguousarray(self.data2[(slice(None),) + box]),
            np.ascontiguousarray(self.dq[box]) if self.dq.shape[0] else EMPTY_DQ,
        )
