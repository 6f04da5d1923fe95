"""One input as the kernels take it: arrays in kernel dtypes and the scalar options."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EMPTY_DQ = np.zeros((0, 0), dtype=np.uint32)
EMPTY_CTX = np.zeros((0, 0), dtype=np.int32)
EMPTY_HITS = np.zeros((0, 0), dtype=np.uint8)


@dataclass(frozen=True)
class PreparedInput:
    """One input ready for the kernels: arrays in kernel dtypes and scalar options.

    ``data2`` is (k, ny, nx) float32 (k may be 0). ``dq`` is uint32 or ``EMPTY_DQ``.
    ``iscale``, ``wscale`` and ``pscale_ratio`` are float32, as the reference uses them.
    """

    data: np.ndarray
    weights: np.ndarray
    data2: np.ndarray
    dq: np.ndarray
    pixmap: np.ndarray
    kernel: str
    iscale: np.float32
    wscale: np.float32
    pixfrac: float
    pscale_ratio: np.float32

    @property
    def shape(self):
        return self.data.shape


def context_bit(bit_no: int) -> np.int32:
    """The int32 value with bit ``bit_no`` (0..31) set; bit 31 is the sign bit."""
    return np.array(1 << bit_no, dtype=np.uint32).view(np.int32)[()]
