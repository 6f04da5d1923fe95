"""The per-(tile, input) task: run one input's kernel over the blocks that touch a tile.

A task is pure: it reads its input (arrays that travel with the graph) and
returns a ``TilePartial`` for the tile; nothing is written until the reducer.

Blocks are visited in row-major block order and, within a band of block rows,
row by row over the span of touching block columns. Every input pixel that can
reach the tile is visited, and input pixels reach a given output pixel in the
same global row-major order whatever the tile shape or the set of blocks in
the task: that is what makes the output independent of tiling
(docs/architecture.md, principle 2) and equal, bit for bit, to one untiled
pass over the input.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from tiledrizzle.core.kernel_input import EMPTY_HITS, PreparedInput, context_bit
from tiledrizzle.engine.exposures import LazyExposure
from tiledrizzle.engine.partials import WindowSums
from tiledrizzle.engine.strips import STRIPS, make_strip
from tiledrizzle.kernels.footprint import window_columns
from tiledrizzle.kernels.reach import centre_reach
from tiledrizzle.kernels.registry import CTX_PLANE_BITS, KERNELS


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


def band_input(exposure, row_lo, row_hi, col_lo, col_hi, uses=None):
    """``(arrays holding the band, x0, y0, step, nan_free)`` of ``exposure``.

    A ``ScannedExposure``: the whole input, step and NaN flag unknown (None; the
    planner's hold). A ``LazyExposure``: the rows of the band plus ``halo`` rows
    around it, every column, read as one strip (``engine.strips``; ``uses``: how
    many tasks of the batch read it).
    """
    if not isinstance(exposure, LazyExposure):
        return exposure.inp, 0, 0, None, None
    ny = exposure.shape[0]
    y0, y1 = max(row_lo - exposure.halo, 0), min(row_hi + 1 + exposure.halo, ny)
    make = partial(make_strip, exposure.source, exposure.pixmap, y0, y1)
    if exposure.strip_owner is None:
        strip = make()
    else:
        strip = STRIPS.get((exposure.strip_owner, y0, y1), make, uses)
    o = exposure.options
    inp = PreparedInput(
        strip.data, strip.weights, strip.data2, strip.dq, strip.pixmap, o.kernel, o.iscale,
        o.wscale, o.pixfrac, o.pscale_ratio,
    )  # fmt: skip
    return inp, 0, strip.y0, strip.step, strip.nan_free


def drizzle_tile(
    exposure, bands, window, out_shape, want_hits=False, step=None, nan_free=False,
    band_uses=None,
):  # fmt: skip
    """Run the kernel of ``exposure`` over ``bands`` onto the output ``window``.

    ``exposure`` is a ``ScannedExposure`` or a ``LazyExposure``. ``bands`` is
    a sequence of inclusive input boxes ``(row_lo, row_hi, col_lo, col_hi)``
    in increasing row order (one per band of block rows); ``window`` is
    ``(y0, x0, ny, nx)`` of the tile in the output. ``want_hits`` (whole-input
    arrays only) asks for the map of input pixels that put weight in the tile.
    ``step`` is the planner's largest output size of one input pixel over the
    input's blocks (``InputPlan.step``); None measures it over each band here.
    ``nan_free`` (``InputPlan.nan_free``) lets the column search jump.
    ``band_uses`` (lazy inputs): for each band, how many tasks of the batch read
    it, so that its strip leaves this process's cache after the last of them.
    """
    opts = exposure.options
    y0, x0, ny, nx = window
    with_ctx = exposure.ctx_id is not None
    sums = WindowSums.zeros(y0, x0, (ny, nx), exposure.n_var, exposure.with_dq, with_ctx)
    if with_ctx:
        ctx_plane, bit_no = divmod(exposure.ctx_id, CTX_PLANE_BITS)
        ctx_bit = context_bit(bit_no)
    else:
        ctx_plane, ctx_bit = 0, np.int32(0)
    in_ny, in_nx = exposure.shape
    hits = np.zeros((in_ny, in_nx), dtype=np.uint8) if want_hits else EMPTY_HITS
    out_ny, out_nx = out_shape
    kernel = KERNELS[opts.kernel].run
    x_first, x_last = exposure.x_first, exposure.x_last
    reach, reach_steps, halo = centre_reach(opts.kernel, opts.pixfrac, opts.pscale_ratio)
    known_step = -1.0 if step is None else float(step)
    nan_free = nan_free and step is not None
    for b, (row_lo, row_hi, col_lo, col_hi) in enumerate(bands):
        row_lo, row_hi = max(row_lo, exposure.row_first), min(row_hi, exposure.row_last)
        if row_lo > row_hi:
            continue
        inp, in_x0, in_y0, band_step, band_nan_free = band_input(
            exposure, row_lo, row_hi, col_lo, col_hi, None if band_uses is None else band_uses[b]
        )
        if band_step is not None:
            known_step, nan_free = band_step, band_nan_free
        first, last = x_first, x_last
        if np.isfinite(reach):
            # Skip the band's pixels that cannot reach this tile (blocks are coarser).
            first, last = window_columns(
                inp.pixmap, in_x0, in_y0, row_lo, row_hi, col_lo, col_hi, x_first, x_last,
                float(x0), float(x0 + nx - 1), float(y0), float(y0 + ny - 1), reach,
                reach_steps, halo, known_step, nan_free,
            )  # fmt: skip
        kernel(
            inp.data, inp.weights, inp.data2, inp.dq, inp.pixmap, in_x0, in_y0, in_nx, in_ny,
            row_lo, row_hi, col_lo, col_hi, first, last, out_nx, out_ny, x0, y0,
            sums.flux, sums.wht, sums.var, sums.ctx, ctx_bit, sums.dq,
            inp.iscale, inp.wscale, float(inp.pixfrac), inp.pscale_ratio, hits,
        )  # fmt: skip
    return TilePartial(exposure.index, ctx_plane, sums, hits)
