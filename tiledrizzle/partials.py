"""Partial sums of one input over one output window (the whole output, or one tile).

``drizzle_window`` runs a drizzle kernel for one input onto one window and
returns ``WindowSums``: Σ w·d, Σ w, Σ w²·d2 in float64, the OR of input DQ and
the context bits. Nothing here divides; ``reduce.merge_window`` does that once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .kernels.drizzle import DRIZZLE_KERNELS
from .scanlines import ScanPlan

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


@dataclass
class WindowSums:
    """Partial sums over an output window with origin (y0, x0)."""

    y0: int
    x0: int
    flux: np.ndarray
    wht: np.ndarray
    var: np.ndarray
    dq: np.ndarray
    ctx: np.ndarray

    @property
    def slices(self):
        """``(rows, cols)`` of the window in the output."""
        ny, nx = self.wht.shape
        return slice(self.y0, self.y0 + ny), slice(self.x0, self.x0 + nx)

    @classmethod
    def zeros(cls, y0, x0, shape, n_var, with_dq, with_ctx):
        ny, nx = shape
        return cls(
            y0,
            x0,
            np.zeros((ny, nx), dtype=np.float64),
            np.zeros((ny, nx), dtype=np.float64),
            np.zeros((n_var, ny, nx), dtype=np.float64),
            np.zeros((ny, nx), dtype=np.uint32) if with_dq else EMPTY_DQ,
            np.zeros((ny, nx), dtype=np.int32) if with_ctx else EMPTY_CTX,
        )


def drizzle_window(inp: PreparedInput, scan: ScanPlan, out_shape, sums: WindowSums, ctx_bit=1):
    """Deposit ``inp`` into ``sums`` (in place); returns the per-pixel miss count.

    ``ctx_bit`` is the int32 bit value that marks this input in ``sums.ctx``.
    """
    if not scan.drizzles or scan.row_last < scan.row_first:
        return 0
    in_ny, in_nx = inp.shape
    out_ny, out_nx = out_shape
    return int(
        DRIZZLE_KERNELS[inp.kernel](
            inp.data,
            inp.weights,
            inp.data2,
            inp.dq,
            inp.pixmap,
            0,
            0,
            in_nx,
            in_ny,
            scan.row_first,
            scan.row_last,
            0,
            in_nx - 1,
            scan.x_first,
            scan.x_last,
            out_nx,
            out_ny,
            sums.x0,
            sums.y0,
            sums.flux,
            sums.wht,
            sums.var,
            sums.ctx,
            np.int32(ctx_bit),
            sums.dq,
            inp.iscale,
            inp.wscale,
            float(inp.pixfrac),
            inp.pscale_ratio,
            EMPTY_HITS,
        )  # fmt: skip
    )


def context_bit(bit_no: int) -> np.int32:
    """The int32 value with bit ``bit_no`` (0..31) set; bit 31 is the sign bit."""
    return np.array(1 << bit_no, dtype=np.uint32).view(np.int32)[()]
