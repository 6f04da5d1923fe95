"""The per-(tile, input) task: run one input's kernel over the blocks that touch a tile.

A task is pure: it reads its input (arrays that travel with the graph) and
returns a ``TilePartial`` for the tile; nothing is written until the reducer.

Blocks are visited in row-major block order and, within a band of block rows,
row by row over the span of touching block columns. Every input pixel that can
reach the tile is visited, and input pixels reach a given output pixel in the
same global row-major order whatever the tile shape or the set of blocks in
the task: that is what makes the output independent of tiling (DESIGN.md,
principle 2) and equal, bit for bit, to one untiled pass over the input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .kernels.drizzle import DRIZZLE_KERNELS
from .partials import EMPTY_HITS, PreparedInput, WindowSums, context_bit


@dataclass(frozen=True)
class ScannedExposure:
    """One validated input with its scan limits, global index and context id.

    ``index`` orders inputs in the reducer; ``ctx_id`` (None: no context)
    selects the context plane ``ctx_id // 32`` and bit ``ctx_id % 32``.
    ``x_first/x_last`` are the per-row column limits of the reference's scan.
    """

    index: int
    ctx_id: int | None
    inp: PreparedInput
    x_first: np.ndarray
    x_last: np.ndarray
    row_first: int
    row_last: int


@dataclass
class TilePartial:
    """Partial sums of one input over one tile, ready for the reducer.

    ``ctx`` is a single int32 plane holding this input's bit (plane number
    ``ctx_plane``), or an empty array when context is off. ``hits`` (uint8,
    the input's shape) marks input pixels that put weight in the tile, when
    asked for (the facade uses it to count misses over all tiles).
    """

    index: int
    ctx_plane: int
    sums: WindowSums
    hits: np.ndarray


def drizzle_tile(exposure: ScannedExposure, bands, window, out_shape, want_hits=False):
    """Run the kernel of ``exposure`` over ``bands`` onto the output ``window``.

    ``bands`` is a sequence of inclusive input boxes ``(row_lo, row_hi,
    col_lo, col_hi)`` in increasing row order (one per band of block rows);
    ``window`` is ``(y0, x0, ny, nx)`` of the tile in the output.
    """
    inp = exposure.inp
    y0, x0, ny, nx = window
    with_ctx = exposure.ctx_id is not None
    sums = WindowSums.zeros(y0, x0, (ny, nx), inp.data2.shape[0], inp.dq.shape[0] > 0, with_ctx)
    if with_ctx:
        ctx_plane, bit_no = divmod(exposure.ctx_id, 32)
        ctx_bit = context_bit(bit_no)
    else:
        ctx_plane, ctx_bit = 0, np.int32(0)
    hits = np.zeros(inp.shape, dtype=np.uint8) if want_hits else EMPTY_HITS
    in_ny, in_nx = inp.shape
    out_ny, out_nx = out_shape
    kernel = DRIZZLE_KERNELS[inp.kernel]
    for row_lo, row_hi, col_lo, col_hi in bands:
        kernel(
            inp.data, inp.weights, inp.data2, inp.dq, inp.pixmap, 0, 0, in_nx, in_ny,
            max(row_lo, exposure.row_first), min(row_hi, exposure.row_last), col_lo, col_hi,
            exposure.x_first, exposure.x_last, out_nx, out_ny, x0, y0,
            sums.flux, sums.wht, sums.var, sums.ctx, ctx_bit, sums.dq,
            inp.iscale, inp.wscale, float(inp.pixfrac), inp.pscale_ratio, hits,
        )  # fmt: skip
    return TilePartial(exposure.index, ctx_plane, sums, hits)
